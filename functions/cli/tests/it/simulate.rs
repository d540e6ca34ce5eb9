//! `cartback simulate` as a user runs it: JSON lines built from the Shopify fixtures in a
//! temporary file, the real binary, decisions read back from stdout. These encode the
//! acceptance criteria of the walking skeleton: with the classic sequence
//! (`--sequence templates/sequences/default.toml`) three emails at +1 h, +24 h and +72 h
//! after the last activity; one only when bought after the first, none without a contact,
//! never a duplicate or a reordering, and clear errors (with line numbers) on bad input.
//! The full recovery flow with the default segments is in `recovery_flow.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jiff::Timestamp;
use serde_json::{Value, json};
use tempfile::TempDir;

const SHOP: &str = "demo-shop.myshopify.com";
/// Ada's checkout token (checkouts_create.json / checkouts_update.json).
const ADA: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const GUEST: &str = "7a9b1c2d3e4f5061728394a5b6c7d8e9";

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const CHECKOUT_UPDATE: &str =
    include_str!("../../../core/tests/fixtures/shopify/checkouts_update.json");
const CHECKOUT_NO_CONTACT: &str =
    include_str!("../../../core/tests/fixtures/shopify/checkouts_create_no_contact.json");
const ORDER: &str = include_str!("../../../core/tests/fixtures/shopify/orders_create.json");
const ORDER_PAID: &str = include_str!("../../../core/tests/fixtures/shopify/orders_paid.json");

fn fixture(source: &str) -> Value {
    serde_json::from_str(source).expect("the fixture is JSON")
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the fixture has {pointer}")) = new;
}

/// Ada's checkout (checkouts_create.json) last updated at `updated_at`.
fn ada_checkout(updated_at: &str) -> Value {
    let mut checkout = fixture(CHECKOUT);
    set(&mut checkout, "/updated_at", json!(updated_at));
    checkout
}

/// Ada's updated checkout (checkouts_update.json: more beanies) at `updated_at`.
fn ada_update(updated_at: &str) -> Value {
    let mut checkout = fixture(CHECKOUT_UPDATE);
    set(&mut checkout, "/updated_at", json!(updated_at));
    checkout
}

/// The fixture checkout as someone else's cart.
fn checkout_of(token: &str, email: &str, first_name: &str, updated_at: &str) -> Value {
    let mut checkout = ada_checkout(updated_at);
    set(&mut checkout, "/token", json!(token));
    set(&mut checkout, "/email", json!(email));
    set(&mut checkout, "/customer/email", json!(email));
    set(&mut checkout, "/customer/first_name", json!(first_name));
    set(&mut checkout, "/created_at", json!(updated_at));
    checkout
}

/// The fixture order (orders_create.json) for checkout `token`, placed at `at`.
fn order_for(source: &str, token: &str, email: &str, at: &str) -> Value {
    let mut order = fixture(source);
    set(&mut order, "/checkout_token", json!(token));
    set(&mut order, "/email", json!(email));
    set(&mut order, "/contact_email", json!(email));
    set(&mut order, "/customer/email", json!(email));
    set(&mut order, "/created_at", json!(at));
    set(&mut order, "/processed_at", json!(at));
    order
}

fn webhook(at: &str, topic: &str, payload: &Value) -> Value {
    json!({ "at": at, "shop": SHOP, "platform": "shopify", "topic": topic, "payload": payload })
}

fn webhook_with_id(at: &str, topic: &str, payload: &Value, delivery: &str) -> Value {
    let mut line = webhook(at, topic, payload);
    line["headers"] = json!({ "X-Shopify-Webhook-Id": delivery });
    line
}

fn recipient(at: &str, event: &str, cart: &str, step: u32) -> Value {
    json!({ "at": at, "shop": SHOP, "event": event, "cart": cart, "step": step })
}

fn jsonl(lines: &[Value]) -> String {
    lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("the temp dir is writable");
    path
}

fn cartback(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cartback"));
    command.args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.output().expect("cartback runs")
}

/// A finished `simulate` run.
struct Run {
    output: Output,
    /// The events file as passed on the command line.
    events: PathBuf,
}

impl Run {
    fn succeeded(&self) -> bool {
        self.output.status.success()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Every stdout line, each required to be one JSON object.
    fn decisions(&self) -> Vec<Value> {
        assert!(
            self.succeeded(),
            "simulate failed: {}\n{}",
            self.output.status,
            self.stderr()
        );
        self.stdout()
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                assert!(value.is_object(), "not an object: {line}");
                value
            })
            .collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.decisions()
            .into_iter()
            .filter(|d| d["kind"] == kind)
            .collect()
    }

    fn sent(&self) -> Vec<Value> {
        self.of_kind("sent")
    }

    fn stopped(&self) -> Vec<Value> {
        self.of_kind("stopped")
    }
}

/// Runs `cartback simulate --events <file> [args]` on `text` written to a temp file.
fn simulate_text(dir: &TempDir, text: &str, args: &[&str]) -> Run {
    let events = write(dir, "events.jsonl", text);
    let events_arg = events.to_str().expect("a UTF-8 temp path");
    let mut all = vec!["simulate", "--events", events_arg];
    all.extend_from_slice(args);
    Run {
        output: cartback(&all, None),
        events,
    }
}

fn simulate(lines: &[Value]) -> Run {
    simulate_in(&TempDir::new().expect("a temp dir"), lines, &[])
}

/// The classic sequence shipped with cartback: three emails 1 h, 24 h and 72 h after the
/// last activity (shops get it only when they pick it; the defaults go by segment).
const CLASSIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../templates/sequences/default.toml"
);

/// `simulate --sequence templates/sequences/default.toml`.
fn simulate_classic(lines: &[Value]) -> Run {
    simulate_in(
        &TempDir::new().expect("a temp dir"),
        lines,
        &["--sequence", CLASSIC],
    )
}

fn simulate_in(dir: &TempDir, lines: &[Value], args: &[&str]) -> Run {
    simulate_text(dir, &jsonl(lines), args)
}

fn field<'a>(decision: &'a Value, name: &str) -> &'a str {
    decision[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is a string in {decision}"))
}

fn at_of(decision: &Value) -> Timestamp {
    field(decision, "at")
        .parse()
        .unwrap_or_else(|e| panic!("`at` is RFC 3339 ({e}) in {decision}"))
}

/// Ada's cart: created at 08:00, updated at 08:20 (her last activity), never bought.
fn abandoned_cart() -> Vec<Value> {
    vec![
        webhook_with_id(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &ada_checkout("2026-11-02T08:00:00Z"),
            "d-ada-1",
        ),
        webhook_with_id(
            "2026-11-02T08:20:00Z",
            "checkouts/update",
            &ada_update("2026-11-02T08:20:00Z"),
            "d-ada-2",
        ),
    ]
}

#[test]
fn an_abandoned_cart_never_bought_gets_exactly_three_emails_at_1_24_and_72_hours_after_its_last_activity()
 {
    let run = simulate_classic(&abandoned_cart());

    let sent = run.sent();

    assert_eq!(sent.len(), 3, "{sent:#?}");
    let expected = [
        ("2026-11-02T09:20:00Z", 1, "reminder"),
        ("2026-11-03T08:20:00Z", 2, "reassure"),
        ("2026-11-05T08:20:00Z", 3, "offer"),
    ];
    for (decision, (at, step, template)) in sent.iter().zip(expected) {
        assert_eq!(at_of(decision), at.parse::<Timestamp>().expect("valid"));
        assert_eq!(decision["step"], step, "{decision}");
        assert_eq!(decision["kind"], "sent");
        assert_eq!(decision["cart"], ADA);
        assert_eq!(decision["channel"], "email");
        assert_eq!(decision["to"], "ada@example.com");
        assert!(!field(decision, "subject").is_empty(), "{decision}");
        assert_eq!(decision["template"], template);
        assert_eq!(decision["sequence"], "default");
    }
}

#[test]
fn the_last_activity_counts_even_when_the_shopper_returns_after_the_first_email() {
    let mut lines = abandoned_cart();
    // Ada comes back after the first email and changes her cart at 12:05.
    lines.push(webhook_with_id(
        "2026-11-02T12:05:00Z",
        "checkouts/update",
        &ada_update("2026-11-02T12:05:00Z"),
        "d-ada-3",
    ));

    let run = simulate_classic(&lines);

    let times: Vec<String> = run
        .sent()
        .iter()
        .map(|d| field(d, "at").to_owned())
        .collect();
    assert_eq!(
        times,
        [
            "2026-11-02T09:20:00Z",
            "2026-11-03T12:05:00Z",
            "2026-11-05T12:05:00Z"
        ]
    );
}

#[test]
fn a_cart_bought_after_the_first_email_gets_exactly_one_and_a_purchased_stop() {
    let mut lines = abandoned_cart();
    lines.push(webhook_with_id(
        "2026-11-02T10:30:00Z",
        "orders/create",
        &order_for(ORDER, ADA, "ada@example.com", "2026-11-02T10:30:00Z"),
        "d-ada-order",
    ));
    // The payment arrives the next morning: still one purchase.
    lines.push(webhook_with_id(
        "2026-11-03T07:15:00Z",
        "orders/paid",
        &order_for(ORDER_PAID, ADA, "ada@example.com", "2026-11-02T10:30:00Z"),
        "d-ada-paid",
    ));

    let run = simulate(&lines);

    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["step"], 1);
    assert_eq!(sent[0]["at"], "2026-11-02T09:20:00Z");
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert_eq!(stopped[0]["reason"], "purchased");
    assert_eq!(stopped[0]["cart"], ADA);
    assert_eq!(stopped[0]["step"], 2);
    assert_eq!(stopped[0]["at"], "2026-11-02T10:30:00Z");
}

#[test]
fn a_cart_bought_before_the_first_email_gets_none() {
    let mut lines = abandoned_cart();
    lines.push(webhook(
        "2026-11-02T08:45:00Z",
        "orders/create",
        &order_for(ORDER, ADA, "ada@example.com", "2026-11-02T08:45:00Z"),
    ));

    let run = simulate(&lines);

    assert!(run.sent().is_empty(), "{:#?}", run.sent());
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["reason"], "purchased");
    assert_eq!(stopped[0]["step"], 1);
}

#[test]
fn the_same_line_delivered_twice_changes_no_message() {
    let clean = simulate(&abandoned_cart());
    let twice: Vec<Value> = abandoned_cart()
        .into_iter()
        .flat_map(|line| [line.clone(), line])
        .collect();

    let noisy = simulate(&twice);

    assert_eq!(clean.sent().len(), 3);
    assert_eq!(noisy.sent(), clean.sent());
    assert_eq!(noisy.decisions(), clean.decisions());
}

#[test]
fn a_repeated_webhook_id_changes_no_message() {
    let clean = simulate(&abandoned_cart());
    let mut lines = abandoned_cart();
    // Shopify retries the update a few minutes and a day later, same delivery id, and
    // re-sends the create once more after the first email.
    lines.push(webhook_with_id(
        "2026-11-02T08:25:00Z",
        "checkouts/update",
        &ada_update("2026-11-02T08:20:00Z"),
        "d-ada-2",
    ));
    lines.push(webhook_with_id(
        "2026-11-02T10:00:00Z",
        "checkouts/create",
        &ada_checkout("2026-11-02T08:00:00Z"),
        "d-ada-1",
    ));
    lines.push(webhook_with_id(
        "2026-11-03T09:00:00Z",
        "checkouts/update",
        &ada_update("2026-11-02T08:20:00Z"),
        "d-ada-2",
    ));

    let noisy = simulate(&lines);

    assert_eq!(noisy.sent(), clean.sent());
    assert_eq!(noisy.decisions(), clean.decisions());
}

#[test]
fn an_older_update_delivered_after_a_newer_one_changes_no_message() {
    let clean = simulate(&abandoned_cart());
    let out_of_order = [
        // The newer snapshot arrives first, the older one after it...
        webhook_with_id(
            "2026-11-02T08:20:00Z",
            "checkouts/update",
            &ada_update("2026-11-02T08:20:00Z"),
            "d-ada-2",
        ),
        webhook_with_id(
            "2026-11-02T08:21:00Z",
            "checkouts/create",
            &ada_checkout("2026-11-02T08:00:00Z"),
            "d-ada-1",
        ),
        // ...and again, much later, between the emails.
        webhook_with_id(
            "2026-11-02T11:00:00Z",
            "checkouts/update",
            &ada_checkout("2026-11-02T08:10:00Z"),
            "d-ada-late",
        ),
        webhook_with_id(
            "2026-11-04T11:00:00Z",
            "checkouts/update",
            &ada_checkout("2026-11-02T08:15:00Z"),
            "d-ada-later",
        ),
    ];

    let noisy = simulate(&out_of_order);

    assert_eq!(clean.sent().len(), 3);
    assert_eq!(noisy.sent(), clean.sent());
    let steps: Vec<Value> = noisy.sent().iter().map(|d| d["step"].clone()).collect();
    assert_eq!(steps, [json!(1), json!(2), json!(3)]);
}

#[test]
fn a_checkout_with_neither_email_nor_phone_gets_nothing_and_a_no_contact_stop() {
    let mut guest = fixture(CHECKOUT_NO_CONTACT);
    set(&mut guest, "/updated_at", json!("2026-11-02T08:10:00Z"));

    let run = simulate(&[webhook("2026-11-02T08:10:00Z", "checkouts/create", &guest)]);

    assert!(run.sent().is_empty(), "{:#?}", run.sent());
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert_eq!(stopped[0]["cart"], GUEST);
    assert_eq!(stopped[0]["reason"], "no_contact");
    assert_eq!(stopped[0]["step"], 1);
}

#[test]
fn a_guest_who_types_an_email_later_gets_reminders_from_then_on() {
    let mut guest = fixture(CHECKOUT_NO_CONTACT);
    set(&mut guest, "/updated_at", json!("2026-11-02T08:10:00Z"));
    let mut with_email = guest.clone();
    set(&mut with_email, "/email", json!("guest@example.com"));
    // ...and ticks the marketing box: email needs consent.
    set(&mut with_email, "/buyer_accepts_marketing", json!(true));
    set(
        &mut with_email,
        "/updated_at",
        json!("2026-11-02T10:00:00Z"),
    );

    let run = simulate_classic(&[
        webhook("2026-11-02T08:10:00Z", "checkouts/create", &guest),
        webhook("2026-11-02T10:00:00Z", "checkouts/update", &with_email),
    ]);

    let sent = run.sent();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!(sent[0]["at"], "2026-11-02T11:00:00Z");
    assert_eq!(sent[0]["to"], "guest@example.com");
    assert_eq!(sent[2]["at"], "2026-11-05T10:00:00Z");
}

#[test]
fn an_unsubscribe_after_step_1_stops_the_rest() {
    let mut lines = abandoned_cart();
    lines.push(recipient("2026-11-02T12:00:00Z", "unsubscribe", ADA, 1));

    let run = simulate(&lines);

    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["step"], 1);
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert_eq!(stopped[0]["reason"], "unsubscribed");
    assert_eq!(stopped[0]["cart"], ADA);
    assert_eq!(stopped[0]["step"], 2);
}

#[test]
fn an_unsubscribe_reaches_the_same_persons_other_carts() {
    // (A newer cart of the same person now supersedes the older one, so the other cart here
    // is one Ada leaves after unsubscribing from the first cart's email.)
    let mut lines = abandoned_cart();
    lines.push(recipient("2026-11-02T09:30:00Z", "unsubscribe", ADA, 1));
    lines.push(webhook(
        "2026-11-02T10:00:00Z",
        "checkouts/create",
        &checkout_of(
            "ada-second-cart",
            "ada@example.com",
            "Ada",
            "2026-11-02T10:00:00Z",
        ),
    ));

    let run = simulate(&lines);

    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["cart"], ADA);
    assert!(
        run.stopped()
            .iter()
            .any(|d| d["cart"] == "ada-second-cart" && d["reason"] == "unsubscribed"),
        "{:#?}",
        run.decisions()
    );
    // The first cart stops too (unsubscribed, or superseded by the second one).
    assert!(
        run.stopped()
            .iter()
            .any(|d| d["cart"] == ADA
                && (d["reason"] == "unsubscribed" || d["reason"] == "superseded")),
        "{:#?}",
        run.decisions()
    );
}

#[test]
fn output_lines_are_single_json_objects_in_non_decreasing_time_order() {
    let mut guest = fixture(CHECKOUT_NO_CONTACT);
    set(&mut guest, "/updated_at", json!("2026-11-02T08:10:00Z"));
    let ben = "b2e7d4c1a9f8e6d5c4b3a2918f7e6d5c";
    let cleo = "c3f8e5d2b0a9f7e6d5c4b3a2918f7e6d";
    let lines = [
        // Deliberately not in time order in the file.
        webhook(
            "2026-11-02T11:30:00Z",
            "orders/create",
            &order_for(ORDER, ben, "ben@example.com", "2026-11-02T11:30:00Z"),
        ),
        webhook(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &ada_checkout("2026-11-02T08:00:00Z"),
        ),
        webhook(
            "2026-11-02T08:05:00Z",
            "checkouts/create",
            &checkout_of(ben, "ben@example.com", "Ben", "2026-11-02T08:05:00Z"),
        ),
        webhook("2026-11-02T08:10:00Z", "checkouts/create", &guest),
        webhook(
            "2026-11-02T08:30:00Z",
            "checkouts/create",
            &checkout_of(cleo, "cleo@example.com", "Cleo", "2026-11-02T08:30:00Z"),
        ),
        recipient("2026-11-02T12:00:00Z", "unsubscribe", cleo, 1),
    ];

    let run = simulate(&lines);

    let decisions = run.decisions();
    assert!(decisions.len() >= 6, "{decisions:#?}");
    assert_eq!(run.stdout().lines().count(), decisions.len());
    let times: Vec<Timestamp> = decisions.iter().map(at_of).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {decisions:#?}"
    );
    for decision in &decisions {
        let kind = field(decision, "kind");
        assert!(
            ["sent", "skipped", "stopped", "deferred"].contains(&kind),
            "{decision}"
        );
        field(decision, "cart");
        assert!(decision["step"].is_u64(), "{decision}");
        if kind == "sent" {
            assert_eq!(decision["channel"], "email");
            field(decision, "to");
            field(decision, "subject");
        } else {
            field(decision, "reason");
        }
    }
}

#[test]
fn a_line_that_is_not_json_fails_and_names_its_line_number() {
    let dir = TempDir::new().expect("a temp dir");
    let text = format!(
        "{}\n\n{{\"at\": \"2026-11-02T09:00:00Z\", this is not json\n",
        abandoned_cart()[0]
    );

    let run = simulate_text(&dir, &text, &[]);

    assert!(!run.succeeded());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!("{}:3:", run.events.display())),
        "{stderr}"
    );
    assert!(stderr.contains("JSON"), "{stderr}");
    assert!(run.stdout().is_empty(), "nothing runs on bad input");
}

#[test]
fn a_line_that_is_not_utf8_fails_and_names_its_line_number() {
    let dir = TempDir::new().expect("a temp dir");
    let events = dir.path().join("events.jsonl");
    let mut bytes = format!("{}\n", abandoned_cart()[0]).into_bytes();
    bytes.extend_from_slice(b"{\"at\": \"2026-11-02T09:00:00Z\", \"shop\": \"\xff\xfe\"}\n");
    std::fs::write(&events, bytes).expect("write the events file");

    let output = cartback(
        &[
            "simulate",
            "--events",
            events.to_str().expect("a UTF-8 temp path"),
        ],
        None,
    );

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", events.display())),
        "{stderr}"
    );
    assert!(stderr.contains("could not be read"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing runs on bad input");
}

#[test]
fn an_unknown_platform_fails_and_names_its_line_number() {
    let dir = TempDir::new().expect("a temp dir");
    let mut lines = abandoned_cart();
    lines[1]["platform"] = json!("magento");

    let run = simulate_in(&dir, &lines, &[]);

    assert!(!run.succeeded());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!("{}:2:", run.events.display())),
        "{stderr}"
    );
    assert!(stderr.contains("platform"), "{stderr}");
}

#[test]
fn a_line_with_a_bad_time_fails_and_names_its_line_number() {
    let dir = TempDir::new().expect("a temp dir");
    let mut lines = abandoned_cart();
    lines[1]["at"] = json!("yesterday at noon");

    let run = simulate_in(&dir, &lines, &[]);

    assert!(!run.succeeded());
    assert!(
        run.stderr()
            .contains(&format!("{}:2:", run.events.display())),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_checkout_the_adapter_refuses_fails_and_names_its_line_number() {
    let dir = TempDir::new().expect("a temp dir");
    let mut lines = abandoned_cart();
    lines[1]["payload"]
        .as_object_mut()
        .expect("an object")
        .remove("token");

    let run = simulate_in(&dir, &lines, &[]);

    assert!(!run.succeeded());
    assert!(
        run.stderr()
            .contains(&format!("{}:2:", run.events.display())),
        "{}",
        run.stderr()
    );
}

#[test]
fn until_limits_the_run() {
    let dir = TempDir::new().expect("a temp dir");
    let mut lines = abandoned_cart();
    // After --until: never delivered.
    lines.push(webhook(
        "2026-11-03T10:00:00Z",
        "orders/create",
        &order_for(ORDER, ADA, "ada@example.com", "2026-11-03T10:00:00Z"),
    ));

    let run = simulate_in(
        &dir,
        &lines,
        &["--until", "2026-11-03T09:00:00Z", "--sequence", CLASSIC],
    );

    let decisions = run.decisions();
    let until: Timestamp = "2026-11-03T09:00:00Z".parse().expect("valid");
    assert!(
        decisions.iter().all(|d| at_of(d) <= until),
        "{decisions:#?}"
    );
    let sent = run.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[1]["at"], "2026-11-03T08:20:00Z");
    assert!(run.stopped().is_empty(), "the order lies after --until");
}

#[test]
fn until_before_the_first_reminder_prints_nothing() {
    let dir = TempDir::new().expect("a temp dir");

    let run = simulate_in(
        &dir,
        &abandoned_cart(),
        &["--until", "2026-11-02T09:19:00Z"],
    );

    assert!(run.succeeded(), "{}", run.stderr());
    assert!(run.decisions().is_empty());
}

#[test]
fn a_sequence_file_replaces_the_default_sequence() {
    let dir = TempDir::new().expect("a temp dir");
    let sequence = write(
        &dir,
        "two-step.toml",
        "name = \"two-step\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n\n[[step]]\ntemplate = \"offer\"\ndelay = \"2 days\"\n",
    );
    let sequence = sequence.to_str().expect("a UTF-8 path");

    let run = simulate_in(&dir, &abandoned_cart(), &["--sequence", sequence]);

    let sent = run.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0]["at"], "2026-11-02T10:20:00Z");
    assert_eq!(sent[0]["template"], "reminder");
    // After step 1 a delay counts from the previous step unless `from = "last_activity"`.
    assert_eq!(sent[1]["at"], "2026-11-04T10:20:00Z");
    assert_eq!(sent[1]["template"], "offer");
    assert!(sent.iter().all(|d| d["sequence"] == "two-step"));
}

#[test]
fn a_broken_sequence_file_fails_and_names_the_file_and_line() {
    let dir = TempDir::new().expect("a temp dir");
    let sequence = write(
        &dir,
        "broken.toml",
        "name = \"broken\"\n\n[[step]]\ntemplate = \"welcome\"\ndelay = \"1h\"\n",
    );

    let run = simulate_in(
        &dir,
        &abandoned_cart(),
        &["--sequence", sequence.to_str().expect("a UTF-8 path")],
    );

    assert!(!run.succeeded());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!("{}:4:", sequence.display())),
        "{stderr}"
    );
    assert!(stderr.contains("welcome"), "{stderr}");
    assert!(run.stdout().is_empty());
}

#[test]
fn a_missing_events_file_fails_and_names_it() {
    let dir = TempDir::new().expect("a temp dir");
    let missing = dir.path().join("nope.jsonl");

    let output = cartback(
        &[
            "simulate",
            "--events",
            missing.to_str().expect("a UTF-8 path"),
        ],
        None,
    );

    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nope.jsonl"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_purchase_by_the_same_person_on_another_checkout_stops_this_carts_reminders() {
    let mut lines = abandoned_cart();
    // Ada buys on another device: another checkout, her address in capitals.
    lines.push(webhook(
        "2026-11-02T10:30:00Z",
        "orders/create",
        &order_for(
            ORDER,
            "other-device-checkout",
            "ADA@Example.com",
            "2026-11-02T10:30:00Z",
        ),
    ));

    let run = simulate(&lines);

    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["cart"], ADA);
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert_eq!(stopped[0]["cart"], ADA);
    assert_eq!(stopped[0]["reason"], "purchased_elsewhere");
    assert_eq!(stopped[0]["step"], 2);
}

#[test]
fn an_order_delivered_before_its_checkout_means_no_email() {
    let lines = [
        webhook(
            "2026-11-02T08:45:00Z",
            "orders/create",
            &order_for(ORDER, ADA, "ada@example.com", "2026-11-02T08:40:00Z"),
        ),
        webhook(
            "2026-11-02T08:50:00Z",
            "checkouts/create",
            &ada_checkout("2026-11-02T08:00:00Z"),
        ),
        webhook(
            "2026-11-02T08:55:00Z",
            "checkouts/update",
            &ada_update("2026-11-02T08:20:00Z"),
        ),
    ];

    let run = simulate(&lines);

    assert!(run.decisions().is_empty(), "{:#?}", run.decisions());
}

#[test]
fn a_checkout_update_with_completed_at_counts_as_the_purchase() {
    let mut lines = abandoned_cart();
    let mut completed = ada_update("2026-11-02T10:30:00Z");
    set(
        &mut completed,
        "/completed_at",
        json!("2026-11-02T10:30:00Z"),
    );
    lines.push(webhook(
        "2026-11-02T10:30:00Z",
        "checkouts/update",
        &completed,
    ));

    let run = simulate(&lines);

    assert_eq!(run.sent().len(), 1, "{:#?}", run.sent());
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{stopped:#?}");
    assert_eq!(stopped[0]["reason"], "purchased");
}

/// A custom store on the generic signed JSON API: its documented examples, as `simulate`
/// input with the platform's own topic names and cart id.
#[test]
fn a_generic_store_gets_its_reminder_and_the_conversion_stops_the_rest() {
    let updated = fixture(include_str!(
        "../../../../examples/generic/cart-updated.json"
    ));
    let converted = fixture(include_str!(
        "../../../../examples/generic/cart-converted.json"
    ));
    let line = |at: &str, topic: &str, payload: &Value| json!({"at": at, "shop": "kuura-knitwear", "platform": "generic", "topic": topic, "payload": payload});
    let run = simulate(&[
        line("2026-11-02T08:00:00Z", "cart.updated", &updated),
        line("2026-11-02T10:15:00Z", "cart.converted", &converted),
    ]);
    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{:?}", run.decisions());
    assert_eq!(field(&sent[0], "cart"), "cart-7f3a9c");
    assert_eq!(field(&sent[0], "to"), "ada@example.com");
    assert_eq!(field(&sent[0], "channel"), "email");
    assert_eq!(
        at_of(&sent[0]),
        "2026-11-02T09:00:00Z".parse::<Timestamp>().expect("time")
    );
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{:?}", run.decisions());
    assert_eq!(field(&stopped[0], "reason"), "purchased");
    assert!(
        run.decisions()
            .iter()
            .all(|d| at_of(d) <= "2026-11-02T10:15:00Z".parse::<Timestamp>().expect("time")),
        "nothing after the purchase: {:?}",
        run.decisions()
    );
}

/// In demo-shop's 10 % holdout (SHA-256 of ("holdout", shop, cart) puts it at 0.013).
const HELD_OUT: &str = "held0000000000000000000000000024";

#[test]
fn a_held_out_cart_is_reported_once_as_skipped_for_the_holdout_and_gets_nothing() {
    let lines = [
        webhook(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &checkout_of(
                HELD_OUT,
                "held@example.com",
                "Hilda",
                "2026-11-02T08:00:00Z",
            ),
        ),
        webhook(
            "2026-11-02T13:00:00Z",
            "orders/create",
            &order_for(ORDER, HELD_OUT, "held@example.com", "2026-11-02T13:00:00Z"),
        ),
    ];

    let run = simulate_classic(&lines);

    let decisions = run.decisions();
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    let held = &decisions[0];
    assert_eq!(held["kind"], "skipped");
    assert_eq!(held["reason"], "holdout");
    assert_eq!(held["step"], 1);
    assert_eq!(held["cart"], HELD_OUT);
    assert_eq!(
        held["at"], "2026-11-02T09:00:00Z",
        "decided at the first step"
    );
    assert_eq!(held.get("variant"), None, "the step is not split");
}

#[test]
fn a_shop_with_holdout_0_sends_every_cart_and_a_bad_share_is_refused_with_its_line() {
    let dir = TempDir::new().expect("a temp dir");
    let off = write(
        &dir,
        "shops.toml",
        &format!(
            "[shops.\"{SHOP}\"]\nname = \"Demo\"\nfrom_address = \"shop@example.com\"\nholdout = 0\n"
        ),
    );
    let lines = [webhook(
        "2026-11-02T08:00:00Z",
        "checkouts/create",
        &checkout_of(
            HELD_OUT,
            "held@example.com",
            "Hilda",
            "2026-11-02T08:00:00Z",
        ),
    )];
    let run = simulate_in(
        &dir,
        &lines,
        &[
            "--sequence",
            CLASSIC,
            "--shops",
            off.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(run.sent().len(), 3, "{}", run.stdout());

    let bad = write(
        &dir,
        "bad.toml",
        &format!(
            "[shops.\"{SHOP}\"]\nname = \"Demo\"\nfrom_address = \"shop@example.com\"\nholdout = 0.7\n"
        ),
    );
    let run = simulate_in(&dir, &lines, &["--shops", bad.to_str().expect("UTF-8")]);
    assert!(!run.succeeded());
    let stderr = run.stderr();
    assert!(
        stderr.contains("bad.toml:4: shop `demo-shop.myshopify.com`"),
        "{stderr}"
    );
    assert!(stderr.contains("holdout `0.7`"), "{stderr}");
    assert!(stderr.contains("between 0 and 0.5"), "{stderr}");
}

#[test]
fn sent_lines_of_a_split_step_name_their_variant() {
    let dir = TempDir::new().expect("a temp dir");
    let sequence = write(
        &dir,
        "split.toml",
        "name = \"split\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\nsubject = \"{{ customer.first_name }}, your cart misses you\"\n[[step]]\ntemplate = \"reassure\"\ndelay = \"24h\"\n",
    );
    let mut lines = Vec::new();
    for i in 0..12 {
        let token = format!("5p1{i:029x}");
        lines.push(webhook(
            "2026-11-02T08:00:00Z",
            "checkouts/create",
            &checkout_of(
                &token,
                &format!("s{i}@example.com"),
                "Sam",
                "2026-11-02T08:00:00Z",
            ),
        ));
    }
    let run = simulate_in(
        &dir,
        &lines,
        &["--sequence", sequence.to_str().expect("UTF-8")],
    );

    let sent = run.sent();
    let first: Vec<&Value> = sent.iter().filter(|d| d["step"] == 1).collect();
    assert!(!first.is_empty());
    for decision in &first {
        match decision["variant"].as_str() {
            Some("a") => assert_eq!(decision["subject"], "Sam, did you forget something?"),
            Some("b") => assert_eq!(decision["subject"], "Sam, your cart misses you"),
            other => panic!("a split step names its variant: {other:?} in {decision}"),
        }
    }
    assert!(first.iter().any(|d| d["variant"] == "a"), "{first:#?}");
    assert!(first.iter().any(|d| d["variant"] == "b"), "{first:#?}");
    assert!(
        sent.iter()
            .filter(|d| d["step"] == 2)
            .all(|d| d.get("variant").is_none()),
        "step 2 is not split"
    );
}

/// The WooCommerce example (`examples/woocommerce.jsonl`) as a user runs it.
const WOOCOMMERCE_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/woocommerce.jsonl"
);

fn simulate_woocommerce(args: &[&str]) -> Run {
    let mut all = vec!["simulate", "--events", WOOCOMMERCE_EXAMPLE];
    all.extend_from_slice(args);
    Run {
        output: cartback(&all, None),
        events: PathBuf::from(WOOCOMMERCE_EXAMPLE),
    }
}

fn woocommerce_shop_gets_its_reminder_and_nothing_after_paying(run: &Run) {
    let decisions = run.decisions();
    let sent = run.sent();
    assert_eq!(sent.len(), 1, "{decisions:#?}");
    assert_eq!(field(&sent[0], "cart"), "4127", "the order id is the cart");
    assert_eq!(field(&sent[0], "to"), "zofia.przykladowa@example.com");
    assert_eq!(field(&sent[0], "channel"), "email");
    assert_eq!(
        field(&sent[0], "subject"),
        "Zofia, coś Ci umknęło?",
        "in the order's language (WPML: pl)"
    );
    assert_eq!(
        at_of(&sent[0]),
        "2026-11-02T09:01:40Z".parse::<Timestamp>().expect("time"),
        "an hour after the failed payment, the last activity"
    );
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{decisions:#?}");
    assert_eq!(field(&stopped[0], "reason"), "purchased");
    let paid: Timestamp = "2026-11-02T10:12:31Z".parse().expect("time");
    assert!(
        decisions.iter().all(|d| at_of(d) <= paid),
        "nothing after the order turned processing: {decisions:#?}"
    );
}

#[test]
fn a_woocommerce_shop_gets_its_reminder_and_nothing_after_the_order_is_processing() {
    woocommerce_shop_gets_its_reminder_and_nothing_after_paying(&simulate_woocommerce(&[]));
}

#[test]
fn simulate_signs_woocommerce_webhooks_with_the_shops_secret() {
    let dir = TempDir::new().expect("a temp dir");
    let shops = write(
        &dir,
        "shops.toml",
        "[shops.lniana-pracownia]\nname = \"Lniana Pracownia\"\nfrom_address = \"sklep@lniana-pracownia.example\"\nwebhook_secret = \"Zq8#Lw2!vR5^pX9*mT4(kD7)hB1{nF6}cJ3[sG0]\"\n",
    );
    let run = simulate_woocommerce(&["--shops", shops.to_str().expect("UTF-8")]);
    woocommerce_shop_gets_its_reminder_and_nothing_after_paying(&run);
}

#[test]
fn a_woocommerce_order_that_is_never_paid_gets_the_whole_sequence() {
    let source = std::fs::read_to_string(WOOCOMMERCE_EXAMPLE).expect("the example");
    let unpaid: Vec<Value> = source
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|l| l["topic"] != "order.updated" || l["payload"]["status"] != "processing")
        .collect();
    assert_eq!(unpaid.len(), 2);
    let run = simulate(&unpaid);
    let sent = run.sent();
    let templates: Vec<&str> = sent.iter().map(|s| field(s, "template")).collect();
    assert_eq!(
        templates,
        ["reminder", "reassure", "offer"],
        "{:#?}",
        run.decisions()
    );
    assert!(sent.iter().all(|s| s["cart"] == "4127"));
    assert!(run.stopped().is_empty(), "{:#?}", run.decisions());
}

/// The BigCommerce example and its shop settings, as a user runs them.
const BIGCOMMERCE_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/bigcommerce.jsonl"
);
const BIGCOMMERCE_SHOPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/bigcommerce.toml"
);

fn bigcommerce_lines() -> Vec<Value> {
    std::fs::read_to_string(BIGCOMMERCE_EXAMPLE)
        .expect("the example")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .collect()
}

/// examples/bigcommerce.toml gives the shop a `webhook_secret`, so this run also checks the
/// secret header simulate sends as BigCommerce would.
#[test]
fn a_bigcommerce_cart_gets_its_reminders_from_the_store_api_answer_and_nothing_after_it_converts() {
    let run = Run {
        output: cartback(
            &[
                "simulate",
                "--events",
                BIGCOMMERCE_EXAMPLE,
                "--shops",
                BIGCOMMERCE_SHOPS,
            ],
            None,
        ),
        events: PathBuf::from(BIGCOMMERCE_EXAMPLE),
    };
    let decisions = run.decisions();
    let sent = run.sent();
    assert_eq!(sent.len(), 2, "{decisions:#?}");
    for s in &sent {
        assert_eq!(
            field(s, "cart"),
            "09346904-4175-44fd-be53-f7e598531b6c",
            "the BigCommerce cart id is the cart"
        );
        assert_eq!(field(s, "to"), "aino.esimerkki@example.com");
    }
    assert_eq!(
        field(&sent[0], "subject"),
        "Unohtuiko jotain?",
        "in the cart's locale (fi)"
    );
    let stopped = run.stopped();
    assert_eq!(stopped.len(), 1, "{decisions:#?}");
    assert_eq!(field(&stopped[0], "reason"), "purchased");
    let bought: Timestamp = "2026-11-03T13:20:06Z".parse().expect("time");
    assert!(decisions.iter().all(|d| at_of(d) <= bought));
}

#[test]
fn a_bigcommerce_cart_without_consent_gets_nothing_under_the_default_rules() {
    let run = simulate(&bigcommerce_lines());
    let stopped = run.stopped();
    assert!(run.sent().is_empty(), "{:#?}", run.decisions());
    assert_eq!(field(&stopped[0], "reason"), "no_consent");
}

#[test]
fn a_bigcommerce_line_without_the_store_api_answer_names_its_line() {
    let mut lines = bigcommerce_lines();
    if let Some(object) = lines[0].as_object_mut() {
        object.remove("api");
    }
    let run = simulate(&lines);
    assert!(!run.succeeded());
    assert!(run.stderr().contains(":1:"), "{}", run.stderr());
    assert!(run.stderr().contains("needs `api`"), "{}", run.stderr());
}

#[test]
fn an_api_field_on_another_platform_or_an_unreadable_one_is_refused() {
    let mut lines = bigcommerce_lines();
    lines[0]["api"] = serde_json::json!({"data": {"id": "another-cart"}});
    let run = simulate(&lines);
    assert!(!run.succeeded());
    assert!(run.stderr().contains("api:"), "{}", run.stderr());

    let mut shopify = bigcommerce_lines();
    shopify.truncate(1);
    shopify[0]["platform"] = Value::from("shopify");
    let run = simulate(&shopify);
    assert!(!run.succeeded());
    assert!(
        run.stderr().contains("for platform bigcommerce only"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_bigcommerce_store_hash_that_is_not_one_is_refused_with_what_to_give() {
    let source = std::fs::read_to_string(BIGCOMMERCE_SHOPS).expect("shops");
    let dir = TempDir::new().expect("a temp dir");
    let shops = write(
        &dir,
        "shops.toml",
        &source.replace(
            "bigcommerce_store_hash = \"t4v9p2w7qc\"",
            "bigcommerce_store_hash = \"stores/T4V9P2W7QC\"",
        ),
    );
    let run = simulate_in(
        &dir,
        &bigcommerce_lines(),
        &["--shops", shops.to_str().expect("UTF-8")],
    );
    assert!(!run.succeeded());
    assert!(
        run.stderr().contains("bigcommerce_store_hash")
            && run.stderr().contains("lowercase letters and digits"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_file_in_time_order_read_as_the_run_goes_gives_the_decisions_of_the_same_file_held_and_sorted()
{
    // 300 generated carts over two days: written in time order, the file is read line by
    // line during the run; with its first line moved to the end it is not, and the run
    // holds it and sorts it first. The decisions must be the same.
    let mut generated = Vec::new();
    cartback_bench::carts::write_over(&mut generated, 300, 2, 5).expect("generate carts");
    let text = String::from_utf8(generated).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let times: Vec<Timestamp> = lines
        .iter()
        .map(|l| {
            let value: Value = serde_json::from_str(l).expect("JSON");
            value["at"].as_str().expect("at").parse().expect("a time")
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "gen-carts writes in time order"
    );
    assert!(times[0] < times[1], "the first line's time is its own");
    let moved = format!("{}\n{}\n", lines[1..].join("\n"), lines[0]);

    let dir = TempDir::new().expect("a temp dir");
    let streamed = simulate_text(&dir, &text, &[]);
    let other = TempDir::new().expect("a temp dir");
    let held = simulate_text(&other, &moved, &[]);

    assert!(streamed.succeeded(), "{}", streamed.stderr());
    assert!(held.succeeded(), "{}", held.stderr());
    assert!(streamed.sent().len() > 300, "{}", streamed.stdout());
    assert_eq!(streamed.stdout(), held.stdout());
}
