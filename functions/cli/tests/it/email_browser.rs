//! Every rendered email in headless Chromium, as a phone (375 px) and a desktop (1200 px)
//! mail client would show it: no sideways scrolling, the button to the cart on the page and
//! big enough to tap. Screenshots are kept under target/test-artifacts/emails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::browser::{Driver, artifacts_dir, eval};
use tempfile::TempDir;

const CARTS: [(&str, &str); 4] = [
    ("en", "c0ffee00000000000000000000000e01"),
    ("fi", "c0ffee00000000000000000000000f01"),
    ("pl", "c0ffee00000000000000000000000a01"),
    ("ja", "c0ffee00000000000000000000000b01"),
];

fn render_all(out: &Path) -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages = Vec::new();
    for (lang, cart) in CARTS {
        for step in 1..=3 {
            let dir = out.join(format!("{lang}-step{step}"));
            let status = Command::new(env!("CARGO_BIN_EXE_cartback"))
                .args(["render", "--events"])
                .arg(root.join("examples/four-locales.jsonl"))
                .arg("--shops")
                .arg(root.join("examples/shops.toml"))
                .args(["--cart", cart, "--step", &step.to_string(), "--out"])
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("cartback runs");
            assert!(status.success(), "{lang} step {step} did not render");
            pages.push((format!("{lang}-step{step}"), dir.join("message.html")));
        }
    }
    pages
}

/// Layout facts of the open page, measured by the browser.
const MEASURE: &str = r#"
    const button = [...document.querySelectorAll('a')].find(a => a.href.includes('utm_content='));
    const box = button ? button.getBoundingClientRect() : null;
    const cell = button ? button.closest('td[bgcolor]') : null;
    const cellBox = cell ? cell.getBoundingClientRect() : null;
    const style = button ? getComputedStyle(button) : null;
    return {
        viewport: window.innerWidth,
        scrollWidth: document.documentElement.scrollWidth,
        button: box && {
            left: box.left, right: box.right, width: box.width, height: box.height,
            top: box.top + window.scrollY,
            visible: style.visibility !== 'hidden' && style.display !== 'none' && style.opacity !== '0',
        },
        cellWidth: cellBox ? cellBox.width : 0,
        pageHeight: document.documentElement.scrollHeight,
    };
"#;

#[tokio::test]
async fn emails_fit_phones_and_desktops_with_the_button_in_view() {
    let out = TempDir::new().expect("temp dir");
    let pages = render_all(out.path());
    let shots = artifacts_dir("emails");
    let driver = Driver::start();
    for (label, width, mobile) in [("375px", 375, Some(375)), ("1200px", 1200, None)] {
        let client = driver.session(mobile, (width, 900)).await;
        for (name, page) in &pages {
            let url = format!("file://{}", page.display());
            client.goto(&url).await.expect("page opens");
            let facts = eval(&client, MEASURE).await;
            let what = format!("{name} at {label}: {facts}");
            let viewport = facts["viewport"].as_f64().expect("viewport");
            assert_eq!(viewport, f64::from(width), "{what}");
            let scroll_width = facts["scrollWidth"].as_f64().expect("scrollWidth");
            assert!(scroll_width <= viewport, "horizontal scroll: {what}");
            let button = &facts["button"];
            assert!(button.is_object(), "no button to the cart: {what}");
            assert_eq!(button["visible"], true, "{what}");
            let (left, right) = (button["left"].as_f64(), button["right"].as_f64());
            assert!(left.is_some_and(|l| l >= 0.0), "{what}");
            assert!(
                right.is_some_and(|r| r <= viewport),
                "button cut off: {what}"
            );
            // Apple's and Google's guidance: a touch target of at least 44 px each way.
            assert!(
                button["height"].as_f64().is_some_and(|h| h >= 44.0),
                "{what}"
            );
            assert!(
                button["width"].as_f64().is_some_and(|w| w >= 44.0),
                "{what}"
            );
            if mobile.is_some() {
                // On a phone the coloured button spans most of the width.
                let wide = facts["cellWidth"].as_f64().unwrap_or(0.0);
                assert!(wide >= viewport * 0.7, "{what}");
            }
            let png = client.screenshot().await.expect("screenshot");
            assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
            std::fs::write(shots.join(format!("{name}-{label}.png")), png).expect("write png");
        }
        client.close().await.expect("session closes");
    }
}
