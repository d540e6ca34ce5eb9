//! Privacy requests: whom a request is about, and what a platform asked for.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::contact::{Email, Phone};
use crate::model::ids::{ContactKey, ShopId, log_hash};

/// Whom a request is about: an email address, a phone number, or both (never logged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
}

impl Subject {
    /// The contact keys of the person (email, phone).
    pub fn keys(&self) -> Vec<ContactKey> {
        self.email
            .iter()
            .map(Email::key)
            .chain(self.phone.iter().map(Phone::key))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none()
    }

    /// A short hash of the person in `shop`, for logs (never the address).
    pub fn log_id(&self, shop: &ShopId) -> String {
        let keys = self.keys();
        let mut parts: Vec<&str> = vec![shop.as_str()];
        parts.extend(keys.iter().map(ContactKey::as_str));
        log_hash(&parts)
    }
}

/// A privacy request that arrived from a platform (Shopify's mandatory compliance webhooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyRequest {
    /// `customers/redact`: erase the person.
    ErasePerson(Subject),
    /// `shop/redact`: erase everything the shop's partition holds but its settings.
    EraseShop,
    /// `customers/data_request`: the person asked the merchant for their data.
    DataRequest(Subject),
}

/// An erasure waiting for, or being done by, the background worker: the body of a message on
/// the erasure queue. It holds no personal data (contact keys are keyed hashes), and carries
/// its own progress, so a worker that runs out of time enqueues the rest and a redelivered
/// message starts from the last page done, never from zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErasureJob {
    /// `customers/redact`: the person known by `keys`.
    Person {
        shop: ShopId,
        keys: Vec<ContactKey>,
        requested_at: Timestamp,
    },
    /// `shop/redact`: every item of the shop but its settings.
    Shop {
        shop: ShopId,
        requested_at: Timestamp,
        /// The sort key the next page starts after (`None`: from the start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Items deleted by earlier chunks.
        #[serde(default)]
        deleted: u64,
        /// Chunks done before this one.
        #[serde(default)]
        chunks: u32,
    },
}

impl ErasureJob {
    pub fn shop(&self) -> &ShopId {
        match self {
            Self::Person { shop, .. } | Self::Shop { shop, .. } => shop,
        }
    }

    /// `person` or `shop` (a metric dimension and a log field).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Person { .. } => "person",
            Self::Shop { .. } => "shop",
        }
    }

    /// A short hash naming the job in logs: the shop and the person's keys, never the keys.
    pub fn log_id(&self) -> String {
        match self {
            Self::Person { shop, keys, .. } => {
                let mut parts: Vec<&str> = vec![shop.as_str()];
                parts.extend(keys.iter().map(ContactKey::as_str));
                log_hash(&parts)
            }
            Self::Shop { shop, .. } => log_hash(&[shop.as_str(), "shop"]),
        }
    }
}
