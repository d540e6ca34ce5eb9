//! The decision at wake-up: a pure function of the cart, the person, the sequence and now.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cart::{CartRecord, CartStatus, ContactRecord, SuppressionReason};
use crate::sequence::{Channel, DelayFrom, Sequence};

/// Why a cart gets no (more) messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The cart itself was bought.
    Purchased,
    /// The same person bought after this cart's last activity (another cart or device).
    PurchasedElsewhere,
    /// Neither an email address nor a phone number.
    NoContact,
    /// The step needs an email address and the cart has none.
    NoEmail,
    /// Every step of the sequence was sent.
    SequenceComplete,
    /// The sequence configured for the cart no longer exists.
    UnknownSequence,
    /// The mail service refused the message for good (bad address, rejected content).
    SendFailed,
    /// The platform gave no https link back to the cart: a reminder would be a dead end.
    NoRecoveryLink,
    /// The person unsubscribed.
    Unsubscribed,
    /// An earlier message to the person bounced hard.
    Bounced,
    /// The person marked a message as spam.
    Complained,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purchased => "purchased",
            Self::PurchasedElsewhere => "purchased_elsewhere",
            Self::NoContact => "no_contact",
            Self::NoEmail => "no_email",
            Self::SequenceComplete => "sequence_complete",
            Self::UnknownSequence => "unknown_sequence",
            Self::SendFailed => "send_failed",
            Self::NoRecoveryLink => "no_recovery_link",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
        }
    }

    /// Whether a newer snapshot lifts this stop (the shopper typed their email later).
    pub fn lifted_by(self, snapshot: &crate::cart::CartSnapshot) -> bool {
        match self {
            Self::NoContact => snapshot.email.is_some() || snapshot.phone.is_some(),
            Self::NoEmail => snapshot.email.is_some(),
            Self::NoRecoveryLink => snapshot.recovery_url.is_some(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this step now.
    Send { step: u32, channel: Channel },
    /// Not yet: wake up again then (the cart moved since the schedule was set).
    Wait { until: Timestamp },
    /// Nothing more for this cart.
    Stop { reason: StopReason },
}

/// When step `step` falls due for this cart, or `None` past the last step.
pub fn due_at(cart: &CartRecord, sequence: &Sequence, step: u32) -> Option<Timestamp> {
    let spec = sequence.steps.get(usize::try_from(step).ok()?)?;
    let base = match spec.from {
        DelayFrom::LastActivity => cart.last_activity_at,
        DelayFrom::PreviousStep => cart
            .sent
            .iter()
            .rev()
            .find(|sent| sent.step + 1 == step)
            .map_or(cart.last_activity_at, |sent| sent.sent_at),
    };
    base.checked_add(spec.delay).ok()
}

/// What to do for `cart` at `now`.
pub fn decide(
    cart: &CartRecord,
    contact: Option<&ContactRecord>,
    sequence: &Sequence,
    now: Timestamp,
) -> Decision {
    if cart.status == CartStatus::Converted {
        return Decision::Stop {
            reason: StopReason::Purchased,
        };
    }
    if let Some(suppression) = contact.and_then(|c| c.suppressed) {
        let reason = match suppression.reason {
            SuppressionReason::Unsubscribed => StopReason::Unsubscribed,
            SuppressionReason::Bounced => StopReason::Bounced,
            SuppressionReason::Complained => StopReason::Complained,
        };
        return Decision::Stop { reason };
    }
    if contact
        .and_then(|c| c.last_order_at)
        .is_some_and(|ordered| ordered >= cart.last_activity_at)
    {
        return Decision::Stop {
            reason: StopReason::PurchasedElsewhere,
        };
    }
    let Some(spec) = usize::try_from(cart.next_step)
        .ok()
        .and_then(|i| sequence.steps.get(i))
    else {
        return Decision::Stop {
            reason: StopReason::SequenceComplete,
        };
    };
    let Some(snapshot) = cart.snapshot.as_ref() else {
        return Decision::Stop {
            reason: StopReason::NoContact,
        };
    };
    match spec.channel {
        Channel::Email if snapshot.email.is_none() => {
            let reason = if snapshot.phone.is_none() {
                StopReason::NoContact
            } else {
                StopReason::NoEmail
            };
            return Decision::Stop { reason };
        }
        Channel::Email => {}
    }
    if snapshot.recovery_url.is_none() {
        return Decision::Stop {
            reason: StopReason::NoRecoveryLink,
        };
    }
    match due_at(cart, sequence, cart.next_step) {
        Some(due) if due > now => Decision::Wait { until: due },
        _ => Decision::Send {
            step: cart.next_step,
            channel: spec.channel,
        },
    }
}
