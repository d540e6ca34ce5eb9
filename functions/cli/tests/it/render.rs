//! `cartback render` over the four-language example: every step in every language, by email
//! and SMS, written as it would be sent. The words are snapshots (`insta`): a change to any
//! template shows up in review as a diff of what recipients will read.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// The example carts: (language of the snapshot, cart id).
const CARTS: [(&str, &str); 4] = [
    ("en-GB", "c0ffee00000000000000000000000e01"),
    ("fi", "c0ffee00000000000000000000000f01"),
    ("pl-PL", "c0ffee00000000000000000000000a01"),
    ("ja", "c0ffee00000000000000000000000b01"),
];
const GMAIL_CLIP_BYTES: usize = 102 * 1024;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Runs `cartback render` for one cart and step; the JSON summary and the output directory.
fn render(cart: &str, step: u32, extra: &[&str]) -> (Value, TempDir) {
    let out = TempDir::new().expect("temp dir");
    let root = root();
    let events = root.join("examples/four-locales.jsonl");
    let shops = root.join("examples/shops.toml");
    let step = step.to_string();
    let mut args = vec![
        "render",
        "--events",
        events.to_str().expect("utf-8 path"),
        "--shops",
        shops.to_str().expect("utf-8 path"),
        "--cart",
        cart,
        "--step",
        &step,
        "--out",
        out.path().to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(&args)
        .output()
        .expect("cartback runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = serde_json::from_slice(&output.stdout).expect("one JSON object");
    (summary, out)
}

fn read(dir: &TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join(name)).expect(name)
}

#[test]
fn every_step_in_every_language_renders_as_sent() {
    for (lang, cart) in CARTS {
        for step in 1..=3 {
            let (summary, out) = render(cart, step, &[]);
            assert_eq!(summary["channel"], "email");
            assert_eq!(summary["locale"], lang);
            let html = read(&out, "message.html");
            let text = read(&out, "message.txt");
            let raw = std::fs::read(out.path().join("message.eml")).expect("eml");
            assert!(
                html.len() < GMAIL_CLIP_BYTES,
                "{lang} step {step}: {} bytes",
                html.len()
            );
            let short = lang.split('-').next().expect("language");
            assert!(
                html.contains(&format!("lang=\"{short}\"")),
                "{lang} step {step}"
            );
            assert!(
                !html.contains("{{") && !text.contains("{{"),
                "{lang} step {step}"
            );
            assert!(html.contains(&format!("utm_content=step-{step}")));

            // The MIME message is what SES gets: its parts are the files written beside it.
            let message = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("MIME parses");
            assert_eq!(message.subject(), summary["subject"].as_str());
            let body = message
                .body_text(0)
                .expect("text part")
                .replace("\r\n", "\n");
            assert!(
                body.trim() == text.trim(),
                "{lang} step {step}: the text part differs"
            );
            let body = message
                .body_html(0)
                .expect("html part")
                .replace("\r\n", "\n");
            assert!(
                body == html,
                "{lang} step {step}: the HTML part differs from message.html"
            );
            let unsubscribe = message
                .header_raw("List-Unsubscribe")
                .expect("List-Unsubscribe");
            assert!(unsubscribe.trim().starts_with("<http"), "{unsubscribe}");
            assert_eq!(
                message.header_raw("List-Unsubscribe-Post").map(str::trim),
                Some("List-Unsubscribe=One-Click")
            );

            let preheader = message_preheader(&html);
            insta::assert_snapshot!(
                format!("email_{short}_step{step}"),
                format!(
                    "Subject: {}\nPreheader: {preheader}\n\n{text}",
                    summary["subject"].as_str().expect("subject")
                )
            );
        }
    }
}

/// The hidden preview text mrml puts first in the body.
fn message_preheader(html: &str) -> String {
    let start = html.find("display:none;font-size:1px").expect("preheader");
    let after = &html[start..];
    let open = after.find('>').expect("tag end") + 1;
    let close = after[open..].find('<').expect("text end");
    after[open..open + close].trim().to_owned()
}

#[test]
fn every_sms_in_every_language() {
    // The English example shopper gave no phone number.
    for (lang, cart) in &CARTS[1..] {
        let short = lang.split('-').next().expect("language");
        for step in 1..=3 {
            let (summary, out) = render(cart, step, &["--channel", "sms"]);
            assert_eq!(summary["channel"], "sms");
            let sms = read(&out, "message.sms.txt");
            assert_eq!(sms.lines().count(), 1, "{sms}");
            insta::assert_snapshot!(
                format!("sms_{short}_step{step}"),
                format!("{} part(s)\n{sms}", summary["sms_parts"])
            );
        }
    }
}

#[test]
fn an_sms_for_a_cart_without_a_phone_says_so() {
    let out = TempDir::new().expect("temp dir");
    let root = root();
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["render", "--events"])
        .arg(root.join("examples/four-locales.jsonl"))
        .args([
            "--cart",
            CARTS[0].1,
            "--step",
            "1",
            "--channel",
            "sms",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no phone number"), "{stderr}");
}

#[test]
fn locale_flag_renders_any_cart_in_any_language() {
    let (_, fi_cart) = CARTS[1];
    let (summary, out) = render(fi_cart, 1, &["--locale", "ja"]);
    assert_eq!(summary["locale"], "ja");
    let text = read(&out, "message.txt");
    assert!(text.contains("合計"), "{text}");
    // Euros written the Japanese way.
    assert!(text.contains("€94.70"), "{text}");
}

#[test]
fn a_shops_template_directory_is_used() {
    let dir = TempDir::new().expect("temp dir");
    let subject = dir.path().join("email/en");
    std::fs::create_dir_all(&subject).expect("mkdir");
    std::fs::write(
        subject.join("reminder.subject.txt"),
        "{{ customer.first_name }}, your knitwear is waiting",
    )
    .expect("write");
    let (en_cart_lang, en_cart) = CARTS[0];
    assert_eq!(en_cart_lang, "en-GB");
    let templates = dir.path().to_str().expect("utf-8");
    let (summary, _) = render(en_cart, 1, &["--templates", templates]);
    assert_eq!(summary["subject"], "Olivia, your knitwear is waiting");
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let out = TempDir::new().expect("temp dir");
    let events = root().join("examples/four-locales.jsonl");
    let run = |args: &[&str]| {
        let mut all = vec![
            "render",
            "--events",
            events.to_str().expect("utf-8"),
            "--out",
            out.path().to_str().expect("utf-8"),
        ];
        all.extend_from_slice(args);
        let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
            .args(&all)
            .output()
            .expect("runs");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run(&["--cart", "nope", "--step", "1"]).contains("no cart `nope`"));
    let (_, cart) = CARTS[0];
    assert!(run(&["--cart", cart, "--step", "4"]).contains("has steps 1 to 3"));
    assert!(run(&["--cart", cart, "--step", "0"]).contains("has steps 1 to 3"));
}
