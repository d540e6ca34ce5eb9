//! BigCommerce: `store/cart/abandoned` and `store/cart/converted` webhooks carry only ids
//! (`data.id` is the cart, which is also the checkout; `data.orderId` the order a converted
//! cart became), so the cart or order is read from the store's REST API
//! (`https://api.bigcommerce.com/stores/{store_hash}/v3/...`, header `X-Auth-Token`) through
//! the `StoreApi` port (`ports`), and the answer is parsed here ([`api`]).
//!
//! BigCommerce does not sign webhooks. A webhook is registered with a custom header
//! ([`SECRET_HEADER`], the create-webhook API's `headers`) holding the shop's webhook secret;
//! [`verify`] compares it in constant time, and a missing or wrong value is a 401.
//!
//! The dedupe key is the payload's `hash` (BigCommerce's SHA-1 of the event's data) with a
//! digest of the raw body: `hash` alone is the same for two abandonments of the same cart
//! (the data is just the cart's id), while the body also holds `created_at`, so a redelivery
//! of one event is a duplicate and a later abandonment is not.

pub mod api;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use api::{Fetch, StoreHash};

use crate::model::cart::Platform;
use crate::model::ids::{CartId, DeliveryId};
use crate::model::shop::Secret;
use crate::platforms::json;
use crate::platforms::webhook::{Headers, ParsedWebhook, WebhookError, malformed, non_empty};

/// The custom header a BigCommerce webhook is registered with; it carries the shop's webhook
/// secret (`"headers": {"X-Cartback-Webhook-Secret": "<secret>"}` in `POST /v3/hooks`).
pub const SECRET_HEADER: &str = "X-Cartback-Webhook-Secret";
/// A cart with no activity for an hour (fired whether or not Abandoned Cart Saver is on).
pub const ABANDONED: &str = "store/cart/abandoned";
/// A cart became an order; the cart is deleted then, so only the order can be read.
pub const CONVERTED: &str = "store/cart/converted";

/// Checks the shared-secret header in constant time (digests of equal length are compared,
/// so not even the secret's length leaks); any doubt is a refusal.
pub fn verify(secret: &Secret, headers: &Headers) -> Result<(), WebhookError> {
    let claimed = headers
        .get(SECRET_HEADER)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::Unauthorized)?;
    let expected = Sha256::digest(secret.expose());
    let claimed = Sha256::digest(claimed.as_bytes());
    if bool::from(expected.ct_eq(&claimed)) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized)
    }
}

/// The callback object every BigCommerce webhook sends.
#[derive(Deserialize)]
struct Callback {
    scope: String,
    #[serde(default)]
    hash: Value,
    #[serde(default)]
    data: Value,
}

/// Parses a verified webhook: which cart, and what must be read from the store's API.
pub fn parse(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let callback: Callback =
        json::from_slice(body).map_err(|e| malformed(format!("callback: {e}")))?;
    let topic = callback.scope.trim().to_owned();
    if topic.is_empty() {
        return Err(malformed("scope is empty"));
    }
    let delivery = delivery_id(&callback.hash, body)?;
    let fetch = match topic.as_str() {
        ABANDONED => Some(Fetch::Cart(cart_id(&callback.data)?)),
        CONVERTED => {
            let cart = cart_id(&callback.data)?;
            let order = callback
                .data
                .get("orderId")
                .and_then(Value::as_u64)
                .filter(|id| *id > 0)
                .ok_or_else(|| malformed("data.orderId: expected the order's number"))?;
            Some(Fetch::Order { cart, order })
        }
        // Other scopes (cart created/updated, orders ...) are none of ours: accepted, ignored.
        _ => None,
    };
    Ok(ParsedWebhook {
        platform: Platform::BigCommerce,
        topic,
        delivery,
        event: None,
        fetch,
    })
}

/// `data.id`, else `data.cartId` (line-item scopes name the cart there).
fn cart_id(data: &Value) -> Result<CartId, WebhookError> {
    let raw = ["cartId", "id"]
        .iter()
        .find_map(|key| non_empty(data.get(*key).and_then(Value::as_str)))
        .ok_or_else(|| malformed("data.id: expected the cart's id"))?;
    CartId::parse(raw).map_err(|e| malformed(format!("data.id: {e}")))
}

/// `<hash>:<first 8 bytes of SHA-256(body), hex>`, or just the body digest without a hash.
fn delivery_id(hash: &Value, body: &[u8]) -> Result<Option<DeliveryId>, WebhookError> {
    let digest = hex::encode(&Sha256::digest(body)[..8]);
    let id = match non_empty(hash.as_str()) {
        Some(hash) => format!("bc:{hash}:{digest}"),
        None => format!("bc:{digest}"),
    };
    DeliveryId::parse(id)
        .map(Some)
        .map_err(|e| malformed(format!("hash: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_header_is_compared_whole() {
        let secret = Secret::new("s3cret-value");
        let ok = Headers::new().with(SECRET_HEADER, "s3cret-value");
        assert_eq!(verify(&secret, &ok), Ok(()));
        for wrong in ["s3cret-valu", "s3cret-value2", "S3CRET-VALUE", ""] {
            let headers = Headers::new().with(SECRET_HEADER, wrong);
            assert_eq!(
                verify(&secret, &headers),
                Err(WebhookError::Unauthorized),
                "{wrong}"
            );
        }
        assert_eq!(
            verify(&secret, &Headers::new()),
            Err(WebhookError::Unauthorized)
        );
    }

    #[test]
    fn a_later_abandonment_of_the_same_cart_is_a_new_delivery() {
        let first = br#"{"scope":"store/cart/abandoned","hash":"abc","created_at":1,"data":{"type":"cart","id":"c-1"}}"#;
        let later = br#"{"scope":"store/cart/abandoned","hash":"abc","created_at":2,"data":{"type":"cart","id":"c-1"}}"#;
        let one = parse(first).expect("parses").delivery;
        assert_eq!(one, parse(first).expect("parses").delivery);
        assert_ne!(one, parse(later).expect("parses").delivery);
    }

    #[test]
    fn a_converted_cart_needs_its_order_number() {
        let body =
            br#"{"scope":"store/cart/converted","hash":"h","data":{"type":"cart","id":"c-1"}}"#;
        assert!(matches!(parse(body), Err(WebhookError::Malformed(_))));
    }
}
