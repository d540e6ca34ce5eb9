//! What recipients do with our messages. Opens and clicks become engagement (and may bring
//! the next step forward); hard bounces, complaints and unsubscribes suppress that channel
//! for the person, and the suppression follows the person into every cart. Idempotent: the
//! same event twice changes nothing the second time.

use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::model::cart::{CartRecord, SuppressionReason};
use cartback_core::model::ids::{CartId, ContactKey, ShopId, log_hash};
use cartback_core::model::sequence::Channel;
use cartback_core::model::time::Clock;
use cartback_core::platforms::ses_event::{FeedbackKind, SesFeedback};
use cartback_core::ports::{CartStore, PortError, Put, ShopDirectory, WriteOutcome};
use cartback_core::rules::lifecycle::{Interaction, contact_suppressed, record_engagement};
use jiff::Timestamp;

use crate::Ports;
use crate::cart_write::write_cart;

const ATTEMPTS: usize = 5;

/// What the recipient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Click,
    /// A permanent (hard) bounce.
    Bounce,
    Complaint,
    Unsubscribe(Channel),
}

/// One recipient event about a cart's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientEvent {
    pub shop: ShopId,
    pub cart: CartId,
    /// The step (0-based) the message belonged to; the latest sent step when unknown.
    pub step: Option<u32>,
    pub action: Action,
    pub at: Timestamp,
    /// The key of the address the message went to, when the event says (suppression then
    /// follows that address, not whatever the cart holds now).
    pub address: Option<ContactKey>,
}

impl Action {
    /// Its name in log lines (`span.action`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Click => "click",
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::Unsubscribe(Channel::Email) => "unsubscribe_email",
            Self::Unsubscribe(Channel::Sms) => "unsubscribe_sms",
        }
    }
}

impl From<FeedbackKind> for Action {
    fn from(kind: FeedbackKind) -> Self {
        match kind {
            FeedbackKind::Open => Self::Open,
            FeedbackKind::Click => Self::Click,
            FeedbackKind::Bounce => Self::Bounce,
            FeedbackKind::Complaint => Self::Complaint,
        }
    }
}

impl From<SesFeedback> for RecipientEvent {
    fn from(feedback: SesFeedback) -> Self {
        Self {
            shop: feedback.shop,
            cart: feedback.cart,
            step: feedback.step,
            action: feedback.kind.into(),
            at: feedback.at,
            address: feedback.recipient,
        }
    }
}

/// What applying an event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Engagement recorded; `rearmed` when the next step became due earlier.
    Engagement { rearmed: bool },
    /// The channel is now suppressed for the person (in every cart).
    Suppressed { channel: Channel },
    /// Nothing to change (already known, unknown cart, no such step).
    Unchanged,
}

impl Applied {
    /// Its name in log lines (`applied`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Engagement { rearmed: false } => "engagement",
            Self::Engagement { rearmed: true } => "engagement_rearmed",
            Self::Suppressed {
                channel: Channel::Email,
            } => "suppressed_email",
            Self::Suppressed {
                channel: Channel::Sms,
            } => "suppressed_sms",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Applies one recipient event.
#[tracing::instrument(skip_all, fields(shop = %event.shop, cart = %log_hash(&[event.shop.as_str(), event.cart.as_str()]), action = event.action.as_str()))]
pub async fn apply<P: Ports>(event: &RecipientEvent, ports: &P) -> Result<Applied, PortError> {
    let applied = match event.action {
        Action::Open => engage(event, Interaction::Open, ports).await?,
        Action::Click => engage(event, Interaction::Click, ports).await?,
        Action::Bounce => {
            suppress(event, Channel::Email, SuppressionReason::Bounced, ports).await?
        }
        Action::Complaint => {
            suppress(event, Channel::Email, SuppressionReason::Complained, ports).await?
        }
        Action::Unsubscribe(channel) => {
            suppress(event, channel, SuppressionReason::Unsubscribed, ports).await?
        }
    };
    tracing::info!(applied = applied.as_str(), "recipient event applied");
    ports
        .metrics()
        .emit(event_metric(event, applied, ports.clock().now()));
    Ok(applied)
}

/// The metric of a recipient event (namespace `cartback`), by shop: `Opens`, `Clicks`,
/// `Bounces`, `Complaints`, `Unsubscribes` (also by channel). `Changed` is 1 when the event
/// changed something and 0 for a repeat or an unknown cart, so the sum counts people and
/// the sample count counts events.
pub fn event_metric(event: &RecipientEvent, applied: Applied, at: Timestamp) -> Emf {
    let name = match event.action {
        Action::Open => "Opens",
        Action::Click => "Clicks",
        Action::Bounce => "Bounces",
        Action::Complaint => "Complaints",
        Action::Unsubscribe(_) => "Unsubscribes",
    };
    let mut emf = Emf::new(NAMESPACE, at).dimension("Shop", event.shop.as_str());
    if let Action::Unsubscribe(channel) = event.action {
        emf = emf.dimension("Channel", channel.as_str());
    }
    let changed = if applied == Applied::Unchanged {
        0.0
    } else {
        1.0
    };
    emf.metric(name, Unit::Count, changed)
}

fn step_of(event: &RecipientEvent, cart: &CartRecord) -> Option<u32> {
    event
        .step
        .or_else(|| cart.sent.iter().rev().find(|s| s.is_sent()).map(|s| s.step))
}

async fn engage<P: Ports>(
    event: &RecipientEvent,
    interaction: Interaction,
    ports: &P,
) -> Result<Applied, PortError> {
    let Some(shop) = ports.shops().shop(&event.shop).await? else {
        return Ok(Applied::Unchanged);
    };
    for _ in 0..ATTEMPTS {
        let Some(cart) = ports.store().cart(&event.shop, &event.cart).await? else {
            return Ok(Applied::Unchanged);
        };
        let Some(sequence) = shop.sequence_named(&cart.value.sequence) else {
            return Ok(Applied::Unchanged);
        };
        let Some(step) = step_of(event, &cart.value) else {
            return Ok(Applied::Unchanged);
        };
        let now = ports.clock().now();
        let Some(updated) =
            record_engagement(&cart.value, step, interaction, event.at, &sequence, now)
        else {
            return Ok(Applied::Unchanged);
        };
        let rearmed = updated.next_due_at != cart.value.next_due_at;
        if write_cart(ports, updated, cart.version).await? {
            return Ok(Applied::Engagement { rearmed });
        }
    }
    Err(PortError::retryable("store", "the cart kept changing"))
}

async fn suppress<P: Ports>(
    event: &RecipientEvent,
    channel: Channel,
    reason: SuppressionReason,
    ports: &P,
) -> Result<Applied, PortError> {
    // The address the message went to (SES names it; a token carries its key): suppression
    // follows the person into every cart, and needs no cart, which may have expired. Else
    // (a token issued before tokens carried the key) the address the channel uses now, read
    // from the cart.
    let key = match &event.address {
        Some(key) => key.clone(),
        None => {
            let Some(key) = cart_address(event, channel, ports).await? else {
                return Ok(Applied::Unchanged);
            };
            key
        }
    };
    tracing::info!(person = %log_hash(&[event.shop.as_str(), key.as_str()]), channel = channel.as_str(), from_cart = event.address.is_none(), "suppressing the person");
    for _ in 0..ATTEMPTS {
        let existing = ports.store().contact(&event.shop, &key).await?;
        let Some(record) = contact_suppressed(
            existing.as_ref().map(|v| &v.value),
            &event.shop,
            &key,
            channel,
            reason,
            event.at.min(ports.clock().now()),
        ) else {
            return Ok(Applied::Unchanged);
        };
        let put = Put::Contact {
            record,
            expected: existing.map(|v| v.version),
        };
        if ports.store().write(vec![put]).await? == WriteOutcome::Written {
            return Ok(Applied::Suppressed { channel });
        }
    }
    Err(PortError::retryable(
        "store",
        "the person's record kept changing",
    ))
}

/// The key of the address `channel` uses in the cart the event names; `None` when the cart
/// is gone or has no such address.
async fn cart_address<P: Ports>(
    event: &RecipientEvent,
    channel: Channel,
    ports: &P,
) -> Result<Option<ContactKey>, PortError> {
    let Some(cart) = ports.store().cart(&event.shop, &event.cart).await? else {
        return Ok(None);
    };
    let Some(snapshot) = cart.value.snapshot.as_ref() else {
        return Ok(None);
    };
    Ok(match channel {
        Channel::Email => snapshot.email.as_ref().map(|e| e.key()),
        Channel::Sms => snapshot.phone.as_ref().map(|p| p.key()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action) -> RecipientEvent {
        RecipientEvent {
            shop: ShopId::parse("demo-shop.myshopify.com").expect("shop"),
            cart: CartId::parse("4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87").expect("cart"),
            step: Some(0),
            action,
            at: "2026-11-02T09:00:00Z".parse().expect("time"),
            address: None,
        }
    }

    fn line(emf: &Emf) -> serde_json::Value {
        serde_json::from_str(&emf.to_line()).expect("JSON")
    }

    #[test]
    fn a_bounce_counts_one_by_shop_and_a_repeat_counts_zero() {
        let at = "2026-11-02T09:00:00Z".parse().expect("time");
        let first = line(&event_metric(
            &event(Action::Bounce),
            Applied::Suppressed {
                channel: Channel::Email,
            },
            at,
        ));
        assert_eq!(first["Bounces"], 1.0);
        assert_eq!(first["Shop"], "demo-shop.myshopify.com");
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Shop"]])
        );
        let repeat = line(&event_metric(
            &event(Action::Bounce),
            Applied::Unchanged,
            at,
        ));
        assert_eq!(repeat["Bounces"], 0.0);
    }

    #[test]
    fn an_unsubscribe_is_counted_by_channel() {
        let at = "2026-11-02T09:00:00Z".parse().expect("time");
        let emf = line(&event_metric(
            &event(Action::Unsubscribe(Channel::Sms)),
            Applied::Suppressed {
                channel: Channel::Sms,
            },
            at,
        ));
        assert_eq!(emf["Unsubscribes"], 1.0);
        assert_eq!(emf["Channel"], "sms");
    }
}
