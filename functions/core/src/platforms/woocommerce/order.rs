//! The REST API order a WooCommerce order webhook carries (`/wc/v3/orders/{id}`), and the
//! normalised event it becomes. Fields that only decorate a reminder (names, images, the
//! language) are read leniently: an odd value there drops the decoration, not the cart.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::Value;

use super::text::{decode_entities, title_and_variant};
use crate::model::cart::{CartActivity, CartEvent, CartSnapshot, Consent, Conversion, LineItem};
use crate::model::ids::CartId;
use crate::model::money::{CurrencyCode, Money};
use crate::platforms::json::{self, kind_of};
use crate::platforms::webhook::{
    Amount, WebhookError, email_of, https_url, malformed, malformed_money, non_empty,
    null_as_empty, phone_of,
};

/// Order meta keys that carry email marketing consent: a checkbox added to the block
/// checkout with the Additional Checkout Fields API (id `cartback/email-marketing`, location
/// `contact`), or a plain meta key a classic-checkout snippet writes.
pub const EMAIL_CONSENT_KEYS: &[&str] = &[
    "_wc_other/cartback/email-marketing",
    "cartback_email_marketing",
];
/// The same for SMS marketing consent.
pub const SMS_CONSENT_KEYS: &[&str] =
    &["_wc_other/cartback/sms-marketing", "cartback_sms_marketing"];
/// The order meta WPML keeps the shopper's language in (`fi`, `pl`, `ja`).
pub const LANGUAGE_KEY: &str = "wpml_language";
/// Where an order made by the shopper comes from (`created_via`): the classic checkout and
/// the block checkout (Store API). Orders made in the admin (invoices), by the REST API or
/// by subscriptions renewing are not abandoned carts; only their purchases count.
const SHOPPER_ORIGINS: &[&str] = &["checkout", "store-api"];

#[derive(Deserialize)]
struct Order {
    id: Value,
    #[serde(default)]
    number: Value,
    status: String,
    currency: String,
    total: Amount,
    #[serde(default)]
    created_via: Value,
    #[serde(default)]
    date_created_gmt: Value,
    #[serde(default)]
    date_modified_gmt: Value,
    #[serde(default)]
    date_paid_gmt: Value,
    #[serde(default)]
    prices_include_tax: Value,
    #[serde(default)]
    billing: Value,
    #[serde(default)]
    shipping: Value,
    #[serde(default)]
    payment_url: Value,
    #[serde(default)]
    needs_payment: Value,
    #[serde(default, deserialize_with = "null_as_empty")]
    line_items: Vec<Line>,
    #[serde(default)]
    meta_data: Value,
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    name: Value,
    /// The product's name when the line is one of its variations.
    #[serde(default)]
    parent_name: Value,
    quantity: u32,
    /// Before discounts, without tax.
    subtotal: Amount,
    #[serde(default)]
    subtotal_tax: Option<Amount>,
    /// `{"id", "src"}`, `src` empty without an image; older versions send no `image`.
    #[serde(default)]
    image: Value,
}

/// What an order's status says about the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Waiting for the shopper to pay: reminders, with the payment link.
    Open,
    /// Bought (paid, or placed to be paid offline).
    Bought,
    /// No longer payable: kept without a recovery link, so no reminder goes out.
    Closed,
}

pub(super) fn stage(status: &str, paid: bool, needs_payment: Option<bool>) -> Stage {
    match status.strip_prefix("wc-").unwrap_or(status) {
        "pending" | "failed" | "checkout-draft" => Stage::Open,
        "processing" | "completed" | "on-hold" => Stage::Bought,
        "cancelled" | "refunded" | "trash" | "draft" | "auto-draft" => Stage::Closed,
        _ if paid => Stage::Bought,
        _ if needs_payment == Some(true) => Stage::Open,
        _ => Stage::Closed,
    }
}

/// The event an order webhook's body becomes; `None` for an order that is not a shopper's
/// cart and not a purchase (an unpaid invoice made in the admin).
pub(super) fn event(body: &[u8]) -> Result<Option<CartEvent>, WebhookError> {
    let order: Order = json::from_slice(body).map_err(|e| malformed(format!("order: {e}")))?;
    let id = order_id(&order.id)?;
    let cart = CartId::parse(id.as_str()).map_err(|e| malformed(format!("id: {e}")))?;
    let currency = CurrencyCode::parse(&order.currency).map_err(malformed_money("currency"))?;
    let total = money(&order.total, currency)?;
    let paid_at = gmt(&order.date_paid_gmt, "date_paid_gmt")?;
    let updated_at = match gmt(&order.date_modified_gmt, "date_modified_gmt")? {
        Some(at) => at,
        None => gmt(&order.date_created_gmt, "date_created_gmt")?
            .ok_or_else(|| malformed("order: no date_modified_gmt or date_created_gmt"))?,
    };
    let billing = &order.billing;
    let shipping = &order.shipping;
    let email = email_of(text(billing, "email"));
    let phone_region = text(billing, "country").or(text(shipping, "country"));
    let phone = phone_of(text(billing, "phone"), phone_region)
        .or_else(|| phone_of(text(shipping, "phone"), phone_region));
    let stage = stage(
        &order.status,
        paid_at.is_some(),
        order.needs_payment.as_bool(),
    );
    if stage == Stage::Bought {
        return Ok(Some(CartEvent::Conversion(Conversion {
            cart: Some(cart),
            order_id: Some(string(&order.number).map_or(id, str::to_owned)),
            email,
            phone,
            total: Some(total),
            at: paid_at.unwrap_or(updated_at),
        })));
    }
    let origin = order
        .created_via
        .as_str()
        .map(str::trim)
        .unwrap_or_default();
    if !origin.is_empty() && !SHOPPER_ORIGINS.contains(&origin) {
        return Ok(None);
    }
    let payable = stage == Stage::Open && order.needs_payment.as_bool() != Some(false);
    let include_tax = order.prices_include_tax.as_bool().unwrap_or(false);
    let items = order
        .line_items
        .iter()
        .filter(|line| line.quantity > 0)
        .map(|line| line_item(line, currency, include_tax))
        .collect::<Result<Vec<_>, _>>()?;
    // The shipping address decides the zone; a virtual order has none, so the billing one.
    let address = if text(shipping, "country").is_some() {
        shipping
    } else {
        billing
    };
    let snapshot = CartSnapshot {
        email,
        phone,
        first_name: text(billing, "first_name")
            .or(text(shipping, "first_name"))
            .map(str::to_owned),
        // The order carries no count of the person's earlier orders.
        orders_count: 0,
        consent: Consent {
            email_marketing: consented(&order.meta_data, EMAIL_CONSENT_KEYS),
            sms_marketing: consented(&order.meta_data, SMS_CONSENT_KEYS),
        },
        locale: meta(&order.meta_data, &[LANGUAGE_KEY])
            .and_then(Value::as_str)
            .and_then(|l| non_empty(Some(l)))
            .map(str::to_owned),
        items,
        total,
        recovery_url: payable
            .then(|| string(&order.payment_url))
            .flatten()
            .and_then(https_url),
        // WooCommerce keeps no zone for an order: the address (or the phone) decides it.
        time_zone: None,
        country: text(address, "country").map(str::to_ascii_uppercase),
        region: text(address, "state")
            .filter(|s| s.len() <= 3 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(str::to_ascii_uppercase),
    };
    Ok(Some(CartEvent::Activity(CartActivity {
        cart,
        snapshot,
        updated_at,
    })))
}

/// The order id as text: WooCommerce sends a number.
fn order_id(id: &Value) -> Result<String, WebhookError> {
    match id {
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        Value::String(s) if non_empty(Some(s)).is_some() => Ok(s.trim().to_owned()),
        other => Err(malformed(format!(
            "id: expected the order's number, got {}",
            kind_of(other)
        ))),
    }
}

/// `value` as a non-empty (trimmed) string; anything else is `None`.
fn string(value: &Value) -> Option<&str> {
    non_empty(value.as_str())
}

/// The non-empty string at `key` of an object (an address, an image).
fn text<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object.get(key).and_then(string)
}

/// A `*_gmt` date: the REST API writes UTC without an offset (`2017-03-22T19:28:08`).
fn gmt(value: &Value, field: &str) -> Result<Option<Timestamp>, WebhookError> {
    let Some(raw) = string(value) else {
        return match value {
            Value::Null | Value::String(_) => Ok(None),
            other => Err(malformed(format!(
                "{field}: expected a date, got {}",
                kind_of(other)
            ))),
        };
    };
    if let Ok(at) = raw.parse::<Timestamp>() {
        return Ok(Some(at));
    }
    raw.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|civil| civil.to_zoned(TimeZone::UTC).ok())
        .map(|zoned| Some(zoned.timestamp()))
        .ok_or_else(|| malformed(format!("{field}: not a date")))
}

/// An amount rounded to the currency's minor units (a shop may keep more decimals).
fn money(amount: &Amount, currency: CurrencyCode) -> Result<Money, WebhookError> {
    from_decimal(decimal(amount)?, currency)
}

fn decimal(amount: &Amount) -> Result<Decimal, WebhookError> {
    Decimal::from_str(amount.0.trim()).map_err(|_| malformed("an amount is not a decimal number"))
}

fn from_decimal(value: Decimal, currency: CurrencyCode) -> Result<Money, WebhookError> {
    let rounded =
        value.round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero);
    Money::parse(&rounded.to_string(), currency).map_err(malformed_money("amount"))
}

/// A line: the price per unit the shopper saw (before discounts; with tax where the shop's
/// prices include it), its product's image.
fn line_item(
    line: &Line,
    currency: CurrencyCode,
    include_tax: bool,
) -> Result<LineItem, WebhookError> {
    let mut price = decimal(&line.subtotal)?;
    if include_tax && let Some(tax) = &line.subtotal_tax {
        price = price
            .checked_add(decimal(tax)?)
            .ok_or_else(|| malformed("line amount out of range"))?;
    }
    let unit = price
        .checked_div(Decimal::from(line.quantity))
        .ok_or_else(|| malformed("line amount out of range"))?;
    let name = decode_entities(string(&line.name).unwrap_or("Item"));
    let parent = string(&line.parent_name).map(decode_entities);
    let (title, variant) = title_and_variant(name.trim(), parent.as_deref().map(str::trim));
    Ok(LineItem {
        title,
        variant,
        quantity: line.quantity,
        unit_price: from_decimal(unit, currency)?,
        image_url: text(&line.image, "src").and_then(https_url),
    })
}

/// The value of the first of `keys` in the order's `meta_data` (`[{"key", "value"}]`).
fn meta<'v>(meta_data: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    meta_data.as_array()?.iter().find_map(|entry| {
        let key = entry.get("key")?.as_str()?;
        keys.contains(&key).then(|| entry.get("value")).flatten()
    })
}

/// A checkbox ticked: `true`, `1`, `"1"`, `"yes"`, `"true"` or `"on"`.
fn consented(meta_data: &Value, keys: &[&str]) -> bool {
    match meta(meta_data, keys) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => {
            matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "1" | "yes" | "true" | "on"
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_open_bought_or_closed() {
        for open in ["pending", "failed", "checkout-draft", "wc-pending"] {
            assert_eq!(stage(open, false, None), Stage::Open, "{open}");
        }
        for bought in ["processing", "completed", "on-hold"] {
            assert_eq!(stage(bought, false, Some(false)), Stage::Bought, "{bought}");
        }
        for closed in ["cancelled", "refunded", "trash", "draft", "auto-draft"] {
            // A refund keeps its date_paid; it is still no purchase to count again.
            assert_eq!(stage(closed, true, Some(false)), Stage::Closed, "{closed}");
        }
        // A plugin's status: paid is bought, payable is open, anything else closed.
        assert_eq!(stage("shipped", true, Some(false)), Stage::Bought);
        assert_eq!(stage("awaiting-deposit", false, Some(true)), Stage::Open);
        assert_eq!(stage("awaiting-review", false, None), Stage::Closed);
    }

    #[test]
    fn gmt_dates_have_no_offset_and_mean_utc() {
        let at = |v: Value| gmt(&v, "date_modified_gmt");
        assert_eq!(
            at(Value::from("2017-03-22T19:28:08")),
            Ok(Some("2017-03-22T19:28:08Z".parse().expect("time")))
        );
        assert_eq!(
            at(Value::from("2017-03-22T21:28:08+02:00")),
            Ok(Some("2017-03-22T19:28:08Z".parse().expect("time")))
        );
        assert_eq!(at(Value::Null), Ok(None));
        assert_eq!(at(Value::from("")), Ok(None));
        assert!(matches!(
            at(Value::from("yesterday")),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            at(Value::from(17)),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn amounts_round_to_the_currencys_minor_units() {
        let eur = CurrencyCode::parse("EUR").expect("EUR");
        let jpy = CurrencyCode::parse("JPY").expect("JPY");
        let amount = |s: &str| Amount(s.to_owned());
        assert_eq!(money(&amount("29.35"), eur).map(|m| m.minor), Ok(2935));
        assert_eq!(money(&amount("1290.00"), jpy).map(|m| m.minor), Ok(1290));
        assert_eq!(money(&amount("0.125"), eur).map(|m| m.minor), Ok(13));
        assert!(matches!(
            money(&amount("NaN"), eur),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn consent_is_a_ticked_checkbox_in_the_meta_data() {
        let meta_data = serde_json::json!([
            {"id": 1, "key": "_wc_other/cartback/email-marketing", "value": "1"},
            {"id": 2, "key": "cartback_sms_marketing", "value": "no"},
        ]);
        assert!(consented(&meta_data, EMAIL_CONSENT_KEYS));
        assert!(!consented(&meta_data, SMS_CONSENT_KEYS));
        assert!(!consented(&Value::Null, EMAIL_CONSENT_KEYS));
        assert!(!consented(&serde_json::json!({}), EMAIL_CONSENT_KEYS));
    }
}
