//! What every platform adapter shares: headers, the verdict on a request, and the signature
//! check in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::cart::{CartEvent, Platform};
use crate::ids::DeliveryId;
use crate::shop::SignatureCheck;

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
    /// `None` for topics we accept but do not act on.
    pub event: Option<CartEvent>,
}

/// A 400 naming what is wrong with the body.
pub(crate) fn malformed(what: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

/// A text field with something in it (trimmed), or `None`.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Only https links go into an email.
pub(crate) fn https_url(raw: &str) -> Option<url::Url> {
    url::Url::parse(raw).ok().filter(|u| u.scheme() == "https")
}

/// HMAC-SHA256 of `body` under `secret`.
pub fn hmac_sha256(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
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
                crate::shopify::verify(secret, headers, body)?;
            }
            crate::shopify::parse(headers, body)
        }
        Platform::Generic => {
            if let SignatureCheck::Required(secret) = check {
                crate::generic::verify(
                    secret,
                    headers.get(crate::generic::SIGNATURE_HEADER),
                    body,
                    now,
                )?;
            }
            crate::generic::parse(body)
        }
    }
}
