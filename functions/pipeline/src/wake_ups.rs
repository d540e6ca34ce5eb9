//! Deliveries of wake-ups to the sender: why each comes, and what an invocation came to.

use cartback_core::model::schedule::WakeUp;
use cartback_sender::{Outcome, SendError};
use jiff::{SignedDuration, Timestamp};

/// Lambda retries a failed asynchronous invocation twice, about a minute then two apart;
/// then the event goes to the function's dead-letter queue.
pub const ASYNC_RETRY_DELAYS: [SignedDuration; 2] =
    [SignedDuration::from_mins(1), SignedDuration::from_mins(2)];

/// Why a wake-up is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its schedule fired on time.
    Scheduled,
    /// Lambda retries a failed invocation.
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
    /// 0 for a delivery of the schedule, then 1 and 2 for Lambda's retries.
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
    /// After a failure: when Lambda retries it (`None`: given up, dead-lettered).
    pub retry_at: Option<Timestamp>,
}
