//! One turn of what AWS does on its own between requests: the stream feeds the planner, due
//! schedules wake the sender, failed wake-ups are retried like Lambda's asynchronous invoke
//! (all by `cartback-pipeline`'s runner, on the [`Stack`] as its world).

use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock;
use cartback_pipeline::{Invocation, Runner};
use cartback_sender::Outcome;
use jiff::Timestamp;

use crate::{Result, Stack};

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

impl From<Invocation> for Fired {
    fn from(invocation: Invocation) -> Self {
        Self {
            wake: invocation.due.wake,
            at: invocation.at,
            attempt: invocation.due.attempt,
            result: invocation.result.map_err(|e| e.to_string()),
            retry_at: invocation.retry_at,
        }
    }
}

/// Drives a [`Stack`] turn by turn; keeps the pending retries.
pub struct Pump {
    runner: Runner,
}

impl Default for Pump {
    fn default() -> Self {
        Self {
            runner: Runner::new(crate::stack::STREAM),
        }
    }
}

impl Pump {
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans the stream's new records, fires every due schedule and retry, plans again.
    pub async fn tick<C: Clock + Clone>(&self, stack: &Stack<C>) -> Result<Tick> {
        // Queued erasures first, as SQS hands them to the worker within moments.
        stack.drain_queued_erasures().await?;
        let mut tick = Tick {
            planned: stack.drain_stream().await?,
            fired: Vec::new(),
        };
        for due in self.runner.take_all_due(stack).await? {
            let invocation = self.runner.invoke(stack, due).await;
            tick.fired.push(invocation.into());
        }
        if !tick.fired.is_empty() {
            tick.planned += stack.drain_stream().await?;
        }
        Ok(tick)
    }
}
