//! The moto server: found (or installed by `scripts/pyenv`), started on a loopback port, or
//! reused when one already answers there.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{DevStackError, Result};

/// How long a starting moto may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts moto's WSGI app the way `moto_server` does, and exits as soon as its stdin closes:
/// when the process that started it ends, however it ends (Ctrl-C, a kill, a panic), moto
/// ends too. `threaded=False` serves one request at a time (see [`MotoOptions::serialised`]).
const LAUNCHER: &str = "import os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
host, port, threaded = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'threaded'
os.environ.setdefault('MOTO_PORT', str(port))
def watch_parent():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
run_simple(host, port, app, threaded=threaded, request_handler=MotoRequestHandler)
";

/// How to start moto.
#[derive(Debug, Clone, Default)]
pub struct MotoOptions {
    /// The loopback port; a free one when `None`.
    pub port: Option<u16>,
    /// Serve one request at a time.
    ///
    /// moto's threaded server runs requests side by side, and its `TransactWriteItems` is
    /// not atomic under that: it checks each condition and applies each item in turn, and a
    /// cancelled transaction restores a copy of the whole table taken when it began, wiping
    /// out what other requests wrote meanwhile. DynamoDB transactions are serializable;
    /// serving one request at a time gives moto that property back.
    pub serialised: bool,
    /// Where moto's own request log goes (discarded when `None`).
    pub log: Option<PathBuf>,
}

/// A moto server: one this process started (stopped when dropped), or one it reuses.
pub struct Moto {
    child: Option<(Child, ChildStdin)>,
    pub endpoint: String,
    pub port: u16,
    http: reqwest::Client,
}

/// The first of `candidates` (directories) holding `scripts/pyenv`: the workspace root.
pub fn find_pyenv(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find_map(|dir| {
        dir.ancestors()
            .find(|d| d.join("scripts/pyenv").is_file() && d.join("tools").is_dir())
            .map(Path::to_path_buf)
    })
}

/// `moto_server`: `$CARTBACK_MOTO_SERVER`, else the venv `scripts/pyenv` makes (installing
/// moto on first use; its progress goes to stderr).
pub fn moto_binary(workspace: &Path) -> Result<PathBuf> {
    let path = match std::env::var_os("CARTBACK_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => {
            let script = workspace.join("scripts/pyenv");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| {
                    DevStackError::Moto(format!(
                        "cannot run {} (needs bash and Python 3): {e}",
                        script.display()
                    ))
                })?;
            if !output.status.success() {
                return Err(DevStackError::Moto(format!(
                    "{} failed ({}): it installs moto into a venv with Python 3's venv \
                     module and pip; see the messages above",
                    script.display(),
                    output.status
                )));
            }
            let venv = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            PathBuf::from(venv).join("bin/moto_server")
        }
    };
    if !path.exists() {
        return Err(DevStackError::Moto(format!(
            "moto_server not found at {} (set CARTBACK_MOTO_SERVER or run scripts/pyenv)",
            path.display()
        )));
    }
    Ok(path)
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| DevStackError::Moto(format!("no free loopback port: {e}")))
}

impl Moto {
    /// Starts moto from `binary` (its venv's Python runs the launcher) and waits until it
    /// answers.
    pub async fn start(binary: &Path, options: &MotoOptions) -> Result<Self> {
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        let python = binary
            .parent()
            .map(|bin| bin.join("python"))
            .filter(|python| python.exists())
            .ok_or_else(|| {
                DevStackError::Moto(format!("no venv python next to {}", binary.display()))
            })?;
        let log = match &options.log {
            Some(path) => std::fs::File::create(path)
                .map(Stdio::from)
                .map_err(|e| DevStackError::Moto(format!("{}: {e}", path.display())))?,
            None => Stdio::null(),
        };
        let mode = if options.serialised {
            "serialised"
        } else {
            "threaded"
        };
        let mut child = Command::new(&python)
            .args(["-c", LAUNCHER, "127.0.0.1", &port.to_string(), mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| DevStackError::Moto(format!("starting {}: {e}", python.display())))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| DevStackError::Moto("no pipe to moto's stdin".into()))?;
        let mut moto = Self {
            child: Some((child, stdin)),
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
        };
        moto.wait_until_up().await?;
        Ok(moto)
    }

    /// The moto already answering on `port`, if one does (never stopped by us).
    pub async fn reuse(port: u16) -> Option<Self> {
        let moto = Self {
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
        };
        moto.answers().await.then_some(moto)
    }

    /// Whether this process started it (and stops it when dropped).
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    async fn answers(&self) -> bool {
        self.http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    async fn wait_until_up(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.answers().await {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(DevStackError::Moto(format!(
                    "moto exited ({status}) before answering on {}: is port {} taken?",
                    self.endpoint, self.port
                )));
            }
            if Instant::now() > deadline {
                return Err(DevStackError::Moto(format!(
                    "moto did not answer on {} within {} s",
                    self.endpoint,
                    START_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let (child, _) = self.child.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// moto's whole state (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| DevStackError::Moto(format!("reading data.json: {e}")))?;
        response
            .json()
            .await
            .map_err(|e| DevStackError::Moto(format!("data.json: {e}")))
    }

    /// Stops moto if this process started it; a reused one keeps running.
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What moto wrote to its log, when it was started with one (for error messages).
    pub fn log_tail(path: &Path) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(path) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
