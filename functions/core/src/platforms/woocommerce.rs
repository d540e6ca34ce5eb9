//! WooCommerce: order webhooks (`order.created`, `order.updated`, `order.restored`) carry the
//! REST API order (`/wc/v3/orders/{id}`); the order id is the cart. Signed with
//! `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)); there is no signed
//! timestamp, so a stale-signature check does not apply (a replay is caught by the delivery
//! id and by `date_modified_gmt`, which must move forward).
//!
//! What the statuses mean (`order::Stage`): `pending`, `failed` and `checkout-draft` are
//! open carts, `processing`, `completed` and `on-hold` are purchases, and `cancelled`,
//! `refunded`, `trash` and `draft` are orders that can no longer be paid (stored without a
//! recovery link, so the sender stops them with `no_recovery_link`). Unknown (plugin)
//! statuses: paid (`date_paid_gmt` set) is a purchase, payable (`needs_payment`) is open,
//! anything else is closed.
//!
//! When a webhook is saved in WooCommerce it POSTs an unsigned ping, the form body
//! `webhook_id=<id>` with none of the `X-WC-Webhook-*` headers, and keeps the webhook only if
//! the answer is 200: `is_ping` recognises exactly that, and it stores nothing.

mod order;
mod text;

pub use order::{EMAIL_CONSENT_KEYS, LANGUAGE_KEY, SMS_CONSENT_KEYS};

use sha2::{Digest, Sha256};

use crate::model::cart::Platform;
use crate::model::ids::DeliveryId;
use crate::model::shop::Secret;
use crate::platforms::json;
use crate::platforms::webhook::{
    Headers, ParsedWebhook, WebhookError, malformed, sign_base64, verify_base64_hmac,
};

pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";
pub const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";
pub const RESOURCE_HEADER: &str = "X-WC-Webhook-Resource";
pub const EVENT_HEADER: &str = "X-WC-Webhook-Event";
pub const DELIVERY_HEADER: &str = "X-WC-Webhook-Delivery-ID";
/// The topic a ping is reported under (WooCommerce sends none).
pub const PING_TOPIC: &str = "ping";

/// Checks `X-WC-Webhook-Signature` against the raw body; any doubt is a refusal.
pub fn verify(secret: &Secret, headers: &Headers, body: &[u8]) -> Result<(), WebhookError> {
    verify_base64_hmac(secret, headers.get(SIGNATURE_HEADER), body)
}

/// The `X-WC-Webhook-Signature` WooCommerce would send for `body` (for tests and tools).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    sign_base64(secret, body)
}

/// The ping WooCommerce sends when a webhook is saved: `webhook_id=<digits>` and no topic.
/// Anything else (a topic header, another body) goes through the signature check.
pub fn is_ping(headers: &Headers, body: &[u8]) -> bool {
    if headers.get(TOPIC_HEADER).is_some() || headers.get(SIGNATURE_HEADER).is_some() {
        return false;
    }
    let Some(id) = std::str::from_utf8(body)
        .ok()
        .and_then(|text| text.trim().strip_prefix("webhook_id="))
    else {
        return false;
    };
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// The ping's verdict: accepted, nothing to do.
pub fn ping() -> ParsedWebhook {
    ParsedWebhook {
        platform: Platform::WooCommerce,
        topic: PING_TOPIC.to_owned(),
        delivery: None,
        event: None,
        fetch: None,
    }
}

/// Parses a verified webhook into the normalised event.
pub fn parse(headers: &Headers, body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let topic = headers
        .get(TOPIC_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed(format!("missing {TOPIC_HEADER} header")))?
        .to_owned();
    let delivery = delivery_id(headers, body)?;
    let event = match topic.as_str() {
        "order.created" | "order.updated" | "order.restored" => order::event(body)?,
        _ => {
            // `order.deleted` carries only `{"id": N}` (the order went to the trash; Woo
            // sends no status with it), other resources are none of ours: accepted and
            // ignored. A body that is not JSON is still refused: the sender is broken.
            json::from_slice::<serde::de::IgnoredAny>(body)
                .map_err(|e| malformed(format!("body is not JSON: {e}")))?;
            None
        }
    };
    Ok(ParsedWebhook {
        platform: Platform::WooCommerce,
        topic,
        delivery,
        event,
        fetch: None,
    })
}

/// The dedupe key: `X-WC-Webhook-Delivery-ID` with a digest of the body. WooCommerce makes
/// the id from the webhook's id and the current second (`wp_hash(id . time)`), so two
/// different orders delivered by one webhook in the same second share it; the digest keeps
/// them apart while a replay of the same request (same id, same bytes) is still a duplicate.
fn delivery_id(headers: &Headers, body: &[u8]) -> Result<Option<DeliveryId>, WebhookError> {
    let Some(id) = headers
        .get(DELIVERY_HEADER)
        .map(str::trim)
        .filter(|id| !id.is_empty())
    else {
        return Ok(None);
    };
    let digest = Sha256::digest(body);
    DeliveryId::parse(format!("{id}:{}", hex::encode(&digest[..8])))
        .map(Some)
        .map_err(|e| malformed(format!("{DELIVERY_HEADER}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bare_form_body_is_a_ping() {
        let none = Headers::new();
        assert!(is_ping(&none, b"webhook_id=17"));
        assert!(is_ping(&none, b"webhook_id=17\n"));
        for body in [
            &b"webhook_id="[..],
            b"webhook_id=17&x=1",
            b"webhook_id=-1",
            b"webhook_id=123456789012345678901",
            b"{\"webhook_id\":17}",
            b"",
            b"\xff\xfe",
        ] {
            assert!(!is_ping(&none, body), "{}", String::from_utf8_lossy(body));
        }
        let with_topic = Headers::new().with(TOPIC_HEADER, "order.updated");
        assert!(!is_ping(&with_topic, b"webhook_id=17"));
        let signed = Headers::new().with(SIGNATURE_HEADER, "c2lnbmVk");
        assert!(!is_ping(&signed, b"webhook_id=17"));
    }

    #[test]
    fn the_delivery_id_keeps_apart_two_bodies_sent_in_the_same_second() {
        let headers = Headers::new().with(DELIVERY_HEADER, "a1b2c3d4e5f60718293a4b5c6d7e8f90");
        let one = delivery_id(&headers, b"{\"id\":1}")
            .expect("ok")
            .expect("id");
        let again = delivery_id(&headers, b"{\"id\":1}")
            .expect("ok")
            .expect("id");
        let two = delivery_id(&headers, b"{\"id\":2}")
            .expect("ok")
            .expect("id");
        assert_eq!(one, again, "a replay is the same delivery");
        assert_ne!(one, two);
        assert!(
            one.as_str()
                .starts_with("a1b2c3d4e5f60718293a4b5c6d7e8f90:")
        );
        assert_eq!(delivery_id(&Headers::new(), b"{}"), Ok(None));
        let empty = Headers::new().with(DELIVERY_HEADER, " ");
        assert_eq!(delivery_id(&empty, b"{}"), Ok(None));
        let bad = Headers::new().with(DELIVERY_HEADER, "not an id");
        assert!(matches!(
            delivery_id(&bad, b"{}"),
            Err(WebhookError::Malformed(_))
        ));
    }
}
