//! What every platform adapter shares: headers, the verdict on a request, and the signature
//! check in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Deserializer};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::model::cart::{CartEvent, Platform};
use crate::model::contact::{Email, Phone};
use crate::model::ids::DeliveryId;
use crate::model::money::MoneyError;
use crate::model::shop::{Secret, SignatureCheck};

/// The largest body we read (Shopify checkouts with hundreds of items stay far below).
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Request headers with case-insensitive lookup.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a webhook was refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or invalid signature")]
    Unauthorized,
    #[error("malformed webhook: {0}")]
    Malformed(String),
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

/// A verified, parsed webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedWebhook {
    pub platform: Platform,
    pub topic: String,
    pub delivery: Option<DeliveryId>,
    /// `None` for topics we accept but do not act on (or whose event must first be read
    /// from the store's API: see `fetch`).
    pub event: Option<CartEvent>,
    /// What the handler must read from the store's API to make the event (BigCommerce,
    /// whose webhooks carry only ids); `None` for every other platform.
    pub fetch: Option<crate::platforms::bigcommerce::Fetch>,
}

/// A 400 naming what is wrong with the body: the field and the problem, never a value from
/// the body (a serde error goes through `platforms::json`).
pub(crate) fn malformed(what: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

/// A 400 for an amount or currency at `field` that does not parse, without its value.
pub(crate) fn malformed_money(field: &str) -> impl Fn(MoneyError) -> WebhookError + '_ {
    move |e| malformed(format!("{field}: {}", e.problem()))
}

/// The kind of a JSON value as serde names it in an `invalid type` error, without the value.
pub(crate) fn unexpected_kind(value: &serde_json::Value) -> serde::de::Unexpected<'static> {
    use serde::de::Unexpected;
    match value {
        serde_json::Value::Null => Unexpected::Unit,
        serde_json::Value::Bool(_) => Unexpected::Other("boolean"),
        serde_json::Value::Number(_) => Unexpected::Other("number"),
        serde_json::Value::String(_) => Unexpected::Other("string"),
        serde_json::Value::Array(_) => Unexpected::Seq,
        serde_json::Value::Object(_) => Unexpected::Map,
    }
}

/// A text field with something in it (trimmed), or `None`.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Only https links go into an email.
pub(crate) fn https_url(raw: &str) -> Option<url::Url> {
    url::Url::parse(raw).ok().filter(|u| u.scheme() == "https")
}

/// A contact field that does not parse is treated as absent: we keep the cart and simply
/// cannot message that way.
pub(crate) fn email_of(raw: Option<&str>) -> Option<Email> {
    non_empty(raw).and_then(|raw| Email::parse(raw).ok())
}

pub(crate) fn phone_of(raw: Option<&str>, region: Option<&str>) -> Option<Phone> {
    non_empty(raw).and_then(|raw| Phone::parse(raw, region).ok())
}

/// A decimal amount platforms write as a string ("24.90"), sometimes as a number.
pub(crate) struct Amount(pub(crate) String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Self(s)),
            serde_json::Value::Number(n) => Ok(Self(n.to_string())),
            // Named by kind, never quoted (see `platforms::json`).
            other => Err(serde::de::Error::invalid_type(
                unexpected_kind(&other),
                &"an amount",
            )),
        }
    }
}

/// `null` where a list is expected counts as an empty list.
pub(crate) fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Checks a header holding base64(HMAC-SHA256(secret, raw body)), as Shopify and
/// WooCommerce sign; a missing, garbled or wrong value is a refusal.
pub(crate) fn verify_base64_hmac(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let claimed = header
        .and_then(|h| BASE64.decode(h.trim()).ok())
        .ok_or(WebhookError::Unauthorized)?;
    if macs_equal(&hmac_sha256(secret.expose(), body), &claimed) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized)
    }
}

/// base64(HMAC-SHA256(secret, body)): the value `verify_base64_hmac` accepts.
pub(crate) fn sign_base64(secret: &Secret, body: &[u8]) -> String {
    BASE64.encode(hmac_sha256(secret.expose(), body))
}

/// HMAC-SHA256 of `body` under `secret`.
pub fn hmac_sha256(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time comparison of a claimed MAC with the expected one.
pub fn macs_equal(expected: &[u8], claimed: &[u8]) -> bool {
    expected.len() == claimed.len() && bool::from(expected.ct_eq(claimed))
}

/// Verifies and parses a webhook of `platform` arriving at `now` (signatures with a
/// timestamp are refused when stale).
pub fn parse_webhook(
    platform: Platform,
    headers: &Headers,
    body: &[u8],
    check: &SignatureCheck,
    now: jiff::Timestamp,
) -> Result<ParsedWebhook, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge);
    }
    match platform {
        Platform::Shopify => {
            if let SignatureCheck::Required(secret) = check {
                crate::platforms::shopify::verify(secret, headers, body)?;
            }
            crate::platforms::shopify::parse(headers, body)
        }
        Platform::WooCommerce => {
            // Saving a webhook in WooCommerce sends an unsigned ping that must get a 200.
            if crate::platforms::woocommerce::is_ping(headers, body) {
                return Ok(crate::platforms::woocommerce::ping());
            }
            if let SignatureCheck::Required(secret) = check {
                crate::platforms::woocommerce::verify(secret, headers, body)?;
            }
            crate::platforms::woocommerce::parse(headers, body)
        }
        Platform::BigCommerce => {
            if let SignatureCheck::Required(secret) = check {
                crate::platforms::bigcommerce::verify(secret, headers)?;
            }
            crate::platforms::bigcommerce::parse(body)
        }
        Platform::Generic => {
            if let SignatureCheck::Required(secret) = check {
                crate::platforms::generic::verify(
                    secret,
                    headers.get(crate::platforms::generic::SIGNATURE_HEADER),
                    body,
                    now,
                )?;
            }
            crate::platforms::generic::parse(body)
        }
    }
}
