//! `cartback demo`: four shoppers on one shop, run through the real pipeline on the
//! in-memory stack with a virtual clock, printed as a readable timeline.

use cartback_local::{LocalShops, Report, ReportKind};
use cartback_webhook::Accepted;
use serde_json::{Value, json};

use crate::simulate::{self, InputEvent, Progress};

const SHOP: &str = "demo-shop.myshopify.com";
pub(crate) const CHECKOUT: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create.json");
const CHECKOUT_UPDATE: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_update.json");
const CHECKOUT_NO_CONTACT: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create_no_contact.json");
const CHECKOUT_YEN: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create_yen.json");
const ORDER: &str = include_str!("../../core/tests/fixtures/shopify/orders_create.json");

fn payload(source: &str) -> Result<Value, String> {
    serde_json::from_str(source).map_err(|e| format!("demo fixture: {e}"))
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = new;
    }
}

fn webhook(at: &str, topic: &str, payload: &Value, delivery: &str) -> Value {
    json!({
        "at": at, "shop": SHOP, "platform": "shopify", "topic": topic,
        "headers": { "X-Shopify-Webhook-Id": delivery },
        "payload": payload,
    })
}

/// The scenario as `simulate` input lines.
fn scenario() -> Result<String, String> {
    let ada = payload(CHECKOUT)?;
    let ada_update = payload(CHECKOUT_UPDATE)?;

    let mut ben = payload(CHECKOUT)?;
    set(
        &mut ben,
        "/token",
        json!("b2e7d4c1a9f8e6d5c4b3a2918f7e6d5c"),
    );
    set(&mut ben, "/email", json!("ben@example.com"));
    set(&mut ben, "/customer/first_name", json!("Ben"));
    set(&mut ben, "/customer/email", json!("ben@example.com"));
    set(&mut ben, "/created_at", json!("2026-11-02T08:05:00Z"));
    set(&mut ben, "/updated_at", json!("2026-11-02T08:05:00Z"));
    let mut ben_order = payload(ORDER)?;
    set(&mut ben_order, "/checkout_token", ben["token"].clone());
    set(&mut ben_order, "/email", json!("ben@example.com"));
    set(&mut ben_order, "/contact_email", json!("ben@example.com"));
    set(&mut ben_order, "/created_at", json!("2026-11-02T11:30:00Z"));
    set(
        &mut ben_order,
        "/processed_at",
        json!("2026-11-02T11:30:00Z"),
    );

    let mut guest = payload(CHECKOUT_NO_CONTACT)?;
    set(&mut guest, "/updated_at", json!("2026-11-02T08:10:00Z"));

    let mut hanako = payload(CHECKOUT_YEN)?;
    set(&mut hanako, "/created_at", json!("2026-11-02T08:30:00Z"));
    set(&mut hanako, "/updated_at", json!("2026-11-02T08:30:00Z"));
    let hanako_token = hanako["token"].clone();

    let lines = [
        webhook("2026-11-02T08:00:00Z", "checkouts/create", &ada, "d-ada-1"),
        webhook("2026-11-02T08:05:00Z", "checkouts/create", &ben, "d-ben-1"),
        webhook(
            "2026-11-02T08:10:00Z",
            "checkouts/create",
            &guest,
            "d-guest-1",
        ),
        webhook(
            "2026-11-02T08:20:00Z",
            "checkouts/update",
            &ada_update,
            "d-ada-2",
        ),
        webhook(
            "2026-11-02T08:30:00Z",
            "checkouts/create",
            &hanako,
            "d-hanako-1",
        ),
        // Shopify retries: the same delivery again, then Ada's first update arriving late.
        webhook(
            "2026-11-02T08:31:00Z",
            "checkouts/create",
            &hanako,
            "d-hanako-1",
        ),
        webhook(
            "2026-11-02T08:40:00Z",
            "checkouts/create",
            &ada,
            "d-ada-1-late",
        ),
        webhook(
            "2026-11-02T11:30:00Z",
            "orders/create",
            &ben_order,
            "d-ben-order",
        ),
        json!({ "at": "2026-11-02T12:00:00Z", "shop": SHOP, "event": "unsubscribe", "cart": hanako_token, "step": 1 }),
    ];
    Ok(lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n"))
}

fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}…@{domain}", local.chars().next().unwrap_or('?')),
        None => "…".into(),
    }
}

fn short(cart: &str) -> String {
    cart.chars().take(8).collect()
}

fn time(at: jiff::Timestamp) -> String {
    at.strftime("%a %d %b %H:%M").to_string()
}

fn decision_line(report: &Report) -> String {
    let cart = short(&report.cart);
    match report.kind {
        ReportKind::Sent => format!(
            "{}  ✉  cart {cart}  step {} `{}` → {}  \"{}\"",
            time(report.at),
            report.step,
            report.template.as_deref().unwrap_or("?"),
            mask(report.to.as_deref().unwrap_or("")),
            report.subject.as_deref().unwrap_or(""),
        ),
        kind => format!(
            "{}  ■  cart {cart}  step {} {:?}: {}",
            time(report.at),
            report.step,
            kind,
            report.reason.as_deref().unwrap_or(""),
        )
        .to_lowercase()
        .replacen(&time(report.at).to_lowercase(), &time(report.at), 1),
    }
}

pub async fn run() -> Result<(), String> {
    let source = scenario()?;
    let events = simulate::parse_events("demo", &source).map_err(|e| e.to_string())?;
    println!(
        "cartback demo: one Shopify shop, four shoppers, default sequence (emails at +1 h, +24 h, +72 h)."
    );
    println!(
        "Everything runs on the in-memory stack with a virtual clock; nothing leaves this machine.\n"
    );
    let mut sent = 0;
    let mut stopped = 0;
    let stack =
        simulate::run(
            &events,
            LocalShops::defaults(),
            None,
            "demo",
            |progress| match progress {
                Progress::Decision(report) => {
                    if report.kind == ReportKind::Sent {
                        sent += 1;
                    } else {
                        stopped += 1;
                    }
                    println!("{}", decision_line(report));
                }
                Progress::Webhook { input, reply } => {
                    let InputEvent::Webhook { topic, .. } = &input.event else {
                        return;
                    };
                    let what = match &reply.0 {
                        Ok(Accepted::Stored { cart }) => {
                            format!("cart {} stored", short(cart.as_str()))
                        }
                        Ok(Accepted::Converted { cart, .. }) => format!(
                            "order for cart {}: reminders stop",
                            cart.as_ref().map_or("?".into(), |c| short(c.as_str()))
                        ),
                        Ok(Accepted::Duplicate) => "same delivery again: ignored".into(),
                        Ok(Accepted::Stale { cart }) => {
                            format!("older than cart {} we hold: ignored", short(cart.as_str()))
                        }
                        Ok(Accepted::AlreadyConverted { cart }) => {
                            format!("cart {} already bought", short(cart.as_str()))
                        }
                        Ok(Accepted::Ignored { topic }) => format!("topic {topic} not used"),
                        Err(e) => format!("refused: {e}"),
                    };
                    println!("{}  ←  {topic:<17} {what}", time(input.at));
                }
                Progress::Recipient { input } => {
                    if let InputEvent::Recipient {
                        cart, kind, step, ..
                    } = &input.event
                    {
                        let step = step.map_or(String::new(), |s| format!(", after step {s}"));
                        println!(
                            "{}  ←  recipient {kind:?} (cart {}{step})",
                            time(input.at),
                            short(cart.as_str())
                        );
                    }
                }
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let (creates, deletes) = stack.schedules.calls();
    println!(
        "\n{sent} emails sent, {stopped} stops, {} carts tracked; scheduler: {creates} schedules created, {deletes} deleted, {} pending.",
        stack.store.carts().len(),
        stack.schedules.pending().len()
    );
    Ok(())
}
