//! Wake-ups arrive as a batch from the send queue (EventBridge Scheduler → SQS → sender, with
//! the event source mapping's maximum concurrency). Each is handled on its own, paced to the
//! account's send rate; one that must be tried again is reported as a batch item failure, so
//! SQS returns it after the visibility timeout (and parks it in the dead-letter queue after
//! the receive limit) while the rest of the batch is done. Nothing here is a function error:
//! a duplicate, a held claim or a throttled send is part of a normal day.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use cartback_app::Ports;
use cartback_app::send::SendError;
use cartback_core::model::schedule::WakeUp;
use cartback_core::platforms::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::handle;

/// Spaces out the sends of one sender instance so that all instances together stay under
/// the account's send rate: each gets `rate / instances` sends a second.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `rate` sends a second shared by at most `instances` concurrent senders (both at least
    /// 1); `None`: no pacing.
    pub fn new(rate: f64, instances: u32) -> Option<Self> {
        let share = rate / f64::from(instances.max(1));
        (share.is_finite() && share > 0.0).then(|| Self {
            interval: Duration::from_secs_f64(1.0 / share),
            next: Mutex::new(None),
        })
    }

    /// The time between two sends of this instance.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this instance's next slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Handles every wake-up of the batch in turn; those worth another try come back as batch
/// item failures.
pub async fn handle_batch<P: Ports>(
    event: &SqsEvent,
    ports: &P,
    pacer: Option<&Pacer>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let wake = match json::from_body::<WakeUp>(record.body.as_deref()) {
            Ok(wake) => wake,
            Err(error) => {
                // The error names the field and the problem, never a value of the body.
                tracing::error!(message_id = %id, error = %error, "not a wake-up; left for the dead-letter queue");
                response.add_failure(id);
                continue;
            }
        };
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        match handle(&wake, ports).await {
            Ok(_) => {}
            Err(error) => {
                if again(&error) {
                    tracing::info!(message_id = %id, error = %error, "to be tried again");
                } else {
                    tracing::error!(message_id = %id, error = %error, "failed; tried again until the queue's receive limit, then dead-lettered");
                }
                response.add_failure(id);
            }
        }
    }
    response
}

/// Whether the error is an expected, passing state (another invocation holds the claim, a
/// store throttled): logged as information, not as an error.
fn again(error: &SendError) -> bool {
    matches!(error, SendError::ClaimHeld | SendError::Retryable(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pacer_spaces_sends_to_its_share_of_the_rate() {
        // 14 a second over 2 instances: one every 1/7 s here.
        let pacer = Pacer::new(14.0, 2).expect("a rate");
        let start = Instant::now();
        for _ in 0..8 {
            pacer.wait().await;
        }
        let took = start.elapsed();
        // The first goes at once, then 7 intervals of 1/7 s.
        assert!(
            took >= Duration::from_millis(999) && took < Duration::from_millis(1010),
            "{took:?}"
        );
        assert!(Pacer::new(0.0, 2).is_none());
    }
}
