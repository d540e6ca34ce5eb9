//! Drives a history through a world under a virtual clock, playing what the platforms do
//! around cartback, for real:
//!
//! - Shopify redelivers a webhook that got a 5xx: 8 retries over about 4 hours (1, 2, 4, …
//!   128 minutes), then gives up;
//! - Lambda's event source mapping re-drives a stream batch from the record the planner
//!   reported failed (`Stack::drain_stream_report`), 10 times, then dead-letters it;
//! - EventBridge Scheduler fires due schedules (at least once: some twice, some late) and
//!   retries a delivery to the sender that failed (up to 20 times within 6 hours, backing
//!   off from a minute to 30), then puts it in its DLQ;
//! - Lambda retries a failed asynchronous sender (and feedback) invocation after 1 and 2
//!   more minutes, then sends it to the function's DLQ;
//! - a recipient whose one-click unsubscribe got a 5xx tries again after 1 and 2 minutes.
//!
//! Time moves in ticks of a fixed grid (5 minutes by default): everything due in a tick runs
//! at the tick's time, in a fixed order (queued deliveries and retries by time, then the
//! planner, then due schedules), one call at a time, so a run is a function of its seed.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow};
use cartback_core::messages::unsubscribe::{UnsubscribeClaim, expiry_for, issue};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_devstack::SplitMix64;
use cartback_devstack::events::SesEventOf;
use cartback_local::VirtualClock;
use cartback_sender::{Outcome, SendError};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::soak::history::{Action, History, SesKind};
use crate::soak::world::{UNSUBSCRIBE_SECRET, World};

/// Shopify's redeliveries after a failed delivery (8 over about 4 hours).
const SHOPIFY_RETRIES: [i64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];
/// Lambda's asynchronous retries after a failed invocation.
const LAMBDA_RETRIES: [i64; 2] = [1, 2];
/// The schedules' retry policy (`scheduler.rs`: 20 attempts, 6 hours).
const SCHEDULER_MAX_RETRIES: u32 = 20;
const SCHEDULER_MAX_AGE: SignedDuration = SignedDuration::from_hours(6);
/// At-least-once: shares of fired schedules delivered twice at once, or once more later.
const DUPLICATE_SHARE: f64 = 0.05;
const LATE_SHARE: f64 = 0.04;
/// Bursts: a share of ticks where the proxy's fault rate rises to `STORM_RATE`.
const STORM_SHARE: f64 = 0.03;
const STORM_RATE: f64 = 0.5;

const OPEN: &str = include_str!("../../../functions/core/tests/fixtures/ses/open.json");
const CLICK: &str = include_str!("../../../functions/core/tests/fixtures/ses/click.json");
const BOUNCE: &str =
    include_str!("../../../functions/core/tests/fixtures/ses/bounce_permanent.json");
const COMPLAINT: &str = include_str!("../../../functions/core/tests/fixtures/ses/complaint.json");

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct Drive {
    pub seed: u64,
    /// The share of requests the proxy faults, and of Scheduler deliveries that fail.
    pub fault_rate: f64,
    pub tick: SignedDuration,
}

/// Where a sender invocation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Schedule,
    /// Scheduler delivered the same firing twice.
    Duplicate,
    /// Scheduler delivered the same firing once more, minutes later.
    Late,
    /// Lambda's asynchronous retry of a failed invocation.
    LambdaRetry,
}

/// What a sender invocation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeResult {
    Sent {
        step: u32,
        channel: Channel,
        message_id: String,
    },
    Skipped {
        step: u32,
        reason: String,
    },
    Stopped {
        reason: String,
    },
    Other(&'static str),
    /// The invocation failed (`kind`: retryable, claim_held, outcome_unknown, …).
    Failed {
        kind: &'static str,
    },
}

/// One thing that happened to a cart during a run (every field is shown in the story of a
/// cart whose difference is unexplained).
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Entry {
    Webhook {
        topic: &'static str,
        attempt: u32,
        status: u16,
        stamped: Timestamp,
        duplicate: bool,
    },
    WebhookGivenUp {
        topic: &'static str,
    },
    Wake {
        step: u32,
        generation: u32,
        source: Source,
        attempt: u32,
        result: WakeResult,
    },
    SchedulerDeliveryFailed {
        step: u32,
        attempt: u32,
    },
    SchedulerDeadLettered {
        step: u32,
    },
    SenderDeadLettered {
        step: u32,
    },
    Ses {
        kind: SesKind,
        attempt: u32,
        ok: bool,
    },
    SesDeadLettered {
        kind: SesKind,
    },
    Unsubscribe {
        attempt: u32,
        status: u16,
    },
    UnsubscribeGivenUp,
    StreamDeadLettered,
}

impl Entry {
    /// Whether a fault made this fail (the cart's processing was delayed or cut short).
    pub fn is_failure(&self) -> bool {
        match self {
            Self::Webhook { status, .. } => *status >= 500,
            Self::Wake { result, .. } => matches!(result, WakeResult::Failed { .. }),
            Self::Ses { ok, .. } => !ok,
            Self::Unsubscribe { status, .. } => *status >= 500,
            Self::WebhookGivenUp { .. }
            | Self::SchedulerDeliveryFailed { .. }
            | Self::SchedulerDeadLettered { .. }
            | Self::SenderDeadLettered { .. }
            | Self::SesDeadLettered { .. }
            | Self::UnsubscribeGivenUp
            | Self::StreamDeadLettered => true,
        }
    }

    pub fn is_dead_letter(&self) -> bool {
        matches!(
            self,
            Self::WebhookGivenUp { .. }
                | Self::SchedulerDeadLettered { .. }
                | Self::SenderDeadLettered { .. }
                | Self::SesDeadLettered { .. }
                | Self::UnsubscribeGivenUp
                | Self::StreamDeadLettered
        )
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub at: Timestamp,
    pub cart: usize,
    pub entry: Entry,
}

/// What the platforms did around cartback during a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub ticks: u64,
    pub storm_ticks: u64,
    pub webhooks_posted: u64,
    pub webhook_redeliveries: u64,
    pub webhooks_given_up: u64,
    pub stream_records: u64,
    pub planner_redrives: u64,
    pub stream_dead_lettered: u64,
    pub schedules_fired: u64,
    pub scheduler_delivery_failures: u64,
    pub scheduler_retries: u64,
    pub scheduler_dead_lettered: u64,
    pub wakeups: u64,
    pub duplicate_wakeups: u64,
    pub late_wakeups: u64,
    pub sender_failures: BTreeMap<&'static str, u64>,
    pub sender_retries: u64,
    pub sender_dead_lettered: u64,
    pub ses_events: u64,
    pub feedback_retries: u64,
    pub feedback_dead_lettered: u64,
    pub unsubscribes: u64,
    pub unsubscribe_retries: u64,
    pub unsubscribes_given_up: u64,
}

/// A run's record.
pub struct Run {
    pub log: Vec<LogEntry>,
    pub counters: Counters,
    /// Every schedule fired (name and input), for the personal-data guard.
    pub fired: Vec<(String, String)>,
}

enum Task {
    /// The history's event `index` (a webhook, an SES event, an unsubscribe), try `attempt`.
    Event { index: usize, attempt: u32 },
    /// Scheduler delivering a fired schedule to the sender.
    Deliver {
        name: String,
        wake: WakeUp,
        attempt: u32,
        fired_at: Timestamp,
    },
    /// One asynchronous sender invocation (Lambda's `attempt`).
    Invoke {
        wake: WakeUp,
        source: Source,
        attempt: u32,
    },
}

/// A draw in `[0, 1)` from the seed and a key: the same for the same key in every run.
fn keyed(seed: u64, key: &str) -> f64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let draw = SplitMix64::new(seed ^ hash).next_u64();
    (draw >> 11) as f64 / (1u64 << 53) as f64
}

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// `t` rounded up to the grid.
fn on_grid(t: Timestamp, tick: SignedDuration) -> Timestamp {
    let step = tick.as_secs().max(1);
    let secs = t.as_second();
    let rounded = secs.div_euclid(step) * step;
    let rounded = if rounded < secs || t.subsec_nanosecond() > 0 {
        rounded + step
    } else {
        rounded
    };
    Timestamp::from_second(rounded).unwrap_or(t)
}

struct Driver<'a> {
    world: &'a World,
    clock: &'a VirtualClock,
    history: &'a History,
    drive: &'a Drive,
    carts: HashMap<(String, String), usize>,
    queue: BTreeMap<(Timestamp, u64), Task>,
    next_seq: u64,
    run: Run,
    timing: BTreeMap<&'static str, std::time::Duration>,
}

/// Runs `history` through `world` until nothing is left to do. Faults at `drive.fault_rate`
/// (the proxy's and Scheduler's deliveries) only when `faults`.
pub async fn run(
    world: &World,
    clock: &VirtualClock,
    history: &History,
    drive: &Drive,
    faults: bool,
) -> Result<Run> {
    let mut driver = Driver {
        world,
        clock,
        history,
        drive,
        carts: history
            .carts
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.shop.to_owned(), c.token.clone()), i))
            .collect(),
        queue: BTreeMap::new(),
        next_seq: 0,
        timing: BTreeMap::new(),
        run: Run {
            log: Vec::new(),
            counters: Counters::default(),
            fired: Vec::new(),
        },
    };
    for (index, event) in history.events.iter().enumerate() {
        driver.push(event.at, Task::Event { index, attempt: 0 });
    }
    driver.drive(faults).await?;
    if std::env::var_os("CARTBACK_SOAK_TRACE").is_some() {
        eprintln!("timing: {:?}", driver.timing);
    }
    Ok(driver.run)
}

impl Driver<'_> {
    fn push(&mut self, at: Timestamp, task: Task) {
        self.next_seq += 1;
        self.queue.insert((at, self.next_seq), task);
    }

    fn log(&mut self, cart: usize, entry: Entry) {
        self.run.log.push(LogEntry {
            at: self.clock_now(),
            cart,
            entry,
        });
    }

    fn clock_now(&self) -> Timestamp {
        use cartback_core::model::time::Clock;
        self.clock.now()
    }

    fn cart_of(&self, wake: &WakeUp) -> Result<usize> {
        self.carts
            .get(&(wake.shop.as_str().to_owned(), wake.cart.as_str().to_owned()))
            .copied()
            .ok_or_else(|| anyhow!("a wake-up for a cart not in the history"))
    }

    async fn drive(&mut self, faults: bool) -> Result<()> {
        let rate = if faults { self.drive.fault_rate } else { 0.0 };
        loop {
            let queued = self.queue.keys().next().map(|(at, _)| *at);
            let next = match (queued, self.world.next_due()) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            let now = on_grid(next.max(self.clock_now()), self.drive.tick);
            self.clock.advance_to(now);
            self.run.counters.ticks += 1;
            if let Some(proxy) = self.world.proxy() {
                let storm = rate > 0.0
                    && keyed(self.drive.seed, &format!("storm {}", now.as_second())) < STORM_SHARE;
                self.run.counters.storm_ticks += u64::from(storm);
                proxy.set_rate(if storm { STORM_RATE.max(rate) } else { rate });
            }
            loop {
                let mut worked = false;
                while let Some(entry) = self.queue.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let task = entry.remove();
                    self.task(task, now, rate).await?;
                    worked = true;
                }
                // The stream only has new records after a handler ran.
                let t0 = std::time::Instant::now();
                let planned = if worked {
                    self.world.plan().await?
                } else {
                    crate::soak::world::Planned::default()
                };
                *self.timing.entry("plan").or_default() += t0.elapsed();
                self.run.counters.stream_records += planned.records as u64;
                self.run.counters.planner_redrives += u64::from(planned.redrives);
                for cart in planned.dead_lettered {
                    self.run.counters.stream_dead_lettered += 1;
                    let index = cart.and_then(|key| self.carts.get(&key).copied());
                    self.log(index.unwrap_or(usize::MAX), Entry::StreamDeadLettered);
                }
                let t0 = std::time::Instant::now();
                let due = self.world.take_due(now).await?;
                *self.timing.entry("take_due").or_default() += t0.elapsed();
                if std::env::var_os("CARTBACK_SOAK_TRACE").is_some() {
                    eprintln!(
                        "tick {now}: worked {worked}, planned {} (redrives {}), due {}, next known {:?}",
                        planned.records,
                        planned.redrives,
                        due.len(),
                        self.world.next_due()
                    );
                }
                for (name, wake) in due {
                    self.run.counters.schedules_fired += 1;
                    let input = serde_json::to_string(&wake)?;
                    self.run.fired.push((name.clone(), input));
                    self.push(
                        now,
                        Task::Deliver {
                            name,
                            wake,
                            attempt: 0,
                            fired_at: now,
                        },
                    );
                    worked = true;
                }
                if !worked {
                    break;
                }
            }
            if let Some(proxy) = self.world.proxy() {
                proxy.set_rate(rate);
            }
        }
        Ok(())
    }

    async fn task(&mut self, task: Task, now: Timestamp, rate: f64) -> Result<()> {
        match task {
            Task::Event { index, attempt } => self.event(index, attempt, now).await,
            Task::Deliver {
                name,
                wake,
                attempt,
                fired_at,
            } => {
                let cart = self.cart_of(&wake)?;
                let failed = rate > 0.0
                    && keyed(self.drive.seed, &format!("deliver {name} {attempt}")) < rate;
                if failed {
                    self.run.counters.scheduler_delivery_failures += 1;
                    self.log(
                        cart,
                        Entry::SchedulerDeliveryFailed {
                            step: wake.step,
                            attempt,
                        },
                    );
                    let delay = minutes(1_i64 << attempt.min(5)).min(minutes(30));
                    let retry_at = now.checked_add(delay).unwrap_or(now);
                    let too_old = retry_at.duration_since(fired_at) > SCHEDULER_MAX_AGE;
                    if attempt >= SCHEDULER_MAX_RETRIES || too_old {
                        self.run.counters.scheduler_dead_lettered += 1;
                        self.log(cart, Entry::SchedulerDeadLettered { step: wake.step });
                    } else {
                        self.run.counters.scheduler_retries += 1;
                        self.push(
                            retry_at,
                            Task::Deliver {
                                name,
                                wake,
                                attempt: attempt + 1,
                                fired_at,
                            },
                        );
                    }
                    return Ok(());
                }
                // Delivered: at least once, so some firings come twice, some again later.
                if attempt == 0
                    && keyed(self.drive.seed, &format!("duplicate {name}")) < DUPLICATE_SHARE
                {
                    self.run.counters.duplicate_wakeups += 1;
                    self.push(
                        now,
                        Task::Invoke {
                            wake: wake.clone(),
                            source: Source::Duplicate,
                            attempt: 0,
                        },
                    );
                }
                let late = keyed(self.drive.seed, &format!("late {name}"));
                if attempt == 0 && late < LATE_SHARE {
                    self.run.counters.late_wakeups += 1;
                    let after = minutes(2 + (late / LATE_SHARE * 18.0) as i64);
                    self.push(
                        now.checked_add(after).unwrap_or(now),
                        Task::Invoke {
                            wake: wake.clone(),
                            source: Source::Late,
                            attempt: 0,
                        },
                    );
                }
                self.invoke(wake, Source::Schedule, 0, now).await
            }
            Task::Invoke {
                wake,
                source,
                attempt,
            } => self.invoke(wake, source, attempt, now).await,
        }
    }

    async fn invoke(
        &mut self,
        wake: WakeUp,
        source: Source,
        attempt: u32,
        now: Timestamp,
    ) -> Result<()> {
        let cart = self.cart_of(&wake)?;
        self.run.counters.wakeups += 1;
        let t0 = std::time::Instant::now();
        let woken = self.world.wake(&wake).await;
        *self.timing.entry("wake").or_default() += t0.elapsed();
        let result = match woken {
            Ok(outcome) => outcome_result(outcome),
            Err(error) => WakeResult::Failed {
                kind: error_kind(&error),
            },
        };
        if std::env::var_os("CARTBACK_SOAK_TRACE").is_some() {
            eprintln!(
                "  wake cart {cart} step {} gen {} ({source:?} #{attempt}): {result:?}",
                wake.step, wake.generation
            );
        }
        let failed = matches!(result, WakeResult::Failed { .. });
        if let WakeResult::Failed { kind } = &result {
            *self.run.counters.sender_failures.entry(kind).or_insert(0) += 1;
        }
        self.log(
            cart,
            Entry::Wake {
                step: wake.step,
                generation: wake.generation,
                source,
                attempt,
                result,
            },
        );
        if failed {
            match LAMBDA_RETRIES.get(attempt as usize) {
                Some(delay) => {
                    self.run.counters.sender_retries += 1;
                    self.push(
                        now.checked_add(minutes(*delay)).unwrap_or(now),
                        Task::Invoke {
                            wake,
                            source: Source::LambdaRetry,
                            attempt: attempt + 1,
                        },
                    );
                }
                None => {
                    self.run.counters.sender_dead_lettered += 1;
                    self.log(cart, Entry::SenderDeadLettered { step: wake.step });
                }
            }
        }
        Ok(())
    }

    async fn event(&mut self, index: usize, attempt: u32, now: Timestamp) -> Result<()> {
        let history = self.history;
        let event = &history.events[index];
        let cart_index = event.cart;
        let cart = &history.carts[cart_index];
        match &event.action {
            Action::Webhook {
                topic,
                body,
                webhook_id,
                stamped,
                duplicate,
            } => {
                let (topic, stamped, duplicate) = (*topic, *stamped, *duplicate);
                self.run.counters.webhooks_posted += 1;
                if attempt > 0 {
                    self.run.counters.webhook_redeliveries += 1;
                }
                let t0 = std::time::Instant::now();
                let status = self
                    .world
                    .shopify(cart.shop, topic, body, webhook_id)
                    .await?;
                *self.timing.entry("webhook").or_default() += t0.elapsed();
                self.log(
                    cart_index,
                    Entry::Webhook {
                        topic,
                        attempt,
                        status,
                        stamped,
                        duplicate,
                    },
                );
                match status {
                    200 => {}
                    500..=599 => match SHOPIFY_RETRIES.get(attempt as usize) {
                        Some(delay) => self.push(
                            now.checked_add(minutes(*delay)).unwrap_or(now),
                            Task::Event {
                                index,
                                attempt: attempt + 1,
                            },
                        ),
                        None => {
                            self.run.counters.webhooks_given_up += 1;
                            self.log(cart_index, Entry::WebhookGivenUp { topic });
                        }
                    },
                    other => return Err(anyhow!("webhook {topic} answered {other}")),
                }
            }
            Action::Ses { kind, step } => {
                let kind = *kind;
                self.run.counters.ses_events += 1;
                let fixture = match kind {
                    SesKind::Open => OPEN,
                    SesKind::Click => CLICK,
                    SesKind::Bounce => BOUNCE,
                    SesKind::Complaint => COMPLAINT,
                };
                let message_id = format!("soak-ses-{index}");
                let message = cartback_devstack::events::ses_event(
                    fixture,
                    &SesEventOf {
                        message_id: &message_id,
                        to: &cart.email,
                        sent_at: event.at.checked_sub(minutes(30)).unwrap_or(event.at),
                        happened_at: event.at,
                        tags: Some((cart.shop, &cart.token, *step)),
                    },
                )?;
                let result = self.world.ses_events(&[message]).await?;
                let ok = result.is_ok();
                self.log(cart_index, Entry::Ses { kind, attempt, ok });
                if !ok {
                    match LAMBDA_RETRIES.get(attempt as usize) {
                        Some(delay) => {
                            self.run.counters.feedback_retries += 1;
                            self.push(
                                now.checked_add(minutes(*delay)).unwrap_or(now),
                                Task::Event {
                                    index,
                                    attempt: attempt + 1,
                                },
                            );
                        }
                        None => {
                            self.run.counters.feedback_dead_lettered += 1;
                            self.log(cart_index, Entry::SesDeadLettered { kind });
                        }
                    }
                }
            }
            Action::Unsubscribe => {
                self.run.counters.unsubscribes += 1;
                let claim = UnsubscribeClaim {
                    shop: ShopId::parse(cart.shop).map_err(|e| anyhow!("{e}"))?,
                    cart: CartId::parse(cart.token.as_str()).map_err(|e| anyhow!("{e}"))?,
                    channel: Channel::Email,
                    // A token as issued before tokens named the person: still honoured while
                    // its cart exists.
                    contact: None,
                };
                let token = issue(
                    &Secret::new(UNSUBSCRIBE_SECRET),
                    &claim,
                    expiry_for(event.at),
                );
                let status = self.world.unsubscribe(&token).await?;
                self.log(cart_index, Entry::Unsubscribe { attempt, status });
                match status {
                    200 => {}
                    500..=599 => match LAMBDA_RETRIES.get(attempt as usize) {
                        Some(delay) => {
                            self.run.counters.unsubscribe_retries += 1;
                            self.push(
                                now.checked_add(minutes(*delay)).unwrap_or(now),
                                Task::Event {
                                    index,
                                    attempt: attempt + 1,
                                },
                            );
                        }
                        None => {
                            self.run.counters.unsubscribes_given_up += 1;
                            self.log(cart_index, Entry::UnsubscribeGivenUp);
                        }
                    },
                    other => return Err(anyhow!("unsubscribe answered {other}")),
                }
            }
        }
        Ok(())
    }
}

fn outcome_result(outcome: Outcome) -> WakeResult {
    match outcome {
        Outcome::Sent {
            step,
            channel,
            message_id,
            ..
        } => WakeResult::Sent {
            step,
            channel,
            message_id,
        },
        Outcome::Skipped { step, reason, .. } => WakeResult::Skipped {
            step,
            reason: reason.as_str().to_owned(),
        },
        Outcome::Stopped { reason, .. } => WakeResult::Stopped {
            reason: reason.as_str().to_owned(),
        },
        other => WakeResult::Other(other.summary()),
    }
}

fn error_kind(error: &SendError) -> &'static str {
    match error {
        SendError::Retryable(_) => "retryable",
        SendError::Render(_) => "render",
        SendError::ClaimHeld => "claim_held",
        SendError::OutcomeUnknown(_) => "outcome_unknown",
        SendError::OfferCodes(_) => "offer_codes",
        SendError::Store(_) => "store",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_up_to_the_grid() {
        let t: Timestamp = "2026-11-02T06:01:00Z".parse().expect("time");
        let grid = SignedDuration::from_mins(5);
        assert_eq!(
            on_grid(t, grid),
            "2026-11-02T06:05:00Z".parse::<Timestamp>().expect("time")
        );
        let t: Timestamp = "2026-11-02T06:05:00Z".parse().expect("time");
        assert_eq!(on_grid(t, grid), t);
    }
}
