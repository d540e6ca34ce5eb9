//! Headless Chromium driven over WebDriver: starts Debian's `chromedriver` on a loopback
//! port it picks itself and opens sessions with the flags this machine needs (no sandbox as root,
//! no background networking, every host but localhost resolving to nothing).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver, stopped on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver; fails with what to install when it is missing.
    pub fn start() -> Driver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: scripts/test installs Debian's chromium and \
                 chromium-driver (or run: apt-get install -y chromium chromium-driver)"
            );
        }
        // Port 0: chromedriver binds a free port itself and says which on stdout
        // ("ChromeDriver was started successfully on port N.").
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let port = cartback_devstack::announced_port(stdout, |line| {
            line.split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse().ok())
        })
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten();
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not say which port it listens on");
        };
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new browser session; `mobile_width` emulates a phone of that CSS width.
    pub async fn session(&self, mobile_width: Option<u32>, window: (u32, u32)) -> Client {
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                // Remote images (CDN links in the emails) fail at once instead of waiting on DNS.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost, EXCLUDE 127.0.0.1",
                format!("--window-size={},{}", window.0, window.1),
            ],
        });
        if let Some(width) = mobile_width {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": window.1, "pixelRatio": 2.0 },
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Where screenshots go: `$CARTBACK_ARTIFACTS` or `target/test-artifacts` in the workspace.
pub fn artifacts_dir(kind: &str) -> PathBuf {
    let base = std::env::var_os("CARTBACK_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts")
        });
    let dir = base.join(kind);
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Runs `script` (a function body returning a value) in the page.
pub async fn eval(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.expect("script runs")
}
