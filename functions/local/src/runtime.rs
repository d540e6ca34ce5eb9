//! The local runtime: the real webhook, planner and sender handlers wired to in-memory
//! ports, with a virtual clock. The table's stream feeds the planner; due schedules fire
//! the sender; a failed sender invocation is retried like Lambda's asynchronous invoke.

use cartback_core::render::Renderer;
use cartback_core::schedule::WakeUp;
use cartback_core::sequence::Channel;
use cartback_core::shop::Secret;
use cartback_core::time::Clock;
use cartback_feedback::{Applied, FeedbackDeps, RecipientEvent};
use cartback_planner::PlannerDeps;
use cartback_sender::{Metrics, Outcome, SendError, SenderDeps, UnsubscribeLinks};
use cartback_webhook::{Accepted, WebhookDeps, WebhookReply, WebhookRequest};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::sync::Mutex;

use crate::{
    CallCounts, LocalShops, MemoryMailer, MemoryOfferCodes, MemorySchedules, MemorySms,
    MemoryStore, VirtualClock,
};

/// Lambda retries a failed asynchronous invocation twice, about a minute then two apart.
/// Where local unsubscribe links point (nothing listens there unless a local server does).
pub const LOCAL_PUBLIC_URL: &str = "http://localhost:8787";
/// The fixed secret local unsubscribe tokens are signed with; never used on AWS.
pub const LOCAL_UNSUBSCRIBE_SECRET: &str = "cartback-local-unsubscribe-secret";

const ASYNC_RETRY_DELAYS: [SignedDuration; 2] =
    [SignedDuration::from_mins(1), SignedDuration::from_mins(2)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Sent,
    Skipped,
    Stopped,
    Deferred,
}

/// One decision, as `simulate` prints it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    pub kind: ReportKind,
    pub shop: String,
    pub cart: String,
    /// 1-based step number.
    pub step: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The SMS text (SMS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// The variant of a step split into variants (A/B).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// SMS parts (SMS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<usize>,
    /// The offer code the message shows (the step's, or the one drawn from its pool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_code: Option<String>,
    /// When a deferred message is due again.
    #[serde(skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

mod rfc3339_opt {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&t.strftime("%Y-%m-%dT%H:%M:%SZ")),
            None => s.serialize_none(),
        }
    }
}

mod rfc3339 {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the planner failed on stream record {0}")]
    Planner(String),
    #[error("stream record could not be read: {0}")]
    Stream(String),
    #[error(transparent)]
    Port(#[from] cartback_core::ports::PortError),
}

struct Retry {
    at: Timestamp,
    wake: WakeUp,
    attempt: usize,
}

/// Everything a local run needs, sharing one store, scheduler, outbox and clock.
pub struct LocalStack {
    pub clock: VirtualClock,
    pub store: MemoryStore,
    pub schedules: MemorySchedules,
    pub mailer: MemoryMailer,
    pub sms: MemorySms,
    pub shops: LocalShops,
    /// The shops' offer code pools (filled from the shops' `offer_pools`).
    pub offer_codes: MemoryOfferCodes,
    /// The CloudWatch metrics the functions emitted (sender and webhook).
    pub metrics: Metrics,
    /// The AWS calls the real functions would have made.
    pub calls: CallCounts,
    feedback: FeedbackDeps<MemoryStore, LocalShops, VirtualClock>,
    webhook: WebhookDeps<MemoryStore, LocalShops, LocalShops, VirtualClock>,
    planner: PlannerDeps<MemorySchedules, VirtualClock>,
    sender: SenderDeps<
        MemoryStore,
        MemoryMailer,
        MemorySms,
        LocalShops,
        VirtualClock,
        MemoryOfferCodes,
    >,
    retries: Mutex<Vec<Retry>>,
}

impl LocalStack {
    pub fn new(start: Timestamp, shops: LocalShops) -> Self {
        let clock = VirtualClock::new(start);
        let calls = CallCounts::default();
        let store = MemoryStore::counting(calls.clone());
        let schedules = MemorySchedules::counting(calls.clone());
        let mailer = MemoryMailer::counting(calls.clone());
        let sms = MemorySms::counting(calls.clone());
        let offer_codes = MemoryOfferCodes::counting(calls.clone());
        for (shop, pool, codes) in shops.offer_pools() {
            offer_codes.seed(&shop, &pool, &codes);
        }
        let metrics = Metrics::memory();
        Self {
            feedback: FeedbackDeps {
                store: store.clone(),
                shops: shops.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
            },
            webhook: WebhookDeps {
                store: store.clone(),
                shops: shops.clone(),
                secrets: shops.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
            },
            planner: PlannerDeps {
                schedules: schedules.clone(),
                clock: clock.clone(),
            },
            sender: SenderDeps {
                store: store.clone(),
                mailer: mailer.clone(),
                sms: sms.clone(),
                shops: shops.clone(),
                clock: clock.clone(),
                offer_codes: offer_codes.clone(),
                metrics: metrics.clone(),
                renderer: Renderer::embedded(),
                unsubscribe: Some(UnsubscribeLinks {
                    base_url: LOCAL_PUBLIC_URL.to_owned(),
                    secret: Secret::new(LOCAL_UNSUBSCRIBE_SECRET),
                }),
            },
            clock,
            store,
            schedules,
            mailer,
            sms,
            shops,
            offer_codes,
            metrics,
            calls,
            retries: Mutex::new(Vec::new()),
        }
    }

    /// Delivers a webhook at the current virtual time, then lets the planner catch up.
    pub async fn deliver(
        &self,
        request: &WebhookRequest,
    ) -> Result<(WebhookReply, Vec<Report>), RuntimeError> {
        let reply = cartback_webhook::handle(request, &self.webhook).await;
        self.drain_stream().await?;
        let mut reports = Vec::new();
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

    /// A recipient opened, clicked, bounced, complained or unsubscribed: applied as the
    /// feedback function would. Returns what changed.
    pub async fn recipient_event(&self, event: &RecipientEvent) -> Result<Applied, RuntimeError> {
        let applied = cartback_feedback::apply(event, &self.feedback).await?;
        self.drain_stream().await?;
        Ok(applied)
    }

    /// Feeds every pending stream record to the planner, as Lambda's event source mapping would.
    pub async fn drain_stream(&self) -> Result<(), RuntimeError> {
        loop {
            let records = self.store.take_stream();
            if records.is_empty() {
                return Ok(());
            }
            let event: aws_lambda_events::dynamodb::Event =
                serde_json::from_value(serde_json::json!({ "Records": records }))
                    .map_err(|e| RuntimeError::Stream(e.to_string()))?;
            let response = cartback_planner::handle(&event, &self.planner).await;
            if let Some(failure) = response.batch_item_failures.first() {
                return Err(RuntimeError::Planner(
                    failure.item_identifier.clone().unwrap_or_default(),
                ));
            }
        }
    }

    fn next_wake(&self, until: Timestamp) -> Option<(Timestamp, WakeUp, usize)> {
        let scheduled = self.schedules.next_due_at().filter(|at| *at <= until);
        let mut retries = self.retries.lock().ok()?;
        let retry_index = retries
            .iter()
            .enumerate()
            .filter(|(_, r)| r.at <= until)
            .min_by_key(|(_, r)| r.at)
            .map(|(i, _)| i);
        match (scheduled, retry_index) {
            (Some(at), Some(i)) if retries[i].at < at => {
                let r = retries.remove(i);
                Some((r.at, r.wake, r.attempt))
            }
            (Some(_), _) => {
                let spec = self.schedules.take_due(until)?;
                Some((spec.at, spec.wake_up, 0))
            }
            (None, Some(i)) => {
                let r = retries.remove(i);
                Some((r.at, r.wake, r.attempt))
            }
            (None, None) => None,
        }
    }

    /// Fires every schedule (and retry) due up to `until`, in time order, then sets the
    /// clock to `until`.
    pub async fn run_until(&self, until: Timestamp) -> Result<Vec<Report>, RuntimeError> {
        let mut reports = Vec::new();
        while let Some((at, wake, attempt)) = self.next_wake(until) {
            self.clock.advance_to(at);
            match cartback_sender::handle(&wake, &self.sender).await {
                Ok(outcome) => reports.extend(self.outcome_report(&wake, outcome).await),
                Err(error) => self.retry_later(&wake, attempt, &error, &mut reports),
            }
            self.drain_stream().await?;
        }
        self.clock.advance_to(until);
        Ok(reports)
    }

    fn retry_later(
        &self,
        wake: &WakeUp,
        attempt: usize,
        error: &SendError,
        reports: &mut Vec<Report>,
    ) {
        match ASYNC_RETRY_DELAYS.get(attempt) {
            Some(delay) => {
                let at = self
                    .clock
                    .now()
                    .checked_add(*delay)
                    .unwrap_or(self.clock.now());
                if let Ok(mut retries) = self.retries.lock() {
                    retries.push(Retry {
                        at,
                        wake: wake.clone(),
                        attempt: attempt + 1,
                    });
                }
            }
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

    fn report(&self, kind: ReportKind, shop: &str, cart: &str, step: u32) -> Report {
        Report {
            at: self.clock.now(),
            kind,
            shop: shop.to_owned(),
            cart: cart.to_owned(),
            step,
            channel: None,
            to: None,
            subject: None,
            text: None,
            template: None,
            sequence: None,
            variant: None,
            message_id: None,
            segments: None,
            offer_code: None,
            until: None,
            reason: None,
        }
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
