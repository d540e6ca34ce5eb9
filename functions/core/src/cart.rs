//! Carts: the normalised event every platform adapter produces, and the record we keep.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::contact::{Email, Phone};
use crate::ids::{CartId, ContactKey, ShopId};
use crate::money::Money;
use crate::time::{millis, millis_opt};

/// Where a cart came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
}

impl Platform {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "shopify" => Some(Self::Shopify),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
        }
    }
}

/// What the shopper agreed to receive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub email_marketing: bool,
    pub sms_marketing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub quantity: u32,
    pub unit_price: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<Url>,
}

/// A cart as the platform last described it: who, what, how much, and where to go back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Orders the person placed before this cart (0 = new visitor).
    pub orders_count: u32,
    pub consent: Consent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    pub items: Vec<LineItem>,
    pub total: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_url: Option<Url>,
}

impl CartSnapshot {
    /// The key of the person behind the cart: email first, else phone.
    pub fn contact_key(&self) -> Option<ContactKey> {
        self.email
            .as_ref()
            .map(Email::key)
            .or_else(|| self.phone.as_ref().map(Phone::key))
    }
}

/// Shopper activity on a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartActivity {
    pub cart: CartId,
    pub snapshot: CartSnapshot,
    /// When the platform says the cart last changed.
    pub updated_at: Timestamp,
}

/// A completed order, linked to its cart where the platform says which one it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub cart: Option<CartId>,
    pub order_id: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub total: Money,
    pub at: Timestamp,
}

impl Conversion {
    pub fn contact_keys(&self) -> Vec<ContactKey> {
        self.email
            .iter()
            .map(Email::key)
            .chain(self.phone.iter().map(Phone::key))
            .collect()
    }
}

/// One normalised event from any platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartEvent {
    Activity(CartActivity),
    Conversion(Conversion),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CartStatus {
    Open,
    Converted,
}

/// A message sent for one step of a cart's sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentStep {
    pub step: u32,
    pub channel: crate::sequence::Channel,
    pub template: String,
    pub message_id: String,
    #[serde(with = "millis")]
    pub sent_at: Timestamp,
}

/// The cart as cartback keeps it (one table item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartRecord {
    pub shop: ShopId,
    pub cart: CartId,
    pub platform: Platform,
    pub status: CartStatus,
    /// The last snapshot; absent for an order whose checkout we never saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<CartSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactKey>,
    /// The shopper's last activity (the platform's updated_at, never later than receipt).
    #[serde(with = "millis")]
    pub last_activity_at: Timestamp,
    /// The platform's own updated_at of the snapshot we hold; older events are ignored.
    #[serde(with = "millis")]
    pub source_updated_at: Timestamp,
    /// The sequence chosen for this cart.
    pub sequence: String,
    #[serde(default)]
    pub sent: Vec<SentStep>,
    /// The step to send next (0-based).
    pub next_step: u32,
    /// When to wake up next; `None` = nothing scheduled.
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<Timestamp>,
    /// Bumped whenever `next_due_at` changes, so every schedule has its own name.
    pub generation: u32,
    /// A step whose message is being sent; only the claimer sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_step: Option<u32>,
    /// Why nothing more is planned, when nothing is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<crate::decide::StopReason>,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub converted_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_total: Option<Money>,
    /// DynamoDB TTL: epoch seconds after which the item may be deleted.
    pub expires_at: i64,
}

impl CartRecord {
    pub fn is_open(&self) -> bool {
        self.status == CartStatus::Open
    }

    /// Short hash for logs: never the cart id of a person's checkout as is.
    pub fn log_id(&self) -> String {
        crate::ids::log_hash(&[self.shop.as_str(), self.cart.as_str()])
    }
}

/// Why a person gets no more messages from a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribed,
    Bounced,
    Complained,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub reason: SuppressionReason,
    #[serde(with = "millis")]
    pub at: Timestamp,
}

/// What we know of a person across carts (keyed by the hash of their email or phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub shop: ShopId,
    pub key: ContactKey,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub last_order_at: Option<Timestamp>,
    /// Set once the person unsubscribed, bounced or complained; never lifted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
    pub expires_at: i64,
}

impl ContactRecord {
    pub fn new(shop: &ShopId, key: &ContactKey) -> Self {
        Self {
            shop: shop.clone(),
            key: key.clone(),
            last_order_at: None,
            suppressed: None,
            expires_at: 0,
        }
    }
}

/// A stored value with the version the store holds it at (for optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}
