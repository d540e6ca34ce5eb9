//! Privacy requests: whom a request is about, and what a platform asked for.

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
