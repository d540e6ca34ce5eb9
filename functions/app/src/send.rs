//! Waking up for a step: re-read the cart and the person, decide, claim, render, send by
//! email or SMS, record, and arm the next step. Duplicate and late wake-ups are harmless;
//! quiet hours and the frequency cap defer; consent and suppression skip or stop. A step
//! whose offer names a pool shows a single-use code claimed for the cart step.

use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::messages::render::RenderError;
use cartback_core::model::cart::{CartRecord, ContactRecord, Person, SentStep, Versioned};
use cartback_core::model::ids::{ContactKey, PoolName, log_hash};
use cartback_core::model::offer_codes::OfferCode;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::sequence::{Channel, Offer, Sequence};
use cartback_core::model::shop::Shop;
use cartback_core::model::time::Clock;
use cartback_core::ports::{CartStore, Mailer, OfferCodes, PortError, ShopDirectory, SmsSender};
use cartback_core::rules::decide::{
    Decision, DeferReason, Situation, SkipReason, StopReason, cart_step, decide, due_at,
};
use cartback_core::rules::erase::forget;
use cartback_core::rules::lifecycle::{
    HeldClaim, Stale, check_wakeup, claim_as, enrol, held_claim, owns_claim, rearm, record_sent,
    release, stop,
};
use cartback_core::rules::retry::retry_at;
use cartback_core::rules::zone::zone_of;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::Ports;
use crate::cart_write::write_cart;
use crate::compose::{Composed, Composer};

/// Re-reads after a write conflict before giving up (and letting the invocation retry).
const ATTEMPTS: usize = 5;

/// What a wake-up led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        step: u32,
        channel: Channel,
        template: String,
        sequence: String,
        /// The email address or E.164 number (never logged).
        to: String,
        /// The subject (email) or the text (SMS).
        subject: String,
        message_id: String,
        /// SMS parts the text takes (0 for email).
        segments: usize,
        /// The offer code the message shows: the step's code, or the one drawn from its pool.
        offer_code: Option<String>,
        /// The variant of a split step.
        variant: Option<String>,
        /// `false`: the service gave no answer, so the message may have gone or not. It is
        /// recorded as sent (`SentStep::unconfirmed`) and never sent again; `message_id` is
        /// empty.
        confirmed: bool,
    },
    /// The step was passed over; the sequence goes on.
    Skipped {
        step: u32,
        channel: Channel,
        reason: SkipReason,
        /// The variant of a split step.
        variant: Option<String>,
    },
    /// The cart fell in the shop's holdout at its first step: nothing is sent, ever.
    HeldOut {
        step: u32,
    },
    /// Due, but not now: woken again at `until`.
    Deferred {
        step: u32,
        until: Timestamp,
        reason: DeferReason,
    },
    /// Not due yet: woken again later.
    Rearmed {
        until: Timestamp,
    },
    Stopped {
        reason: StopReason,
        step: u32,
    },
    /// The wake-up no longer matches the cart (duplicate, superseded or late).
    Stale(Stale),
    /// Shop or cart no longer exists.
    Gone,
}

impl Outcome {
    /// A one-word account of the outcome, free of personal data.
    pub fn summary(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Skipped { .. } => "skipped",
            Self::HeldOut { .. } => "held_out",
            Self::Deferred { .. } => "deferred",
            Self::Rearmed { .. } => "rearmed",
            Self::Stopped { .. } => "stopped",
            Self::Stale(_) => "stale",
            Self::Gone => "gone",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the invocation fails so the platform retries it.
    #[error("retryable: {0}")]
    Retryable(String),
    #[error("render failed: {0}")]
    Render(#[from] RenderError),
    /// Another invocation holds the step's claim and may still be sending: retried later,
    /// when the step is either done or its claim has expired (`lifecycle::CLAIM_EXPIRY`).
    #[error("the step is claimed by another invocation; retry later")]
    ClaimHeld,
    /// The mail or SMS service gave no answer (the message may have gone) and recording the
    /// step as an unconfirmed send failed too. The claim is kept, so no retry sends it again;
    /// once the claim expires the step is recorded as skipped (`crash_after_claim`), at most
    /// once by choice.
    #[error("send outcome unknown, claim kept: {0}")]
    OutcomeUnknown(String),
    /// The offer code pool refused for good (a misconfigured table or role): the invocation
    /// fails and ends in the dead-letter queue rather than send without the promised offer.
    #[error("offer code pool failed: {0}")]
    OfferCodes(PortError),
    /// A store or service refused for good (not worth retrying): the invocation fails and,
    /// after Lambda's retries, ends in the dead-letter queue.
    #[error("failed for good: {0}")]
    Store(PortError),
}

impl From<PortError> for SendError {
    /// A failure worth retrying fails the invocation for a retry; one that is not (a
    /// misconfigured table or role) is kept apart, so it is counted and logged as permanent.
    fn from(error: PortError) -> Self {
        if error.retryable {
            Self::Retryable(error.to_string())
        } else {
            Self::Store(error)
        }
    }
}

/// The person's records behind the cart, by key (`None`: no record yet).
type Contacts = Vec<(ContactKey, Option<Versioned<ContactRecord>>)>;

/// Reads every record of the person behind the cart (email and phone keys).
pub(crate) async fn contacts_of<S: CartStore>(
    store: &S,
    cart: &CartRecord,
) -> Result<Contacts, PortError> {
    let mut found = Vec::new();
    for key in cart.contact_keys() {
        let contact = store.contact(&cart.shop, &key).await?;
        found.push((key, contact));
    }
    Ok(found)
}

/// Handles one wake-up: reads the shop, then reads the cart, decides and writes until a
/// write goes through (another writer moved the cart: read again).
pub async fn wake_up<P: Ports>(wake: &WakeUp, ports: &P) -> Result<Outcome, SendError> {
    let Some(shop) = ports.shops().shop(&wake.shop).await? else {
        tracing::warn!("wake-up for a shop we no longer serve");
        return Ok(Outcome::Gone);
    };
    for _ in 0..ATTEMPTS {
        let Some(cart) = ports.store().cart(&wake.shop, &wake.cart).await? else {
            tracing::warn!("wake-up for a cart that is gone");
            return Ok(Outcome::Gone);
        };
        if let Some(outcome) = attempt(wake, &shop, &cart, ports).await? {
            return Ok(outcome);
        }
    }
    Err(SendError::Retryable(
        "too many concurrent writes to the cart".into(),
    ))
}

/// One pass over the cart as read: `None` when another writer moved it first.
async fn attempt<P: Ports>(
    wake: &WakeUp,
    shop: &Shop,
    cart: &Versioned<CartRecord>,
    ports: &P,
) -> Result<Option<Outcome>, SendError> {
    match held_claim(&cart.value, wake.step, wake.generation, ports.clock().now()) {
        Some(HeldClaim::Live) => return Err(SendError::ClaimHeld),
        Some(HeldClaim::Orphaned { step, channel }) => {
            return settle_orphaned_claim(shop, cart, step, channel, ports).await;
        }
        None => {}
    }
    if let Err(stale) = check_wakeup(&cart.value, wake.step, wake.generation) {
        tracing::info!(why = stale.as_str(), "stale wake-up ignored");
        return Ok(Some(Outcome::Stale(stale)));
    }
    let Some(sequence) = shop.sequence_named(&cart.value.sequence) else {
        tracing::error!(sequence = %cart.value.sequence, "the cart's sequence is gone");
        let reason = StopReason::UnknownSequence;
        let written = write_cart(ports, stop(&cart.value, reason), cart.version).await?;
        return Ok(written.then_some(Outcome::Stopped {
            reason,
            step: wake.step,
        }));
    };
    let contacts = contacts_of(ports.store(), &cart.value).await?;
    let zone = zone_of(&cart.value, shop);
    let now = ports.clock().now();
    let target = Target {
        shop,
        sequence: &sequence,
        zone: &zone,
        contacts: &contacts,
    };
    let decision = decide_asking_sms_opt_out(&target, cart, now, ports).await?;
    tracing::info!(decision = %decision_name(&decision), "decided");
    carry_out(decision, wake, cart, target, now, ports).await
}

/// A step claimed by an invocation that never finished: recorded as skipped
/// (`crash_after_claim`), never sent again (at most once).
async fn settle_orphaned_claim<P: Ports>(
    shop: &Shop,
    cart: &Versioned<CartRecord>,
    step: u32,
    channel: Channel,
    ports: &P,
) -> Result<Option<Outcome>, SendError> {
    let Some(sequence) = shop.sequence_named(&cart.value.sequence) else {
        return Err(SendError::ClaimHeld);
    };
    let reason = SkipReason::CrashAfterClaim;
    tracing::warn!(
        event = "claim_orphaned",
        step = step + 1,
        channel = channel.as_str(),
        "a claimed step was never finished: recorded as skipped, not sent again"
    );
    ports.metrics().emit(
        Emf::new(NAMESPACE, ports.clock().now())
            .metric("ClaimsOrphaned", Unit::Count, 1.0)
            .property("channel", channel.as_str()),
    );
    let skipped = skipped_step(
        &cart.value,
        &sequence,
        step,
        channel,
        reason,
        ports.clock().now(),
    );
    let variant = skipped.variant.clone();
    let record = record_sent(&cart.value, skipped, &sequence);
    let written = write_cart(ports, record, cart.version).await?;
    Ok(written.then_some(Outcome::Skipped {
        step,
        channel,
        reason,
        variant,
    }))
}

/// The decision for the cart and the person behind it. SMS opt-outs live with the SMS
/// service: a decision to send an SMS asks it, and decides again if the number opted out.
async fn decide_asking_sms_opt_out<P: Ports>(
    target: &Target<'_>,
    cart: &Versioned<CartRecord>,
    now: Timestamp,
    ports: &P,
) -> Result<Decision, PortError> {
    let Target {
        shop,
        sequence,
        zone,
        contacts,
    } = *target;
    let mut person = Person::merge(
        &contacts
            .iter()
            .filter_map(|(_, c)| c.as_ref().map(|c| c.value.clone()))
            .collect::<Vec<_>>(),
    );
    let decide_for = |person: &Person| {
        decide(&Situation {
            cart: &cart.value,
            person,
            sequence,
            rules: shop.rules(),
            zone,
            holdout: shop.settings.holdout,
            now,
        })
    };
    let decision = decide_for(&person);
    if let Decision::Send {
        channel: Channel::Sms,
        ..
    } = decision
        && let Some(phone) = cart.value.snapshot.as_ref().and_then(|s| s.phone.as_ref())
        && ports.sms().is_opted_out(phone).await?
    {
        person.sms_opted_out = true;
        return Ok(decide_for(&person));
    }
    Ok(decision)
}

/// Writes what `decision` means for the cart (and sends, for `Send`): `None` when another
/// writer moved the cart first.
async fn carry_out<P: Ports>(
    decision: Decision,
    wake: &WakeUp,
    cart: &Versioned<CartRecord>,
    target: Target<'_>,
    now: Timestamp,
    ports: &P,
) -> Result<Option<Outcome>, SendError> {
    // The first step's decision puts the cart in an arm of the experiment.
    let enrolled = enrol(&cart.value, &decision);
    let sequence = target.sequence;
    Ok(match decision {
        Decision::Wait { until } => write_cart(ports, rearm(&cart.value, until), cart.version)
            .await?
            .then_some(Outcome::Rearmed { until }),
        Decision::Defer { until, reason } => {
            write_cart(ports, rearm(&enrolled, until), cart.version)
                .await?
                .then_some(Outcome::Deferred {
                    step: wake.step,
                    until,
                    reason,
                })
        }
        Decision::Stop { reason } => {
            let mut stopped = stop(&cart.value, reason);
            if reason == StopReason::Erased {
                // A cart a webhook wrote while the person was being erased: nothing of theirs
                // stays in it.
                tracing::info!("the person was erased: the cart is emptied of them");
                stopped = forget(&stopped);
            }
            write_cart(ports, stopped, cart.version)
                .await?
                .then_some(Outcome::Stopped {
                    reason,
                    step: wake.step,
                })
        }
        Decision::HoldOut { step } => {
            tracing::info!("held out: no messages for this cart");
            write_cart(ports, stop(&enrolled, StopReason::Holdout), cart.version)
                .await?
                .then_some(Outcome::HeldOut { step })
        }
        Decision::Skip {
            step,
            channel,
            reason,
        } => {
            let skipped = skipped_step(&enrolled, sequence, step, channel, reason, now);
            let variant = skipped.variant.clone();
            write_cart(
                ports,
                record_sent(&enrolled, skipped, sequence),
                cart.version,
            )
            .await?
            .then_some(Outcome::Skipped {
                step,
                channel,
                reason,
                variant,
            })
        }
        Decision::Send { step, channel } => {
            let claim_id = new_claim_id();
            let claimed = claim_as(&enrolled, step, channel, now, &claim_id);
            let written = write_cart(ports, claimed.clone(), cart.version).await;
            let claimed = match written {
                Ok(true) => Versioned {
                    value: claimed,
                    version: cart.version + 1,
                },
                // A conflict, or an error, may still be our own write: it went through,
                // its answer was lost, and the store's retry then failed the version
                // check it had moved on (or failed outright). Only our claim has our id.
                Ok(false) | Err(_) => match (written, own_claim(ports, wake, &claim_id).await) {
                    (_, Some(current)) => current,
                    (Err(error), None) => return Err(error.into()),
                    (Ok(_), None) => return Ok(None),
                },
            };
            Some(send_claimed(target, claimed, step, channel, ports).await?)
        }
    })
}

/// The cart, if it holds the claim `claim_id` wrote (a claim write whose answer was lost
/// did go through); `None` when it does not, or cannot be read.
async fn own_claim<P: Ports>(
    ports: &P,
    wake: &WakeUp,
    claim_id: &str,
) -> Option<Versioned<CartRecord>> {
    let current = ports.store().cart(&wake.shop, &wake.cart).await.ok()??;
    if owns_claim(&current.value, wake.step, claim_id) {
        tracing::info!("the claim write's answer was lost, but the claim is ours");
        Some(current)
    } else {
        None
    }
}

/// A fresh, random id for one claim (16 bytes, hex). Two invocations never share one, so
/// only the one that wrote a claim recognises it as its own.
fn new_claim_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS: the clock's nanoseconds and a counter still differ
        // between the invocations of one process; across processes a collision needs the
        // same nanosecond.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&count.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of a step passed over for `reason` (with the variant the cart gets, if split).
fn skipped_step(
    cart: &CartRecord,
    sequence: &Sequence,
    step: u32,
    channel: Channel,
    reason: SkipReason,
    now: Timestamp,
) -> SentStep {
    let (template, variant) = version_of(cart, sequence, step);
    SentStep {
        step,
        channel,
        template,
        message_id: String::new(),
        sent_at: now,
        skipped: Some(reason),
        unconfirmed: false,
        opened_at: None,
        clicked_at: None,
        variant,
    }
}

/// The template and the variant (of a split step) that `cart` gets for `step`.
fn version_of(cart: &CartRecord, sequence: &Sequence, step: u32) -> (String, Option<String>) {
    cart_step(cart, sequence, step)
        .map(|(_, version)| (version.template.to_owned(), version.name.map(str::to_owned)))
        .unwrap_or_default()
}

fn decision_name(decision: &Decision) -> String {
    match decision {
        Decision::Send { step, channel } => {
            format!("send step {} by {}", step + 1, channel.as_str())
        }
        Decision::Skip { step, reason, .. } => {
            format!("skip step {}: {}", step + 1, reason.as_str())
        }
        Decision::Defer { reason, .. } => format!("defer: {}", reason.as_str()),
        Decision::Wait { .. } => "wait".into(),
        Decision::Stop { reason } => format!("stop: {}", reason.as_str()),
        Decision::HoldOut { .. } => "hold out".into(),
    }
}

/// Where a claimed message goes and under which rules.
#[derive(Clone, Copy)]
struct Target<'a> {
    shop: &'a Shop,
    sequence: &'a Sequence,
    zone: &'a TimeZone,
    /// The person's records as read before the claim.
    contacts: &'a Contacts,
}

/// The offer a message shows.
enum ShownOffer<'a> {
    None,
    /// The step's offer with its own code (or none).
    Fixed(&'a Offer),
    /// The step's offer with a single-use code claimed for this cart step.
    Drawn(OfferCode),
}

impl ShownOffer<'_> {
    fn code(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Fixed(offer) => offer.code.clone(),
            Self::Drawn(code) => Some(code.as_str().to_owned()),
        }
    }
}

/// `MessagesSent`, one per message: dimensions `Shop`, `Sequence`, `Step` (1-based) and
/// `Channel`, and `Variant` for a step split into variants.
fn sent_metric(
    cart: &CartRecord,
    sequence: &Sequence,
    step: u32,
    channel: Channel,
    variant: Option<&str>,
    at: Timestamp,
) -> Emf {
    let emf = Emf::new(NAMESPACE, at)
        .dimension("Shop", cart.shop.as_str())
        .dimension("Sequence", &sequence.name)
        .dimension("Step", &(step + 1).to_string())
        .dimension("Channel", channel.as_str());
    match variant {
        Some(variant) => emf.dimension("Variant", variant),
        None => emf,
    }
    .metric("MessagesSent", Unit::Count, 1.0)
}

/// The counters of pool metrics, one object per event.
fn pool_metric(name: &str, pool: &PoolName, shop_hash: &str, value: f64, at: Timestamp) -> Emf {
    Emf::new(NAMESPACE, at)
        .dimension("Pool", pool.as_str())
        .metric(name, Unit::Count, value)
        .property("shop_hash", shop_hash)
}

/// The offer of `step`: when it names a pool, the code claimed for the cart step (the same
/// one on a retry). An empty pool sends the step without the offer; a store error fails.
async fn offer_for<'a, P: Ports>(
    target: &Target<'a>,
    cart: &CartRecord,
    step: u32,
    ports: &P,
) -> Result<ShownOffer<'a>, SendError> {
    let Some(offer) = cart_step(cart, target.sequence, step).and_then(|(_, v)| v.offer) else {
        return Ok(ShownOffer::None);
    };
    let Some(pool) = &offer.pool else {
        return Ok(ShownOffer::Fixed(offer));
    };
    let now = ports.clock().now();
    let shop_hash = log_hash(&[cart.shop.as_str()]);
    match ports
        .offer_codes()
        .claim(&cart.shop, pool, &cart.cart, step, now)
        .await
    {
        Ok(Some(claimed)) => {
            let low_water = target.shop.settings.offer_pool_low_water;
            if claimed.remaining < low_water {
                tracing::warn!(
                    event = "offer_pool_low",
                    pool = %pool,
                    remaining = claimed.remaining,
                    low_water,
                    shop_hash = %shop_hash,
                    "offer code pool running low; import more codes"
                );
                ports.metrics().emit(pool_metric(
                    "OfferCodesRemaining",
                    pool,
                    &shop_hash,
                    claimed.remaining as f64,
                    now,
                ));
            }
            Ok(ShownOffer::Drawn(claimed.code))
        }
        Ok(None) => {
            tracing::warn!(
                event = "offer_pool_empty",
                pool = %pool,
                shop_hash = %shop_hash,
                "offer code pool is empty; the step goes out without its offer"
            );
            ports
                .metrics()
                .emit(pool_metric("OfferPoolEmpty", pool, &shop_hash, 1.0, now));
            Ok(ShownOffer::None)
        }
        Err(error) if error.retryable => Err(SendError::Retryable(error.to_string())),
        Err(error) => Err(SendError::OfferCodes(error)),
    }
}

/// We hold the claim on `step`: render, send, record. Never sends twice: after the claim, a
/// send with no answer is recorded as unconfirmed; a refusal (throttled, or the account's
/// doing) gives the claim back and defers the step; only the recipient's refusal stops the
/// cart.
async fn send_claimed<P: Ports>(
    target: Target<'_>,
    claimed: Versioned<CartRecord>,
    step: u32,
    channel: Channel,
    ports: &P,
) -> Result<Outcome, SendError> {
    let cart = &claimed.value;
    let (template, variant) = version_of(cart, target.sequence, step);
    let offer = match offer_for(&target, cart, step, ports).await {
        Ok(offer) => offer,
        Err(error) => {
            if matches!(error, SendError::Retryable(_)) {
                tracing::warn!(error = %error, "could not draw the offer code; claim released, invocation fails");
            } else {
                tracing::error!(error = %error, "the offer code pool refused; claim released, invocation fails");
            }
            release_claim(ports, &claimed, step).await;
            return Err(error);
        }
    };
    let offer_code = offer.code();
    let drawn = match &offer {
        ShownOffer::Drawn(code) => Some(code.as_str()),
        _ => None,
    };
    let composer = Composer {
        shop: target.shop,
        sequence: target.sequence,
        zone: target.zone,
        renderer: &ports.messaging().renderer,
        unsubscribe: ports.messaging().unsubscribe.as_ref(),
        now: ports.clock().now(),
        drawn_code: drawn,
    };
    let prepared = match composer.compose(cart, step, channel) {
        Ok(prepared) => prepared,
        Err(error) => {
            let error = SendError::from(error);
            tracing::error!(error = %error, "could not render; claim released, invocation fails");
            release_claim(ports, &claimed, step).await;
            return Err(error);
        }
    };
    let (result, to, subject, segments) = match &prepared {
        Composed::Email {
            email, rendered, ..
        } => (
            ports.mailer().send_email(email).await,
            email.to.as_str().to_owned(),
            rendered.subject.clone(),
            0,
        ),
        Composed::Sms { sms, rendered, .. } => (
            ports.sms().send_sms(sms).await,
            sms.to.as_str().to_owned(),
            sms.text.clone(),
            rendered.length.segments,
        ),
    };
    // When the service answered (or did not): the time of the step's record, of the
    // frequency-cap count and of the metric alike.
    let sent_at = ports.clock().now();
    let sent = |message_id: String, unconfirmed: bool| SentStep {
        step,
        channel,
        template: template.clone(),
        message_id,
        sent_at,
        skipped: None,
        unconfirmed,
        opened_at: None,
        clicked_at: None,
        variant: variant.clone(),
    };
    let message_id = match result {
        Ok(message_id) => {
            record(
                ports,
                target.sequence,
                &claimed,
                sent(message_id.clone(), false),
            )
            .await?;
            tracing::info!(channel = channel.as_str(), template = %template, variant = variant.as_deref().unwrap_or(""), segments, message_id = %message_id, "sent");
            message_id
        }
        Err(error) if error.outcome_unknown => {
            tracing::warn!(service = error.service, error = %error.message, "no answer to the send; it may have gone, so it is recorded as unconfirmed and never sent again");
            ports.metrics().emit(
                Emf::new(NAMESPACE, sent_at)
                    .metric("SendsUnconfirmed", Unit::Count, 1.0)
                    .property("channel", channel.as_str()),
            );
            // Recording it may fail too: the claim then stays, and the step ends as
            // `crash_after_claim` once the claim expires (never sent again either way).
            if let Err(recording) =
                record(ports, target.sequence, &claimed, sent(String::new(), true)).await
            {
                tracing::warn!(error = %recording, "could not record the unconfirmed send; the claim is kept");
                return Err(SendError::OutcomeUnknown(error.to_string()));
            }
            String::new()
        }
        Err(error) if error.account_side || error.retryable => {
            let reason = if error.account_side {
                DeferReason::Account
            } else {
                DeferReason::Throttled
            };
            return defer_refused(target, &claimed, step, reason, &error, ports).await;
        }
        Err(error) => {
            tracing::error!(service = error.service, error = %error.message, "the recipient was refused for good; cart stopped");
            update_claimed(ports, &claimed, step, |cart| {
                stop(cart, StopReason::SendFailed)
            })
            .await?;
            return Ok(Outcome::Stopped {
                reason: StopReason::SendFailed,
                step,
            });
        }
    };
    let confirmed = !message_id.is_empty();
    ports.metrics().emit(sent_metric(
        cart,
        target.sequence,
        step,
        channel,
        variant.as_deref(),
        sent_at,
    ));
    Ok(Outcome::Sent {
        step,
        channel,
        template,
        sequence: target.sequence.name.clone(),
        to,
        subject,
        message_id,
        segments,
        offer_code,
        variant,
        confirmed,
    })
}

/// The service refused the send and nothing went: not the recipient's doing, so the claim
/// is given back and the step deferred (`rules::retry`), never stopped. An account-side
/// refusal is an error for the operator (alarmed); a throttled one is the account's send
/// rate at work.
async fn defer_refused<P: Ports>(
    target: Target<'_>,
    claimed: &Versioned<CartRecord>,
    step: u32,
    reason: DeferReason,
    error: &PortError,
    ports: &P,
) -> Result<Outcome, SendError> {
    let cart = &claimed.value;
    let now = ports.clock().now();
    let due = due_at(cart, target.sequence, step).unwrap_or(now);
    let salt = format!("{}/{}/{step}", cart.shop, cart.cart);
    let until = retry_at(reason, due, now, &salt);
    if reason == DeferReason::Account {
        tracing::error!(event = "send_refused_account", service = error.service, error = %error.message, until = %until, "the account or its configuration refused the send; deferred until it is fixed, nothing stopped");
    } else {
        tracing::warn!(event = "send_throttled", service = error.service, error = %error.message, until = %until, "send refused for now; deferred a few seconds");
    }
    ports.metrics().emit(
        Emf::new(NAMESPACE, now)
            .dimension("Reason", reason.as_str())
            .metric("SendsDeferred", Unit::Count, 1.0)
            .property("service", error.service),
    );
    if !update_claimed(ports, claimed, step, |cart| rearm(&release(cart), until)).await? {
        tracing::warn!("the claim was gone before the refused send could be deferred");
    }
    Ok(Outcome::Deferred {
        step,
        until,
        reason,
    })
}

/// Applies `change` to the cart while we still hold the claim on `step`, re-reading after a
/// conflict (a webhook may have written meanwhile). `Ok(false)`: the claim is gone.
async fn update_claimed<P: Ports>(
    ports: &P,
    claimed: &Versioned<CartRecord>,
    step: u32,
    change: impl Fn(&CartRecord) -> CartRecord,
) -> Result<bool, PortError> {
    let mut current = claimed.clone();
    for _ in 0..ATTEMPTS {
        if current.value.claimed_step != Some(step) {
            return Ok(false);
        }
        if write_cart(ports, change(&current.value), current.version).await? {
            return Ok(true);
        }
        match ports
            .store()
            .cart(&current.value.shop, &current.value.cart)
            .await?
        {
            Some(fresh) => current = fresh,
            None => return Ok(false),
        }
    }
    Err(PortError::retryable(
        "store",
        "the cart kept changing while the claim was being settled",
    ))
}

/// Records the sent step and arms the next one.
async fn record<P: Ports>(
    ports: &P,
    sequence: &Sequence,
    claimed: &Versioned<CartRecord>,
    sent: SentStep,
) -> Result<(), SendError> {
    let step = sent.step;
    if !update_claimed(ports, claimed, step, |cart| {
        record_sent(cart, sent.clone(), sequence)
    })
    .await?
    {
        tracing::error!("claim vanished after sending; not recorded");
    }
    Ok(())
}

/// Gives the claim back so a retry can send; best effort (a stuck claim sends nothing).
async fn release_claim<P: Ports>(ports: &P, claimed: &Versioned<CartRecord>, step: u32) {
    if let Err(error) = update_claimed(ports, claimed, step, release).await {
        tracing::error!(error = %error, "could not release the claim");
    }
}
