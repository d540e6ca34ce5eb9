//! Pure state changes of a cart record: applying platform events, claiming and recording
//! steps, re-arming and stopping. Stores persist the results with a version check.

use jiff::{SignedDuration, Timestamp};

use crate::model::cart::{
    CartActivity, CartRecord, CartStatus, ContactRecord, Conversion, Person, Platform, SentStep,
    Suppression, SuppressionReason,
};
use crate::model::experiment::Arm;
use crate::model::ids::{ContactKey, ShopId};
use crate::model::sequence::Channel;
use crate::model::sequence::Sequence;
use crate::rules::decide::{Decision, StopReason, due_at};

/// How long a cart's item lives after its last activity or its purchase (DynamoDB TTL),
/// unless the shop sets `cart_retention_days`.
pub const CART_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 30);
/// How long a person's item lives after their last order.
pub const CONTACT_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 365);
/// How long a webhook delivery id is remembered.
pub const DELIVERY_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 7);

pub fn expiry(from: Timestamp, keep: SignedDuration) -> i64 {
    from.checked_add(keep).unwrap_or(from).as_second()
}

/// Keeps a person's item at least until `until`; an erasure tombstone never expires.
fn keep_contact_until(record: &mut ContactRecord, until: i64) {
    if !record.is_erased() {
        record.expires_at = record.expires_at.max(until);
    }
}

/// Sets when the cart's item expires: `keep` after its last activity or its purchase,
/// whichever is later.
pub fn retain(record: &mut CartRecord, keep: SignedDuration) {
    let last = record.converted_at.map_or(record.last_activity_at, |at| {
        at.max(record.last_activity_at)
    });
    record.expires_at = expiry(last, keep);
}

/// The result of applying a platform event to what we hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Write this record.
    Changed(Box<CartRecord>),
    /// The event is older than what we hold: keep ours.
    Stale,
    /// The cart is already bought: a conversion is final.
    AlreadyConverted,
}

/// Shopper activity: a new cart, or a newer snapshot of a known one.
///
/// The activity time is the platform's `updated_at`, never later than `now`. A new cart is
/// armed for step 1; a known cart keeps its schedule (the sender re-arms lazily when it
/// wakes and sees the cart moved), unless it had stopped for want of a contact.
pub fn apply_activity(
    existing: Option<&CartRecord>,
    shop: &ShopId,
    platform: Platform,
    activity: &CartActivity,
    sequence: &Sequence,
    now: Timestamp,
) -> Applied {
    let activity_at = activity.updated_at.min(now);
    let Some(existing) = existing else {
        let mut record = CartRecord {
            contact: activity.snapshot.contact_key(),
            snapshot: Some(activity.snapshot.clone()),
            source_updated_at: activity.updated_at,
            sequence: sequence.name.clone(),
            generation: 1,
            expires_at: expiry(activity_at, CART_RETENTION),
            ..CartRecord::new(shop.clone(), activity.cart.clone(), platform, activity_at)
        };
        record.next_due_at = due_at(&record, sequence, 0);
        return Applied::Changed(Box::new(record));
    };
    if existing.status == CartStatus::Converted {
        return Applied::AlreadyConverted;
    }
    if activity.updated_at <= existing.source_updated_at {
        return Applied::Stale;
    }
    let mut record = existing.clone();
    record.snapshot = Some(activity.snapshot.clone());
    record.contact = activity.snapshot.contact_key().or(record.contact);
    record.last_activity_at = activity_at.max(existing.last_activity_at);
    record.source_updated_at = activity.updated_at;
    retain(&mut record, CART_RETENTION);
    if record.next_due_at.is_none()
        && record.claimed_step.is_none()
        && record
            .stop_reason
            .is_some_and(|reason| reason.lifted_by(&activity.snapshot))
    {
        record.stop_reason = None;
        record.next_due_at = due_at(&record, sequence, record.next_step);
        record.generation += 1;
    }
    Applied::Changed(Box::new(record))
}

/// A purchase of this cart. Creates a converted record for an order whose checkout we never
/// saw, so a late checkout update cannot reopen it. Records when, for how much, and whether
/// cartback recovered it (`attribution::recovered`, from the cart and what is known of the
/// `person` before the order); the cart keeps its experiment arm.
pub fn apply_conversion(
    existing: Option<&CartRecord>,
    shop: &ShopId,
    platform: Platform,
    conversion: &Conversion,
    cart: &crate::model::ids::CartId,
    person: &Person,
    now: Timestamp,
) -> Applied {
    let at = conversion.at.min(now);
    let recovered = crate::rules::attribution::recovered(existing, person, at);
    let mut record = match existing {
        Some(existing) if existing.status == CartStatus::Converted => {
            return Applied::AlreadyConverted;
        }
        Some(existing) => existing.clone(),
        None => CartRecord {
            status: CartStatus::Converted,
            contact: conversion.contact_keys().into_iter().next(),
            ..CartRecord::new(shop.clone(), cart.clone(), platform, at)
        },
    };
    record.status = CartStatus::Converted;
    record.converted_at = Some(at);
    record.order_id = conversion.order_id.clone();
    record.order_total = conversion.total;
    record.recovered = recovered;
    record.next_due_at = None;
    record.stop_reason = Some(StopReason::Purchased);
    retain(&mut record, CART_RETENTION);
    Applied::Changed(Box::new(record))
}

/// Remember the person's latest order, so their other carts stop too.
pub fn contact_ordered(
    existing: Option<&ContactRecord>,
    shop: &ShopId,
    key: &ContactKey,
    at: Timestamp,
) -> Option<ContactRecord> {
    if existing.is_some_and(ContactRecord::is_erased)
        || existing
            .and_then(|c| c.last_order_at)
            .is_some_and(|known| known >= at)
    {
        return None;
    }
    let mut record = existing
        .cloned()
        .unwrap_or_else(|| ContactRecord::new(shop, key));
    record.last_order_at = Some(at);
    keep_contact_until(&mut record, expiry(at, CONTACT_RETENTION));
    Some(record)
}

/// The person unsubscribed, bounced or complained: no more messages, in any cart.
/// The first suppression is kept; `None` when there is nothing to change.
pub fn contact_suppressed(
    existing: Option<&ContactRecord>,
    shop: &ShopId,
    key: &ContactKey,
    channel: Channel,
    reason: SuppressionReason,
    at: Timestamp,
) -> Option<ContactRecord> {
    if existing.is_some_and(|c| c.suppression(channel).is_some()) {
        return None;
    }
    let mut record = existing
        .cloned()
        .unwrap_or_else(|| ContactRecord::new(shop, key));
    let suppression = Some(Suppression { reason, at });
    match channel {
        Channel::Email => record.email_suppressed = suppression,
        Channel::Sms => record.sms_suppressed = suppression,
    }
    keep_contact_until(&mut record, expiry(at, CONTACT_RETENTION));
    Some(record)
}

/// Why a wake-up is not for the cart as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    Generation,
    Step,
    Claimed,
    Closed,
}

impl Stale {
    /// Its name in log lines (`why`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Generation => "generation",
            Self::Step => "step",
            Self::Claimed => "claimed",
            Self::Closed => "closed",
        }
    }
}

/// Checks that a wake-up for (`step`, `generation`) still applies to `cart`.
pub fn check_wakeup(cart: &CartRecord, step: u32, generation: u32) -> Result<(), Stale> {
    if cart.generation != generation {
        return Err(Stale::Generation);
    }
    if cart.next_step != step {
        return Err(Stale::Step);
    }
    if cart.claimed_step.is_some() {
        return Err(Stale::Claimed);
    }
    if cart.next_due_at.is_none() {
        return Err(Stale::Closed);
    }
    Ok(())
}

/// How long a claim may be held: twice the sender's Lambda timeout (30 s). An invocation
/// cannot outlive its timeout, so an older claim was left by one that crashed or timed out
/// between the claim and the send.
pub const CLAIM_EXPIRY: SignedDuration = SignedDuration::from_secs(60);

/// The cart with its experiment arm recorded when `decision` is where it joins the
/// experiment: held out, or a step decided (send, skip or defer) at its first step. A cart
/// that already has an arm, or is past its first step, is returned as it is.
pub fn enrol(cart: &CartRecord, decision: &Decision) -> CartRecord {
    let mut record = cart.clone();
    if record.arm.is_some() || record.next_step != 0 || !record.sent.is_empty() {
        return record;
    }
    record.arm = match decision {
        Decision::HoldOut { .. } => Some(Arm::Holdout),
        Decision::Send { .. } | Decision::Skip { .. } | Decision::Defer { .. } => {
            Some(Arm::Treatment)
        }
        Decision::Wait { .. } | Decision::Stop { .. } => None,
    };
    record
}

/// Marks `step` as being sent by `channel` at `now`. Only the writer whose versioned write
/// of this wins may send.
pub fn claim(cart: &CartRecord, step: u32, channel: Channel, now: Timestamp) -> CartRecord {
    let mut record = cart.clone();
    record.claimed_step = Some(step);
    record.claimed_at = Some(now);
    record.claimed_channel = Some(channel);
    record.claim_id = None;
    record
}

/// Like [`claim`], by the invocation `claim_id` (unique to one claim attempt), so that it can
/// tell its own claim from another's ([`owns_claim`]).
pub fn claim_as(
    cart: &CartRecord,
    step: u32,
    channel: Channel,
    now: Timestamp,
    claim_id: &str,
) -> CartRecord {
    let mut record = claim(cart, step, channel, now);
    record.claim_id = Some(claim_id.to_owned());
    record
}

/// Whether `cart` holds the claim on `step` that `claim_id` wrote: a conflict on the claim
/// write that is really the write's own retry (its first try went through, its answer was
/// lost, and the retry failed the version check the first try had moved on).
pub fn owns_claim(cart: &CartRecord, step: u32, claim_id: &str) -> bool {
    cart.claimed_step == Some(step) && cart.claim_id.as_deref() == Some(claim_id)
}

/// Gives a claimed step back after a send error worth retrying.
pub fn release(cart: &CartRecord) -> CartRecord {
    let mut record = cart.clone();
    record.claimed_step = None;
    record.claimed_at = None;
    record.claimed_channel = None;
    record.claim_id = None;
    record
}

/// What a wake-up finds when its step is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldClaim {
    /// Another invocation may still be sending: retry later, send nothing now.
    Live,
    /// The claimer died between the claim and the send: whether its message went out is
    /// unknown, so the step is recorded as skipped (`crash_after_claim`) and never sent again
    /// — at most once, by choice.
    Orphaned { step: u32, channel: Channel },
}

/// The claim on `cart` as a wake-up for (`step`, `generation`) sees it at `now`, if the
/// wake-up is for the claimed step of the current generation.
pub fn held_claim(
    cart: &CartRecord,
    step: u32,
    generation: u32,
    now: Timestamp,
) -> Option<HeldClaim> {
    let claimed = cart.claimed_step?;
    if cart.generation != generation || claimed != step {
        return None;
    }
    // A claim written before claims carried their time is as old as can be.
    let expired = cart
        .claimed_at
        .is_none_or(|at| now.duration_since(at) >= CLAIM_EXPIRY);
    Some(if expired {
        HeldClaim::Orphaned {
            step: claimed,
            channel: cart.claimed_channel.unwrap_or(Channel::Email),
        }
    } else {
        HeldClaim::Live
    })
}

/// Records a done step (sent or skipped) and arms the next one, if any and if the cart is
/// still open. Called by the sender after its wake-up fired.
pub fn record_sent(cart: &CartRecord, done: SentStep, sequence: &Sequence) -> CartRecord {
    let mut record = cart.clone();
    record.claimed_step = None;
    record.claimed_at = None;
    record.claimed_channel = None;
    record.claim_id = None;
    record.next_step = done.step + 1;
    record.sent.push(done);
    record.fired = Some(cart.generation);
    record.generation += 1;
    if record.is_open() {
        record.next_due_at = due_at(&record, sequence, record.next_step);
        if record.next_due_at.is_none() {
            record.stop_reason = Some(StopReason::SequenceComplete);
        }
    } else {
        record.next_due_at = None;
    }
    record
}

/// Moves the wake-up later (the cart changed since it was armed, or the message is
/// deferred). Called by the sender after its wake-up fired.
pub fn rearm(cart: &CartRecord, until: Timestamp) -> CartRecord {
    let mut record = cart.clone();
    record.next_due_at = Some(until);
    record.fired = Some(cart.generation);
    record.generation += 1;
    record
}

/// Nothing more is planned for the cart. Called by the sender after its wake-up fired.
pub fn stop(cart: &CartRecord, reason: StopReason) -> CartRecord {
    let mut record = cart.clone();
    record.claimed_step = None;
    record.claimed_at = None;
    record.claimed_channel = None;
    record.claim_id = None;
    record.next_due_at = None;
    record.stop_reason = Some(reason);
    record.fired = Some(cart.generation);
    record.generation += 1;
    record
}

/// What the recipient did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Open,
    Click,
}

/// Records an open or click of step `step` (0-based). The next step is armed for when it
/// falls due with the engagement seen so far (`decide::due_at`), so an engagement that
/// picks another branch moves the wake-up — earlier (the clicked branch may come before the
/// none branch; never before `now`) or later — and a cart nobody engages with is woken once
/// per step. `None` when nothing changes.
pub fn record_engagement(
    cart: &CartRecord,
    step: u32,
    interaction: Interaction,
    at: Timestamp,
    sequence: &Sequence,
    now: Timestamp,
) -> Option<CartRecord> {
    let mut record = cart.clone();
    let done = record
        .sent
        .iter_mut()
        .find(|done| done.step == step && done.is_sent())?;
    let slot = match interaction {
        Interaction::Open => &mut done.opened_at,
        Interaction::Click => &mut done.clicked_at,
    };
    if slot.is_some() {
        return None;
    }
    *slot = Some(at);
    if interaction == Interaction::Click && done.opened_at.is_none() {
        // A click implies the message was opened (images may have been blocked).
        done.opened_at = Some(at);
    }
    if record.is_open()
        && record.claimed_step.is_none()
        && let (Some(current), Some(due)) = (
            record.next_due_at,
            due_at(&record, sequence, record.next_step),
        )
        && due_at(cart, sequence, record.next_step) != Some(due)
    {
        let moved = due.max(now);
        if moved != current {
            record.next_due_at = Some(moved);
            record.generation += 1;
        }
    }
    Some(record)
}

/// How long sends are remembered on the person (longer than any frequency-cap window).
pub const SEND_MEMORY: SignedDuration = SignedDuration::from_hours(24 * 31);

/// Remembers a message sent to the person (for the frequency cap across carts).
pub fn contact_sent(
    existing: Option<&ContactRecord>,
    shop: &ShopId,
    key: &ContactKey,
    at: Timestamp,
) -> ContactRecord {
    let record = existing
        .cloned()
        .unwrap_or_else(|| ContactRecord::new(shop, key));
    remember_sends(record, [at], at)
}

/// The person's record once a newer cart took over from `previous` (their latest cart until
/// now): `previous`'s messages, which it recorded on itself, are carried onto the person, so
/// the frequency cap of the carts that follow still counts them. A cart's own messages are
/// never written to the person one by one: that would be a write per message.
pub fn carry_sends(record: ContactRecord, previous: &CartRecord, now: Timestamp) -> ContactRecord {
    remember_sends(record, previous.send_times(), now)
}

fn remember_sends(
    mut record: ContactRecord,
    sends: impl IntoIterator<Item = Timestamp>,
    now: Timestamp,
) -> ContactRecord {
    // A tombstone keeps nothing but the erasure (no message reaches an erased person).
    if record.is_erased() {
        return record;
    }
    let horizon = now.checked_sub(SEND_MEMORY).unwrap_or(now).as_millisecond();
    record.recent_sends.extend(
        sends
            .into_iter()
            .map(Timestamp::as_millisecond)
            .filter(|ms| *ms > horizon),
    );
    record.recent_sends.retain(|ms| *ms > horizon);
    record.recent_sends.sort_unstable();
    record.recent_sends.dedup();
    keep_contact_until(&mut record, expiry(now, CONTACT_RETENTION));
    record
}

/// Makes `cart` the person's latest cart if its activity is the newest; `None` when it
/// already is (or an other cart is newer).
pub fn contact_latest_cart(
    existing: Option<&ContactRecord>,
    shop: &ShopId,
    key: &ContactKey,
    cart: &crate::model::ids::CartId,
    activity_at: Timestamp,
) -> Option<ContactRecord> {
    if existing.is_some_and(ContactRecord::is_erased) {
        return None;
    }
    if let Some(latest) = existing.and_then(|c| c.latest_cart.as_ref())
        && (latest.cart == *cart || latest.activity_at >= activity_at)
    {
        return None;
    }
    let mut record = existing
        .cloned()
        .unwrap_or_else(|| ContactRecord::new(shop, key));
    record.latest_cart = Some(crate::model::cart::LatestCart {
        cart: cart.clone(),
        activity_at,
    });
    keep_contact_until(&mut record, expiry(activity_at, CART_RETENTION));
    Some(record)
}
