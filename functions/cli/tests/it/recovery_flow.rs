//! The full recovery flow as `cartback simulate` shows it, with the default segments and
//! rules (issue 4): new visitors get the new-visitor sequence (email, then SMS for the
//! unopened or email by engagement, then the offer), returning customers the
//! returning-customer sequence; consent, quiet hours in the recipient's zone, one sequence
//! per person, the frequency cap and suppression are all visible in the output lines.
//!
//! Ada's checkout is the Shopify fixture (a Finnish address, so Helsinki time: UTC+2 in
//! November). 08:00 UTC is 10:00 in Helsinki.

use std::process::{Command, Output};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tempfile::TempDir;

const SHOP: &str = "demo-shop.myshopify.com";
const ADA: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const ADA_EMAIL: &str = "ada@example.com";
const ADA_PHONE: &str = "+358401234567";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("RFC 3339")
}

fn plus(at: &str, h: i64) -> String {
    ts(at)
        .checked_add(SignedDuration::from_hours(h))
        .expect("in range")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the fixture has {pointer}")) = new;
}

/// Who is shopping and what they agreed to.
#[derive(Debug, Clone, Copy)]
struct Shopper {
    email: bool,
    email_consent: bool,
    phone: bool,
    sms_consent: bool,
    orders_count: u32,
}

/// Email and phone, both consents, never ordered.
const ADA_ALL_IN: Shopper = Shopper {
    email: true,
    email_consent: true,
    phone: true,
    sms_consent: true,
    orders_count: 0,
};

/// Email with marketing consent, no phone, never ordered.
const ADA_EMAIL_ONLY: Shopper = Shopper {
    email: true,
    email_consent: true,
    phone: false,
    sms_consent: false,
    orders_count: 0,
};

/// The fixture checkout as cart `token` of `who`, last updated at `at`.
fn checkout(token: &str, who: Shopper, at: &str) -> Value {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("the fixture is JSON");
    set(&mut checkout, "/token", json!(token));
    set(&mut checkout, "/created_at", json!(at));
    set(&mut checkout, "/updated_at", json!(at));
    let email = who.email.then_some(ADA_EMAIL);
    set(&mut checkout, "/email", json!(email));
    set(&mut checkout, "/customer/email", json!(email));
    set(
        &mut checkout,
        "/buyer_accepts_marketing",
        json!(who.email_consent),
    );
    set(
        &mut checkout,
        "/phone",
        json!(who.phone.then_some(ADA_PHONE)),
    );
    set(
        &mut checkout,
        "/buyer_accepts_sms_marketing",
        json!(who.sms_consent),
    );
    set(
        &mut checkout,
        "/customer/orders_count",
        json!(who.orders_count),
    );
    checkout
}

fn webhook(at: &str, payload: &Value) -> Value {
    json!({
        "at": at,
        "shop": SHOP,
        "platform": "shopify",
        "topic": "checkouts/create",
        "payload": payload,
    })
}

/// Cart `token` of `who`, left at `at`.
fn left(token: &str, who: Shopper, at: &str) -> Value {
    webhook(at, &checkout(token, who, at))
}

fn recipient(at: &str, event: &str, cart: &str, step: u32) -> Value {
    json!({ "at": at, "shop": SHOP, "event": event, "cart": cart, "step": step })
}

/// Runs `cartback simulate` on `lines` and returns its output lines.
fn simulate(lines: &[Value]) -> Vec<Value> {
    let dir = TempDir::new().expect("a temp dir");
    let events = dir.path().join("events.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&events, text).expect("writable");
    let output: Output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args([
            "simulate",
            "--events",
            events.to_str().expect("a UTF-8 path"),
        ])
        .output()
        .expect("cartback runs");
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decisions: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for decision in &decisions {
        check_line(decision);
    }
    decisions
}

/// What every output line must carry, by kind.
fn check_line(d: &Value) {
    let s = |name: &str| {
        d[name]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` is a string in {d}"))
            .to_owned()
    };
    ts(&s("at"));
    s("cart");
    assert!(d["step"].is_u64(), "{d}");
    match s("kind").as_str() {
        "sent" => {
            assert!(!s("sequence").is_empty(), "{d}");
            assert!(!s("template").is_empty(), "{d}");
            s("to");
            match s("channel").as_str() {
                "email" => assert!(!s("subject").is_empty(), "{d}"),
                "sms" => {
                    assert!(!s("text").is_empty(), "{d}");
                    assert!(d["segments"].as_u64().is_some_and(|n| n >= 1), "{d}");
                }
                other => panic!("channel {other} in {d}"),
            }
        }
        "deferred" => {
            s("reason");
            assert!(ts(&s("until")) > ts(&s("at")), "{d}");
        }
        "skipped" | "stopped" => {
            s("reason");
        }
        other => panic!("kind {other} in {d}"),
    }
}

/// (at, kind, cart, step, channel or reason) of each line, for whole-run comparisons.
fn timeline(decisions: &[Value]) -> Vec<(String, String, String, u64, String)> {
    decisions
        .iter()
        .map(|d| {
            let detail = if d["kind"] == "sent" {
                d["channel"].as_str()
            } else {
                d["reason"].as_str()
            };
            (
                d["at"].as_str().unwrap_or_default().to_owned(),
                d["kind"].as_str().unwrap_or_default().to_owned(),
                d["cart"].as_str().unwrap_or_default().to_owned(),
                d["step"].as_u64().unwrap_or_default(),
                detail.unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn line(
    at: &str,
    kind: &str,
    cart: &str,
    step: u64,
    detail: &str,
) -> (String, String, String, u64, String) {
    (
        at.to_owned(),
        kind.to_owned(),
        cart.to_owned(),
        step,
        detail.to_owned(),
    )
}

fn sent(decisions: &[Value]) -> Vec<&Value> {
    decisions.iter().filter(|d| d["kind"] == "sent").collect()
}

// ---------------------------------------------------------------------------------------------
// New visitors: email, then SMS for the unopened (or email by engagement), then the offer

#[test]
fn a_new_visitor_who_opens_nothing_gets_an_email_then_an_sms_10_hours_later_then_the_offer() {
    // Left at 04:00 UTC (06:00 Helsinki): step 2 falls at 15:00 UTC, 17:00 in Helsinki.
    let start = "2026-11-02T04:00:00Z";
    let decisions = simulate(&[left(ADA, ADA_ALL_IN, start)]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&plus(start, 1), "sent", ADA, 1, "email"),
            line(&plus(start, 11), "sent", ADA, 2, "sms"),
            line(&plus(start, 11 + 48), "sent", ADA, 3, "email"),
        ]
    );
    let sent = sent(&decisions);
    let templates: Vec<&str> = sent.iter().filter_map(|d| d["template"].as_str()).collect();
    assert_eq!(templates, ["reminder", "reassure", "offer"]);
    assert!(sent.iter().all(|d| d["sequence"] == "new-visitor"));
    assert_eq!(sent[0]["to"], ADA_EMAIL);
    assert_eq!(sent[1]["to"], ADA_PHONE);
    assert!(sent[1]["subject"].is_null(), "an SMS has no subject");
    let text = sent[1]["text"].as_str().expect("SMS text");
    assert!(text.contains("STOP"), "{text}");
    assert!(text.contains("https://"), "{text}");
}

#[test]
fn an_sms_due_in_the_helsinki_night_is_deferred_to_nine_in_the_morning() {
    // Left at 08:00 UTC: step 2 is due 10 h after step 1, 19:00 UTC = 21:00 in Helsinki.
    let start = "2026-11-02T08:00:00Z";
    let decisions = simulate(&[left(ADA, ADA_ALL_IN, start)]);

    let morning = "2026-11-03T07:00:00Z"; // 09:00 in Helsinki
    assert_eq!(
        timeline(&decisions),
        vec![
            line("2026-11-02T09:00:00Z", "sent", ADA, 1, "email"),
            line("2026-11-02T19:00:00Z", "deferred", ADA, 2, "quiet_hours"),
            line(morning, "sent", ADA, 2, "sms"),
            line(&plus(morning, 48), "sent", ADA, 3, "email"),
        ]
    );
    assert_eq!(decisions[1]["until"], morning);
}

#[test]
fn an_open_after_step_1_brings_step_2_by_email_6_hours_after_it() {
    let start = "2026-11-02T04:00:00Z";
    let step_1 = plus(start, 1);
    let decisions = simulate(&[
        left(ADA, ADA_ALL_IN, start),
        recipient("2026-11-02T05:30:00Z", "open", ADA, 1),
    ]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&step_1, "sent", ADA, 1, "email"),
            line(&plus(&step_1, 6), "sent", ADA, 2, "email"),
            // Opened something: the offer comes a day later, not two.
            line(&plus(&step_1, 6 + 24), "sent", ADA, 3, "email"),
        ]
    );
}

#[test]
fn a_click_after_step_1_brings_step_2_by_email_8_hours_after_it() {
    let start = "2026-11-02T04:00:00Z";
    let step_1 = plus(start, 1);
    let decisions = simulate(&[
        left(ADA, ADA_ALL_IN, start),
        recipient("2026-11-02T05:10:00Z", "click", ADA, 1),
    ]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&step_1, "sent", ADA, 1, "email"),
            line(&plus(&step_1, 8), "sent", ADA, 2, "email"),
            line(&plus(&step_1, 8 + 24), "sent", ADA, 3, "email"),
        ]
    );
}

#[test]
fn an_open_after_the_earliest_branch_brings_step_2_at_once() {
    // Nothing opened by +6 h, so the wake-up waits for +10 h; an open at +7 h makes step 2
    // due at once (the opened branch is already past), by email.
    let start = "2026-11-02T04:00:00Z";
    let step_1 = plus(start, 1);
    let opened = plus(&step_1, 7);
    let decisions = simulate(&[
        left(ADA, ADA_ALL_IN, start),
        recipient(&opened, "open", ADA, 1),
    ]);

    let timeline = timeline(&decisions);
    assert_eq!(timeline[0], line(&step_1, "sent", ADA, 1, "email"));
    assert_eq!(timeline[1], line(&opened, "sent", ADA, 2, "email"));
}

#[test]
fn an_sms_unsubscribe_sends_step_2_by_email() {
    let start = "2026-11-02T04:00:00Z";
    let mut unsubscribe = recipient("2026-11-02T05:30:00Z", "unsubscribe", ADA, 1);
    unsubscribe["channel"] = json!("sms");
    let decisions = simulate(&[left(ADA, ADA_ALL_IN, start), unsubscribe]);

    let channels: Vec<(u64, &str)> = sent(&decisions)
        .iter()
        .map(|d| {
            (
                d["step"].as_u64().unwrap_or_default(),
                d["channel"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(channels, [(1, "email"), (2, "email"), (3, "email")]);
    assert_eq!(sent(&decisions)[1]["at"], plus(start, 11));
}

// ---------------------------------------------------------------------------------------------
// Returning customers

#[test]
fn a_returning_customer_gets_three_emails_at_1_25_and_73_hours() {
    let start = "2026-11-02T08:00:00Z";
    let returning = Shopper {
        orders_count: 1,
        ..ADA_ALL_IN
    };
    let decisions = simulate(&[left(ADA, returning, start)]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&plus(start, 1), "sent", ADA, 1, "email"),
            line(&plus(start, 25), "sent", ADA, 2, "email"),
            line(&plus(start, 73), "sent", ADA, 3, "email"),
        ]
    );
    let sent = sent(&decisions);
    assert!(sent.iter().all(|d| d["sequence"] == "returning-customer"));
    let templates: Vec<&str> = sent.iter().filter_map(|d| d["template"].as_str()).collect();
    assert_eq!(templates, ["reminder", "reassure", "offer"]);
}

// ---------------------------------------------------------------------------------------------
// Consent

#[test]
fn a_cart_without_marketing_consent_gets_no_email() {
    let start = "2026-11-02T08:00:00Z";
    let no_consent = Shopper {
        email_consent: false,
        ..ADA_EMAIL_ONLY
    };
    let decisions = simulate(&[left(ADA, no_consent, start)]);

    assert_eq!(
        timeline(&decisions),
        vec![line(&plus(start, 1), "stopped", ADA, 1, "no_consent")]
    );
}

#[test]
fn without_email_consent_but_with_sms_consent_only_the_sms_goes_out() {
    let start = "2026-11-02T04:00:00Z";
    let sms_only = Shopper {
        email_consent: false,
        ..ADA_ALL_IN
    };
    let decisions = simulate(&[left(ADA, sms_only, start)]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&plus(start, 1), "skipped", ADA, 1, "no_email_consent"),
            line(&plus(start, 11), "sent", ADA, 2, "sms"),
            // Step 3 is an email: at its wake-up (2 days on: the SMS was not clicked),
            // nothing left may reach her.
            line(&plus(start, 11 + 48), "stopped", ADA, 3, "no_consent"),
        ]
    );
    assert!(decisions[0]["channel"] == "email", "{}", decisions[0]);
}

#[test]
fn a_phone_without_sms_consent_gets_no_sms() {
    let start = "2026-11-02T04:00:00Z";
    let no_sms = Shopper {
        sms_consent: false,
        ..ADA_ALL_IN
    };
    let decisions = simulate(&[left(ADA, no_sms, start)]);

    let channels: Vec<&str> = sent(&decisions)
        .iter()
        .filter_map(|d| d["channel"].as_str())
        .collect();
    assert_eq!(channels, ["email", "email", "email"]);
}

// ---------------------------------------------------------------------------------------------
// One sequence per person

#[test]
fn a_newer_cart_of_the_same_email_supersedes_the_first() {
    let second = "ada-second-cart";
    let decisions = simulate(&[
        left(ADA, ADA_EMAIL_ONLY, "2026-11-02T08:00:00Z"),
        left(second, ADA_EMAIL_ONLY, "2026-11-02T08:30:00Z"),
    ]);

    let timeline = timeline(&decisions);
    assert_eq!(
        timeline[0],
        line("2026-11-02T09:00:00Z", "stopped", ADA, 1, "superseded")
    );
    assert!(
        timeline
            .iter()
            .all(|(_, kind, cart, _, _)| cart == second || kind != "sent"),
        "{timeline:#?}"
    );
    let second_sent: Vec<_> = timeline.iter().filter(|l| l.1 == "sent").collect();
    assert_eq!(second_sent.len(), 3, "{timeline:#?}");
    assert_eq!(second_sent[0].0, "2026-11-02T09:30:00Z");
}

/// Every send to Ada, by time.
fn sends(decisions: &[Value]) -> Vec<Timestamp> {
    let mut times: Vec<Timestamp> = sent(decisions)
        .iter()
        .filter_map(|d| d["at"].as_str())
        .map(ts)
        .collect();
    times.sort();
    times
}

fn at_most_three_in_any_week(times: &[Timestamp]) -> bool {
    times
        .windows(4)
        .all(|w| w[3].duration_since(w[0]) >= SignedDuration::from_hours(24 * 7))
}

#[test]
fn a_person_with_four_carts_gets_at_most_three_messages_in_seven_days() {
    let carts = ["ada-cart-1", "ada-cart-2", "ada-cart-3", "ada-cart-4"];
    let starts = [
        "2026-11-02T08:00:00Z",
        "2026-11-02T09:30:00Z",
        "2026-11-02T11:00:00Z",
        "2026-11-02T12:30:00Z",
    ];
    let lines: Vec<Value> = carts
        .iter()
        .zip(starts)
        .map(|(cart, at)| left(cart, ADA_EMAIL_ONLY, at))
        .collect();

    let decisions = simulate(&lines);

    let times = sends(&decisions);
    assert!(
        at_most_three_in_any_week(&times),
        "{:#?}",
        timeline(&decisions)
    );
    // The fourth cart's first email waits until the first email leaves the week.
    let capped: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["kind"] == "deferred" && d["reason"] == "frequency_cap")
        .collect();
    assert!(!capped.is_empty(), "{:#?}", timeline(&decisions));
    assert_eq!(capped[0]["cart"], "ada-cart-4");
    assert_eq!(capped[0]["at"], "2026-11-02T13:30:00Z");
    assert_eq!(capped[0]["until"], "2026-11-09T09:00:00Z");
    assert!(
        sent(&decisions)
            .iter()
            .any(|d| d["cart"] == "ada-cart-4" && d["at"] == "2026-11-09T09:00:00Z"),
        "{:#?}",
        timeline(&decisions)
    );
    // The older carts were superseded by the newer ones.
    for cart in &carts[..3] {
        assert!(
            decisions
                .iter()
                .any(|d| d["cart"] == *cart && d["reason"] == "superseded"),
            "{cart}: {:#?}",
            timeline(&decisions)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Suppression

#[test]
fn a_bounce_stops_email_to_the_person_in_every_cart() {
    let bounced_at = "2026-11-02T09:05:00Z";
    let decisions = simulate(&[
        left(ADA, ADA_EMAIL_ONLY, "2026-11-02T08:00:00Z"),
        recipient(bounced_at, "bounce", ADA, 1),
        // Ada comes back a day later with a new cart.
        left("ada-second-cart", ADA_EMAIL_ONLY, "2026-11-03T10:00:00Z"),
    ]);

    let timeline = timeline(&decisions);
    assert_eq!(
        timeline.iter().filter(|l| l.1 == "sent").count(),
        1,
        "{timeline:#?}"
    );
    assert!(
        decisions
            .iter()
            .any(|d| d["cart"] == "ada-second-cart" && d["reason"] == "bounced"),
        "{timeline:#?}"
    );
    assert!(
        decisions
            .iter()
            .any(|d| d["cart"] == ADA && (d["reason"] == "bounced" || d["reason"] == "superseded")),
        "{timeline:#?}"
    );
}

#[test]
fn after_a_bounce_sms_can_still_reach_a_person_who_agreed_to_it() {
    let start = "2026-11-02T04:00:00Z";
    let decisions = simulate(&[
        left(ADA, ADA_ALL_IN, start),
        recipient("2026-11-02T05:05:00Z", "bounce", ADA, 1),
    ]);

    assert_eq!(
        timeline(&decisions),
        vec![
            line(&plus(start, 1), "sent", ADA, 1, "email"),
            line(&plus(start, 11), "sent", ADA, 2, "sms"),
            // Step 3 is an email, due 2 days on (nothing opened since step 1).
            line(&plus(start, 11 + 48), "stopped", ADA, 3, "bounced"),
        ]
    );
}

#[test]
fn a_shopper_who_returns_to_the_older_cart_gets_reminders_for_it() {
    let second = "ada-second-cart";
    let decisions = simulate(&[
        left(ADA, ADA_EMAIL_ONLY, "2026-11-02T08:00:00Z"),
        left(second, ADA_EMAIL_ONLY, "2026-11-02T08:30:00Z"),
        // Back on the first cart: it is her latest now.
        left(ADA, ADA_EMAIL_ONLY, "2026-11-02T10:00:00Z"),
    ]);

    let timeline = timeline(&decisions);
    assert!(
        timeline.iter().any(|(at, kind, cart, _, _)| kind == "sent"
            && cart == ADA
            && ts(at) > ts("2026-11-02T10:00:00Z")),
        "{timeline:#?}"
    );
    assert!(
        decisions
            .iter()
            .any(|d| d["cart"] == second && d["reason"] == "superseded"),
        "{timeline:#?}"
    );
}
