//! Why a cart stops, why a step is skipped, why a due message waits: the words every layer
//! (decisions, records, reports, metrics) uses, serialised in snake_case.

use serde::{Deserialize, Serialize};

/// Why a cart gets no (more) messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The cart itself was bought.
    Purchased,
    /// The same person bought after this cart's last activity (another cart or device).
    PurchasedElsewhere,
    /// A newer cart of the same person took over.
    Superseded,
    /// Neither an email address nor a phone number.
    NoContact,
    /// The remaining steps need an email address and the cart has none.
    NoEmail,
    /// No remaining step may reach the person with the consent given.
    NoConsent,
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
    /// The cart fell in the shop's holdout group: it gets no messages, so its conversions
    /// show what would have happened without them.
    Holdout,
    /// The person was erased (`core::erase`): their carts are deleted, and one that
    /// reappears gets nothing.
    Erased,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purchased => "purchased",
            Self::PurchasedElsewhere => "purchased_elsewhere",
            Self::Superseded => "superseded",
            Self::NoContact => "no_contact",
            Self::NoEmail => "no_email",
            Self::NoConsent => "no_consent",
            Self::SequenceComplete => "sequence_complete",
            Self::UnknownSequence => "unknown_sequence",
            Self::SendFailed => "send_failed",
            Self::NoRecoveryLink => "no_recovery_link",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
            Self::Holdout => "holdout",
            Self::Erased => "erased",
        }
    }

    /// Whether a newer snapshot lifts this stop (the shopper typed their email later).
    pub fn lifted_by(self, snapshot: &crate::model::cart::CartSnapshot) -> bool {
        match self {
            Self::NoContact => snapshot.email.is_some() || snapshot.phone.is_some(),
            Self::NoEmail => snapshot.email.is_some(),
            Self::NoConsent => snapshot.consent.email_marketing || snapshot.consent.sms_marketing,
            Self::NoRecoveryLink => snapshot.recovery_url.is_some(),
            // Coming back to an older cart makes it the person's latest again.
            Self::Superseded => true,
            _ => false,
        }
    }
}

/// Why one step is passed over (the sequence goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    NoEmail,
    NoEmailConsent,
    EmailSuppressed,
    NoPhone,
    NoSmsConsent,
    SmsSuppressed,
    SmsOptedOut,
    /// The step's `send_when` condition does not hold.
    ConditionNotMet,
    /// The sender died between claiming the step and sending it: whether the message left
    /// is unknown, so it is not sent again (at most once).
    CrashAfterClaim,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoEmail => "no_email",
            Self::NoEmailConsent => "no_email_consent",
            Self::EmailSuppressed => "email_suppressed",
            Self::NoPhone => "no_phone",
            Self::NoSmsConsent => "no_sms_consent",
            Self::SmsSuppressed => "sms_suppressed",
            Self::SmsOptedOut => "sms_opted_out",
            Self::ConditionNotMet => "condition_not_met",
            Self::CrashAfterClaim => "crash_after_claim",
        }
    }
}

/// Why a due message waits a little longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// Night time where the recipient is.
    QuietHours,
    /// The person already got the most messages a week allows.
    FrequencyCap,
    /// The mail or SMS service refused for a reason of the account or its configuration
    /// (not the recipient's): tried again later, with a growing delay, until fixed.
    Account,
    /// The mail or SMS service refused the send for now (throttled over the account's send
    /// rate, or unavailable: nothing was sent): tried again seconds later, spread out.
    Throttled,
}

impl DeferReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuietHours => "quiet_hours",
            Self::FrequencyCap => "frequency_cap",
            Self::Account => "account",
            Self::Throttled => "throttled",
        }
    }
}
