//! The table's stream to the planner, as Lambda's event source mapping feeds it: in batches,
//! and a batch the planner reports a failure in is handed over again from the failed record
//! (the records before it are checkpointed), until it goes through or the mapping gives up.

use std::collections::VecDeque;

use aws_lambda_events::dynamodb::{Event, EventRecord};

use crate::World;

/// How the stream is fed to the planner. The worlds differ only here: AWS gives up on a
/// batch by dead-lettering it and goes on; a local run stops, as a planner that keeps
/// failing there is a defect to see, not a record to lose quietly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSourceMapping {
    /// The most records one planner invocation gets (`BatchSize`); `usize::MAX`: every
    /// record pending.
    pub batch_size: usize,
    /// How often a failed batch is handed over again before giving up
    /// (`MaximumRetryAttempts`).
    pub retry_attempts: u32,
    /// What giving up does.
    pub exhausted: Exhausted,
}

/// What the mapping does once a batch has failed `retry_attempts + 1` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// As on AWS: the batch, from the failed record on, goes to the dead-letter queue and
    /// the stream moves on. A batch checkpointed past a record is a new batch, whose retries
    /// count from zero.
    DeadLetter,
    /// As in a local run: draining stops and names the record. Failures count in a row
    /// until a whole batch goes through, checkpoints or not.
    Stop,
}

/// What one drain of the stream did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drain {
    /// Records the planner handled (each counted once, however often re-driven).
    pub records: usize,
    /// Batches handed to the planner again from the record it reported failed.
    pub redrives: u32,
    /// Records given up on ([`Exhausted::DeadLetter`]): what the dead-letter queue holds.
    pub dead_lettered: Vec<EventRecord>,
    /// The record the planner kept failing on, when draining stopped ([`Exhausted::Stop`]);
    /// the records after it were dropped.
    pub stopped_at: Option<String>,
}

impl EventSourceMapping {
    /// Reads the world's new stream records and hands them to the planner, re-driving and
    /// giving up as this mapping says, until none is left. The stream is read once: the
    /// planner writes schedules, never the table, so no record appears meanwhile.
    pub async fn drain<W: World>(&self, world: &W) -> Result<Drain, W::Error> {
        let mut pending: VecDeque<EventRecord> = world.read_stream().await?.into();
        let mut drain = Drain::default();
        // Failures of the batch at the head of `pending` (see `Exhausted` for what resets it).
        let mut failures = 0;
        while !pending.is_empty() {
            let mut event = Event::default();
            event.records = pending.iter().take(self.batch_size).cloned().collect();
            let batch = event.records.len();
            let response = cartback_planner::handle(&event, world.ports()).await;
            let Some(failure) = response.batch_item_failures.first() else {
                pending.drain(..batch);
                drain.records += batch;
                failures = 0;
                continue;
            };
            let failed = failure.item_identifier.clone().unwrap_or_default();
            // Lambda checkpoints the records before the failed one and retries from it.
            let done = event
                .records
                .iter()
                .position(|r| r.change.sequence_number.as_deref() == Some(failed.as_str()))
                .unwrap_or(0);
            pending.drain(..done);
            drain.records += done;
            if done > 0 && self.exhausted == Exhausted::DeadLetter {
                failures = 0;
            }
            failures += 1;
            if failures <= self.retry_attempts {
                drain.redrives += 1;
                continue;
            }
            failures = 0;
            match self.exhausted {
                Exhausted::DeadLetter => drain.dead_lettered.extend(pending.drain(..batch - done)),
                Exhausted::Stop => {
                    drain.stopped_at = Some(failed);
                    return Ok(drain);
                }
            }
        }
        Ok(drain)
    }
}
