//! `cartback dev` in headless Chromium: the real binary with a clock at an hour a second and
//! its own moto; a signed Shopify checkout posted to it, the reminder email appearing on
//! `/outbox` by itself, the "Purchase" button pressed, and no further message while the
//! clock runs past every later step. Ctrl-C stops the server and the moto it started.
//! Screenshots and the server's output are kept under target/test-artifacts/outbox.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::browser::{Driver, artifacts_dir, eval};
use cartback_core::model::shop::Secret;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const SHOP: &str = "kuura-knitwear";
/// `cartback dev`'s demo shop secret (printed in its banner).
const SECRET: &str = "cartback-dev-webhook-secret";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const TOKEN: &str = "0b5e55ed0000000000000000000000e1";

/// The clock's speed: an hour in three seconds. The purchase must reach the stack before the
/// second step falls due (10 virtual hours after the first: 30 s of wall time), which leaves
/// a slow, loaded machine a wide margin; at 3600 it had 10 s.
const SPEED: u32 = 1200;

/// The `cartback dev` process; interrupted (as Ctrl-C would) and reaped on drop.
struct Dev {
    child: Child,
    port: u16,
    base: String,
    moto: String,
}

impl Dev {
    /// Starts `cartback dev` on ports it picks itself (`--port 0`), and reads them from its
    /// banner: no port is chosen here, so none can be taken meanwhile.
    fn start(log: &Path) -> Dev {
        let file = std::fs::File::create(log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cartback"))
            .args(["dev", "--port", "0", "--speed", &SPEED.to_string()])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("cartback dev starts");
        // A fresh machine installs moto first.
        let deadline = Instant::now() + Duration::from_secs(300);
        let (base, moto) = loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let url = |label: &str| {
                text.lines()
                    .find_map(|line| line.trim().strip_prefix(label))
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned)
            };
            if let (Some(outbox), Some(moto)) = (url("outbox"), url("moto")) {
                let base = outbox
                    .trim_end_matches("/outbox")
                    .replace("localhost", "127.0.0.1");
                break (base, moto);
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("cartback dev exited early ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "no banner from cartback dev:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the banner");
        Dev {
            child,
            port,
            base,
            moto,
        }
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit.
    fn interrupt(&mut self) -> ExitStatus {
        self.signal("-INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cartback dev did not stop on Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("-TERM");
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(url).send().await.ok()?;
    response.error_for_status().ok()?.json().await.ok()
}

/// Waits for the server (a fresh machine installs moto first).
async fn dev_state(http: &reqwest::Client, dev: &mut Dev) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(state) = get_json(http, &format!("{}/dev/state", dev.base)).await {
            return state;
        }
        if let Ok(Some(status)) = dev.child.try_wait() {
            panic!("cartback dev exited early ({status}); see its log in the artifacts");
        }
        assert!(Instant::now() < deadline, "cartback dev did not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The stack's clock.
async fn dev_now(http: &reqwest::Client, dev: &mut Dev) -> jiff::Timestamp {
    let state = dev_state(http, dev).await;
    state["now"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("the clock in /dev/state")
}

/// The fixture checkout as a new cart of the demo shop, updated at `now`.
fn checkout(now: jiff::Timestamp) -> String {
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    let stamp = json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    body["token"] = json!(TOKEN);
    body["created_at"] = stamp.clone();
    body["updated_at"] = stamp;
    body.to_string()
}

async fn post_checkout(
    http: &reqwest::Client,
    base: &str,
    body: &str,
    secret: &str,
) -> (u16, String) {
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(secret), body.as_bytes());
    let response = http
        .post(format!("{base}/webhooks/{SHOP}/shopify"))
        .header("content-type", "application/json")
        .header("x-shopify-topic", "checkouts/create")
        .header("x-shopify-webhook-id", format!("outbox-test-{secret}"))
        .header("x-shopify-hmac-sha256", hmac)
        .body(body.to_owned())
        .send()
        .await
        .expect("the webhook answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Emails moto's SES accepted for `to`.
async fn emails_to(http: &reqwest::Client, moto: &str, to: &str) -> usize {
    let data = get_json(http, &format!("{moto}/moto-api/data.json"))
        .await
        .expect("moto's state");
    data["ses"]["RawMessage"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| {
                    m["destinations"]
                        .as_array()
                        .is_some_and(|d| d.contains(&json!(to)))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Waits (the page refreshes by itself) until `css` matches.
async fn wait_for(client: &Client, css: &str, timeout: Duration) -> fantoccini::elements::Element {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(found) = client.find(Locator::Css(css)).await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{css} did not appear on the outbox"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The text of `css`, read again if the page reloaded meanwhile (it refreshes by itself).
async fn text_of(client: &Client, css: &str) -> String {
    let mut last_error = String::new();
    for _ in 0..40 {
        match client.find(Locator::Css(css)).await {
            Ok(found) => match found.text().await {
                Ok(text) => return text,
                Err(e) => last_error = e.to_string(),
            },
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{css}: {last_error}");
}

async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(artifacts_dir("outbox").join(name), png).expect("write png");
}

#[tokio::test]
async fn a_bought_cart_gets_no_second_reminder_on_the_outbox() {
    let started = Instant::now();
    let shots = artifacts_dir("outbox");
    let mut dev = Dev::start(&shots.join("cartback-dev.log"));
    let http = reqwest::Client::new();
    let now = dev_now(&http, &mut dev).await;

    // The real webhook function answers: a forged signature is refused, nothing stored.
    let body = checkout(now);
    let (status, _) = post_checkout(&http, &dev.base, &body, "not-the-secret").await;
    assert_eq!(status, 401);
    let (status, answer) = post_checkout(&http, &dev.base, &body, SECRET).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(r#""result":"stored""#), "{answer}");

    let driver = Driver::start();
    let client = driver.session(Some(375), (375, 900)).await;
    client
        .goto(&format!("{}/outbox", dev.base))
        .await
        .expect("the outbox opens");
    let cart = format!(r#"section[data-cart="{TOKEN}"]"#);
    // Step 1 is due an hour after the checkout: three seconds at this speed. The page reloads
    // by itself when something changes.
    wait_for(
        &client,
        &format!(r#"{cart} [data-message="email"] iframe"#),
        Duration::from_secs(60),
    )
    .await;
    let facts = eval(
        &client,
        "return { viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth };",
    )
    .await;
    assert!(
        facts["scrollWidth"].as_f64() <= facts["viewport"].as_f64(),
        "the outbox scrolls sideways at 375 px: {facts}"
    );
    let subject = client
        .find(Locator::Css(&format!(
            r#"{cart} [data-message="email"] .meta strong"#
        )))
        .await
        .expect("the subject")
        .text()
        .await
        .expect("text");
    assert_eq!(subject, "Ada, did you forget something?");
    assert_eq!(emails_to(&http, &dev.moto, "ada@example.com").await, 1);
    shoot(&client, "email-375px.png").await;

    // The shop sees the order: a signed orders/create through the real webhook function.
    let mut bought = false;
    for _ in 0..20 {
        let button = client
            .find(Locator::Css(&format!(
                r#"{cart} button[data-action="purchase"]"#
            )))
            .await;
        if let Ok(button) = button
            && button.click().await.is_ok()
        {
            bought = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(bought, "the purchase button could not be pressed");
    wait_for(
        &client,
        &format!(r#"{cart}[data-state="converted"]"#),
        Duration::from_secs(30),
    )
    .await;
    let purchased_at = dev_now(&http, &mut dev).await;

    // Every later step of the sequence falls due within 10 hours of step 1 (the slowest
    // branch); let 12 virtual hours pass.
    let until = purchased_at
        .checked_add(jiff::SignedDuration::from_hours(12))
        .expect("in range");
    while dev_now(&http, &mut dev).await < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    client.refresh().await.expect("reload");
    wait_for(
        &client,
        &format!(r#"{cart}[data-state="converted"]"#),
        Duration::from_secs(10),
    )
    .await;
    let messages = client
        .find_all(Locator::Css(&format!("{cart} [data-message]")))
        .await
        .expect("messages");
    assert_eq!(messages.len(), 1, "a message after the purchase");
    assert_eq!(emails_to(&http, &dev.moto, "ada@example.com").await, 1);
    let next = text_of(&client, &format!("{cart} .next")).await;
    assert!(next.contains("nothing"), "{next}");
    shoot(&client, "purchased-375px.png").await;
    eval(
        &client,
        &format!(r#"document.querySelector('{cart} .actions, {cart} .next').scrollIntoView({{block: "end"}}); return null;"#),
    )
    .await;
    shoot(&client, "purchased-timeline-375px.png").await;
    // The same explanation from the command line, asking the running `cartback dev`.
    let explained = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["explain", "--local", "--port", &dev.port.to_string()])
        .args(["--shop", SHOP, "--cart", TOKEN])
        .output()
        .expect("cartback explain runs");
    let explained = String::from_utf8_lossy(&explained.stdout);
    assert!(
        explained.contains("state     converted: bought at"),
        "{explained}"
    );
    assert!(explained.contains("next      nothing"), "{explained}");
    client.close().await.expect("session closes");

    let desktop = driver.session(None, (1200, 900)).await;
    desktop
        .goto(&format!("{}/outbox#cart", dev.base))
        .await
        .expect("the outbox opens");
    wait_for(&desktop, &cart, Duration::from_secs(10)).await;
    shoot(&desktop, "purchased-1200px.png").await;
    desktop.close().await.expect("session closes");

    // Ctrl-C stops the server and the moto it started.
    let status = dev.interrupt();
    assert!(status.success(), "cartback dev exited with {status}");
    assert!(
        get_json(&http, &format!("{}/moto-api/data.json", dev.moto))
            .await
            .is_none(),
        "moto still answers after Ctrl-C"
    );
    eprintln!("outbox browser test took {:?}", started.elapsed());
}
