//! The sender function, woken by a schedule: re-read the cart, decide, claim, render, send,
//! record, and arm the next step. Duplicate and late wake-ups are harmless.

use cartback_core::cart::{CartRecord, SentStep, Versioned};
use cartback_core::contact::Email;
use cartback_core::decide::{Decision, StopReason, decide};
use cartback_core::lifecycle::{Stale, check_wakeup, claim, rearm, record_sent, release, stop};
use cartback_core::ports::{
    CartStore, Mailer, OutgoingEmail, PortError, Put, ShopDirectory, WriteOutcome,
};
use cartback_core::render::{EmailContext, Envelope, RenderError, Renderer, mime_message};
use cartback_core::schedule::WakeUp;
use cartback_core::sequence::Channel;
use cartback_core::shop::Shop;
use cartback_core::time::Clock;
use jiff::Timestamp;

/// Re-reads after a write conflict before giving up (and letting the invocation retry).
const ATTEMPTS: usize = 5;

pub struct SenderDeps<S, M, D, C> {
    pub store: S,
    pub mailer: M,
    pub shops: D,
    pub clock: C,
    /// Compiled once per warm container.
    pub renderer: Renderer,
}

/// What a wake-up led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        step: u32,
        channel: Channel,
        template: String,
        to: Email,
        subject: String,
        message_id: String,
    },
    /// The cart moved: woken again later.
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
}

impl From<PortError> for SendError {
    fn from(error: PortError) -> Self {
        Self::Retryable(error.to_string())
    }
}

/// Handles one wake-up.
#[tracing::instrument(skip_all, fields(shop = %wake.shop, cart = %cartback_core::ids::log_hash(&[wake.shop.as_str(), wake.cart.as_str()]), step = wake.step, generation = wake.generation))]
pub async fn handle<S, M, D, C>(
    wake: &WakeUp,
    deps: &SenderDeps<S, M, D, C>,
) -> Result<Outcome, SendError>
where
    S: CartStore,
    M: Mailer,
    D: ShopDirectory,
    C: Clock,
{
    let Some(shop) = deps.shops.shop(&wake.shop).await? else {
        tracing::warn!("wake-up for a shop we no longer serve");
        return Ok(Outcome::Gone);
    };
    for _ in 0..ATTEMPTS {
        let Some(cart) = deps.store.cart(&wake.shop, &wake.cart).await? else {
            tracing::warn!("wake-up for a cart that is gone");
            return Ok(Outcome::Gone);
        };
        if let Err(stale) = check_wakeup(&cart.value, wake.step, wake.generation) {
            tracing::info!(why = ?stale, "stale wake-up ignored");
            return Ok(Outcome::Stale(stale));
        }
        let contact = match &cart.value.contact {
            Some(key) => deps.store.contact(&wake.shop, key).await?.map(|v| v.value),
            None => None,
        };
        let now = deps.clock.now();
        let decision = decide(&cart.value, contact.as_ref(), &shop.sequence, now);
        tracing::info!(decision = %decision_name(&decision), "decided");
        let outcome = match decision {
            Decision::Wait { until } => write_cart(deps, rearm(&cart.value, until), cart.version)
                .await?
                .then_some(Outcome::Rearmed { until }),
            Decision::Stop { reason } => write_cart(deps, stop(&cart.value, reason), cart.version)
                .await?
                .then_some(Outcome::Stopped {
                    reason,
                    step: wake.step,
                }),
            Decision::Send { step, channel } => {
                if !write_cart(deps, claim(&cart.value, step), cart.version).await? {
                    continue;
                }
                let claimed = Versioned {
                    value: claim(&cart.value, step),
                    version: cart.version + 1,
                };
                Some(send_claimed(&shop, claimed, step, channel, deps).await?)
            }
        };
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
    }
    Err(SendError::Retryable(
        "too many concurrent writes to the cart".into(),
    ))
}

fn decision_name(decision: &Decision) -> String {
    match decision {
        Decision::Send { step, .. } => format!("send step {}", step + 1),
        Decision::Wait { .. } => "wait".into(),
        Decision::Stop { reason } => format!("stop: {}", reason.as_str()),
    }
}

/// Writes the cart if nobody else did since we read it; `false` on a conflict.
async fn write_cart<S, M, D, C>(
    deps: &SenderDeps<S, M, D, C>,
    record: CartRecord,
    expected: u64,
) -> Result<bool, PortError>
where
    S: CartStore,
{
    let outcome = deps
        .store
        .write(vec![Put::Cart {
            record: Box::new(record),
            expected: Some(expected),
        }])
        .await?;
    Ok(outcome == WriteOutcome::Written)
}

/// We hold the claim on `step`: render, send, record. Never sends twice: after the claim,
/// errors either release the claim (retryable) or stop the cart (permanent).
async fn send_claimed<S, M, D, C>(
    shop: &Shop,
    claimed: Versioned<CartRecord>,
    step: u32,
    channel: Channel,
    deps: &SenderDeps<S, M, D, C>,
) -> Result<Outcome, SendError>
where
    S: CartStore,
    M: Mailer,
    D: ShopDirectory,
    C: Clock,
{
    let cart = &claimed.value;
    let template = shop
        .sequence
        .steps
        .get(step as usize)
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let prepared = prepare_email(shop, cart, step, &template, deps);
    let (email, subject) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(error = %error, "could not render; claim released, invocation fails");
            release_claim(deps, &claimed, step).await;
            return Err(error);
        }
    };
    match deps.mailer.send_email(&email).await {
        Ok(message_id) => {
            let sent = SentStep {
                step,
                channel,
                template: template.clone(),
                message_id: message_id.clone(),
                sent_at: deps.clock.now(),
            };
            record(deps, shop, &claimed, sent).await?;
            tracing::info!(channel = channel.as_str(), template = %template, message_id = %message_id, "sent");
            Ok(Outcome::Sent {
                step,
                channel,
                template,
                to: email.to,
                subject,
                message_id,
            })
        }
        Err(error) if error.retryable => {
            tracing::warn!(service = error.service, error = %error.message, "send failed; claim released for retry");
            release_claim(deps, &claimed, step).await;
            Err(SendError::Retryable(error.to_string()))
        }
        Err(error) => {
            tracing::error!(service = error.service, error = %error.message, "send refused for good; cart stopped");
            update_claimed(deps, &claimed, step, |cart| {
                stop(cart, StopReason::SendFailed)
            })
            .await?;
            Ok(Outcome::Stopped {
                reason: StopReason::SendFailed,
                step,
            })
        }
    }
}

fn prepare_email<S, M, D, C>(
    shop: &Shop,
    cart: &CartRecord,
    step: u32,
    template: &str,
    deps: &SenderDeps<S, M, D, C>,
) -> Result<(OutgoingEmail, String), SendError>
where
    C: Clock,
{
    let snapshot = cart.snapshot.as_ref().ok_or(RenderError::NoSnapshot)?;
    let to = snapshot.email.clone().ok_or(RenderError::NoSnapshot)?;
    let ctx = EmailContext::for_cart(cart, &shop.settings, step)?;
    let rendered = deps
        .renderer
        .render_email(template, snapshot.locale.as_deref(), &ctx)?;
    let settings = &shop.settings;
    let raw = mime_message(
        &Envelope {
            from: &settings.from_address,
            from_name: settings.from_name.as_deref().unwrap_or(&settings.name),
            to: &to,
            cart,
            step,
            date: deps.clock.now(),
        },
        &rendered,
    )?;
    let tag = |v: &str| {
        v.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let email = OutgoingEmail {
        to,
        from: settings.from_address.clone(),
        raw,
        tags: vec![
            ("shop".into(), tag(shop.id.as_str())),
            ("cart".into(), cart.log_id()),
            ("step".into(), (step + 1).to_string()),
            ("template".into(), tag(template)),
        ],
    };
    Ok((email, rendered.subject))
}

/// Applies `change` to the cart while we still hold the claim on `step`, re-reading after a
/// conflict (a webhook may have written meanwhile). `Ok(false)`: the claim is gone.
async fn update_claimed<S, M, D, C>(
    deps: &SenderDeps<S, M, D, C>,
    claimed: &Versioned<CartRecord>,
    step: u32,
    change: impl Fn(&CartRecord) -> CartRecord,
) -> Result<bool, PortError>
where
    S: CartStore,
{
    let mut current = claimed.clone();
    for _ in 0..ATTEMPTS {
        if current.value.claimed_step != Some(step) {
            return Ok(false);
        }
        if write_cart(deps, change(&current.value), current.version).await? {
            return Ok(true);
        }
        match deps
            .store
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
async fn record<S, M, D, C>(
    deps: &SenderDeps<S, M, D, C>,
    shop: &Shop,
    claimed: &Versioned<CartRecord>,
    sent: SentStep,
) -> Result<(), SendError>
where
    S: CartStore,
{
    let step = sent.step;
    if !update_claimed(deps, claimed, step, |cart| {
        record_sent(cart, sent.clone(), &shop.sequence)
    })
    .await?
    {
        tracing::error!("claim vanished after sending; not recorded");
    }
    Ok(())
}

/// Gives the claim back so a retry can send; best effort (a stuck claim sends nothing).
async fn release_claim<S, M, D, C>(
    deps: &SenderDeps<S, M, D, C>,
    claimed: &Versioned<CartRecord>,
    step: u32,
) where
    S: CartStore,
{
    if let Err(error) = update_claimed(deps, claimed, step, release).await {
        tracing::error!(error = %error, "could not release the claim");
    }
}
