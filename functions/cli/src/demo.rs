//! `cartback demo`: seven shoppers on one shop, and one on a second shop whose offer draws a
//! single-use code from a pool, run through the real pipeline on the in-memory stack with a
//! virtual clock, printed as a readable timeline.

use std::io::Write;

use cartback_app::ingest::Accepted;
use cartback_core::model::ids::{IdError, PoolName, ShopId};
use cartback_core::model::offer_codes::{CodeError, OfferCode};
use cartback_core::model::shop::ShopSettings;
use cartback_local::{LocalShops, Report, ReportKind};
use serde_json::{Value, json};

use crate::simulate::{self, InputError, InputEvent, Progress};

/// Why the demo did not run to the end: its own fixtures or its run failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo fixture: {0}")]
    Fixture(#[source] serde_json::Error),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// Like `println!`, but a closed pipe (`cartback demo | head`) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

const SHOP: &str = "demo-shop.myshopify.com";
/// The second shop: its offer gives each cart a single-use code from pool `winter10`.
const POOL_SHOP: &str = "winter-shop.myshopify.com";
const POOL_SEQUENCE: &str = r#"name = "winter-sale"
[[step]]
template = "reminder"
delay = "1h"
[[step]]
template = "offer"
delay = "1 day"
offer = { description = "10 % off your cart", pool = "winter10", valid_for = "24h" }
"#;
const POOL_CODES: &[&str] = &["WINTER10-7KQ2", "WINTER10-M4XD", "WINTER10-P9LC"];
pub(crate) const CHECKOUT: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create.json");
const CHECKOUT_UPDATE: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_update.json");
const CHECKOUT_NO_CONTACT: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create_no_contact.json");
const CHECKOUT_YEN: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create_yen.json");
const CHECKOUT_PHONE_ONLY: &str =
    include_str!("../../core/tests/fixtures/shopify/checkouts_create_phone_only.json");
const ORDER: &str = include_str!("../../core/tests/fixtures/shopify/orders_create.json");

fn payload(source: &str) -> Result<Value, DemoError> {
    serde_json::from_str(source).map_err(DemoError::Fixture)
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = new;
    }
}

fn webhook(at: &str, topic: &str, payload: &Value, delivery: &str) -> Value {
    webhook_to(SHOP, at, topic, payload, delivery)
}

fn webhook_to(shop: &str, at: &str, topic: &str, payload: &Value, delivery: &str) -> Value {
    json!({
        "at": at, "shop": shop, "platform": "shopify", "topic": topic,
        "headers": { "X-Shopify-Webhook-Id": delivery },
        "payload": payload,
    })
}

fn recipient(at: &str, event: &str, cart: &Value, step: u32) -> Value {
    json!({ "at": at, "shop": SHOP, "event": event, "cart": cart, "step": step })
}

/// The scenario as `simulate` input lines.
fn scenario() -> Result<String, DemoError> {
    // Ada, a new visitor in Finland: opens the first email, clicks the second.
    let ada = payload(CHECKOUT)?;
    let ada_update = payload(CHECKOUT_UPDATE)?;
    let ada_token = ada["token"].clone();

    // Ben buys after the first email.
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

    // A guest who left before typing any contact details.
    let mut guest = payload(CHECKOUT_NO_CONTACT)?;
    set(&mut guest, "/updated_at", json!("2026-11-02T08:10:00Z"));

    // Hanako, a returning customer in Japan, unsubscribes after the first email.
    let mut hanako = payload(CHECKOUT_YEN)?;
    set(&mut hanako, "/buyer_accepts_marketing", json!(true));
    set(&mut hanako, "/created_at", json!("2026-11-02T08:30:00Z"));
    set(&mut hanako, "/updated_at", json!("2026-11-02T08:30:00Z"));
    let hanako_token = hanako["token"].clone();

    // Sami gave only a phone number, with SMS consent: email steps are skipped and the SMS
    // waits for the morning in Helsinki.
    let mut sami = payload(CHECKOUT_PHONE_ONLY)?;
    set(&mut sami, "/created_at", json!("2026-11-02T09:30:00Z"));
    set(&mut sami, "/updated_at", json!("2026-11-02T09:30:00Z"));

    // Dora starts a second cart: the newer one takes over.
    let mut dora_first = payload(CHECKOUT)?;
    set(
        &mut dora_first,
        "/token",
        json!("a1d0ad0ad0ad0ad0ad0ad0ad0ad0a01"),
    );
    set(&mut dora_first, "/email", json!("dora@example.com"));
    set(&mut dora_first, "/customer/first_name", json!("Dora"));
    set(
        &mut dora_first,
        "/customer/email",
        json!("dora@example.com"),
    );
    set(
        &mut dora_first,
        "/updated_at",
        json!("2026-11-02T13:00:00Z"),
    );
    let mut dora_second = dora_first.clone();
    set(
        &mut dora_second,
        "/token",
        json!("b2d0ad0ad0ad0ad0ad0ad0ad0ad0a02"),
    );
    set(
        &mut dora_second,
        "/updated_at",
        json!("2026-11-02T13:40:00Z"),
    );

    // Eve shops at the winter shop: its offer draws a single-use code for her cart (which
    // is not in the shop's 10 % holdout).
    let mut eve = payload(CHECKOUT)?;
    set(
        &mut eve,
        "/token",
        json!("e5e0e5e0e5e0e5e0e5e0e5e0e5e0e5e1"),
    );
    set(&mut eve, "/email", json!("eve@example.com"));
    set(&mut eve, "/customer/first_name", json!("Eve"));
    set(&mut eve, "/customer/email", json!("eve@example.com"));
    set(&mut eve, "/updated_at", json!("2026-11-02T14:30:00Z"));

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
            "2026-11-02T09:30:00Z",
            "checkouts/create",
            &sami,
            "d-sami-1",
        ),
        recipient("2026-11-02T09:40:00Z", "open", &ada_token, 1),
        webhook(
            "2026-11-02T11:30:00Z",
            "orders/create",
            &ben_order,
            "d-ben-order",
        ),
        recipient("2026-11-02T12:00:00Z", "unsubscribe", &hanako_token, 1),
        webhook(
            "2026-11-02T13:00:00Z",
            "checkouts/create",
            &dora_first,
            "d-dora-1",
        ),
        webhook(
            "2026-11-02T13:40:00Z",
            "checkouts/create",
            &dora_second,
            "d-dora-2",
        ),
        webhook_to(
            POOL_SHOP,
            "2026-11-02T14:30:00Z",
            "checkouts/create",
            &eve,
            "d-eve-1",
        ),
        recipient("2026-11-02T16:00:00Z", "click", &ada_token, 2),
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
        None => {
            let digits: Vec<char> = address.chars().collect();
            let head: String = digits.iter().take(4).collect();
            let tail: String = digits.iter().skip(digits.len().saturating_sub(2)).collect();
            format!("{head}…{tail}")
        }
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
    let when = time(report.at);
    let step = report.step;
    let reason = report.reason.as_deref().unwrap_or("");
    match report.kind {
        ReportKind::Sent if report.channel == Some("sms") => format!(
            "{when}  ✆  cart {cart}  step {step} `{}` by SMS → {} ({} part): \"{}\"",
            report.template.as_deref().unwrap_or("?"),
            mask(report.to.as_deref().unwrap_or("")),
            report.segments.unwrap_or(0),
            report.text.as_deref().unwrap_or(""),
        ),
        ReportKind::Sent => format!(
            "{when}  ✉  cart {cart}  step {step} `{}` [{}] → {}  \"{}\"{}",
            report.template.as_deref().unwrap_or("?"),
            report.sequence.as_deref().unwrap_or("?"),
            mask(report.to.as_deref().unwrap_or("")),
            report.subject.as_deref().unwrap_or(""),
            report
                .offer_code
                .as_deref()
                .map_or_else(String::new, |code| format!("  code {code}")),
        ),
        ReportKind::Deferred => format!(
            "{when}  ⏸  cart {cart}  step {step} deferred until {}: {reason}",
            report.until.map_or_else(String::new, time)
        ),
        ReportKind::Skipped if reason == "holdout" => format!(
            "{when}  ○  cart {cart}  held out at step {step}: no messages (the shop's holdout group)"
        ),
        ReportKind::Skipped => format!(
            "{when}  ↷  cart {cart}  step {step} skipped ({}): {reason}",
            report.channel.unwrap_or("?")
        ),
        ReportKind::Stopped => {
            format!("{when}  ■  cart {cart}  stopped before step {step}: {reason}")
        }
    }
}

/// The demo shop on the defaults; the winter shop with its pool sequence and three codes.
fn shops() -> Result<LocalShops, DemoError> {
    let id = ShopId::parse(POOL_SHOP)?;
    let mut settings = ShopSettings::defaults_for(&id);
    settings.sequence_toml = Some(POOL_SEQUENCE.to_owned());
    let pool = PoolName::parse("winter10")?;
    let codes = POOL_CODES
        .iter()
        .map(|code| OfferCode::parse(*code))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LocalShops::defaults()
        .with_settings(id.clone(), settings)
        .with_offer_pool(id, pool, codes))
}

pub async fn run() -> Result<(), DemoError> {
    let source = scenario()?;
    let events = simulate::parse_events("demo", &source)?;
    say!(
        "cartback demo: one Shopify shop, seven shoppers, the default sequences by segment; and a"
    );
    say!(
        "second shop whose last email gives each cart its own single-use code from a pool of three."
    );
    say!(
        "(new visitors: email +1 h, then email or SMS 6/8/10 h later by engagement, then an offer;"
    );
    say!(
        " returning customers: email +1 h, +24 h, +48 h). Times are UTC; SMS wait for the morning in"
    );
    say!(
        "the recipient's zone. Everything runs in memory on a virtual clock: nothing leaves this machine.\n"
    );
    let mut sent = 0;
    let mut other = 0;
    let stack = simulate::run(events, shops()?, None, "demo", |progress| match progress {
        Progress::Decision(report) => {
            if report.kind == ReportKind::Sent {
                sent += 1;
            } else {
                other += 1;
            }
            say!("{}", decision_line(report));
        }
        Progress::Webhook { input, reply, .. } => {
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
                Ok(Accepted::NotFound { cart }) => format!("cart {cart} no longer in the store"),
                Ok(Accepted::Erased) => "the person was erased: nothing stored".into(),
                Ok(Accepted::ErasureQueued { kind }) => format!("{kind} erasure queued and done"),
                Ok(Accepted::DataRequested { carts, .. }) => {
                    format!("data request ({carts} carts): run `cartback export`")
                }
                Err(e) => format!("refused: {e}"),
            };
            say!("{}  ←  {topic:<17} {what}", time(input.at));
        }
        Progress::Recipient { input } => {
            if let InputEvent::Recipient {
                cart, kind, step, ..
            } = &input.event
            {
                let step = step.map_or(String::new(), |s| format!(", after step {s}"));
                say!(
                    "{}  ←  recipient {kind:?} (cart {}{step})",
                    time(input.at),
                    short(cart.as_str())
                );
            }
        }
    })
    .await?;
    let (creates, deletes) = stack.schedules.calls();
    say!(
        "\n{sent} messages sent ({} SMS), {other} skipped, deferred or stopped, {} carts tracked;\nscheduler: {creates} schedules created, {deletes} deleted, {} pending.",
        stack.sms.sent_count(),
        stack.store.carts().len(),
        stack.schedules.pending().len()
    );
    Ok(())
}
