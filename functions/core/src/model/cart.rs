//! Carts: the normalised event every platform adapter produces, and the record we keep.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::contact::{Email, Phone};
use crate::model::ids::{CartId, ContactKey, ShopId};
use crate::model::money::Money;
use crate::model::time::{millis, millis_opt};

/// Where a cart came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    /// WooCommerce order webhooks (`core::woocommerce`).
    WooCommerce,
    /// BigCommerce cart webhooks, completed from the store's API (`core::bigcommerce`).
    BigCommerce,
    /// A custom store on the generic signed JSON API (`core::generic`).
    Generic,
}

impl Platform {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "shopify" => Some(Self::Shopify),
            "woocommerce" => Some(Self::WooCommerce),
            "bigcommerce" => Some(Self::BigCommerce),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
            Self::WooCommerce => "woocommerce",
            Self::BigCommerce => "bigcommerce",
            Self::Generic => "generic",
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
    /// An IANA zone, when the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// ISO 3166-1 country of the shipping (else billing) address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Its subdivision (province or state code), for countries with several zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl CartSnapshot {
    /// The key of the person behind the cart: email first, else phone.
    pub fn contact_key(&self) -> Option<ContactKey> {
        self.email
            .as_ref()
            .map(Email::key)
            .or_else(|| self.phone.as_ref().map(Phone::key))
    }

    /// Every key the person is known by here: email and phone.
    pub fn contact_keys(&self) -> Vec<ContactKey> {
        self.email
            .iter()
            .map(Email::key)
            .chain(self.phone.iter().map(Phone::key))
            .collect()
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
    /// What the order came to; `None` when the platform would not tell (a BigCommerce order
    /// the store API no longer has): still a conversion, of unknown revenue.
    pub total: Option<Money>,
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
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per webhook; boxing buys nothing"
)]
pub enum CartEvent {
    Activity(CartActivity),
    Conversion(Conversion),
    /// A data protection request (Shopify's mandatory compliance webhooks).
    Privacy(crate::model::privacy::PrivacyRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CartStatus {
    Open,
    Converted,
}

/// A step of a cart's sequence that is done: sent (with its engagement), or skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentStep {
    pub step: u32,
    pub channel: crate::model::sequence::Channel,
    pub template: String,
    /// The mail or SMS service's id; empty for a skipped step.
    pub message_id: String,
    /// When it was sent (or skipped).
    #[serde(with = "millis")]
    pub sent_at: Timestamp,
    /// Why the step was not sent, if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<crate::model::reason::SkipReason>,
    /// Sent, but the service gave no answer (a timeout, a lost connection): the message may
    /// have gone or not, and it is never sent again. Counted as sent (frequency cap,
    /// attribution); `message_id` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub clicked_at: Option<Timestamp>,
    /// The variant of a step split into variants (A/B); `None` for a step that is not split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl SentStep {
    pub fn is_sent(&self) -> bool {
        self.skipped.is_none()
    }
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
    /// When the step was claimed: a claim older than `lifecycle::CLAIM_EXPIRY` belongs to an
    /// invocation that died between the claim and the send.
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    /// The channel the claimed step was going out by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_channel: Option<crate::model::sequence::Channel>,
    /// Which invocation holds the claim (random, one per claim): an invocation whose claim
    /// write went through although its answer was lost (the retried write then fails its
    /// own condition) recognises the claim as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<String>,
    /// The generation whose schedule fired (set by the sender): that schedule deleted
    /// itself, so the planner need not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<u32>,
    /// Why nothing more is planned, when nothing is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<crate::model::reason::StopReason>,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub converted_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_total: Option<Money>,
    /// The experiment arm, recorded at the first step's wake-up: held out (no messages) or
    /// treated; `None` for a cart bought or stopped before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<crate::model::experiment::Arm>,
    /// Bought, and credited to cartback: this cart was sent a message, or the person was
    /// within the 7 days before the order (never for a held-out cart).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// DynamoDB TTL: epoch seconds after which the item may be deleted.
    pub expires_at: i64,
}

impl CartRecord {
    /// A record of `cart` holding nothing yet: open, no snapshot or contact, last active at
    /// `at`, no sequence, nothing sent, claimed or due, generation 0, no order, no expiry.
    /// Callers set what they know with struct update syntax (`..CartRecord::new(…)`).
    pub fn new(shop: ShopId, cart: CartId, platform: Platform, at: Timestamp) -> Self {
        Self {
            shop,
            cart,
            platform,
            status: CartStatus::Open,
            snapshot: None,
            contact: None,
            last_activity_at: at,
            source_updated_at: at,
            sequence: String::new(),
            sent: Vec::new(),
            next_step: 0,
            next_due_at: None,
            generation: 0,
            claimed_step: None,
            claimed_at: None,
            claimed_channel: None,
            claim_id: None,
            fired: None,
            stop_reason: None,
            converted_at: None,
            order_id: None,
            order_total: None,
            arm: None,
            recovered: false,
            expires_at: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == CartStatus::Open
    }

    /// Short hash for logs: never the cart id of a person's checkout as is.
    pub fn log_id(&self) -> String {
        crate::model::ids::log_hash(&[self.shop.as_str(), self.cart.as_str()])
    }

    /// Every key the person behind the cart is known by (email, phone, and the key the cart
    /// was first filed under), each once.
    pub fn contact_keys(&self) -> Vec<ContactKey> {
        let mut keys = self
            .snapshot
            .as_ref()
            .map(CartSnapshot::contact_keys)
            .unwrap_or_default();
        if let Some(key) = &self.contact
            && !keys.contains(key)
        {
            keys.push(key.clone());
        }
        keys
    }

    /// When the cart's messages went out (sent or unconfirmed, never a skipped step), and the
    /// time of a claim still held: its message may be going out now. Oldest first.
    pub fn send_times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.sent
            .iter()
            .filter(|done| done.is_sent())
            .map(|done| done.sent_at)
            .chain(self.claimed_step.and(self.claimed_at))
    }

    /// The recipient's engagement so far in this sequence.
    pub fn engagement(&self) -> crate::model::sequence::Engagement {
        use crate::model::sequence::Engagement;
        if self.sent.iter().any(|s| s.clicked_at.is_some()) {
            Engagement::Clicked
        } else if self.sent.iter().any(|s| s.opened_at.is_some()) {
            Engagement::Opened
        } else {
            Engagement::None
        }
    }
}

/// Why a person gets no more messages from a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribed,
    Bounced,
    Complained,
    /// The person was erased (`cartback erase`, Shopify `customers/redact`): the contact
    /// item is only this tombstone, on every channel, and never expires (`core::erase`).
    Erased,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub reason: SuppressionReason,
    #[serde(with = "millis")]
    pub at: Timestamp,
}

/// The person's most recent cart: a newer cart supersedes older ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestCart {
    pub cart: CartId,
    #[serde(with = "millis")]
    pub activity_at: Timestamp,
}

/// What we know of a person across carts (keyed by the hash of their email or phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub shop: ShopId,
    pub key: ContactKey,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub last_order_at: Option<Timestamp>,
    /// No more email: unsubscribed, bounced or complained. Never lifted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_suppressed: Option<Suppression>,
    /// No more SMS: opted out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_suppressed: Option<Suppression>,
    /// Messages sent to the person recently (any cart, any channel), for the frequency cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_sends: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_cart: Option<LatestCart>,
    /// DynamoDB TTL (epoch seconds); 0 = never expires, written without the attribute (an
    /// erasure tombstone).
    #[serde(default, skip_serializing_if = "never_expires")]
    pub expires_at: i64,
}

fn never_expires(expires_at: &i64) -> bool {
    *expires_at == 0
}

impl ContactRecord {
    pub fn new(shop: &ShopId, key: &ContactKey) -> Self {
        Self {
            shop: shop.clone(),
            key: key.clone(),
            last_order_at: None,
            email_suppressed: None,
            sms_suppressed: None,
            recent_sends: Vec::new(),
            latest_cart: None,
            expires_at: 0,
        }
    }

    /// An erasure tombstone: the person asked to be forgotten and stays out for good.
    pub fn is_erased(&self) -> bool {
        [self.email_suppressed, self.sms_suppressed]
            .iter()
            .flatten()
            .any(|s| s.reason == SuppressionReason::Erased)
    }

    pub fn suppression(&self, channel: crate::model::sequence::Channel) -> Option<Suppression> {
        match channel {
            crate::model::sequence::Channel::Email => self.email_suppressed,
            crate::model::sequence::Channel::Sms => self.sms_suppressed,
        }
    }
}

/// Everything known about the person behind a cart, merged over their keys (email, phone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub last_order_at: Option<Timestamp>,
    pub email_suppressed: Option<Suppression>,
    pub sms_suppressed: Option<Suppression>,
    /// Send times (any cart, any channel), newest last.
    pub recent_sends: Vec<Timestamp>,
    pub latest_cart: Option<LatestCart>,
    /// The SMS service says the number opted out (checked before each SMS).
    pub sms_opted_out: bool,
}

impl Person {
    /// Whether any of the person's keys carries an erasure tombstone.
    pub fn is_erased(&self) -> bool {
        [self.email_suppressed, self.sms_suppressed]
            .iter()
            .flatten()
            .any(|s| s.reason == SuppressionReason::Erased)
    }
}

impl Person {
    pub fn merge(contacts: &[ContactRecord]) -> Self {
        let mut person = Self::default();
        for c in contacts {
            person.last_order_at = person.last_order_at.max(c.last_order_at);
            person.email_suppressed = person.email_suppressed.or(c.email_suppressed);
            person.sms_suppressed = person.sms_suppressed.or(c.sms_suppressed);
            person.recent_sends.extend(
                c.recent_sends
                    .iter()
                    .filter_map(|ms| crate::model::time::from_millis(*ms)),
            );
            if let Some(latest) = &c.latest_cart
                && person
                    .latest_cart
                    .as_ref()
                    .is_none_or(|known| known.activity_at < latest.activity_at)
            {
                person.latest_cart = Some(latest.clone());
            }
        }
        person.recent_sends.sort();
        person.recent_sends.dedup();
        person
    }
}

/// A stored value with the version the store holds it at (for optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}
