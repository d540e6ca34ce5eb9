//! Deliveries of wake-ups to the sender: why each comes, and what an invocation came to.

use cartback_core::model::schedule::WakeUp;
use cartback_sender::{Outcome, SendError};
use jiff::{SignedDuration, Timestamp};

/// A wake-up the sender reports as a batch item failure comes back from the send queue after
/// its visibility timeout (180 s, `infra/template.yaml`), up to 10 receives in all; then SQS
/// moves it to the dead-letter queue.
pub const RETRY_DELAYS: [SignedDuration; 9] = [SignedDuration::from_secs(180); 9];

/// Why a wake-up is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its schedule fired on time.
    Scheduled,
    /// The send queue delivers it again after a failure (batch item failure).
    Retry,
    /// Scheduler's at-least-once delivery: the schedule's delivery came late.
    Late,
    /// Scheduler's at-least-once delivery: a second delivery of a schedule that fired.
    Duplicate,
}

/// A wake-up to deliver to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// When it is due: the schedule's time, or the retry's.
    pub at: Timestamp,
    pub wake: WakeUp,
    /// 0 for a delivery of the schedule, then 1 to 9 for the send queue's redeliveries.
    pub attempt: usize,
    pub origin: Origin,
}

/// One sender invocation.
#[derive(Debug)]
pub struct Invocation {
    pub due: Due,
    /// The world's time when it ran.
    pub at: Timestamp,
    /// The outcome, or the error that failed the invocation.
    pub result: Result<Outcome, SendError>,
    /// After a failure: when the send queue delivers it again (`None`: dead-lettered).
    pub retry_at: Option<Timestamp>,
}
