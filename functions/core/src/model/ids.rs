//! Identifiers parsed once at the edge: shops, carts, webhook deliveries, contacts, schedules.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} may only hold letters, digits and `{allowed}`")]
    BadCharacter {
        kind: &'static str,
        allowed: &'static str,
    },
}

fn check(
    value: &str,
    kind: &'static str,
    max: usize,
    allowed: &'static str,
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || allowed.contains(c))
    {
        return Err(IdError::BadCharacter { kind, allowed });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal, $allowed:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check(&value, $kind, $max, $allowed)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A shop's id as it appears in the webhook URL (`/webhooks/{shop}/...`).
    ShopId, "shop id", 64, "-_."
);
string_id!(
    /// A cart's id on its platform (the Shopify checkout token, a WooCommerce order id, ...).
    CartId, "cart id", 128, "-_.:"
);
string_id!(
    /// A platform's delivery id for one webhook call, used to drop re-deliveries.
    DeliveryId, "delivery id", 128, "-_.:"
);
string_id!(
    /// The name of a shop's pool of single-use offer codes (`winter10`), as a sequence's
    /// offer names it and `cartback codes import --pool` fills it.
    PoolName, "pool name", 64, "-_."
);

/// A short, stable, non-reversible id for logs: the first 16 hex digits of SHA-256.
pub fn log_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// An id in a form SES message tags accept (base64url: letters, digits, `-`, `_`), so
/// delivery events can name the cart they are about.
pub fn tag_value(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The id behind a `tag_value`.
pub fn from_tag_value(tag: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The hashed key of a person (normalised email or E.164 phone); never the address itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactKey(String);

impl ContactKey {
    /// Hash of a normalised address ("email:ada@example.com" or "phone:+358401234567").
    pub(crate) fn of(normalised: &str) -> Self {
        Self(hex::encode(Sha256::digest(normalised.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's 32 bytes (its hex digits decoded).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // 64 hex digits (made by `of` or `from_bytes`, or read back from our own table).
        hex::decode_to_slice(&self.0, &mut bytes).unwrap_or_default();
        bytes
    }

    /// The key whose bytes are `bytes` (as carried in an unsubscribe token).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }
}

impl fmt::Display for ContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shopify_store_is_its_myshopify_domain() {
        for given in [
            "kuura-knitwear",
            "Kuura-Knitwear.myshopify.com",
            "https://kuura-knitwear.myshopify.com/",
        ] {
            assert_eq!(
                ShopifyStore::parse(given).map(String::from).as_deref(),
                Ok("kuura-knitwear.myshopify.com"),
                "{given}"
            );
        }
        for refused in ["", "-kuura", "kuura knitwear", "kuura.example.com"] {
            assert!(ShopifyStore::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn shop_ids_are_url_safe() {
        assert!(ShopId::parse("demo-shop.myshopify.com").is_ok());
        assert_eq!(
            ShopId::parse("").unwrap_err(),
            IdError::Empty { kind: "shop id" }
        );
        assert!(matches!(
            ShopId::parse("a/b"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            ShopId::parse("x".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let bad: Result<CartId, _> = serde_json::from_str("\"a b\"");
        assert!(bad.is_err());
        let good: CartId = serde_json::from_str("\"abc123\"").unwrap();
        assert_eq!(good.as_str(), "abc123");
    }

    #[test]
    fn contact_keys_round_trip_through_their_bytes() {
        let key = ContactKey::of("email:ada@example.com");
        assert_eq!(ContactKey::from_bytes(key.to_bytes()), key);
    }

    #[test]
    fn log_hash_is_short_and_stable() {
        let h = log_hash(&["shop", "cart"]);
        assert_eq!(h.len(), 16);
        assert_eq!(h, log_hash(&["shop", "cart"]));
        assert_ne!(h, log_hash(&["shopc", "art"]));
    }
}

/// A Shopify store by its permanent domain, `<name>.myshopify.com` (its Admin API's host),
/// given as the domain, the bare name or the admin URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShopifyStore(String);

/// Why a Shopify store was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "shopify_store `{0}`: give the store's myshopify domain, e.g. kuura-knitwear.myshopify.com"
)]
pub struct ShopifyStoreError(String);

impl ShopifyStore {
    const SUFFIX: &str = ".myshopify.com";

    pub fn parse(value: impl Into<String>) -> Result<Self, ShopifyStoreError> {
        let value = value.into();
        let host = value
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let name = host.strip_suffix(Self::SUFFIX).unwrap_or(&host);
        let ok = (1..=63).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.starts_with('-');
        if ok {
            Ok(Self(format!("{name}{}", Self::SUFFIX)))
        } else {
            Err(ShopifyStoreError(value.chars().take(80).collect()))
        }
    }

    /// The domain, `<name>.myshopify.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShopifyStore {
    type Error = ShopifyStoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ShopifyStore> for String {
    fn from(value: ShopifyStore) -> Self {
        value.0
    }
}

impl fmt::Display for ShopifyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store's permanent id in the API's paths (`stores/{store_hash}`), e.g. `abc123xyz`:
/// lowercase letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreHash(String);

/// Why a store hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bigcommerce_store_hash `{0}`: expected the store hash from the API path (stores/{{store_hash}}), 1 to 32 lowercase letters and digits"
)]
pub struct StoreHashError(String);

impl StoreHash {
    pub fn parse(value: impl Into<String>) -> Result<Self, StoreHashError> {
        let value = value.into();
        let ok = (1..=32).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(value))
        } else {
            // Shown in an error: cut, so a pasted token does not end up whole in a message.
            Err(StoreHashError(value.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StoreHash {
    type Error = StoreHashError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<StoreHash> for String {
    fn from(value: StoreHash) -> Self {
        value.0
    }
}

impl fmt::Display for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
