//! Why a cart got what it got, and what comes next: a pure account of one cart, built from the
//! same facts and the same `decide()` the sender uses at wake-up.
//!
//! `cartback explain` prints it, and the local outbox (`cartback dev`) shows it as each
//! cart's timeline. It names no person: whether an email address or a phone number is known,
//! never the address or number itself.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::model::cart::{CartRecord, CartStatus, Person, Suppression};
use crate::model::experiment::{Arm, HoldoutShare};
use crate::model::sequence::{Channel, ChannelChoice, DelayFrom, Sequence, Step};
use crate::model::shop::Rules;
use crate::rules::decide::{Decision, Situation, StopReason, cart_step, decide, due_at};

/// Where a cart stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CartState {
    /// Reminders are still planned.
    Open,
    /// Bought: nothing more is sent.
    Converted,
    /// The person unsubscribed, bounced or complained: nothing more is sent.
    Suppressed,
    /// Nothing more is sent for another reason (sequence done, superseded, no consent, …).
    Stopped,
    /// No record of the cart: erased, expired (TTL) or never received.
    Erased,
}

impl CartState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Converted => "converted",
            Self::Suppressed => "suppressed",
            Self::Stopped => "stopped",
            Self::Erased => "erased",
        }
    }
}

/// What became of one step of the cart's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Sent,
    Skipped,
    /// Claimed by a sender that is sending it right now.
    Sending,
    /// The step the next wake-up is about.
    Next,
    /// Later in the sequence.
    Pending,
    /// The cart stopped before it.
    NotSent,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Sending => "sending",
            Self::Next => "next",
            Self::Pending => "pending",
            Self::NotSent => "not sent",
        }
    }
}

/// One step of the sequence and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepExplained {
    /// 1-based.
    pub step: u32,
    pub template: String,
    /// The variant of a split step: the one it went out as, else the one the cart gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The channel the sequence asks for: `email`, `sms` or `sms_or_email`.
    pub wants: &'static str,
    /// When it falls due, in words (`1h after the last activity`).
    pub timing: String,
    pub status: StepStatus,
    /// The channel it went out on (or was skipped for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    /// When it was sent or skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message_id: String,
    /// `Some(false)` for a step sent without an answer from the service: it may have gone
    /// or not, and it is never sent again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clicked_at: Option<Timestamp>,
}

/// The next thing the sender will do for the cart, if nothing changes meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextDecision {
    /// `send`, `skip` or `defer`.
    pub decision: &'static str,
    /// 1-based.
    pub step: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    /// When.
    pub at: Timestamp,
    /// Why then (and why so, for a skip or a deferral).
    pub reason: String,
}

/// Whether and how the person can be reached (never the address or number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub email: bool,
    pub email_consent: bool,
    pub phone: bool,
    pub sms_consent: bool,
}

/// A channel the person can no longer be reached on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    pub channel: &'static str,
    pub reason: &'static str,
    pub at: Timestamp,
}

/// Everything `explain` says about one cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub shop: String,
    pub cart: String,
    pub state: CartState,
    /// One sentence: where the cart stands and why.
    pub summary: String,
    /// The time the explanation is for.
    pub now: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_total: Option<String>,
    /// The experiment arm (`holdout` or `treatment`), once the cart joined it at its first
    /// step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<&'static str>,
    /// Bought and credited to cartback (`attribution::recovered`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// Why nothing more is planned, when nothing is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<&'static str>,
    pub steps: Vec<StepExplained>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<NextDecision>,
    /// When the cart's schedule wakes the sender (it may re-arm for later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_up_at: Option<Timestamp>,
}

/// The facts one explanation needs; `sequence` is `None` when the cart's sequence is gone.
#[derive(Debug, Clone, Copy)]
pub struct ExplainInput<'a> {
    pub cart: &'a CartRecord,
    pub person: &'a Person,
    pub sequence: Option<&'a Sequence>,
    pub rules: &'a Rules,
    /// The recipient's zone (quiet hours).
    pub zone: &'a TimeZone,
    /// The share of the shop's carts held out (whether a cart not yet at its first step
    /// will be).
    pub holdout: HoldoutShare,
    pub now: Timestamp,
}

/// A cart with no record.
pub fn explain_missing(shop: &str, cart: &str, now: Timestamp) -> Explanation {
    Explanation {
        shop: shop.to_owned(),
        cart: cart.to_owned(),
        state: CartState::Erased,
        summary: "no record of this cart: erased, expired after 90 days without activity, or \
                  never received (for Shopify the cart id is the checkout token)"
            .to_owned(),
        now,
        sequence: None,
        engagement: None,
        last_activity_at: None,
        reach: None,
        suppressed: Vec::new(),
        converted_at: None,
        order_id: None,
        order_total: None,
        arm: None,
        recovered: false,
        stop_reason: None,
        steps: Vec::new(),
        next: None,
        wake_up_at: None,
    }
}

fn is_suppression(reason: StopReason) -> bool {
    matches!(
        reason,
        StopReason::Unsubscribed
            | StopReason::Bounced
            | StopReason::Complained
            | StopReason::Erased
    )
}

/// Explains `input.cart` at `input.now`.
pub fn explain(input: &ExplainInput<'_>) -> Explanation {
    let cart = input.cart;
    let mut out = explain_missing(cart.shop.as_str(), cart.cart.as_str(), input.now);
    out.sequence = (!cart.sequence.is_empty()).then(|| cart.sequence.clone());
    out.engagement = Some(cart.engagement().as_str());
    out.last_activity_at = Some(cart.last_activity_at);
    out.reach = cart.snapshot.as_ref().map(|s| Reach {
        email: s.email.is_some(),
        email_consent: s.consent.email_marketing,
        phone: s.phone.is_some(),
        sms_consent: s.consent.sms_marketing,
    });
    out.suppressed = suppressions(input.person);
    out.converted_at = cart.converted_at;
    out.order_id = cart.order_id.clone();
    out.order_total = cart.order_total.map(|m| m.to_string());
    out.arm = cart.arm.map(Arm::as_str);
    out.recovered = cart.recovered;
    out.wake_up_at = cart.next_due_at;
    let (state, stop, next) = standing(input);
    out.state = state;
    out.stop_reason = stop.map(StopReason::as_str);
    out.steps = steps(input, state, next.as_ref());
    out.summary = summary(input, state, stop, next.as_ref());
    out.next = next;
    out
}

fn suppressions(person: &Person) -> Vec<Suppressed> {
    let entry = |channel: Channel, s: Suppression| Suppressed {
        channel: channel.as_str(),
        reason: match s.reason {
            crate::model::cart::SuppressionReason::Unsubscribed => "unsubscribed",
            crate::model::cart::SuppressionReason::Bounced => "bounced",
            crate::model::cart::SuppressionReason::Complained => "complained",
            crate::model::cart::SuppressionReason::Erased => "erased",
        },
        at: s.at,
    };
    person
        .email_suppressed
        .map(|s| entry(Channel::Email, s))
        .into_iter()
        .chain(person.sms_suppressed.map(|s| entry(Channel::Sms, s)))
        .collect()
}

/// The state, the stop reason (if stopped) and the next decision (if any).
fn standing(input: &ExplainInput<'_>) -> (CartState, Option<StopReason>, Option<NextDecision>) {
    let cart = input.cart;
    if cart.status == CartStatus::Converted {
        return (CartState::Converted, Some(StopReason::Purchased), None);
    }
    let stopped = |reason: StopReason| {
        let state = if is_suppression(reason) {
            CartState::Suppressed
        } else {
            CartState::Stopped
        };
        (state, Some(reason), None)
    };
    let Some(sequence) = input.sequence else {
        return stopped(StopReason::UnknownSequence);
    };
    if let Some(step) = cart.claimed_step {
        let next = match crate::rules::lifecycle::held_claim(cart, step, cart.generation, input.now)
        {
            Some(crate::rules::lifecycle::HeldClaim::Orphaned { channel, .. }) => NextDecision {
                decision: "skip",
                step: step + 1,
                channel: Some(channel.as_str()),
                at: input.now,
                reason: "a sender claimed this step and died before finishing: the next wake-up \
                         records it as skipped (crash_after_claim), not sent again"
                    .to_owned(),
            },
            _ => NextDecision {
                decision: "send",
                step: step + 1,
                channel: cart.claimed_channel.map(Channel::as_str),
                at: input.now,
                reason: "a sender claimed this step and is sending it now".to_owned(),
            },
        };
        return (CartState::Open, None, Some(next));
    }
    // Nothing scheduled: the sender recorded why it stopped and will not wake again.
    if cart.next_due_at.is_none() {
        return stopped(cart.stop_reason.unwrap_or(StopReason::SequenceComplete));
    }
    let situation = |now| Situation {
        cart,
        person: input.person,
        sequence,
        rules: input.rules,
        zone: input.zone,
        holdout: input.holdout,
        now,
    };
    let step = cart.next_step;
    let (timing, due) = step_timing(cart, sequence, step);
    let (decision, at) = match decide(&situation(input.now)) {
        Decision::Wait { until } => (decide(&situation(until)), until),
        other => (other, cart.next_due_at.unwrap_or(input.now).max(input.now)),
    };
    let next = match decision {
        Decision::Stop { reason } => return stopped(reason),
        Decision::HoldOut { step } => NextDecision {
            decision: "hold out",
            step: step + 1,
            channel: None,
            at,
            reason: format!(
                "the cart falls in the shop's holdout ({} of carts get no messages, so their conversions show what the messages add); {timing}",
                input.holdout.percent()
            ),
        },
        Decision::Send { step, channel } => NextDecision {
            decision: "send",
            step: step + 1,
            channel: Some(channel.as_str()),
            at,
            reason: timing,
        },
        Decision::Skip {
            step,
            channel,
            reason,
        } => NextDecision {
            decision: "skip",
            step: step + 1,
            channel: Some(channel.as_str()),
            at,
            reason: format!("{}; {timing}", reason.as_str()),
        },
        Decision::Defer { until, reason } => NextDecision {
            decision: "defer",
            step: step + 1,
            channel: None,
            at: until,
            reason: match due {
                Some(due) => format!("{} (due {}: {timing})", reason.as_str(), short_time(due)),
                None => format!("{} ({timing})", reason.as_str()),
            },
        },
        // Due again later still (only if the facts moved under us): say when.
        Decision::Wait { until } => NextDecision {
            decision: "send",
            step: step + 1,
            channel: None,
            at: until,
            reason: timing,
        },
    };
    (CartState::Open, None, Some(next))
}

/// `1h after the last activity` / `6h after step 1 (opened)`, and when that is.
fn step_timing(cart: &CartRecord, sequence: &Sequence, step: u32) -> (String, Option<Timestamp>) {
    let Some((spec, version)) = cart_step(cart, sequence, step) else {
        return ("past the last step".to_owned(), None);
    };
    let engagement = cart.engagement();
    let delay = version.delay.for_engagement(engagement);
    let branch = match version.delay {
        crate::model::sequence::Delay::Fixed(_) => String::new(),
        crate::model::sequence::Delay::ByEngagement { .. } => {
            format!(" ({})", engagement_words(cart))
        }
    };
    let from = match spec.from {
        DelayFrom::PreviousStep if step > 0 => format!("step {step}"),
        _ => "the last activity".to_owned(),
    };
    (
        format!("{} after {from}{branch}", duration(delay)),
        due_at(cart, sequence, step),
    )
}

fn engagement_words(cart: &CartRecord) -> &'static str {
    match cart.engagement() {
        crate::model::sequence::Engagement::Clicked => "clicked",
        crate::model::sequence::Engagement::Opened => "opened",
        crate::model::sequence::Engagement::None => "nothing opened",
    }
}

/// `10h`, `1 day`, `2 days 6h`, `30m`.
pub fn duration(d: SignedDuration) -> String {
    let total_minutes = d.as_secs() / 60;
    let days = total_minutes / (24 * 60);
    let hours = (total_minutes / 60) % 24;
    let minutes = total_minutes % 60;
    let mut parts = Vec::new();
    match days {
        0 => {}
        1 => parts.push("1 day".to_owned()),
        n => parts.push(format!("{n} days")),
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes}m"));
    }
    parts.join(" ")
}

/// `2026-11-23 14:05 UTC`.
pub fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn wants(spec: &Step) -> &'static str {
    match spec.channel {
        ChannelChoice::Email => "email",
        ChannelChoice::Sms => "sms",
        ChannelChoice::SmsOrEmail => "sms_or_email",
    }
}

fn steps(
    input: &ExplainInput<'_>,
    state: CartState,
    next: Option<&NextDecision>,
) -> Vec<StepExplained> {
    let cart = input.cart;
    let Some(sequence) = input.sequence else {
        return Vec::new();
    };
    sequence
        .steps
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let step = u32::try_from(index).unwrap_or(u32::MAX);
            let version = cart_step(cart, sequence, step)
                .map_or_else(|| spec.version(None), |(_, version)| version);
            let mut explained = StepExplained {
                step: step.saturating_add(1),
                template: version.template.to_owned(),
                variant: version.name.map(str::to_owned),
                wants: wants(spec),
                timing: delay_words(spec.from, version.delay, step),
                status: StepStatus::Pending,
                channel: None,
                at: None,
                reason: None,
                message_id: String::new(),
                confirmed: None,
                opened_at: None,
                clicked_at: None,
            };
            if let Some(done) = cart.sent.iter().find(|d| d.step == step) {
                explained.status = if done.is_sent() {
                    StepStatus::Sent
                } else {
                    StepStatus::Skipped
                };
                explained.channel = Some(done.channel.as_str());
                explained.at = Some(done.sent_at);
                explained.reason = done.skipped.map(|reason| reason.as_str().to_owned());
                explained.message_id = done.message_id.clone();
                explained.confirmed = done.unconfirmed.then_some(false);
                explained.opened_at = done.opened_at;
                explained.clicked_at = done.clicked_at;
            } else if cart.claimed_step == Some(step) {
                explained.status = StepStatus::Sending;
            } else if state != CartState::Open {
                explained.status = StepStatus::NotSent;
                explained.variant = None;
            } else if next.is_some_and(|n| n.step == explained.step) {
                explained.status = StepStatus::Next;
            }
            explained
        })
        .collect()
}

/// The step's delay as the sequence writes it.
fn delay_words(from: DelayFrom, delay: crate::model::sequence::Delay, step: u32) -> String {
    let from = match from {
        DelayFrom::PreviousStep if step > 0 => format!("after step {step}"),
        _ => "after the last activity".to_owned(),
    };
    match delay {
        crate::model::sequence::Delay::Fixed(d) => format!("{} {from}", duration(d)),
        crate::model::sequence::Delay::ByEngagement {
            clicked,
            opened,
            none,
        } => format!(
            "{from}: clicked {}, opened {}, neither {}",
            duration(clicked),
            duration(opened),
            duration(none)
        ),
    }
}

fn summary(
    input: &ExplainInput<'_>,
    state: CartState,
    stop: Option<StopReason>,
    next: Option<&NextDecision>,
) -> String {
    let cart = input.cart;
    let sent = cart.sent.iter().filter(|s| s.is_sent()).count();
    let messages = match sent {
        1 => "1 message sent".to_owned(),
        n => format!("{n} messages sent"),
    };
    let credit = match (cart.arm, cart.recovered) {
        (Some(Arm::Holdout), _) => "; held out, so it counts toward the holdout's baseline",
        (_, true) => "; recovered by cartback",
        (_, false) => "",
    };
    match state {
        CartState::Converted => match cart.converted_at {
            Some(at) => format!(
                "bought at {} ({messages}{credit}): no more messages",
                short_time(at)
            ),
            None => format!("bought ({messages}{credit}): no more messages"),
        },
        CartState::Stopped if stop == Some(StopReason::Holdout) => format!(
            "held out: the cart is in the shop's holdout group ({}), which gets no messages; its conversion still counts, as the baseline `cartback report` measures the lift against",
            input.holdout.percent()
        ),
        CartState::Suppressed => format!(
            "{}: {} ({messages}); no more messages to this person",
            stop.map_or("suppressed", StopReason::as_str),
            match stop {
                Some(StopReason::Unsubscribed) => "the person unsubscribed",
                Some(StopReason::Bounced) => "an earlier message bounced hard",
                Some(StopReason::Complained) => "the person marked a message as spam",
                Some(StopReason::Erased) => "the person's data was erased at their request",
                _ => "the person cannot be reached",
            },
        ),
        CartState::Stopped => format!(
            "stopped: {} ({messages}); nothing more is planned",
            stop.map_or("stopped", StopReason::as_str)
        ),
        CartState::Erased => "no record of this cart".to_owned(),
        CartState::Open => match next {
            Some(next) => format!(
                "open ({messages}); next: {} step {}{} at {}",
                next.decision,
                next.step,
                next.channel.map(|c| format!(" by {c}")).unwrap_or_default(),
                short_time(next.at)
            ),
            None => format!("open ({messages})"),
        },
    }
}
