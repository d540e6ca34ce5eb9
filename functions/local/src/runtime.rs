//! The local runtime: the real webhook, planner and sender handlers wired to in-memory
//! ports, with a virtual clock. The table's stream feeds the planner; due schedules fire
//! the sender; a failed sender invocation is retried like Lambda's asynchronous invoke (all
//! three by `cartback-pipeline`'s runner). Here: the faults of a local run around the
//! deliveries, and the reports `simulate` prints.

use cartback_app::{Bundle, Messaging, Metrics};
use cartback_core::messages::render::Renderer;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_feedback::{Applied, RecipientEvent};
use cartback_pipeline::{EventSourceMapping, Exhausted, Origin, Runner};
use cartback_sender::{Outcome, UnsubscribeLinks};
use cartback_webhook::{Accepted, WebhookReply, WebhookRequest};
use jiff::Timestamp;
use std::sync::Mutex;

use crate::{
    CallCounts, FaultPlan, Faults, Faulty, LocalShops, MemoryErasureQueue, MemoryMailer,
    MemoryOfferCodes, MemorySchedules, MemorySms, MemoryStore, MemoryStoreApi, MemoryWorld, Report,
    ReportKind, VirtualClock,
};

/// Where local unsubscribe links point (nothing listens there unless a local server does).
pub const LOCAL_PUBLIC_URL: &str = "http://localhost:8787";
/// The fixed secret local unsubscribe tokens are signed with; never used on AWS.
pub const LOCAL_UNSUBSCRIBE_SECRET: &str = "cartback-local-unsubscribe-secret";

/// Lambda retries a failed stream batch from the failed record until it succeeds or the
/// record is too old; locally, this many times in a row, then the run stops.
const PLANNER_ATTEMPTS: u32 = 10;

/// How a local run feeds its stream to the planner: every pending record at once, and a
/// planner that keeps failing stops the run (see [`PLANNER_ATTEMPTS`]).
const LOCAL_STREAM: EventSourceMapping = EventSourceMapping {
    batch_size: usize::MAX,
    retry_attempts: PLANNER_ATTEMPTS - 1,
    exhausted: Exhausted::Stop,
};

/// SNS retries a failed delivery to the feedback function; locally at once, this many times.
const FEEDBACK_ATTEMPTS: usize = 10;

/// The latest a late wake-up comes (Scheduler's at-least-once delivery, with a delay).
const LATE_WAKE_UP_SECS: i64 = 600;
/// The latest a duplicate wake-up follows the first.
const DUPLICATE_WAKE_UP_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the planner failed on stream record {0}")]
    Planner(String),
    #[error("stream record could not be read: {0}")]
    Stream(String),
    #[error(transparent)]
    Port(#[from] cartback_core::ports::PortError),
}

/// The built-in templates, and unsubscribe links to the local server signed with the local
/// secret.
pub fn local_messaging() -> Messaging {
    Messaging {
        renderer: Renderer::embedded(),
        unsubscribe: Some(UnsubscribeLinks {
            base_url: LOCAL_PUBLIC_URL.to_owned(),
            secret: Secret::new(LOCAL_UNSUBSCRIBE_SECRET),
        }),
    }
}

/// A message that went out in a sender invocation that failed (the send's answer was lost,
/// or recording it failed): it counts as sent, and the step is later recorded as
/// `crash_after_claim` (never sent again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconfirmed {
    pub at: Timestamp,
    pub shop: String,
    pub cart: String,
    /// 1-based, as in reports.
    pub step: u32,
    pub channel: &'static str,
}

/// The in-memory ports of a local run, as they are (tests read and write them directly).
pub type MemoryPorts = Bundle<
    MemoryStore,
    MemoryMailer,
    MemorySms,
    MemorySchedules,
    LocalShops,
    LocalShops,
    MemoryStoreApi,
    VirtualClock,
    MemoryOfferCodes,
    MemoryErasureQueue,
>;

/// The ports bundle the functions of a local run use: the in-memory ports, each behind the
/// run's faults (the shops are read without faults, as the functions cache their settings).
pub type FaultyMemoryPorts = Bundle<
    Faulty<MemoryStore>,
    Faulty<MemoryMailer>,
    Faulty<MemorySms>,
    Faulty<MemorySchedules>,
    LocalShops,
    LocalShops,
    Faulty<MemoryStoreApi>,
    VirtualClock,
    Faulty<MemoryOfferCodes>,
    MemoryErasureQueue,
>;

/// Everything a local run needs, sharing one store, scheduler, outbox and clock.
pub struct MemoryRuntime {
    pub clock: VirtualClock,
    pub store: MemoryStore,
    pub schedules: MemorySchedules,
    pub mailer: MemoryMailer,
    pub sms: MemorySms,
    pub shops: LocalShops,
    /// What the stores' APIs answer (BigCommerce carts and orders).
    pub store_api: MemoryStoreApi,
    /// The shops' offer code pools (filled from the shops' `offer_pools`).
    pub offer_codes: MemoryOfferCodes,
    /// The erasure jobs the webhook queued and the worker has not taken yet.
    pub erasures: MemoryErasureQueue,
    /// The CloudWatch metrics the functions emitted (sender and webhook).
    pub metrics: Metrics,
    /// The AWS calls the real functions would have made.
    pub calls: CallCounts,
    /// The faults injected into this run (none unless made `with_faults`).
    pub faults: Faults,
    /// What every function runs on here (the in-memory ports, each behind the run's
    /// faults), with the stream and the scheduler the runner reads.
    world: MemoryWorld<FaultyMemoryPorts>,
    /// What AWS does between requests: the stream to the planner, wake-ups to the sender.
    runner: Runner,
    unconfirmed: Mutex<Vec<Unconfirmed>>,
    /// When the sweeper runs next (`rate(15 minutes)` in the template): only in a run with
    /// faults, where a wake-up can be dead-lettered and a cart stranded.
    next_sweep: Mutex<Option<Timestamp>>,
}

/// How many times SQS hands an erasure job to the worker before dead-lettering it
/// (`maxReceiveCount` in `infra/template.yaml`).
pub const ERASURE_RECEIVES: usize = 5;

/// How often the sweeper runs (`infra/template.yaml`).
pub const SWEEP_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// The most carts one sweep re-arms (the sweeper function's limit).
const SWEEP_LIMIT: usize = 1_000;

impl MemoryRuntime {
    pub fn new(start: Timestamp, shops: LocalShops) -> Self {
        Self::with_faults(start, shops, None)
    }

    /// A stack whose ports and deliveries meet faults as `plan` says (`None`: no faults).
    pub fn with_faults(start: Timestamp, shops: LocalShops, plan: Option<FaultPlan>) -> Self {
        let clock = VirtualClock::new(start);
        let first_sweep = plan.as_ref().map(|_| start);
        let faults = match plan {
            Some(plan) => Faults::new(plan, clock.clone()),
            None => Faults::none(),
        };
        let calls = CallCounts::default();
        let store = MemoryStore::counting(calls.clone());
        // DynamoDB's TTL: expired carts, people and delivery ids are gone for the functions.
        store.expire_with(clock.clone());
        let schedules = MemorySchedules::counting(calls.clone());
        let mailer = MemoryMailer::counting(calls.clone());
        let sms = MemorySms::counting(calls.clone());
        let offer_codes = MemoryOfferCodes::counting(calls.clone());
        for (shop, pool, codes) in shops.offer_pools() {
            offer_codes.seed(&shop, &pool, &codes);
        }
        let metrics = Metrics::memory();
        let store_api = MemoryStoreApi::new();
        let erasures = MemoryErasureQueue::counting(calls.clone());
        let faulty = |store: &MemoryStore| Faulty::new(store.clone(), faults.clone());
        Self {
            world: MemoryWorld {
                store: store.clone(),
                schedules: schedules.clone(),
                ports: Bundle {
                    store: faulty(&store),
                    mailer: Faulty::new(mailer.clone(), faults.clone()),
                    sms: Faulty::new(sms.clone(), faults.clone()),
                    schedules: Faulty::new(schedules.clone(), faults.clone()),
                    shops: shops.clone(),
                    secrets: shops.clone(),
                    store_api: Faulty::new(store_api.clone(), faults.clone()),
                    clock: clock.clone(),
                    offer_codes: Faulty::new(offer_codes.clone(), faults.clone()),
                    erasures: erasures.clone(),
                    metrics: metrics.clone(),
                    messaging: local_messaging(),
                },
            },
            runner: Runner::new(LOCAL_STREAM),
            clock,
            store,
            schedules,
            mailer,
            sms,
            shops,
            store_api,
            offer_codes,
            erasures,
            metrics,
            calls,
            faults,
            unconfirmed: Mutex::new(Vec::new()),
            next_sweep: Mutex::new(first_sweep),
        }
    }

    /// The run's in-memory ports without its faults, sharing its store, outboxes, clock and
    /// metrics: a test calls a function on them directly.
    pub fn ports(&self) -> MemoryPorts {
        Bundle {
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            sms: self.sms.clone(),
            schedules: self.schedules.clone(),
            shops: self.shops.clone(),
            secrets: self.shops.clone(),
            store_api: self.store_api.clone(),
            clock: self.clock.clone(),
            offer_codes: self.offer_codes.clone(),
            erasures: self.erasures.clone(),
            metrics: self.metrics.clone(),
            messaging: local_messaging(),
        }
    }

    /// Messages that went out although the sender never heard back.
    pub fn unconfirmed(&self) -> Vec<Unconfirmed> {
        self.unconfirmed
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Delivers a webhook at the current virtual time, then lets the planner catch up.
    pub async fn deliver(
        &self,
        request: &WebhookRequest,
    ) -> Result<(WebhookReply, Vec<Report>), RuntimeError> {
        // A compliance webhook may delete carts: each one deleted is reported stopped.
        let redact = request
            .headers
            .get(cartback_core::platforms::shopify::TOPIC_HEADER)
            .is_some_and(|topic| topic.trim().ends_with("/redact"));
        let before = if redact {
            self.store.carts()
        } else {
            Vec::new()
        };
        let reply = cartback_webhook::handle(request, &self.world.ports).await;
        // SQS hands a queued erasure to the worker within moments.
        self.drain_erasures().await?;
        self.drain_stream().await?;
        let mut reports = Vec::new();
        if matches!(reply.0, Ok(Accepted::ErasureQueued { .. })) {
            let shop = cartback_core::model::ids::ShopId::parse(request.shop.as_str()).ok();
            let gone: Vec<_> = before
                .iter()
                .filter(|c| Some(&c.shop) == shop.as_ref())
                .filter(|c| self.store.peek_cart(&c.shop, &c.cart).is_none())
                .collect();
            reports.extend(gone.into_iter().map(|c| self.erased_report(c)));
        }
        if let Ok(Accepted::Converted {
            cart: Some(cart),
            stopped_step: Some(step),
        }) = &reply.0
        {
            reports.push(Report {
                reason: Some("purchased".into()),
                ..self.report(ReportKind::Stopped, &request.shop, cart.as_str(), step + 1)
            });
        }
        Ok((reply, reports))
    }

    /// Hands every queued erasure job to the worker, a chunk at a time, as the event source
    /// mapping does; a chunk's rest goes back on the queue. A chunk that fails is received
    /// again (up to [`ERASURE_RECEIVES`] times, then it stays in the dead-letter queue and
    /// is counted in `faults`).
    pub async fn drain_erasures(&self) -> Result<(), RuntimeError> {
        use cartback_app::erasure::{Budget, Progress, work};
        use cartback_core::ports::ErasureQueue;
        while let Some(job) = self.erasures.take() {
            let mut receives = 1;
            loop {
                match work(&self.world.ports, job.clone(), Budget::default()).await {
                    Ok(Progress::Done(_)) => break,
                    Ok(Progress::More(rest)) => {
                        self.erasures
                            .enqueue(&rest)
                            .await
                            .map_err(RuntimeError::Port)?;
                        break;
                    }
                    Err(_) if receives < ERASURE_RECEIVES => {
                        receives += 1;
                        self.faults.retried("erasure");
                    }
                    Err(_) => {
                        self.faults.retried("erasure_dead_lettered");
                        break;
                    }
                }
            }
            self.drain_stream().await?;
        }
        Ok(())
    }

    /// The person known by `keys` in `shop` is erased (`cartback erase`), as `core::erase`
    /// does on AWS: each of their carts is reported stopped (`erased`) at its next step and
    /// gets nothing after.
    pub async fn erase(
        &self,
        shop: &cartback_core::model::ids::ShopId,
        keys: &[cartback_core::model::ids::ContactKey],
    ) -> Result<Vec<Report>, RuntimeError> {
        let before: Vec<_> = self
            .store
            .carts()
            .into_iter()
            .filter(|c| c.shop == *shop && cartback_core::rules::erase::belongs_to(c, keys))
            .collect();
        let mut attempt = 1;
        loop {
            match cartback_app::privacy::erase_person(
                &self.world.ports.store,
                &self.world.ports.schedules,
                shop,
                keys,
                self.clock.now(),
            )
            .await
            {
                Err(error) if error.retryable && attempt < FEEDBACK_ATTEMPTS => {
                    attempt += 1;
                    self.faults.retried("erase");
                }
                result => {
                    result?;
                    break;
                }
            }
        }
        self.drain_stream().await?;
        let mut carts = before;
        carts.sort_by(|a, b| a.cart.as_str().cmp(b.cart.as_str()));
        Ok(carts.iter().map(|c| self.erased_report(c)).collect())
    }

    fn erased_report(&self, cart: &cartback_core::model::cart::CartRecord) -> Report {
        Report {
            reason: Some(
                cartback_core::rules::decide::StopReason::Erased
                    .as_str()
                    .into(),
            ),
            ..self.report(
                ReportKind::Stopped,
                cart.shop.as_str(),
                cart.cart.as_str(),
                cart.next_step + 1,
            )
        }
    }

    /// A recipient opened, clicked, bounced, complained or unsubscribed: applied as the
    /// feedback function would. Returns what changed.
    pub async fn recipient_event(&self, event: &RecipientEvent) -> Result<Applied, RuntimeError> {
        let mut attempt = 1;
        let applied = loop {
            match cartback_feedback::apply(event, &self.world.ports).await {
                Err(error) if error.retryable && attempt < FEEDBACK_ATTEMPTS => {
                    attempt += 1;
                    self.faults.retried("feedback");
                }
                result => break result?,
            }
        };
        self.drain_stream().await?;
        Ok(applied)
    }

    /// Feeds every pending stream record to the planner, as Lambda's event source mapping would.
    /// A partial batch failure re-drives the batch from the failed record, as Lambda does.
    pub async fn drain_stream(&self) -> Result<(), RuntimeError> {
        let drain = self.runner.drain_stream(&self.world).await?;
        for _ in 0..drain.redrives {
            self.faults.retried("planner");
        }
        match drain.stopped_at {
            Some(record) => Err(RuntimeError::Planner(record)),
            None => Ok(()),
        }
    }

    /// Fires every schedule (and retry) due up to `until`, in time order, then sets the
    /// clock to `until`.
    pub async fn run_until(&self, until: Timestamp) -> Result<Vec<Report>, RuntimeError> {
        let mut reports = Vec::new();
        while let Some(due) = self.runner.next_wake(&self.world, until).await? {
            let (at, wake) = (due.at, due.wake.clone());
            // The sweeps due by now run first; a cart they re-arm wakes right after this.
            self.sweep_until(at).await?;
            self.clock.advance_to(at);
            let on_time = due.origin == Origin::Scheduled;
            if on_time && self.faults.strikes("wakeup_late") {
                let late = self.faults.delay(1, LATE_WAKE_UP_SECS);
                self.runner
                    .redeliver(&wake, at.checked_add(late).unwrap_or(at), Origin::Late);
                self.faults
                    .delayed(wake.shop.as_str(), wake.cart.as_str(), at);
                continue;
            }
            let sent_before = self.messages_sent();
            let invocation = self.runner.invoke(&self.world, due).await;
            match invocation.result {
                Ok(outcome) => reports.extend(self.outcome_report(&wake, outcome).await),
                Err(error) => {
                    // The invocation failed, yet a message left (its answer was lost, or
                    // recording it failed): it was sent, and will not be sent again.
                    if self.messages_sent() > sent_before {
                        self.unconfirmed_send(&wake, at);
                    }
                    self.faults
                        .delayed(wake.shop.as_str(), wake.cart.as_str(), at);
                    match invocation.retry_at {
                        Some(_) => self.faults.retried("sender"),
                        None => reports.push(Report {
                            reason: Some(format!("dead_lettered: {error}")),
                            ..self.report(
                                ReportKind::Skipped,
                                wake.shop.as_str(),
                                wake.cart.as_str(),
                                wake.step + 1,
                            )
                        }),
                    }
                }
            }
            if on_time && self.faults.strikes("wakeup_duplicate") {
                let after = self.faults.delay(0, DUPLICATE_WAKE_UP_SECS);
                self.runner.redeliver(
                    &wake,
                    at.checked_add(after).unwrap_or(at),
                    Origin::Duplicate,
                );
            }
            self.drain_stream().await?;
        }
        if self.sweep_until(until).await? {
            // Re-armed carts wake at once: run them too.
            let more = Box::pin(self.run_until(until)).await?;
            reports.extend(more);
        }
        self.clock.advance_to(until);
        Ok(reports)
    }

    /// Runs the sweeper at every tick up to `until` (a run with faults only), as its
    /// schedule would: open carts overdue by more than an hour with nothing to wake them
    /// are re-armed. Whether any was.
    async fn sweep_until(&self, until: Timestamp) -> Result<bool, RuntimeError> {
        let mut rearmed = false;
        loop {
            let tick = match self.next_sweep.lock() {
                Ok(mut next) => match *next {
                    Some(tick) if tick <= until => {
                        *next = tick.checked_add(SWEEP_EVERY).ok();
                        tick
                    }
                    _ => return Ok(rearmed),
                },
                Err(_) => return Ok(rearmed),
            };
            self.clock.advance_to(tick);
            // A sweep that meets a fault is simply done again by the next one.
            if let Ok(report) = cartback_app::heal::sweep(&self.world.ports, SWEEP_LIMIT).await
                && report.rearmed > 0
            {
                for _ in 0..report.rearmed {
                    self.faults.retried("sweep");
                }
                rearmed = true;
                self.drain_stream().await?;
            }
        }
    }

    /// Messages in the mail and SMS outboxes.
    fn messages_sent(&self) -> usize {
        self.mailer.sent_count() + self.sms.sent_count()
    }

    /// A message went out in an invocation that failed: the channel is the one claimed.
    fn unconfirmed_send(&self, wake: &WakeUp, at: Timestamp) {
        let channel = self
            .store
            .peek_cart(&wake.shop, &wake.cart)
            .and_then(|c| c.claimed_channel)
            .unwrap_or(Channel::Email);
        if let Ok(mut unconfirmed) = self.unconfirmed.lock() {
            unconfirmed.push(Unconfirmed {
                at,
                shop: wake.shop.to_string(),
                cart: wake.cart.to_string(),
                step: wake.step + 1,
                channel: channel.as_str(),
            });
        }
    }

    fn report(&self, kind: ReportKind, shop: &str, cart: &str, step: u32) -> Report {
        Report::new(self.clock.now(), kind, shop, cart, step)
    }

    async fn outcome_report(&self, wake: &WakeUp, outcome: Outcome) -> Option<Report> {
        let base =
            |kind, step: u32| self.report(kind, wake.shop.as_str(), wake.cart.as_str(), step + 1);
        match outcome {
            Outcome::Sent {
                step,
                channel,
                template,
                sequence,
                to,
                subject,
                message_id,
                segments,
                offer_code,
                variant,
                confirmed,
            } => Some(Report {
                channel: Some(channel.as_str()),
                to: Some(to),
                subject: (channel == Channel::Email).then(|| subject.clone()),
                text: (channel == Channel::Sms).then_some(subject),
                template: Some(template),
                sequence: Some(sequence),
                message_id: Some(message_id),
                segments: (channel == Channel::Sms).then_some(segments),
                offer_code,
                variant,
                confirmed: (!confirmed).then_some(false),
                ..base(ReportKind::Sent, step)
            }),
            Outcome::Skipped {
                step,
                channel,
                reason,
                variant,
            } => Some(Report {
                channel: Some(channel.as_str()),
                reason: Some(reason.as_str().to_owned()),
                variant,
                ..base(ReportKind::Skipped, step)
            }),
            // Once per held-out cart, at its first step: nothing is sent for it, ever.
            Outcome::HeldOut { step } => Some(Report {
                reason: Some("holdout".to_owned()),
                ..base(ReportKind::Skipped, step)
            }),
            Outcome::Deferred {
                step,
                until,
                reason,
            } => Some(Report {
                until: Some(until),
                reason: Some(reason.as_str().to_owned()),
                ..base(ReportKind::Deferred, step)
            }),
            Outcome::Stopped { reason, step } => Some(Report {
                reason: Some(reason.as_str().to_owned()),
                ..base(ReportKind::Stopped, step)
            }),
            Outcome::Rearmed { .. } | Outcome::Stale(_) | Outcome::Gone => None,
        }
    }
}
