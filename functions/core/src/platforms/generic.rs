//! The generic signed JSON API, for custom stores: one documented schema
//! (`docs/schemas/cart-event.schema.json`, explained in `docs/generic-api.md`), two event
//! types (`cart.updated`, `cart.converted`), signed with
//! `Cartback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` and
//! refused when the timestamp is more than five minutes away from our clock (a replayed
//! request is stale, a tampered one does not verify).

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::model::cart::{
    CartActivity, CartEvent, CartSnapshot, Consent, Conversion, LineItem, Platform,
};
use crate::model::contact::{Email, Phone};
use crate::model::ids::{CartId, DeliveryId};
use crate::model::money::{CurrencyCode, Money};
use crate::model::shop::Secret;
use crate::platforms::json;
use crate::platforms::webhook::{
    ParsedWebhook, WebhookError, hmac_sha256, https_url, macs_equal, malformed, malformed_money,
    non_empty,
};

pub const SIGNATURE_HEADER: &str = "Cartback-Signature";
/// How far a signature's timestamp may be from our clock, either way.
pub const TOLERANCE: SignedDuration = SignedDuration::from_secs(5 * 60);
pub const UPDATED: &str = "cart.updated";
pub const CONVERTED: &str = "cart.converted";

/// Checks `Cartback-Signature` against the body at `now`; any doubt is a refusal.
pub fn verify(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::Unauthorized)?;
    let mut timestamp = None;
    let mut claimed = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.trim().parse::<i64>().ok(),
            Some(("v1", value)) => {
                if let Some(mac) = hex_decode(value.trim()) {
                    claimed.push(mac);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(WebhookError::Unauthorized)?;
    let signed_at = Timestamp::from_second(t).map_err(|_| WebhookError::Unauthorized)?;
    if now.duration_since(signed_at).abs() > TOLERANCE {
        return Err(WebhookError::Unauthorized);
    }
    let expected = hmac_sha256(secret.expose(), &signed_payload(t, body));
    // Several v1 values let a store sign with an old and a new secret while it rotates.
    if claimed.iter().any(|mac| macs_equal(&expected, mac)) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized)
    }
}

/// The `Cartback-Signature` value for `body` signed at `at` (for tests, tools and the docs).
pub fn sign(secret: &Secret, body: &[u8], at: Timestamp) -> String {
    let t = at.as_second();
    let mac = hmac_sha256(secret.expose(), &signed_payload(t, body));
    format!("t={t},v1={}", hex::encode(mac))
}

fn signed_payload(t: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{t}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// A claimed MAC: hex, at most 64 bytes (SHA-256's is 32).
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() > 128 {
        return None;
    }
    hex::decode(text).ok()
}

/// The schema's event (see `docs/schemas/cart-event.schema.json`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    /// The event's own id: the same id delivered twice is handled once.
    id: String,
    #[serde(rename = "type")]
    kind: String,
    cart: Cart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cart {
    id: String,
    updated_at: Timestamp,
    currency: String,
    total: String,
    #[serde(default)]
    recovery_url: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    contact: Contact,
    #[serde(default)]
    consent: ConsentIn,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    order: Option<Order>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Contact {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    orders_count: u32,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConsentIn {
    #[serde(default)]
    email_marketing: bool,
    #[serde(default)]
    sms_marketing: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    title: String,
    #[serde(default)]
    variant: Option<String>,
    quantity: u32,
    unit_price: String,
    #[serde(default)]
    image_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    id: String,
    total: String,
    #[serde(default)]
    currency: Option<String>,
    at: Timestamp,
}

/// Parses a verified generic event into the normalised cart event.
pub fn parse(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let event: Event = json::from_slice(body).map_err(|e| malformed(format!("cart event: {e}")))?;
    let delivery = DeliveryId::parse(event.id.trim()).map_err(|e| malformed(format!("id: {e}")))?;
    let cart = &event.cart;
    let id = CartId::parse(cart.id.trim()).map_err(|e| malformed(format!("cart.id: {e}")))?;
    let currency =
        CurrencyCode::parse(cart.currency.trim()).map_err(malformed_money("cart.currency"))?;
    let total = Money::parse(&cart.total, currency).map_err(malformed_money("cart.total"))?;
    let region = non_empty(cart.contact.country.as_deref());
    let email = non_empty(cart.contact.email.as_deref()).and_then(|e| Email::parse(e).ok());
    let phone = non_empty(cart.contact.phone.as_deref()).and_then(|p| Phone::parse(p, region).ok());
    let parsed = match event.kind.as_str() {
        UPDATED => {
            let items = cart
                .items
                .iter()
                .map(|item| {
                    Ok(LineItem {
                        title: non_empty(Some(&item.title)).unwrap_or("Item").to_owned(),
                        variant: non_empty(item.variant.as_deref()).map(str::to_owned),
                        quantity: item.quantity,
                        unit_price: Money::parse(&item.unit_price, currency)
                            .map_err(malformed_money("cart.items.unit_price"))?,
                        image_url: non_empty(item.image_url.as_deref()).and_then(https_url),
                    })
                })
                .collect::<Result<Vec<_>, WebhookError>>()?;
            CartEvent::Activity(CartActivity {
                cart: id,
                snapshot: CartSnapshot {
                    email,
                    phone,
                    first_name: non_empty(cart.contact.first_name.as_deref()).map(str::to_owned),
                    orders_count: cart.contact.orders_count,
                    consent: Consent {
                        email_marketing: cart.consent.email_marketing,
                        sms_marketing: cart.consent.sms_marketing,
                    },
                    locale: non_empty(cart.locale.as_deref()).map(str::to_owned),
                    items,
                    total,
                    recovery_url: non_empty(cart.recovery_url.as_deref()).and_then(https_url),
                    time_zone: non_empty(cart.time_zone.as_deref()).map(str::to_owned),
                    country: region.map(str::to_ascii_uppercase),
                    region: non_empty(cart.contact.region.as_deref()).map(str::to_ascii_uppercase),
                },
                updated_at: cart.updated_at,
            })
        }
        CONVERTED => {
            let order = cart
                .order
                .as_ref()
                .ok_or_else(|| malformed("cart.converted needs cart.order"))?;
            let order_currency = match non_empty(order.currency.as_deref()) {
                Some(code) => {
                    CurrencyCode::parse(code).map_err(malformed_money("cart.order.currency"))?
                }
                None => currency,
            };
            CartEvent::Conversion(Conversion {
                cart: Some(id),
                order_id: non_empty(Some(&order.id)).map(str::to_owned),
                email,
                phone,
                total: Some(
                    Money::parse(&order.total, order_currency)
                        .map_err(malformed_money("cart.order.total"))?,
                ),
                at: order.at,
            })
        }
        _ => {
            return Err(malformed(format!(
                "type: expected {UPDATED:?} or {CONVERTED:?}"
            )));
        }
    };
    Ok(ParsedWebhook {
        platform: Platform::Generic,
        topic: event.kind,
        delivery: Some(delivery),
        event: Some(parsed),
        fetch: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("whsec_generic_test")
    }

    fn now() -> Timestamp {
        "2026-11-02T08:00:00Z".parse().expect("time")
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"cart.updated","cart":{"id":"c-1","updated_at":"2026-11-02T07:59:00Z","currency":"EUR","total":"10.00"}}"#;

    #[test]
    fn a_fresh_genuine_signature_verifies() {
        let header = sign(&secret(), BODY, now());
        assert!(header.starts_with("t=1793606400,v1="), "{header}");
        assert_eq!(verify(&secret(), Some(&header), BODY, now()), Ok(()));
        // Within the tolerance either way (clocks differ a little).
        let skewed = now() + SignedDuration::from_secs(299);
        assert_eq!(verify(&secret(), Some(&header), BODY, skewed), Ok(()));
    }

    #[test]
    fn tampered_stale_wrong_secret_and_missing_are_refused() {
        let header = sign(&secret(), BODY, now());
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        let refused = |h: Option<&str>, body: &[u8], at| verify(&secret(), h, body, at);
        assert_eq!(
            refused(Some(&header), &tampered, now()),
            Err(WebhookError::Unauthorized)
        );
        let late = now() + TOLERANCE + SignedDuration::from_secs(1);
        assert_eq!(
            refused(Some(&header), BODY, late),
            Err(WebhookError::Unauthorized)
        );
        let other = sign(&Secret::new("someone else"), BODY, now());
        assert_eq!(
            refused(Some(&other), BODY, now()),
            Err(WebhookError::Unauthorized)
        );
        assert_eq!(refused(None, BODY, now()), Err(WebhookError::Unauthorized));
        assert_eq!(
            refused(Some("v1=abcd"), BODY, now()),
            Err(WebhookError::Unauthorized)
        );
        assert_eq!(
            refused(Some("t=x,v1=zz"), BODY, now()),
            Err(WebhookError::Unauthorized)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replace("t=1793606400", "t=1793606460");
        assert_eq!(
            refused(Some(&moved), BODY, now()),
            Err(WebhookError::Unauthorized)
        );
    }

    #[test]
    fn a_second_v1_value_supports_secret_rotation() {
        let old = sign(&Secret::new("old secret"), BODY, now());
        let new = sign(&secret(), BODY, now());
        let v1_new = new.split_once(",v1=").map(|(_, v)| v).expect("v1");
        let both = format!("{old},v1={v1_new}");
        assert_eq!(verify(&secret(), Some(&both), BODY, now()), Ok(()));
    }
}
