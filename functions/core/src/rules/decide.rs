//! The decision at wake-up: a pure function of the cart, the person, the sequence, the
//! shop's rules, the recipient's time zone and now.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::model::cart::{CartRecord, CartStatus, Person, Suppression, SuppressionReason};
use crate::model::experiment::{Arm, HoldoutShare, arm_for};
use crate::model::sequence::{Channel, ChannelChoice, DelayFrom, Sequence, Step, Version};
use crate::model::shop::{EmailConsent, Rules};

pub use crate::model::reason::{DeferReason, SkipReason, StopReason};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this step now, this way.
    Send { step: u32, channel: Channel },
    /// Pass over this step (no allowed channel, or its condition fails) and go on.
    Skip {
        step: u32,
        channel: Channel,
        reason: SkipReason,
    },
    /// Due, but not now: quiet hours or the frequency cap.
    Defer {
        until: Timestamp,
        reason: DeferReason,
    },
    /// Not due yet (the cart moved, or engagement chose a later branch).
    Wait { until: Timestamp },
    /// Nothing more for this cart.
    Stop { reason: StopReason },
    /// The cart falls in the shop's holdout group at its first step: record it there and
    /// send it nothing, ever.
    HoldOut { step: u32 },
}

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub cart: &'a CartRecord,
    pub person: &'a Person,
    pub sequence: &'a Sequence,
    pub rules: &'a Rules,
    /// The recipient's time zone (for quiet hours).
    pub zone: &'a TimeZone,
    /// The share of the shop's carts held out of every message.
    pub holdout: HoldoutShare,
    pub now: Timestamp,
}

/// Step `step` (0-based) of the cart's sequence and what the cart gets of it: the variant
/// recorded when the step was done, else the one the cart is assigned
/// (`experiment::variant_index`); the control's fields for a step that is not split.
/// `None` past the last step.
pub fn cart_step<'a>(
    cart: &CartRecord,
    sequence: &'a Sequence,
    step: u32,
) -> Option<(&'a Step, Version<'a>)> {
    let spec = sequence.steps.get(usize::try_from(step).ok()?)?;
    let Some(split) = &spec.split else {
        return Some((spec, spec.version(None)));
    };
    let recorded = cart
        .sent
        .iter()
        .find(|done| done.step == step)
        .and_then(|done| done.variant.as_deref())
        .filter(|name| *name == split.control || split.variants.iter().any(|v| v.name == *name));
    let name = match recorded {
        Some(name) => Some(name),
        None => spec.assigned_variant(&cart.shop, &cart.cart, &sequence.name, step),
    };
    Some((spec, spec.version(name)))
}

fn base_time(cart: &CartRecord, from: DelayFrom, step: u32) -> Timestamp {
    match from {
        DelayFrom::LastActivity => cart.last_activity_at,
        DelayFrom::PreviousStep => cart
            .sent
            .iter()
            .rev()
            .find(|done| done.step + 1 == step)
            .map_or(cart.last_activity_at, |done| done.sent_at),
    }
}

/// When step `step` falls due for this cart with the engagement so far, or `None` past the
/// last step. The planner schedules this; an open or click that picks another branch moves
/// it (`lifecycle::record_engagement`).
pub fn due_at(cart: &CartRecord, sequence: &Sequence, step: u32) -> Option<Timestamp> {
    let (spec, version) = cart_step(cart, sequence, step)?;
    base_time(cart, spec.from, step)
        .checked_add(version.delay.for_engagement(cart.engagement()))
        .ok()
}

fn suppression_stop(suppression: Suppression) -> StopReason {
    match suppression.reason {
        SuppressionReason::Unsubscribed => StopReason::Unsubscribed,
        SuppressionReason::Bounced => StopReason::Bounced,
        SuppressionReason::Complained => StopReason::Complained,
        SuppressionReason::Erased => StopReason::Erased,
    }
}

/// Whether email may reach the person.
fn email_allowed(s: &Situation<'_>) -> Result<(), SkipReason> {
    let snapshot = s.cart.snapshot.as_ref().ok_or(SkipReason::NoEmail)?;
    if snapshot.email.is_none() {
        return Err(SkipReason::NoEmail);
    }
    if s.rules.email_consent == EmailConsent::Required && !snapshot.consent.email_marketing {
        return Err(SkipReason::NoEmailConsent);
    }
    if s.person.email_suppressed.is_some() {
        return Err(SkipReason::EmailSuppressed);
    }
    Ok(())
}

/// Whether SMS may reach the person: a number, SMS marketing consent, never opted out.
fn sms_allowed(s: &Situation<'_>) -> Result<(), SkipReason> {
    let snapshot = s.cart.snapshot.as_ref().ok_or(SkipReason::NoPhone)?;
    if snapshot.phone.is_none() {
        return Err(SkipReason::NoPhone);
    }
    if !snapshot.consent.sms_marketing {
        return Err(SkipReason::NoSmsConsent);
    }
    if s.person.sms_suppressed.is_some() {
        return Err(SkipReason::SmsSuppressed);
    }
    if s.person.sms_opted_out {
        return Err(SkipReason::SmsOptedOut);
    }
    Ok(())
}

/// The channel a step would use now, or why it cannot be sent.
fn channel_for(s: &Situation<'_>, spec: &Step) -> Result<Channel, (Channel, SkipReason)> {
    let engagement = s.cart.engagement();
    match spec.channel {
        ChannelChoice::Email => email_allowed(s)
            .map(|()| Channel::Email)
            .map_err(|r| (Channel::Email, r)),
        ChannelChoice::Sms => sms_allowed(s)
            .map(|()| Channel::Sms)
            .map_err(|r| (Channel::Sms, r)),
        ChannelChoice::SmsOrEmail => {
            if spec.prefer_sms_when.holds(engagement) && sms_allowed(s).is_ok() {
                Ok(Channel::Sms)
            } else {
                email_allowed(s)
                    .map(|()| Channel::Email)
                    .map_err(|r| (Channel::Email, r))
            }
        }
    }
}

/// Why nothing at all can reach the person any more, if that is so.
fn unreachable(s: &Situation<'_>, from_step: usize) -> Option<StopReason> {
    let any_left = s.sequence.steps[from_step..]
        .iter()
        .any(|spec| channel_for(s, spec).is_ok());
    if any_left {
        return None;
    }
    let snapshot = s.cart.snapshot.as_ref()?;
    Some(
        if let Some(suppression) = s
            .person
            .email_suppressed
            .filter(|_| snapshot.email.is_some())
        {
            suppression_stop(suppression)
        } else if snapshot.email.is_none() {
            StopReason::NoEmail
        } else {
            StopReason::NoConsent
        },
    )
}

/// Messages in the cap's window ending at `at`: the cart's own (each step records its send
/// on the cart) and those of the person's earlier carts (carried onto the person when a newer
/// cart took over, `lifecycle::contact_latest_cart`); the same send counted once.
fn sends_in_window(s: &Situation<'_>, at: Timestamp) -> Vec<Timestamp> {
    let window_start = at.checked_sub(s.rules.frequency_cap.window()).unwrap_or(at);
    let mut sends: Vec<Timestamp> = s
        .person
        .recent_sends
        .iter()
        .copied()
        .chain(s.cart.send_times())
        .filter(|t| *t > window_start && *t <= at)
        .collect();
    sends.sort();
    sends.dedup();
    sends
}

/// What to do for the cart now.
pub fn decide(s: &Situation<'_>) -> Decision {
    let cart = s.cart;
    let stop = |reason| Decision::Stop { reason };
    if cart.status == CartStatus::Converted {
        return stop(StopReason::Purchased);
    }
    if s.person.is_erased() {
        return stop(StopReason::Erased);
    }
    if s.person
        .last_order_at
        .is_some_and(|ordered| ordered >= cart.last_activity_at)
    {
        return stop(StopReason::PurchasedElsewhere);
    }
    if s.person.latest_cart.as_ref().is_some_and(|latest| {
        latest.cart != cart.cart && latest.activity_at > cart.last_activity_at
    }) {
        return stop(StopReason::Superseded);
    }
    let Some(index) = usize::try_from(cart.next_step)
        .ok()
        .filter(|i| *i < s.sequence.steps.len())
    else {
        return stop(StopReason::SequenceComplete);
    };
    let spec = &s.sequence.steps[index];
    let Some(snapshot) = cart.snapshot.as_ref() else {
        return stop(StopReason::NoContact);
    };
    if snapshot.email.is_none() && snapshot.phone.is_none() {
        return stop(StopReason::NoContact);
    }
    if snapshot.recovery_url.is_none() {
        return stop(StopReason::NoRecoveryLink);
    }
    if let Some(reason) = unreachable(s, index) {
        return stop(reason);
    }
    match due_at(cart, s.sequence, cart.next_step) {
        Some(due) if due > s.now => return Decision::Wait { until: due },
        Some(_) => {}
        None => return stop(StopReason::SequenceComplete),
    }
    // The first step is where a cart joins the experiment: after every reason to stop, so
    // both arms hold only carts that could have been sent something.
    if cart.arm == Some(Arm::Holdout)
        || (cart.arm.is_none()
            && cart.next_step == 0
            && cart.sent.is_empty()
            && arm_for(&cart.shop, &cart.cart, s.holdout) == Arm::Holdout)
    {
        return Decision::HoldOut {
            step: cart.next_step,
        };
    }
    if !spec.send_when.holds(cart.engagement()) {
        return Decision::Skip {
            step: cart.next_step,
            channel: channel_for(s, spec).unwrap_or_else(|(c, _)| c),
            reason: SkipReason::ConditionNotMet,
        };
    }
    let channel = match channel_for(s, spec) {
        Ok(channel) => channel,
        Err((channel, reason)) => {
            return Decision::Skip {
                step: cart.next_step,
                channel,
                reason,
            };
        }
    };
    // The frequency cap: at most N messages per person in any window, across carts.
    let cap = &s.rules.frequency_cap;
    let mut until = s.now;
    let recent = sends_in_window(s, s.now);
    let mut reason = None;
    if cap.messages > 0 && recent.len() >= cap.messages as usize {
        // Free again once the oldest of the last N leaves the window.
        let oldest = recent[recent.len() - cap.messages as usize];
        until = oldest.checked_add(cap.window()).unwrap_or(s.now);
        reason = Some(DeferReason::FrequencyCap);
    }
    if let Some(quiet) = s.rules.quiet_hours(channel) {
        let allowed = crate::rules::zone::next_allowed(until, s.zone, quiet.from, quiet.until);
        if allowed > until {
            until = allowed;
            reason = reason.or(Some(DeferReason::QuietHours));
        }
    }
    match reason {
        Some(reason) if until > s.now => Decision::Defer { until, reason },
        _ => Decision::Send {
            step: cart.next_step,
            channel,
        },
    }
}
