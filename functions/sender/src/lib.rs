//! The sender function, woken by a schedule through the send queue: the wake-ups of a batch
//! (`queue`), each handled by `cartback_app::send`, and what came of it counted as CloudWatch
//! metrics.

pub mod queue;

pub use cartback_app::Metrics;
use cartback_app::Ports;
pub use cartback_app::compose::{Composed, Composer, UnsubscribeLinks};
pub use cartback_app::explain::{ExplainError, explain_cart};
use cartback_app::send::wake_up;
pub use cartback_app::send::{Outcome, SendError};
use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::model::ids::log_hash;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock;
use jiff::Timestamp;

/// Handles one wake-up, and counts what came of it (`outcome_metric`, `error_metric`).
#[tracing::instrument(skip_all, fields(shop = %wake.shop, cart = %log_hash(&[wake.shop.as_str(), wake.cart.as_str()]), step = wake.step + 1, generation = wake.generation))]
pub async fn handle<P: Ports>(wake: &WakeUp, ports: &P) -> Result<Outcome, SendError> {
    let result = wake_up(wake, ports).await;
    let now = ports.clock().now();
    let metric = match &result {
        Ok(outcome) => outcome_metric(outcome, wake, now),
        Err(error) => Some(error_metric(error, wake, now)),
    };
    if let Some(metric) = metric {
        ports.metrics().emit(metric);
    }
    result
}

/// The metric of a wake-up's outcome (namespace `cartback`): `Skipped`, `Stopped` and
/// `Deferred` by shop and reason; `StaleWakeUps` (duplicate, superseded or late deliveries,
/// harmless) by shop. A sent message is counted where it is sent (`MessagesSent`, with its
/// sequence, step, channel and variant). No personal data: the shop's id and our own words.
pub fn outcome_metric(outcome: &Outcome, wake: &WakeUp, at: Timestamp) -> Option<Emf> {
    let base = Emf::new(NAMESPACE, at).dimension("Shop", wake.shop.as_str());
    let counted = |emf: Emf, name: &str| Some(emf.metric(name, Unit::Count, 1.0));
    match outcome {
        Outcome::Skipped { reason, .. } => {
            counted(base.dimension("Reason", reason.as_str()), "Skipped")
        }
        Outcome::Stopped { reason, .. } => {
            counted(base.dimension("Reason", reason.as_str()), "Stopped")
        }
        Outcome::Deferred { reason, .. } => {
            counted(base.dimension("Reason", reason.as_str()), "Deferred")
        }
        Outcome::HeldOut { .. } => counted(base.dimension("Reason", "holdout"), "Skipped"),
        Outcome::Stale(_) => counted(base, "StaleWakeUps"),
        Outcome::Sent { .. } | Outcome::Rearmed { .. } | Outcome::Gone => None,
    }
}

/// `SendErrors` by shop and kind (`retryable`: the invocation is retried; `render`,
/// `offer_codes`: it goes to the dead-letter queue).
pub fn error_metric(error: &SendError, wake: &WakeUp, at: Timestamp) -> Emf {
    let kind = match error {
        SendError::Retryable(_) => "retryable",
        SendError::Render(_) => "render",
        SendError::OfferCodes(_) => "offer_codes",
        SendError::ClaimHeld => "claim_held",
        SendError::OutcomeUnknown(_) => "outcome_unknown",
        SendError::Store(_) => "store",
    };
    Emf::new(NAMESPACE, at)
        .dimension("Shop", wake.shop.as_str())
        .dimension("Kind", kind)
        .metric("SendErrors", Unit::Count, 1.0)
}
