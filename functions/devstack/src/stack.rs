//! The real handlers on the real AWS adapters, pointed at moto, and the parts of AWS moto
//! does not play: the stream's event source mapping, Scheduler firing, SES event delivery.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use cartback_app::{Bundle, Messaging, Metrics};
use cartback_aws::{
    BigCommerceHttpApi, DynamoCartStore, DynamoOfferCodes, DynamoShopDirectory, RetryPolicy,
    SchedulerSchedules, SchedulerTarget, SesMailer, SnsSms, SqsErasureQueue, SsmApiTokens,
    SsmWebhookSecrets, secret_from_parameter,
};
use cartback_core::insight::explain::Explanation;
use cartback_core::messages::render::Renderer;
use cartback_core::model::cart::{CartRecord, Versioned};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_feedback::Handled;
use cartback_pipeline::{EventSourceMapping, Exhausted};
use cartback_sender::{Outcome, SendError, UnsubscribeLinks};
use cartback_unsubscribe::UnsubscribeDeps;
use jiff::Timestamp;

use crate::apigw::{HttpCall, HttpReply};
use crate::{DevStackError, Names, Result, events};

/// How many times SQS hands an erasure job to the worker before dead-lettering it
/// (`maxReceiveCount` in `infra/template.yaml`).
pub const ERASURE_RECEIVES: usize = 5;

/// The ports bundle of the emulator: the AWS adapters the functions' `main.rs` wire, on moto.
pub type EmulatorPorts<C> = Bundle<
    DynamoCartStore,
    SesMailer,
    SnsSms,
    SchedulerSchedules,
    DynamoShopDirectory,
    SsmWebhookSecrets,
    BigCommerceHttpApi<SsmApiTokens>,
    C,
    DynamoOfferCodes,
    WatchedErasureQueue,
>;

/// The erasure queue on moto, noting that something was queued, so the pump asks SQS for
/// jobs only then (as the event source mapping learns of new messages) instead of polling
/// moto on every turn.
pub struct WatchedErasureQueue {
    queue: SqsErasureQueue,
    queued: std::sync::atomic::AtomicBool,
}

impl cartback_core::ports::ErasureQueue for WatchedErasureQueue {
    async fn enqueue(
        &self,
        job: &cartback_core::model::privacy::ErasureJob,
    ) -> std::result::Result<(), cartback_core::ports::PortError> {
        self.queue.enqueue(job).await?;
        self.queued.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A schedule as read back from moto's Scheduler.
#[derive(Debug, Clone)]
pub struct StoredSchedule {
    pub name: String,
    pub expression: String,
    pub timezone: Option<String>,
    pub flexible_window_off: bool,
    pub delete_after_completion: bool,
    pub target_arn: String,
    pub role_arn: String,
    pub input: String,
    pub at: Timestamp,
}

/// The most records Lambda's event source mapping hands the planner at once
/// (`infra/template.yaml`: `BatchSize: 100`).
pub const STREAM_BATCH_SIZE: usize = 100;
/// How often the event source mapping retries a batch the planner reported a failure in
/// before it sends the batch to the stream's dead-letter queue and goes on
/// (`infra/template.yaml`: `MaximumRetryAttempts: 10`).
pub const STREAM_RETRY_ATTEMPTS: u32 = 10;

/// The event source mapping of the template: stream → planner.
pub(crate) const STREAM: EventSourceMapping = EventSourceMapping {
    batch_size: STREAM_BATCH_SIZE,
    retry_attempts: STREAM_RETRY_ATTEMPTS,
    exhausted: Exhausted::DeadLetter,
};

/// What one [`Stack::drain_stream_report`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Stream records the planner handled (each counted once, however often re-driven).
    pub records: usize,
    /// Batches handed to the planner again from the record it reported failed.
    pub redrives: u32,
    /// Records given up on after [`STREAM_RETRY_ATTEMPTS`] retries of their batch (what the
    /// stream's dead-letter queue would hold), with the sequence number the planner named.
    pub dead_lettered: Vec<DeadLetteredRecord>,
}

/// A change to the schedule group seen in the scheduler's traffic.
#[derive(Debug, Clone)]
pub enum ScheduleChange {
    /// A schedule moto created, as its `CreateSchedule` request gave it.
    Created(StoredSchedule),
    Deleted(String),
}

impl StoredSchedule {
    /// The schedule a `CreateSchedule` request (`POST /schedules/{name}`, its JSON body)
    /// asks for.
    pub fn from_create_request(name: &str, body: &[u8]) -> Result<Self> {
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| DevStackError::Data(format!("CreateSchedule {name}: {e}")))?;
        let text = |pointer: &str| {
            json.pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let expression = text("/ScheduleExpression").unwrap_or_default();
        Ok(Self {
            name: name.to_owned(),
            at: parse_at(&expression)?,
            timezone: text("/ScheduleExpressionTimezone"),
            flexible_window_off: text("/FlexibleTimeWindow/Mode").as_deref() == Some("OFF"),
            delete_after_completion: text("/ActionAfterCompletion").as_deref() == Some("DELETE"),
            target_arn: text("/Target/Arn").unwrap_or_default(),
            role_arn: text("/Target/RoleArn").unwrap_or_default(),
            input: text("/Target/Input").unwrap_or_default(),
            expression,
        })
    }
}

/// A stream record the event source mapping gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetteredRecord {
    pub sequence_number: String,
    /// The cart the record was about (`shop`, `cart`), when its keys say.
    pub cart: Option<(String, String)>,
}

type StreamRecord = aws_sdk_dynamodbstreams::types::Record;
type EventRecord = aws_lambda_events::dynamodb::EventRecord;

/// The five functions, wired as their `main.rs` wires them, on moto, sharing one clock.
pub struct Stack<C> {
    /// What the functions' AWS clients are built from.
    pub sdk: aws_config::SdkConfig,
    /// What the parts of AWS the stack plays (the stream's event source mapping, Scheduler
    /// firing) and the inspection helpers use: the same as `sdk` unless the functions talk
    /// to moto through a fault proxy, whose faults must not hit what plays AWS itself.
    pub platform: aws_config::SdkConfig,
    pub names: Names,
    pub clock: C,
    /// The platform's clients, built once (building one is not free).
    streams: aws_sdk_dynamodbstreams::Client,
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    /// The erasure queue's URL, which the webhook and the erasure worker send to.
    erasure_queue_url: String,
    /// What the five functions run on (each function uses the ports it wires on AWS).
    pub(crate) ports: EmulatorPorts<C>,
    unsubscribe_secret: Secret,
    shard_iterators: Mutex<HashMap<String, Option<String>>>,
    stream_arn: Mutex<Option<String>>,
    /// Schedules read back so far, by name: a name is never reused for other contents
    /// (the generation changes with the time), so each is read once.
    known_schedules: Mutex<HashMap<String, StoredSchedule>>,
}

impl<C: Clock + Clone> Stack<C> {
    /// The handlers on the resources `names` names (which must exist, with the unsubscribe
    /// secret in SSM: the functions read it at start, as on AWS).
    pub async fn new(sdk: aws_config::SdkConfig, names: Names, clock: C) -> Result<Self> {
        Self::with_platform(sdk.clone(), sdk, names, clock).await
    }

    /// Like [`Stack::new`], with the functions' clients built from `sdk` (say, through a
    /// [`crate::FaultProxy`]) and what plays AWS from `platform` (straight to moto).
    pub async fn with_platform(
        sdk: aws_config::SdkConfig,
        platform: aws_config::SdkConfig,
        names: Names,
        clock: C,
    ) -> Result<Self> {
        let unsubscribe_secret = secret_from_parameter(&sdk, &names.unsubscribe_secret_param)
            .await
            .map_err(|e| DevStackError::Aws {
                what: "reading the unsubscribe secret".into(),
                message: e.to_string(),
            })?;
        let target = SchedulerTarget {
            group: names.schedule_group.clone(),
            target_arn: names.sender_arn.clone(),
            role_arn: names.scheduler_role_arn.clone(),
            dlq_arn: Some(names.scheduler_dlq_arn.clone()),
        };
        let sqs = aws_sdk_sqs::Client::new(&platform);
        let erasure_queue_url = sqs
            .get_queue_url()
            .queue_name(&names.erasure_queue)
            .send()
            .await
            .map_err(DevStackError::aws("finding the erasure queue"))?
            .queue_url
            .ok_or_else(|| DevStackError::Aws {
                what: "finding the erasure queue".into(),
                message: "SQS answered no URL".into(),
            })?;
        // One buffer for every function's metrics, as one CloudWatch namespace holds them.
        let metrics = Metrics::memory();
        Ok(Self {
            ports: Bundle {
                store: DynamoCartStore::new(&sdk, &names.table),
                mailer: SesMailer::new(&sdk, Some(names.configuration_set.clone())),
                sms: SnsSms::new(&sdk),
                schedules: SchedulerSchedules::new(&sdk, target),
                shops: DynamoShopDirectory::new(&sdk, &names.table),
                secrets: SsmWebhookSecrets::new(&sdk, &names.secrets_prefix),
                store_api: BigCommerceHttpApi::with_base(
                    &names.bigcommerce_api_url,
                    SsmApiTokens::new(&sdk, &names.secrets_prefix),
                    RetryPolicy::default(),
                ),
                clock: clock.clone(),
                offer_codes: DynamoOfferCodes::new(&sdk, &names.table),
                erasures: WatchedErasureQueue {
                    queue: SqsErasureQueue::new(&sdk, &erasure_queue_url),
                    queued: std::sync::atomic::AtomicBool::new(false),
                },
                metrics,
                messaging: Messaging {
                    renderer: Renderer::embedded(),
                    unsubscribe: Some(UnsubscribeLinks {
                        base_url: names.public_url.clone(),
                        secret: unsubscribe_secret.clone(),
                    }),
                },
            },
            unsubscribe_secret,
            shard_iterators: Mutex::new(HashMap::new()),
            stream_arn: Mutex::new(None),
            known_schedules: Mutex::new(HashMap::new()),
            streams: aws_sdk_dynamodbstreams::Client::new(&platform),
            scheduler: aws_sdk_scheduler::Client::new(&platform),
            sqs,
            erasure_queue_url,
            clock,
            sdk,
            platform,
            names,
        })
    }

    /// The table, for reading what the functions wrote (on the platform's clients).
    pub fn store(&self) -> DynamoCartStore {
        DynamoCartStore::new(&self.platform, &self.names.table)
    }

    pub fn shops(&self) -> DynamoShopDirectory {
        DynamoShopDirectory::new(&self.platform, &self.names.table)
    }

    pub fn offer_codes(&self) -> DynamoOfferCodes {
        DynamoOfferCodes::new(&self.platform, &self.names.table)
    }

    /// The secret the unsubscribe links are signed with.
    pub fn unsubscribe_secret(&self) -> &Secret {
        &self.unsubscribe_secret
    }

    /// The CloudWatch metrics (EMF objects) the functions emitted, in order.
    pub fn metrics(&self) -> Vec<cartback_core::insight::metrics::Emf> {
        self.ports.metrics.emitted()
    }

    /// An HTTP request to the webhook function (`POST /webhooks/{shop}/{platform}`).
    pub async fn call_webhook(&self, call: &HttpCall<'_>) -> Result<HttpReply> {
        let request = crate::apigw::request(call)?;
        let response = cartback_webhook::handle_http(request, &self.ports)
            .await
            .map_err(|e| DevStackError::handler("webhook")(e.to_string()))?;
        Ok(crate::apigw::reply(response))
    }

    /// An HTTP request to the unsubscribe function (`GET|POST /unsubscribe?t=…`).
    pub async fn call_unsubscribe(&self, call: &HttpCall<'_>) -> Result<HttpReply> {
        let request = crate::apigw::request(call)?;
        let response = cartback_unsubscribe::handle_http(
            request,
            &UnsubscribeDeps {
                ports: &self.ports,
                secret: self.unsubscribe_secret.clone(),
            },
        )
        .await
        .map_err(|e| DevStackError::handler("unsubscribe")(e.to_string()))?;
        Ok(crate::apigw::reply(response))
    }

    async fn stream_arn(&self) -> Result<String> {
        let known = self
            .stream_arn
            .lock()
            .map_err(|_| DevStackError::Data("stream arn lock poisoned".into()))?
            .clone();
        if let Some(arn) = known {
            return Ok(arn);
        }
        let arn = aws_sdk_dynamodb::Client::new(&self.platform)
            .describe_table()
            .table_name(&self.names.table)
            .send()
            .await
            .map_err(DevStackError::aws("describing the table"))?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| DevStackError::Data("the table has no stream".into()))?;
        if let Ok(mut known) = self.stream_arn.lock() {
            *known = Some(arn.clone());
        }
        Ok(arn)
    }

    /// Starts reading the stream at its end: records written before now are not planned
    /// again (a reused moto whose carts were planned by an earlier run).
    pub async fn skip_stream_backlog(&self) -> Result<()> {
        let streams = &self.streams;
        let arn = self.stream_arn().await?;
        for shard_id in self.shard_ids(&arn).await? {
            let iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard_id)
                .shard_iterator_type(ShardIteratorType::Latest)
                .send()
                .await
                .map_err(DevStackError::aws("reading the stream"))?
                .shard_iterator;
            self.iterators()?.insert(shard_id, iterator);
        }
        Ok(())
    }

    fn iterators(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Option<String>>>> {
        self.shard_iterators
            .lock()
            .map_err(|_| DevStackError::Data("stream position lock poisoned".into()))
    }

    async fn shard_ids(&self, arn: &str) -> Result<Vec<String>> {
        Ok(self
            .streams
            .describe_stream()
            .stream_arn(arn)
            .send()
            .await
            .map_err(DevStackError::aws("describing the stream"))?
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|shard| shard.shard_id)
            .collect())
    }

    /// Reads every new record from the table's stream and hands them to the planner, in
    /// batches of up to [`STREAM_BATCH_SIZE`], as the event source mapping would. Returns
    /// how many records it handled. A batch the planner reports a failure in is re-driven
    /// from that record, up to [`STREAM_RETRY_ATTEMPTS`] times; records given up on make
    /// this an error (see [`Stack::drain_stream_report`] for the details).
    pub async fn drain_stream(&self) -> Result<usize> {
        let drained = self.drain_stream_report().await?;
        if let Some(lost) = drained.dead_lettered.first() {
            return Err(DevStackError::handler("planner")(format!(
                "stream record {} failed {} retries and was dead-lettered ({} in all)",
                lost.sequence_number,
                STREAM_RETRY_ATTEMPTS,
                drained.dead_lettered.len()
            )));
        }
        Ok(drained.records)
    }

    /// Like [`Stack::drain_stream`], with what the event source mapping did: re-drives and
    /// dead-lettered records.
    pub async fn drain_stream_report(&self) -> Result<Drained> {
        let drain = STREAM.drain(self).await?;
        Ok(Drained {
            records: drain.records,
            redrives: drain.redrives,
            dead_lettered: drain
                .dead_lettered
                .iter()
                .map(dead_lettered_record)
                .collect(),
        })
    }

    /// Like [`Stack::drain_erasures`], only when a function queued a job since the last
    /// drain (what the pump calls on every turn).
    pub async fn drain_queued_erasures(&self) -> Result<usize> {
        let queued = self
            .ports
            .erasures
            .queued
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        if queued {
            self.drain_erasures().await
        } else {
            Ok(0)
        }
    }

    /// Hands the erasure queue's messages to the erasure worker, as the event source mapping
    /// does, until the queue is empty: one message a batch, deleted when done; a failed one
    /// is received again at once (not after the visibility timeout) up to
    /// [`ERASURE_RECEIVES`] times, then dropped as the dead-letter queue would take it.
    /// Returns the jobs (chunks) done.
    pub async fn drain_erasures(&self) -> Result<usize> {
        use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
        let mut chunks = 0;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.erasure_queue_url)
                .max_number_of_messages(1)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .map_err(DevStackError::aws("receiving from the erasure queue"))?;
            let Some(message) = received.messages.unwrap_or_default().into_iter().next() else {
                return Ok(chunks);
            };
            let receipt = message.receipt_handle.clone().unwrap_or_default();
            let receives: usize = message
                .attributes
                .as_ref()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.body = message.body.clone();
            let mut event = SqsEvent::default();
            event.records.push(record);
            let response =
                cartback_eraser::handle_batch(&event, &self.ports, Default::default()).await;
            chunks += 1;
            let failed = !response.batch_item_failures.is_empty();
            if failed && receives < ERASURE_RECEIVES {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.erasure_queue_url)
                    .receipt_handle(&receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(DevStackError::aws("releasing an erasure job"))?;
                continue;
            }
            self.sqs
                .delete_message()
                .queue_url(&self.erasure_queue_url)
                .receipt_handle(&receipt)
                .send()
                .await
                .map_err(DevStackError::aws("deleting an erasure job"))?;
            if failed {
                return Err(DevStackError::handler("eraser")(format!(
                    "an erasure job failed {ERASURE_RECEIVES} receives and was dead-lettered"
                )));
            }
        }
    }

    /// Every record written to the stream since the last read.
    pub(crate) async fn read_stream_records(&self) -> Result<Vec<StreamRecord>> {
        let streams = &self.streams;
        let arn = self.stream_arn().await?;
        let mut records = Vec::new();
        // moto keeps one open shard per stream: describe it again only when a shard closed.
        let cached: Vec<String> = {
            let iterators = self.iterators()?;
            if iterators.is_empty() || iterators.values().any(Option::is_none) {
                Vec::new()
            } else {
                iterators.keys().cloned().collect()
            }
        };
        let shards = if cached.is_empty() {
            self.shard_ids(&arn).await?
        } else {
            cached
        };
        for shard_id in shards {
            let known = self.iterators()?.get(&shard_id).cloned();
            let mut iterator = match known {
                Some(iterator) => iterator,
                None => {
                    streams
                        .get_shard_iterator()
                        .stream_arn(&arn)
                        .shard_id(&shard_id)
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await
                        .map_err(DevStackError::aws("reading the stream"))?
                        .shard_iterator
                }
            };
            while let Some(current) = iterator.clone() {
                let page = streams
                    .get_records()
                    .shard_iterator(&current)
                    .send()
                    .await
                    .map_err(DevStackError::aws("reading the stream"))?;
                let got = page.records.unwrap_or_default();
                let empty = got.is_empty();
                records.extend(got);
                iterator = page.next_shard_iterator;
                if empty {
                    break;
                }
            }
            self.iterators()?.insert(shard_id, iterator);
        }
        Ok(records)
    }

    /// Every schedule in the group, read back from moto, earliest first.
    pub async fn schedules(&self) -> Result<Vec<StoredSchedule>> {
        let client = &self.scheduler;
        let group = &self.names.schedule_group;
        let mut found = Vec::new();
        let mut known = self
            .known_schedules
            .lock()
            .map_err(|_| DevStackError::Data("schedule cache lock poisoned".into()))?
            .clone();
        let mut listed = HashMap::new();
        let mut pages = client
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(DevStackError::aws("listing schedules"))?;
            for summary in page.schedules {
                let Some(name) = summary.name else { continue };
                if let Some(schedule) = known.remove(&name) {
                    listed.insert(name, schedule.clone());
                    found.push(schedule);
                    continue;
                }
                let Some(schedule) = self.read_schedule(&name).await? else {
                    continue;
                };
                listed.insert(name, schedule.clone());
                found.push(schedule);
            }
        }
        if let Ok(mut cache) = self.known_schedules.lock() {
            *cache = listed;
        }
        found.sort_by_key(|s| s.at);
        Ok(found)
    }

    /// One schedule read back from moto; `None` when it is gone.
    async fn read_schedule(&self, name: &str) -> Result<Option<StoredSchedule>> {
        let read = self
            .scheduler
            .get_schedule()
            .group_name(&self.names.schedule_group)
            .name(name)
            .send()
            .await;
        let s = match read {
            Ok(s) => s,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(error) => {
                return Err(DevStackError::aws(format!("reading schedule {name}"))(
                    error,
                ));
            }
        };
        let expression = s.schedule_expression.unwrap_or_default();
        let target = s
            .target
            .ok_or_else(|| DevStackError::Data(format!("schedule {name} has no target")))?;
        let at = parse_at(&expression)?;
        Ok(Some(StoredSchedule {
            name: name.to_owned(),
            timezone: s.schedule_expression_timezone,
            flexible_window_off: s
                .flexible_time_window
                .is_some_and(|w| w.mode == aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off),
            delete_after_completion: s.action_after_completion
                == Some(aws_sdk_scheduler::types::ActionAfterCompletion::Delete),
            target_arn: target.arn,
            role_arn: target.role_arn,
            input: target.input.unwrap_or_default(),
            expression,
            at,
        }))
    }

    /// What a caller that sees the scheduler's traffic knows (as EventBridge Scheduler
    /// itself does): schedules created join what [`Stack::take_due_known`] fires, schedules
    /// deleted are forgotten; in order. Spares listing (and reading back) every pending
    /// schedule to find the new ones.
    pub fn learn_schedules(&self, changes: Vec<ScheduleChange>) -> Result<()> {
        let mut known = self
            .known_schedules
            .lock()
            .map_err(|_| DevStackError::Data("schedule cache lock poisoned".into()))?;
        for change in changes {
            match change {
                ScheduleChange::Created(schedule) => {
                    known.insert(schedule.name.clone(), schedule);
                }
                ScheduleChange::Deleted(name) => {
                    known.remove(&name);
                }
            }
        }
        Ok(())
    }

    /// Takes every schedule due at the clock's time, as EventBridge Scheduler fires them:
    /// the schedule is deleted (`ActionAfterCompletion: DELETE`) and its input returned, for
    /// [`Stack::wake`].
    pub async fn take_due_schedules(&self) -> Result<Vec<(StoredSchedule, WakeUp)>> {
        let schedules = self.schedules().await?;
        self.fire_due(schedules).await
    }

    /// Like [`Stack::take_due_schedules`], among the schedules already known (read by
    /// [`Stack::schedules`] or [`Stack::learn_schedules`]), without listing them again.
    pub async fn take_due_known(&self) -> Result<Vec<(StoredSchedule, WakeUp)>> {
        let mut schedules: Vec<StoredSchedule> = self
            .known_schedules
            .lock()
            .map_err(|_| DevStackError::Data("schedule cache lock poisoned".into()))?
            .values()
            .cloned()
            .collect();
        schedules.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
        self.fire_due(schedules).await
    }

    async fn fire_due(
        &self,
        schedules: Vec<StoredSchedule>,
    ) -> Result<Vec<(StoredSchedule, WakeUp)>> {
        let now = self.clock.now();
        let mut due = Vec::new();
        for schedule in schedules {
            if schedule.at > now {
                continue;
            }
            if let Some(wake) = self.fire(&schedule).await? {
                due.push((schedule, wake));
            }
        }
        Ok(due)
    }

    /// Fires one schedule as EventBridge Scheduler does: deletes it and returns its input;
    /// `None` when it is gone meanwhile (the planner deleted it: the cart moved on).
    pub(crate) async fn fire(&self, schedule: &StoredSchedule) -> Result<Option<WakeUp>> {
        let deleted = self
            .scheduler
            .delete_schedule()
            .group_name(&self.names.schedule_group)
            .name(&schedule.name)
            .send()
            .await;
        if let Ok(mut known) = self.known_schedules.lock() {
            known.remove(&schedule.name);
        }
        match deleted {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(error) => {
                return Err(DevStackError::aws(format!(
                    "deleting schedule {}",
                    schedule.name
                ))(error));
            }
        }
        serde_json::from_str(&schedule.input)
            .map(Some)
            .map_err(|e| DevStackError::Data(format!("schedule {} input: {e}", schedule.name)))
    }

    /// When the earliest schedule read back by the last [`Stack::schedules`] (or
    /// [`Stack::take_due_schedules`]) and not fired since is due: no call to moto.
    pub fn next_known_due(&self) -> Option<Timestamp> {
        self.known_schedules
            .lock()
            .ok()?
            .values()
            .map(|s| s.at)
            .min()
    }

    /// Invokes the sender with one wake-up (a schedule firing, or a retry).
    pub async fn wake(&self, wake: &WakeUp) -> Result<Outcome, SendError> {
        cartback_sender::handle(wake, &self.ports).await
    }

    /// Delivers SES events to the feedback handler as SNS would (one record per message).
    pub async fn post_ses_events(&self, messages: &[String]) -> Result<Handled> {
        let event = events::sns_event(messages, &self.names.region)?;
        cartback_feedback::handle(&event, &self.ports)
            .await
            .map_err(|e| DevStackError::handler("feedback")(e.to_string()))
    }

    /// Every cart on the table (a scan; fine for a local table).
    pub async fn carts(&self) -> Result<Vec<Versioned<CartRecord>>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut pages = aws_sdk_dynamodb::Client::new(&self.platform)
            .scan()
            .table_name(&self.names.table)
            .filter_expression("begins_with(sk, :cart)")
            .expression_attribute_values(
                ":cart",
                AttributeValue::S(cartback_core::model::table::CART_SK_PREFIX.to_owned()),
            )
            .into_paginator()
            .send();
        let mut carts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(DevStackError::aws("scanning the table"))?;
            for item in page.items.unwrap_or_default() {
                let cart = cartback_core::model::cart_item::decode(&serde_dynamo::Item::from(item))
                    .map_err(|e| DevStackError::Data(e.to_string()))?;
                carts.push(cart);
            }
        }
        Ok(carts)
    }

    /// `explain` for one cart at the clock's time.
    pub async fn explain(&self, shop: &ShopId, cart: &CartId) -> Result<Explanation> {
        cartback_sender::explain_cart(&self.store(), &self.shops(), shop, cart, self.clock.now())
            .await
            .map_err(|e| DevStackError::handler("explain")(e.to_string()))
    }
}

fn parse_at(expression: &str) -> Result<Timestamp> {
    let inner = expression
        .strip_prefix("at(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| DevStackError::Data(format!("not an at() expression: {expression}")))?;
    format!("{inner}Z")
        .parse()
        .map_err(|e| DevStackError::Data(format!("{expression}: {e}")))
}

/// What the dead-letter queue says of a stream record: its sequence number, and the cart
/// its keys name (`pk = SHOP#{shop}`, `sk = CART#{cart}`; the image's other attributes may
/// be compressed, or unreadable, which is why it was dead-lettered).
fn dead_lettered_record(record: &EventRecord) -> DeadLetteredRecord {
    use cartback_core::model::table::{CART_SK_PREFIX, SHOP_PK_PREFIX};
    let change = &record.change;
    let id = |key: &str, prefix: &str| match change.keys.get(key) {
        Some(serde_dynamo::AttributeValue::S(value)) => {
            value.strip_prefix(prefix).map(str::to_owned)
        }
        _ => None,
    };
    DeadLetteredRecord {
        sequence_number: change.sequence_number.clone().unwrap_or_default(),
        cart: id("pk", SHOP_PK_PREFIX).zip(id("sk", CART_SK_PREFIX)),
    }
}
