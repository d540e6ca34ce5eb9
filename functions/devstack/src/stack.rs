//! The real handlers on the real AWS adapters, pointed at moto, and the parts of AWS moto
//! does not play: the stream's event source mapping, Scheduler firing, SES event delivery.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use cartback_aws::{
    BigCommerceHttpApi, DynamoCartStore, DynamoOfferCodes, DynamoShopDirectory, RetryPolicy,
    SchedulerSchedules, SchedulerTarget, SesMailer, SnsSms, SsmApiTokens, SsmWebhookSecrets,
    secret_from_parameter,
};
use cartback_core::cart::{CartRecord, Versioned};
use cartback_core::explain::Explanation;
use cartback_core::ids::{CartId, ShopId};
use cartback_core::render::Renderer;
use cartback_core::schedule::WakeUp;
use cartback_core::shop::Secret;
use cartback_core::time::Clock;
use cartback_feedback::{FeedbackDeps, Handled};
use cartback_planner::PlannerDeps;
use cartback_sender::{Metrics, Outcome, SendError, SenderDeps, UnsubscribeLinks};
use cartback_unsubscribe::UnsubscribeDeps;
use cartback_webhook::WebhookDeps;
use jiff::Timestamp;

use crate::apigw::{HttpCall, HttpReply};
use crate::{DevStackError, Names, Result, events};

type Webhook<C> = WebhookDeps<
    DynamoCartStore,
    DynamoShopDirectory,
    SsmWebhookSecrets,
    C,
    BigCommerceHttpApi<SsmApiTokens>,
>;

type Planner<C> = PlannerDeps<SchedulerSchedules, C>;
type Sender<C> =
    SenderDeps<DynamoCartStore, SesMailer, SnsSms, DynamoShopDirectory, C, DynamoOfferCodes>;
type Feedback<C> = FeedbackDeps<DynamoCartStore, DynamoShopDirectory, C>;
type Unsubscribe<C> = UnsubscribeDeps<DynamoCartStore, DynamoShopDirectory, C>;

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

/// The five functions, wired as their `main.rs` wires them, on moto, sharing one clock.
pub struct Stack<C> {
    pub sdk: aws_config::SdkConfig,
    pub names: Names,
    pub clock: C,
    webhook: Webhook<C>,
    planner: Planner<C>,
    sender: Sender<C>,
    feedback: Feedback<C>,
    unsubscribe: Unsubscribe<C>,
    unsubscribe_secret: Secret,
    shard_iterators: Mutex<HashMap<String, Option<String>>>,
}

impl<C: Clock + Clone> Stack<C> {
    /// The handlers on the resources `names` names (which must exist, with the unsubscribe
    /// secret in SSM: the functions read it at start, as on AWS).
    pub async fn new(sdk: aws_config::SdkConfig, names: Names, clock: C) -> Result<Self> {
        let unsubscribe_secret = secret_from_parameter(&sdk, &names.unsubscribe_secret_param)
            .await
            .map_err(|e| DevStackError::Aws {
                what: "reading the unsubscribe secret".into(),
                message: e.to_string(),
            })?;
        let target = SchedulerTarget {
            group: names.schedule_group.clone(),
            sender_arn: names.sender_arn.clone(),
            role_arn: names.scheduler_role_arn.clone(),
            dlq_arn: Some(names.scheduler_dlq_arn.clone()),
        };
        let store = || DynamoCartStore::new(&sdk, &names.table);
        let shops = || DynamoShopDirectory::new(&sdk, &names.table);
        // One buffer for every function's metrics, as one CloudWatch namespace holds them.
        let metrics = Metrics::memory();
        let feedback = || FeedbackDeps {
            store: store(),
            shops: shops(),
            clock: clock.clone(),
            metrics: metrics.clone(),
        };
        Ok(Self {
            webhook: WebhookDeps {
                store: store(),
                shops: shops(),
                secrets: SsmWebhookSecrets::new(&sdk, &names.secrets_prefix),
                clock: clock.clone(),
                metrics: metrics.clone(),
                store_api: BigCommerceHttpApi::with_base(
                    &names.bigcommerce_api_url,
                    SsmApiTokens::new(&sdk, &names.secrets_prefix),
                    RetryPolicy::default(),
                ),
            },
            planner: PlannerDeps {
                schedules: SchedulerSchedules::new(&sdk, target),
                clock: clock.clone(),
            },
            sender: SenderDeps {
                store: store(),
                mailer: SesMailer::new(&sdk, Some(names.configuration_set.clone())),
                sms: SnsSms::new(&sdk),
                shops: shops(),
                clock: clock.clone(),
                offer_codes: DynamoOfferCodes::new(&sdk, &names.table),
                metrics: metrics.clone(),
                renderer: Renderer::embedded(),
                unsubscribe: Some(UnsubscribeLinks {
                    base_url: names.public_url.clone(),
                    secret: unsubscribe_secret.clone(),
                }),
            },
            unsubscribe: UnsubscribeDeps {
                feedback: feedback(),
                secret: unsubscribe_secret.clone(),
            },
            feedback: feedback(),
            unsubscribe_secret,
            shard_iterators: Mutex::new(HashMap::new()),
            clock,
            sdk,
            names,
        })
    }

    pub fn store(&self) -> DynamoCartStore {
        DynamoCartStore::new(&self.sdk, &self.names.table)
    }

    pub fn shops(&self) -> DynamoShopDirectory {
        DynamoShopDirectory::new(&self.sdk, &self.names.table)
    }

    pub fn offer_codes(&self) -> DynamoOfferCodes {
        DynamoOfferCodes::new(&self.sdk, &self.names.table)
    }

    /// The secret the unsubscribe links are signed with.
    pub fn unsubscribe_secret(&self) -> &Secret {
        &self.unsubscribe_secret
    }

    /// The CloudWatch metrics (EMF objects) the functions emitted, in order.
    pub fn metrics(&self) -> Vec<cartback_core::metrics::Emf> {
        self.sender.metrics.emitted()
    }

    /// An HTTP request to the webhook function (`POST /webhooks/{shop}/{platform}`).
    pub async fn call_webhook(&self, call: &HttpCall<'_>) -> Result<HttpReply> {
        let request = crate::apigw::request(call)?;
        let response = cartback_webhook::handle_http(request, &self.webhook)
            .await
            .map_err(|e| DevStackError::handler("webhook")(e.to_string()))?;
        Ok(crate::apigw::reply(response))
    }

    /// An HTTP request to the unsubscribe function (`GET|POST /unsubscribe?t=…`).
    pub async fn call_unsubscribe(&self, call: &HttpCall<'_>) -> Result<HttpReply> {
        let request = crate::apigw::request(call)?;
        let response = cartback_unsubscribe::handle_http(request, &self.unsubscribe)
            .await
            .map_err(|e| DevStackError::handler("unsubscribe")(e.to_string()))?;
        Ok(crate::apigw::reply(response))
    }

    async fn stream_arn(&self) -> Result<String> {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .describe_table()
            .table_name(&self.names.table)
            .send()
            .await
            .map_err(DevStackError::aws("describing the table"))?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| DevStackError::Data("the table has no stream".into()))
    }

    /// Starts reading the stream at its end: records written before now are not planned
    /// again (a reused moto whose carts were planned by an earlier run).
    pub async fn skip_stream_backlog(&self) -> Result<()> {
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.sdk);
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
        Ok(aws_sdk_dynamodbstreams::Client::new(&self.sdk)
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

    /// Reads every new record from the table's stream and hands them to the planner in one
    /// batch, as the event source mapping would. Returns how many records it handled.
    pub async fn drain_stream(&self) -> Result<usize> {
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.sdk);
        let arn = self.stream_arn().await?;
        let mut records = Vec::new();
        for shard_id in self.shard_ids(&arn).await? {
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
        let count = records.len();
        if count == 0 {
            return Ok(0);
        }
        let event = events::stream_event(records, &self.names.region)?;
        let response = cartback_planner::handle(&event, &self.planner).await;
        if let Some(failure) = response.batch_item_failures.first() {
            return Err(DevStackError::handler("planner")(format!(
                "failed on stream record {:?}",
                failure.item_identifier
            )));
        }
        Ok(count)
    }

    /// Every schedule in the group, read back from moto, earliest first.
    pub async fn schedules(&self) -> Result<Vec<StoredSchedule>> {
        let client = aws_sdk_scheduler::Client::new(&self.sdk);
        let group = &self.names.schedule_group;
        let mut found = Vec::new();
        let mut pages = client
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(DevStackError::aws("listing schedules"))?;
            for summary in page.schedules {
                let Some(name) = summary.name else { continue };
                let s = client
                    .get_schedule()
                    .group_name(group)
                    .name(&name)
                    .send()
                    .await
                    .map_err(DevStackError::aws(format!("reading schedule {name}")))?;
                let expression = s.schedule_expression.unwrap_or_default();
                let target = s
                    .target
                    .ok_or_else(|| DevStackError::Data(format!("schedule {name} has no target")))?;
                let at = parse_at(&expression)?;
                found.push(StoredSchedule {
                    name,
                    timezone: s.schedule_expression_timezone,
                    flexible_window_off: s.flexible_time_window.is_some_and(|w| {
                        w.mode == aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off
                    }),
                    delete_after_completion: s.action_after_completion
                        == Some(aws_sdk_scheduler::types::ActionAfterCompletion::Delete),
                    target_arn: target.arn,
                    role_arn: target.role_arn,
                    input: target.input.unwrap_or_default(),
                    expression,
                    at,
                });
            }
        }
        found.sort_by_key(|s| s.at);
        Ok(found)
    }

    /// Takes every schedule due at the clock's time, as EventBridge Scheduler fires them:
    /// the schedule is deleted (`ActionAfterCompletion: DELETE`) and its input returned, for
    /// [`Stack::wake`].
    pub async fn take_due_schedules(&self) -> Result<Vec<(StoredSchedule, WakeUp)>> {
        let client = aws_sdk_scheduler::Client::new(&self.sdk);
        let now = self.clock.now();
        let mut due = Vec::new();
        for schedule in self.schedules().await? {
            if schedule.at > now {
                continue;
            }
            let deleted = client
                .delete_schedule()
                .group_name(&self.names.schedule_group)
                .name(&schedule.name)
                .send()
                .await;
            match deleted {
                Ok(_) => {}
                // Gone meanwhile: the planner deleted it (the cart moved on).
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    continue;
                }
                Err(error) => {
                    return Err(DevStackError::aws(format!(
                        "deleting schedule {}",
                        schedule.name
                    ))(error));
                }
            }
            let wake: WakeUp = serde_json::from_str(&schedule.input).map_err(|e| {
                DevStackError::Data(format!("schedule {} input: {e}", schedule.name))
            })?;
            due.push((schedule, wake));
        }
        Ok(due)
    }

    /// Invokes the sender with one wake-up (a schedule firing, or a retry).
    pub async fn wake(&self, wake: &WakeUp) -> Result<Outcome, SendError> {
        cartback_sender::handle(wake, &self.sender).await
    }

    /// Delivers SES events to the feedback handler as SNS would (one record per message).
    pub async fn post_ses_events(&self, messages: &[String]) -> Result<Handled> {
        let event = events::sns_event(messages, &self.names.region)?;
        cartback_feedback::handle(&event, &self.feedback)
            .await
            .map_err(|e| DevStackError::handler("feedback")(e.to_string()))
    }

    /// Every cart on the table (a scan; fine for a local table).
    pub async fn carts(&self) -> Result<Vec<Versioned<CartRecord>>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut pages = aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(&self.names.table)
            .filter_expression("begins_with(sk, :cart)")
            .expression_attribute_values(
                ":cart",
                AttributeValue::S(cartback_core::table::CART_SK_PREFIX.to_owned()),
            )
            .into_paginator()
            .send();
        let mut carts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(DevStackError::aws("scanning the table"))?;
            for item in page.items.unwrap_or_default() {
                let version = match item.get("version") {
                    Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
                    _ => 0,
                };
                let value: CartRecord = serde_dynamo::from_item(item)
                    .map_err(|e| DevStackError::Data(format!("a cart item: {e}")))?;
                carts.push(Versioned { value, version });
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
