//! The feedback function: SES publishes its configuration-set events to an SNS topic that
//! invokes this function ([`handle`]); each is applied as a recipient event
//! (`cartback_app::feedback`).

use aws_lambda_events::sns::SnsEvent;
pub use cartback_app::Metrics;
use cartback_app::Ports;
pub use cartback_app::feedback::{Action, Applied, RecipientEvent, apply};
use cartback_core::platforms::ses_event::{SesOutcome, interpret};
use cartback_core::ports::PortError;
use serde::Serialize;

/// What one invocation did with its SNS records (counts only: no personal data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Handled {
    /// Recorded engagement or a new suppression.
    pub changed: usize,
    /// Ours and well-formed, but nothing new (a repeat, a proxy open, a delivery, ...).
    pub unchanged: usize,
    /// Not an SES event of ours (malformed, foreign mail, unknown cart shape): skipped.
    pub skipped: usize,
    /// Refused for good by the store or the shop's settings: logged and skipped.
    pub failed: usize,
}

/// Handles one SNS delivery of SES events (each record's `Message` is one SES event).
///
/// Malformed or foreign messages are logged (by SNS message id and reason, never their
/// content) and skipped. A retryable store error fails the invocation so Lambda's
/// asynchronous retries (and then the on-failure destination) take over; records already
/// applied are applied again harmlessly, because [`apply`] is idempotent.
pub async fn handle<P: Ports>(event: &SnsEvent, ports: &P) -> Result<Handled, PortError> {
    let mut handled = Handled::default();
    for record in &event.records {
        let sns_message_id = record.sns.message_id.as_str();
        let feedback = match interpret(&record.sns.message) {
            Ok(SesOutcome::Feedback(feedback)) => feedback,
            Ok(SesOutcome::Ignored { event_type, reason }) => {
                tracing::info!(sns_message_id, event_type = %event_type, reason = reason.as_str(), "SES event ignored");
                handled.unchanged += 1;
                continue;
            }
            Err(error) => {
                tracing::warn!(sns_message_id, error = %error, "not an SES event of ours; skipped");
                handled.skipped += 1;
                continue;
            }
        };
        tracing::info!(
            sns_message_id,
            kind = feedback.kind.as_str(),
            step = feedback.step.map(|s| s + 1),
            "SES event"
        );
        match apply(&RecipientEvent::from(feedback), ports).await {
            Ok(Applied::Unchanged) => handled.unchanged += 1,
            Ok(_) => handled.changed += 1,
            Err(error) if error.retryable => {
                tracing::warn!(sns_message_id, error = %error, "store unavailable; the invocation fails for a retry");
                return Err(error);
            }
            Err(error) => {
                tracing::error!(sns_message_id, error = %error, "SES event could not be applied; skipped");
                handled.failed += 1;
            }
        }
    }
    Ok(handled)
}
