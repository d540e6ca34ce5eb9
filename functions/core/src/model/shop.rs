//! A shop's settings (the table's CONFIG item) and its webhook secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::contact::Email;
use crate::model::experiment::HoldoutShare;
use crate::model::ids::ShopId;
use crate::model::sequence::{Sequence, SequenceError};

/// A webhook signing secret. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How webhooks for a shop are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify every webhook against this secret.
    Required(Secret),
    /// Only for local simulation on trusted input files: accept unsigned webhooks.
    Skipped,
}

/// What a shop configures, as stored in its CONFIG item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSettings {
    pub name: String,
    pub from_address: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<Url>,
    #[serde(default = "default_accent")]
    pub accent_color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// A sequence file's contents used for every segment, instead of the segment defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_toml: Option<String>,
    /// Which built-in sequence each segment gets.
    #[serde(default)]
    pub segments: Segments,
    /// The recovery rules (consent, quiet hours, frequency cap, zone).
    #[serde(default)]
    pub rules: Rules,
    /// SNS SMS sender id (3–11 letters and digits, where the country allows one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_sender_id: Option<String>,
    /// The language of messages to carts that name none (or one without templates), e.g.
    /// `fi`; English when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<String>,
    /// A mailbox the shop reads for unsubscribe requests by email: added as a `mailto:` to
    /// every email's `List-Unsubscribe`, after the one-click link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_mailto: Option<Email>,
    /// A claim that leaves fewer free codes than this in an offer code pool logs a warning
    /// (`offer_pool_low`) and emits the `OfferCodesRemaining` metric.
    #[serde(default = "default_offer_pool_low_water")]
    pub offer_pool_low_water: u64,
    /// The share of carts held out of every message (0 to 0.5; 0 turns the holdout off),
    /// so `cartback report` can measure what the messages add. Default 0.1.
    #[serde(default)]
    pub holdout: HoldoutShare,
    /// How many days a cart is kept after its last activity or its purchase (DynamoDB TTL
    /// deletes it then). Default 30.
    #[serde(default)]
    pub cart_retention_days: RetentionDays,
    /// A BigCommerce shop's store hash (the `{store_hash}` of its API path): its webhooks
    /// carry only ids, and the cart is read from that store's API with the shop's API token
    /// (SSM, next to the webhook secret). Unset for every other platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bigcommerce_store_hash: Option<crate::model::ids::StoreHash>,
    /// A Shopify shop's store (`<name>.myshopify.com`): where `cartback doctor` reads the
    /// shop's webhook subscriptions, with the Admin API token `cartback shop connect
    /// shopify` stored. Unset for every other platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopify_store: Option<crate::model::ids::ShopifyStore>,
}

/// Days a cart is kept: 1 to 365.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RetentionDays(u16);

impl RetentionDays {
    pub const DEFAULT: Self = Self(30);

    pub fn new(days: u16) -> Result<Self, String> {
        if (1..=365).contains(&days) {
            Ok(Self(days))
        } else {
            Err(format!(
                "cart_retention_days = {days}: keep carts between 1 and 365 days"
            ))
        }
    }

    pub fn days(self) -> u16 {
        self.0
    }

    pub fn duration(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * i64::from(self.0))
    }
}

impl Default for RetentionDays {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl<'de> Deserialize<'de> for RetentionDays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u16::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The default low-water mark of an offer code pool.
pub const DEFAULT_OFFER_POOL_LOW_WATER: u64 = 50;

fn default_offer_pool_low_water() -> u64 {
    DEFAULT_OFFER_POOL_LOW_WATER
}

/// Sequences per segment: new visitors (no previous orders) and returning customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segments {
    #[serde(default = "default_new_visitor")]
    pub new_visitor: String,
    #[serde(default = "default_returning_customer")]
    pub returning_customer: String,
}

fn default_new_visitor() -> String {
    "new-visitor".to_owned()
}

fn default_returning_customer() -> String {
    "returning-customer".to_owned()
}

impl Default for Segments {
    fn default() -> Self {
        Self {
            new_visitor: default_new_visitor(),
            returning_customer: default_returning_customer(),
        }
    }
}

/// Whether email needs marketing consent (the default) or may go without it where the
/// shop's law allows (e.g. a soft opt-in for existing customers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailConsent {
    #[default]
    Required,
    NotRequired,
}

/// A daily window in the recipient's local time when a channel stays silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub from: jiff::civil::Time,
    pub until: jiff::civil::Time,
}

impl QuietHours {
    /// 21:00–09:00, the default for SMS.
    pub const NIGHT: Self = Self {
        from: jiff::civil::Time::constant(21, 0, 0, 0),
        until: jiff::civil::Time::constant(9, 0, 0, 0),
    };
}

/// At most `messages` per person in any `days` days, across carts and channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub messages: u32,
    pub days: u32,
}

impl FrequencyCap {
    pub fn window(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * i64::from(self.days))
    }
}

impl Default for FrequencyCap {
    fn default() -> Self {
        Self {
            messages: 3,
            days: 7,
        }
    }
}

/// The rules `decide()` applies; all on by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub email_consent: EmailConsent,
    /// Quiet hours for SMS (default 21:00–09:00); `None` turns them off.
    #[serde(default = "default_sms_quiet")]
    pub sms_quiet_hours: Option<QuietHours>,
    /// Quiet hours for email (default off).
    #[serde(default)]
    pub email_quiet_hours: Option<QuietHours>,
    #[serde(default)]
    pub frequency_cap: FrequencyCap,
    /// The shop's IANA zone: the recipient's zone when nothing better is known.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

fn default_sms_quiet() -> Option<QuietHours> {
    Some(QuietHours::NIGHT)
}

fn default_zone() -> String {
    "UTC".to_owned()
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            email_consent: EmailConsent::default(),
            sms_quiet_hours: default_sms_quiet(),
            email_quiet_hours: None,
            frequency_cap: FrequencyCap::default(),
            time_zone: default_zone(),
        }
    }
}

impl Rules {
    pub fn quiet_hours(&self, channel: crate::model::sequence::Channel) -> Option<QuietHours> {
        match channel {
            crate::model::sequence::Channel::Email => self.email_quiet_hours,
            crate::model::sequence::Channel::Sms => self.sms_quiet_hours,
        }
        .filter(|q| q.from != q.until)
    }
}

fn default_accent() -> String {
    "#0f766e".to_owned()
}

impl ShopSettings {
    /// Defaults for a shop known only by its id (local simulation).
    pub fn defaults_for(id: &ShopId) -> Self {
        let name = id
            .as_str()
            .split('.')
            .next()
            .unwrap_or(id.as_str())
            .replace(['-', '_'], " ");
        let from_address = Email::parse(&format!("shop@{}", local_domain(id)))
            .or_else(|_| Email::parse("shop@example.com"))
            .expect("a literal valid address parses");
        Self {
            name,
            from_address,
            from_name: None,
            support_email: None,
            logo_url: None,
            accent_color: default_accent(),
            signature: None,
            url: None,
            sequence_toml: None,
            segments: Segments::default(),
            rules: Rules::default(),
            sms_sender_id: None,
            default_locale: None,
            unsubscribe_mailto: None,
            offer_pool_low_water: DEFAULT_OFFER_POOL_LOW_WATER,
            holdout: HoldoutShare::DEFAULT,
            cart_retention_days: RetentionDays::DEFAULT,
            bigcommerce_store_hash: None,
            shopify_store: None,
        }
    }
}

fn local_domain(id: &ShopId) -> String {
    if id.as_str().contains('.') {
        id.as_str().to_owned()
    } else {
        format!("{}.example.com", id.as_str())
    }
}

/// Why a shop's settings cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error(
        "segment {segment}: no sequence named `{name}`; use new-visitor, returning-customer or default"
    )]
    UnknownSequence { segment: &'static str, name: String },
    #[error("time_zone `{0}` is not an IANA time zone (e.g. Europe/Helsinki)")]
    TimeZone(String),
}

/// A shop ready to serve: its settings, its parsed sequences and its zone.
#[derive(Debug, Clone)]
pub struct Shop {
    pub id: ShopId,
    pub settings: ShopSettings,
    /// The sequence for new visitors, then for returning customers (the same one when the
    /// shop set `sequence_toml`).
    pub new_visitor: Sequence,
    pub returning_customer: Sequence,
    pub zone: jiff::tz::TimeZone,
    /// Set when the operator removed the shop (`cartback shop remove`): until `keep_until`
    /// only its privacy webhooks (Shopify's `shop/redact`, sent 48 hours after an
    /// uninstall, and the customer requests) are handled; after it the shop is unknown.
    pub removed: Option<Removal>,
}

/// A removed shop's tombstone: what `shop/redact` needs is kept until `keep_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    pub at: jiff::Timestamp,
    pub keep_until: jiff::Timestamp,
}

impl Removal {
    /// How long a removed shop's tombstone is kept by default: Shopify sends `shop/redact`
    /// 48 hours after an uninstall; a month leaves room for redeliveries and late requests.
    pub const DEFAULT_KEEP_DAYS: u16 = 30;

    /// Whether the tombstone has run out at `now` (the shop is then unknown).
    pub fn expired(&self, now: jiff::Timestamp) -> bool {
        now >= self.keep_until
    }
}

impl Shop {
    /// The shop as removed by the operator (see [`Shop::removed`]).
    pub fn with_removal(mut self, removal: Option<Removal>) -> Self {
        self.removed = removal;
        self
    }

    pub fn new(id: ShopId, settings: ShopSettings) -> Result<Self, ShopError> {
        let pick = |segment: &'static str, name: &str| {
            Sequence::builtin(name).ok_or_else(|| ShopError::UnknownSequence {
                segment,
                name: name.to_owned(),
            })
        };
        let (new_visitor, returning_customer) = match &settings.sequence_toml {
            Some(source) => {
                let sequence = Sequence::parse(&format!("shop {id} CONFIG sequence_toml"), source)?;
                (sequence.clone(), sequence)
            }
            None => (
                pick("new_visitor", &settings.segments.new_visitor)?,
                pick("returning_customer", &settings.segments.returning_customer)?,
            ),
        };
        let zone = jiff::tz::TimeZone::get(&settings.rules.time_zone)
            .map_err(|_| ShopError::TimeZone(settings.rules.time_zone.clone()))?;
        Ok(Self {
            id,
            settings,
            new_visitor,
            returning_customer,
            zone,
            removed: None,
        })
    }

    /// The sequence for a new cart: by segment (previous orders or not).
    pub fn sequence_for(&self, snapshot: &crate::model::cart::CartSnapshot) -> &Sequence {
        if snapshot.orders_count > 0 {
            &self.returning_customer
        } else {
            &self.new_visitor
        }
    }

    /// A cart's sequence by the name it was started with (the shop's, else a built-in one).
    pub fn sequence_named(&self, name: &str) -> Option<Sequence> {
        [&self.new_visitor, &self.returning_customer]
            .into_iter()
            .find(|s| s.name == name)
            .cloned()
            .or_else(|| Sequence::builtin(name))
    }

    pub fn rules(&self) -> &Rules {
        &self.settings.rules
    }

    /// Whether any step of the shop's sequences may go by SMS.
    pub fn uses_sms(&self) -> bool {
        [&self.new_visitor, &self.returning_customer]
            .iter()
            .flat_map(|sequence| &sequence.steps)
            .any(|step| step.channel != crate::model::sequence::ChannelChoice::Email)
    }
}
