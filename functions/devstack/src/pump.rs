//! One turn of what AWS does on its own between requests: the stream feeds the planner, due
//! schedules wake the sender, failed wake-ups are retried like Lambda's asynchronous invoke.

use std::sync::Mutex;

use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock;
use cartback_sender::Outcome;
use jiff::{SignedDuration, Timestamp};

use crate::{DevStackError, Result, Stack};

/// Lambda retries a failed asynchronous invocation twice, about a minute then two apart.
const RETRY_DELAYS: [SignedDuration; 2] =
    [SignedDuration::from_mins(1), SignedDuration::from_mins(2)];

/// One sender invocation.
#[derive(Debug, Clone)]
pub struct Fired {
    pub wake: WakeUp,
    /// The clock's time when it ran.
    pub at: Timestamp,
    /// 0 for the schedule firing, then 1 and 2 for Lambda's retries.
    pub attempt: usize,
    /// The outcome, or the error that failed the invocation.
    pub result: std::result::Result<Outcome, String>,
    /// After a failure: when it is retried (`None`: given up, dead-lettered).
    pub retry_at: Option<Timestamp>,
}

/// What one turn did.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// Stream records handed to the planner.
    pub planned: usize,
    pub fired: Vec<Fired>,
}

impl Tick {
    /// Whether anything happened.
    pub fn changed(&self) -> bool {
        self.planned > 0 || !self.fired.is_empty()
    }
}

struct Retry {
    at: Timestamp,
    wake: WakeUp,
    attempt: usize,
}

/// Drives a [`Stack`] turn by turn; keeps the pending retries.
#[derive(Default)]
pub struct Pump {
    retries: Mutex<Vec<Retry>>,
}

impl Pump {
    pub fn new() -> Self {
        Self::default()
    }

    fn due_retries(&self, now: Timestamp) -> Result<Vec<Retry>> {
        let mut retries = self
            .retries
            .lock()
            .map_err(|_| DevStackError::Data("retry queue lock poisoned".into()))?;
        let (due, later): (Vec<Retry>, Vec<Retry>) = retries.drain(..).partition(|r| r.at <= now);
        *retries = later;
        Ok(due)
    }

    /// Plans the stream's new records, fires every due schedule and retry, plans again.
    pub async fn tick<C: Clock + Clone>(&self, stack: &Stack<C>) -> Result<Tick> {
        let mut tick = Tick {
            planned: stack.drain_stream().await?,
            fired: Vec::new(),
        };
        let mut wakes: Vec<(WakeUp, usize)> = stack
            .take_due_schedules()
            .await?
            .into_iter()
            .map(|(_, wake)| (wake, 0))
            .collect();
        wakes.extend(
            self.due_retries(stack.clock.now())?
                .into_iter()
                .map(|r| (r.wake, r.attempt)),
        );
        for (wake, attempt) in wakes {
            let at = stack.clock.now();
            let result = stack.wake(&wake).await.map_err(|e| e.to_string());
            let retry_at = match (&result, RETRY_DELAYS.get(attempt)) {
                (Err(_), Some(delay)) => {
                    let retry_at = at.checked_add(*delay).unwrap_or(at);
                    self.retries
                        .lock()
                        .map_err(|_| DevStackError::Data("retry queue lock poisoned".into()))?
                        .push(Retry {
                            at: retry_at,
                            wake: wake.clone(),
                            attempt: attempt + 1,
                        });
                    Some(retry_at)
                }
                _ => None,
            };
            tick.fired.push(Fired {
                wake,
                at,
                attempt,
                result,
                retry_at,
            });
        }
        if !tick.fired.is_empty() {
            tick.planned += stack.drain_stream().await?;
        }
        Ok(tick)
    }
}
