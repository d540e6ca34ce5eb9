//! The runner: what AWS does between requests, over any [`World`]. It keeps what AWS keeps
//! besides the table and the schedules: the wake-ups waiting to be delivered again.

use std::sync::{Mutex, MutexGuard, PoisonError};

use cartback_app::Ports as _;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock as _;
use jiff::Timestamp;

use crate::{Drain, Due, EventSourceMapping, Invocation, Origin, RETRY_DELAYS, World};

/// Feeds the stream to the planner and due wake-ups to the sender, with Lambda's policies:
/// the event source mapping's re-drives (as its [`EventSourceMapping`] says, the one thing
/// the worlds do differently) and the send queue's redeliveries ([`RETRY_DELAYS`]).
///
/// A world is driven either one wake-up at a time in time order ([`Runner::next_wake`], a
/// virtual clock stepping from one to the next) or a turn at a time, everything due at
/// once ([`Runner::take_all_due`], a clock that moves on its own).
pub struct Runner {
    mapping: EventSourceMapping,
    /// Deliveries waiting for their time (retries, late and duplicate deliveries), in the
    /// order they were queued: among equally early ones, the first queued goes first.
    later: Mutex<Vec<Due>>,
}

impl Runner {
    pub fn new(mapping: EventSourceMapping) -> Self {
        Self {
            mapping,
            later: Mutex::new(Vec::new()),
        }
    }

    /// Every new stream record to the planner (see [`EventSourceMapping::drain`]).
    pub async fn drain_stream<W: World>(&self, world: &W) -> Result<Drain, W::Error> {
        self.mapping.drain(world).await
    }

    /// The queue, whatever a panic elsewhere left in it: each entry is whole either way.
    fn later(&self) -> MutexGuard<'_, Vec<Due>> {
        self.later.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers `wake` again at `at`, as a fresh delivery (attempt 0) of `origin`.
    pub fn redeliver(&self, wake: &WakeUp, at: Timestamp, origin: Origin) {
        self.later().push(Due {
            at,
            wake: wake.clone(),
            attempt: 0,
            origin,
        });
    }

    /// Takes the next wake-up due at or before `until`: the earliest of the world's next
    /// schedule and the queued deliveries (the schedule when they are due together).
    pub async fn next_wake<W: World>(
        &self,
        world: &W,
        until: Timestamp,
    ) -> Result<Option<Due>, W::Error> {
        let scheduled = world.next_due_at().filter(|at| *at <= until);
        let queued = {
            let later = self.later();
            earliest(&later, until).map(|i| later[i].at)
        };
        if let Some(at) = scheduled
            && queued.is_none_or(|queued| queued >= at)
            && let Some((at, wake)) = world.take_due(until).await?
        {
            return Ok(Some(Due {
                at,
                wake,
                attempt: 0,
                origin: Origin::Scheduled,
            }));
        }
        let mut later = self.later();
        Ok(earliest(&later, until).map(|i| later.remove(i)))
    }

    /// Takes every wake-up due now: the world's due schedules, then the queued deliveries
    /// due by then, in the order they were queued.
    pub async fn take_all_due<W: World>(&self, world: &W) -> Result<Vec<Due>, W::Error> {
        let mut due: Vec<Due> = world
            .take_all_due()
            .await?
            .into_iter()
            .map(|(at, wake)| Due {
                at,
                wake,
                attempt: 0,
                origin: Origin::Scheduled,
            })
            .collect();
        let now = world.ports().clock().now();
        due.extend(self.later().extract_if(.., |queued| queued.at <= now));
        Ok(due)
    }

    /// Invokes the sender with `due` at the world's time; a failed invocation is retried
    /// after [`RETRY_DELAYS`] (queued here), then given up.
    pub async fn invoke<W: World>(&self, world: &W, due: Due) -> Invocation {
        let at = world.ports().clock().now();
        let result = cartback_sender::handle(&due.wake, world.ports()).await;
        let retry_at = match (&result, RETRY_DELAYS.get(due.attempt)) {
            (Err(_), Some(delay)) => {
                let retry_at = at.checked_add(*delay).unwrap_or(at);
                self.later().push(Due {
                    at: retry_at,
                    wake: due.wake.clone(),
                    attempt: due.attempt + 1,
                    origin: Origin::Retry,
                });
                Some(retry_at)
            }
            _ => None,
        };
        Invocation {
            due,
            at,
            result,
            retry_at,
        }
    }
}

/// The earliest queued delivery due by `until` (the first queued among equally early ones).
fn earliest(later: &[Due], until: Timestamp) -> Option<usize> {
    later
        .iter()
        .enumerate()
        .filter(|(_, due)| due.at <= until)
        .min_by_key(|(_, due)| due.at)
        .map(|(i, _)| i)
}
