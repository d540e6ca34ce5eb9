//! Erasure in `cartback simulate`: an `erase` line (what `cartback erase` does on AWS) or a
//! Shopify `customers/redact` webhook stops every cart of the person with
//! `"kind":"stopped","reason":"erased"`, and nothing is sent to them after — not even when
//! they come back; everyone else goes on as before.

use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

const SHOP: &str = "demo-shop.myshopify.com";
/// Ada's checkout token (checkouts_create.json).
const ADA: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const BOB: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const CUSTOMERS_REDACT: &str =
    include_str!("../../../core/tests/fixtures/shopify/customers_redact.json");
const CLASSIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../templates/sequences/default.toml"
);

fn checkout(token: &str, email: &str, updated_at: &str) -> Value {
    let mut c: Value = serde_json::from_str(CHECKOUT).expect("the fixture is JSON");
    c["token"] = json!(token);
    c["email"] = json!(email);
    c["customer"]["email"] = json!(email);
    c["updated_at"] = json!(updated_at);
    c["created_at"] = json!(updated_at);
    c
}

fn webhook(at: &str, topic: &str, payload: &Value, delivery: &str) -> Value {
    json!({
        "at": at, "shop": SHOP, "platform": "shopify", "topic": topic, "payload": payload,
        "headers": { "X-Shopify-Webhook-Id": delivery },
    })
}

fn simulate(lines: &[Value]) -> Output {
    let dir = TempDir::new().expect("a temp dir");
    let events = dir.path().join("events.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&events, text).expect("writable");
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["simulate", "--sequence", CLASSIC, "--events"])
        .arg(&events)
        .output()
        .expect("cartback runs")
}

fn decisions(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn of(decisions: &[Value], cart: &str, kind: &str) -> Vec<Value> {
    decisions
        .iter()
        .filter(|d| d["cart"] == cart && d["kind"] == kind)
        .cloned()
        .collect()
}

/// Ada and Bob abandon carts at 08:00; each gets the first email at 09:00.
fn two_carts() -> Vec<Value> {
    vec![
        webhook(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &checkout(ADA, "ada@example.com", "2026-11-02T08:00:00Z"),
            "d-ada-1",
        ),
        webhook(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &checkout(BOB, "bob@example.com", "2026-11-02T08:00:00Z"),
            "d-bob-1",
        ),
    ]
}

#[test]
fn an_erased_person_s_cart_stops_with_reason_erased_and_gets_nothing_after_even_when_they_return() {
    let mut lines = two_carts();
    lines.push(json!({
        "at": "2026-11-02T10:00:00Z", "shop": SHOP, "event": "erase", "email": "Ada@Example.com",
    }));
    // Ada comes back the next day: she stays forgotten.
    lines.push(webhook(
        "2026-11-03T12:00:00Z",
        "checkouts/update",
        &checkout(ADA, "ada@example.com", "2026-11-03T12:00:00Z"),
        "d-ada-2",
    ));

    let all = decisions(&simulate(&lines));

    let ada_sent = of(&all, ADA, "sent");
    assert_eq!(
        ada_sent.len(),
        1,
        "only the email before the erasure: {all:#?}"
    );
    let stopped = of(&all, ADA, "stopped");
    assert_eq!(stopped.len(), 1, "{all:#?}");
    assert_eq!(stopped[0]["reason"], "erased");
    assert_eq!(stopped[0]["at"], "2026-11-02T10:00:00Z");
    assert_eq!(stopped[0]["step"], 2, "the step that will never be sent");
    assert_eq!(of(&all, BOB, "sent").len(), 3, "Bob is untouched: {all:#?}");
    assert!(
        of(&all, BOB, "stopped")
            .iter()
            .all(|d| d["reason"] != "erased")
    );
}

#[test]
fn a_shopify_customers_redact_webhook_erases_in_simulate_too() {
    let mut lines = two_carts();
    let mut redact: Value = serde_json::from_str(CUSTOMERS_REDACT).expect("JSON");
    redact["customer"]["phone"] = Value::Null;
    lines.push(webhook(
        "2026-11-02T08:30:00Z",
        "customers/redact",
        &redact,
        "d-redact",
    ));

    let all = decisions(&simulate(&lines));

    assert!(of(&all, ADA, "sent").is_empty(), "{all:#?}");
    let stopped = of(&all, ADA, "stopped");
    assert_eq!(stopped.len(), 1, "{all:#?}");
    assert_eq!(stopped[0]["reason"], "erased");
    assert_eq!(stopped[0]["step"], 1);
    assert_eq!(of(&all, BOB, "sent").len(), 3);
}

#[test]
fn an_erase_line_without_email_or_phone_is_an_error_naming_its_line() {
    let mut lines = two_carts();
    lines.push(json!({ "at": "2026-11-02T10:00:00Z", "shop": SHOP, "event": "erase" }));

    let output = simulate(&lines);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(":3:"), "{stderr}");
    assert!(stderr.contains("email or phone"), "{stderr}");
}

#[test]
fn an_erase_line_never_echoes_a_bad_address() {
    let mut lines = two_carts();
    lines.push(json!({
        "at": "2026-11-02T10:00:00Z", "shop": SHOP, "event": "erase", "email": "not-an-address",
    }));

    let output = simulate(&lines);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("not-an-address"), "{stderr}");
}
