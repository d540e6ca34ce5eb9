//! The end-to-end test harness: a moto server (installed into a pinned venv by
//! `scripts/pyenv` and started on a free loopback port), the same resources the SAM template
//! creates, and the real webhook, planner, sender and feedback handlers on the real AWS
//! adapters.
//!
//! moto keeps DynamoDB (with streams), Scheduler, SES v2, SNS (SMS) and SSM faithfully but
//! never fires a schedule: `fire_due_schedules` does, like EventBridge Scheduler would. The
//! planner is fed from the table's real stream (DescribeStream / GetShardIterator /
//! GetRecords), the way Lambda's event source mapping polls it. moto publishes no SES events
//! either: `post_ses_events` hands documented-shape SES events to the feedback handler in the
//! SNS envelope Lambda would receive.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use cartback_aws::{
    DynamoCartStore, DynamoOfferCodes, DynamoShopDirectory, SchedulerSchedules, SchedulerTarget,
    SesMailer, SnsSms, SsmWebhookSecrets, secret_from_parameter,
};
use cartback_core::ids::ShopId;
use cartback_core::render::Renderer;
use cartback_core::schedule::WakeUp;
use cartback_core::shop::{Secret, ShopSettings};
use cartback_feedback::{FeedbackDeps, Handled};
use cartback_local::VirtualClock;
use cartback_planner::PlannerDeps;
use cartback_sender::{Metrics, Outcome, SenderDeps, UnsubscribeLinks};
use cartback_unsubscribe::UnsubscribeDeps;
use cartback_webhook::WebhookDeps;
use jiff::Timestamp;
use serde_json::{Value, json};

pub const TABLE: &str = "cartback-e2e";
pub const GROUP: &str = "cartback";
pub const SECRETS_PREFIX: &str = "/cartback/shops/";
pub const SENDER_ARN: &str = "arn:aws:lambda:eu-north-1:123456789012:function:cartback-sender";
pub const SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/cartback-scheduler";
pub const SCHEDULER_DLQ_ARN: &str = "arn:aws:sqs:eu-north-1:123456789012:cartback-scheduler-dlq";
pub const REGION: &str = "eu-north-1";
/// The SecureString with the unsubscribe token secret, as `infra/template.yaml` names it.
pub const UNSUBSCRIBE_SECRET_PARAM: &str = "/cartback/unsubscribe-secret";
/// The HTTP API's base URL the emails link to (nothing listens: tests call the handler).
pub const PUBLIC_URL: &str = "https://abc123.execute-api.eu-north-1.amazonaws.com";

/// Every log line the handlers wrote in this test process, as JSON (the Lambda format).
pub fn captured_logs() -> String {
    LOGS.lock()
        .map(|buffer| String::from_utf8_lossy(&buffer).into_owned())
        .unwrap_or_default()
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = LOGS.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the same JSON log format the functions use, writing into `captured_logs()`.
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_current_span(true)
        .with_writer(|| LogWriter)
        .try_init();
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Finds `moto_server`: `$CARTBACK_MOTO_SERVER`, else the venv `scripts/pyenv` makes (once).
fn moto_binary() -> Result<PathBuf> {
    static FOUND: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut found = FOUND.lock().map_err(|_| anyhow!("lock poisoned"))?;
    if let Some(path) = found.as_ref() {
        return Ok(path.clone());
    }
    let path = match std::env::var_os("CARTBACK_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => {
            let output = Command::new("bash")
                .arg(repo_root().join("scripts/pyenv"))
                .stderr(Stdio::inherit())
                .output()
                .context("running scripts/pyenv")?;
            if !output.status.success() {
                bail!("scripts/pyenv failed ({})", output.status);
            }
            let venv = String::from_utf8(output.stdout)?.trim().to_owned();
            PathBuf::from(venv).join("bin/moto_server")
        }
    };
    if !path.exists() {
        bail!("moto_server not found at {}", path.display());
    }
    *found = Some(path.clone());
    Ok(path)
}

/// A moto server of our own on a free loopback port; killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// moto's own server (`moto_server`) with `threaded=False`: one request at a time.
///
/// moto's threaded server runs requests side by side, and its `TransactWriteItems` is not
/// atomic under that: it checks each condition and applies each item in turn, and a cancelled
/// transaction restores a copy of the whole table taken when it began, wiping out what other
/// requests wrote meanwhile. DynamoDB transactions are serializable; serving one request at
/// a time gives moto that property back, while the clients still race (their requests
/// interleave).
const SERIAL_MOTO: &str = "import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
os.environ.setdefault('MOTO_PORT', sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
run_simple(sys.argv[1], int(sys.argv[2]), app, threaded=False, request_handler=MotoRequestHandler)
";

impl Moto {
    pub async fn start() -> Result<Self> {
        Self::start_with(false).await
    }

    /// A moto that serves one request at a time (see `SERIAL_MOTO`): for tests of
    /// concurrent transactions.
    pub async fn start_serialised() -> Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(serialised: bool) -> Result<Self> {
        let binary = moto_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
            .to_string();
        let mut command = if serialised {
            let python = binary
                .parent()
                .map(|bin| bin.join("python"))
                .ok_or_else(|| anyhow!("no venv next to {}", binary.display()))?;
            let mut command = Command::new(python);
            command.args(["-c", SERIAL_MOTO, "127.0.0.1", &port]);
            command
        } else {
            let mut command = Command::new(&binary);
            command.args(["-H", "127.0.0.1", "-p", &port]);
            command
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if http
                .get(format!("{}/moto-api/data.json", moto.endpoint))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                bail!(
                    "moto server did not answer on {} within 30 s",
                    moto.endpoint
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// moto's whole state (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Result<Value> {
        Ok(
            reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
                .await?
                .error_for_status()?
                .json()
                .await?,
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Webhook = WebhookDeps<DynamoCartStore, DynamoShopDirectory, SsmWebhookSecrets, VirtualClock>;
type Planner = PlannerDeps<SchedulerSchedules, VirtualClock>;
type Sender = SenderDeps<
    DynamoCartStore,
    SesMailer,
    SnsSms,
    DynamoShopDirectory,
    VirtualClock,
    DynamoOfferCodes,
>;
type Feedback = FeedbackDeps<DynamoCartStore, DynamoShopDirectory, VirtualClock>;
type Unsubscribe = UnsubscribeDeps<DynamoCartStore, DynamoShopDirectory, VirtualClock>;

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

/// One test's world: moto, the resources, the handlers, a virtual clock.
pub struct TestEnv {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub clock: VirtualClock,
    pub shop: ShopId,
    pub secret: String,
    webhook: Webhook,
    planner: Planner,
    sender: Sender,
    feedback: Feedback,
    unsubscribe: Unsubscribe,
    shard_iterators: Mutex<HashMap<String, Option<String>>>,
}

impl TestEnv {
    /// Starts moto and creates what `infra/template.yaml` creates, plus one connected shop.
    pub async fn start(now: Timestamp, shop: &str, secret: &str) -> Result<Self> {
        Self::start_on(Moto::start().await?, now, shop, secret).await
    }

    /// Like `start`, on a moto that serves one request at a time (`Moto::start_serialised`).
    pub async fn start_serialised(now: Timestamp, shop: &str, secret: &str) -> Result<Self> {
        Self::start_on(Moto::start_serialised().await?, now, shop, secret).await
    }

    async fn start_on(moto: Moto, now: Timestamp, shop: &str, secret: &str) -> Result<Self> {
        capture_logs();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "cartback-e2e",
            ))
            .load()
            .await;
        create_resources(&sdk).await?;
        let shop = ShopId::parse(shop).map_err(|e| anyhow!("{e}"))?;
        let settings = ShopSettings::defaults_for(&shop);
        aws_sdk_sesv2::Client::new(&sdk)
            .create_email_identity()
            .email_identity(settings.from_address.as_str())
            .send()
            .await
            .context("creating the SES identity")?;
        DynamoShopDirectory::new(&sdk, TABLE)
            .put_settings(&shop, &settings)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        aws_sdk_ssm::Client::new(&sdk)
            .put_parameter()
            .name(format!("{SECRETS_PREFIX}{shop}/webhook-secret"))
            .value(secret)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .context("storing the webhook secret")?;
        // The operator creates this secret before deploying; both functions read it at start.
        aws_sdk_ssm::Client::new(&sdk)
            .put_parameter()
            .name(UNSUBSCRIBE_SECRET_PARAM)
            .value("e2e-unsubscribe-secret-not-for-production")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .context("storing the unsubscribe secret")?;
        let unsubscribe_secret = secret_from_parameter(&sdk, UNSUBSCRIBE_SECRET_PARAM)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let clock = VirtualClock::new(now);
        let target = SchedulerTarget {
            group: GROUP.into(),
            sender_arn: SENDER_ARN.into(),
            role_arn: SCHEDULER_ROLE_ARN.into(),
            dlq_arn: Some(SCHEDULER_DLQ_ARN.into()),
        };
        Ok(Self {
            webhook: WebhookDeps {
                store: DynamoCartStore::new(&sdk, TABLE),
                shops: DynamoShopDirectory::new(&sdk, TABLE),
                secrets: SsmWebhookSecrets::new(&sdk, SECRETS_PREFIX),
                clock: clock.clone(),
            },
            planner: PlannerDeps {
                schedules: SchedulerSchedules::new(&sdk, target),
                clock: clock.clone(),
            },
            sender: SenderDeps {
                store: DynamoCartStore::new(&sdk, TABLE),
                mailer: SesMailer::new(&sdk, Some("cartback".into())),
                sms: SnsSms::new(&sdk),
                shops: DynamoShopDirectory::new(&sdk, TABLE),
                clock: clock.clone(),
                offer_codes: DynamoOfferCodes::new(&sdk, TABLE),
                metrics: Metrics::memory(),
                renderer: Renderer::embedded(),
                unsubscribe: Some(UnsubscribeLinks {
                    base_url: PUBLIC_URL.to_owned(),
                    secret: unsubscribe_secret.clone(),
                }),
            },
            unsubscribe: UnsubscribeDeps {
                feedback: FeedbackDeps {
                    store: DynamoCartStore::new(&sdk, TABLE),
                    shops: DynamoShopDirectory::new(&sdk, TABLE),
                    clock: clock.clone(),
                },
                secret: unsubscribe_secret,
            },
            feedback: FeedbackDeps {
                store: DynamoCartStore::new(&sdk, TABLE),
                shops: DynamoShopDirectory::new(&sdk, TABLE),
                clock: clock.clone(),
            },
            moto,
            sdk,
            clock,
            shop,
            secret: secret.to_owned(),
            shard_iterators: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> DynamoCartStore {
        DynamoCartStore::new(&self.sdk, TABLE)
    }

    /// The offer code pools on the table.
    pub fn offer_codes(&self) -> DynamoOfferCodes {
        DynamoOfferCodes::new(&self.sdk, TABLE)
    }

    /// The CloudWatch metrics (EMF objects) the sender emitted.
    pub fn sender_metrics(&self) -> Vec<cartback_core::metrics::Emf> {
        self.sender.metrics.emitted()
    }

    /// POSTs a webhook through the real HTTP handler, as API Gateway (HTTP API, payload 2.0)
    /// would hand it to the function. Returns status and body.
    pub async fn post_webhook(
        &self,
        platform: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String)> {
        self.post_webhook_to(self.shop.as_str(), platform, headers, body)
            .await
    }

    /// Like `post_webhook`, to another shop's URL.
    pub async fn post_webhook_to(
        &self,
        shop: &str,
        platform: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String)> {
        let mut header_map = serde_json::Map::new();
        header_map.insert("content-type".into(), json!("application/json"));
        for (name, value) in headers {
            header_map.insert(name.to_ascii_lowercase(), json!(value));
        }
        let path = format!("/webhooks/{shop}/{platform}");
        let event = json!({
            "version": "2.0",
            "routeKey": "POST /webhooks/{shop}/{platform}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": header_map,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "e2etest",
                "domainName": "e2etest.execute-api.eu-north-1.amazonaws.com",
                "domainPrefix": "e2etest",
                "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Shopify-Captain-Hook" },
                "requestId": "e2e",
                "routeKey": "POST /webhooks/{shop}/{platform}",
                "stage": "$default",
                "time": "02/Nov/2026:08:00:00 +0000",
                "timeEpoch": 1793606400000_i64
            },
            "pathParameters": { "shop": shop, "platform": platform },
            "body": body,
            "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string())
            .map_err(|e| anyhow!("building the API Gateway request: {e}"))?;
        let response = cartback_webhook::handle_http(request, &self.webhook).await?;
        let status = response.status().as_u16();
        let body = match response.body() {
            lambda_http::Body::Text(text) => text.clone(),
            lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        Ok((status, body))
    }

    /// POSTs a Shopify webhook for the shop, signed with its secret as Shopify signs it.
    pub async fn post_shopify(
        &self,
        topic: &str,
        body: &str,
        webhook_id: &str,
    ) -> Result<(u16, String)> {
        let hmac =
            cartback_core::shopify::sign(&Secret::new(self.secret.as_str()), body.as_bytes());
        let headers = [
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Hmac-Sha256", hmac.as_str()),
            ("X-Shopify-Webhook-Id", webhook_id),
            ("X-Shopify-Shop-Domain", self.shop.as_str()),
        ];
        self.post_webhook("shopify", &headers, body).await
    }

    /// Reads every new record from the table's stream and hands them to the planner in one
    /// batch, as the event source mapping would. Returns how many cart records it handled.
    pub async fn drain_stream(&self) -> Result<usize> {
        let dynamo = aws_sdk_dynamodb::Client::new(&self.sdk);
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.sdk);
        let arn = dynamo
            .describe_table()
            .table_name(TABLE)
            .send()
            .await?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| anyhow!("the table has no stream"))?;
        let shards = streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await?
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            let known = self
                .shard_iterators
                .lock()
                .map_err(|_| anyhow!("lock poisoned"))?
                .get(&shard_id)
                .cloned();
            let mut iterator = match known {
                Some(iterator) => iterator,
                None => {
                    streams
                        .get_shard_iterator()
                        .stream_arn(&arn)
                        .shard_id(&shard_id)
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await?
                        .shard_iterator
                }
            };
            while let Some(current) = iterator.clone() {
                let page = streams
                    .get_records()
                    .shard_iterator(&current)
                    .send()
                    .await?;
                let got = page.records.unwrap_or_default();
                let empty = got.is_empty();
                records.extend(got);
                iterator = page.next_shard_iterator;
                if empty {
                    break;
                }
            }
            self.shard_iterators
                .lock()
                .map_err(|_| anyhow!("lock poisoned"))?
                .insert(shard_id, iterator);
        }
        let count = records.len();
        if count == 0 {
            return Ok(0);
        }
        let event = lambda_event(records)?;
        let response = cartback_planner::handle(&event, &self.planner).await;
        if let Some(failure) = response.batch_item_failures.first() {
            bail!(
                "planner reported a failed record: {:?}",
                failure.item_identifier
            );
        }
        Ok(count)
    }

    /// Every schedule in the group, read back from moto.
    pub async fn schedules(&self) -> Result<Vec<StoredSchedule>> {
        let client = aws_sdk_scheduler::Client::new(&self.sdk);
        let listed = client.list_schedules().group_name(GROUP).send().await?;
        let mut found = Vec::new();
        for summary in listed.schedules {
            let Some(name) = summary.name else { continue };
            let s = client
                .get_schedule()
                .group_name(GROUP)
                .name(&name)
                .send()
                .await?;
            let expression = s.schedule_expression.unwrap_or_default();
            let target = s
                .target
                .ok_or_else(|| anyhow!("schedule {name} has no target"))?;
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
        found.sort_by_key(|s| s.at);
        Ok(found)
    }

    /// Fires every schedule due at the clock's time, as EventBridge Scheduler would: the
    /// schedule is deleted (ActionAfterCompletion DELETE) and the sender runs on its input.
    pub async fn fire_due_schedules(&self) -> Result<Vec<Outcome>> {
        let client = aws_sdk_scheduler::Client::new(&self.sdk);
        let now = cartback_core::time::Clock::now(&self.clock);
        let mut outcomes = Vec::new();
        for schedule in self.schedules().await? {
            if schedule.at > now {
                continue;
            }
            client
                .delete_schedule()
                .group_name(GROUP)
                .name(&schedule.name)
                .send()
                .await?;
            let wake: WakeUp = serde_json::from_str(&schedule.input)
                .with_context(|| format!("schedule {} input", schedule.name))?;
            outcomes.push(
                cartback_sender::handle(&wake, &self.sender)
                    .await
                    .map_err(|e| anyhow!("sender: {e}"))?,
            );
        }
        Ok(outcomes)
    }

    /// Delivers one wake-up to the sender directly (a duplicate or late delivery).
    pub async fn fire_wake_up(&self, wake: &WakeUp) -> Result<Outcome> {
        cartback_sender::handle(wake, &self.sender)
            .await
            .map_err(|e| anyhow!("sender: {e}"))
    }

    /// Delivers SES events to the feedback handler as SNS would (one record per message).
    pub async fn post_ses_events(&self, messages: &[String]) -> Result<Handled> {
        cartback_feedback::handle(&sns_event(messages)?, &self.feedback)
            .await
            .map_err(|e| anyhow!("feedback: {e}"))
    }

    /// Calls the unsubscribe function as API Gateway would (HTTP API, payload 2.0): `method`
    /// GET or POST to `/unsubscribe?t=<token>`, a POST with the RFC 8058 one-click body.
    /// Returns status and page.
    pub async fn call_unsubscribe(&self, method: &str, token: &str) -> Result<(u16, String)> {
        let query = format!("t={token}");
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{method} /unsubscribe"),
            "rawPath": "/unsubscribe",
            "rawQueryString": query,
            "headers": {"host": "abc123.execute-api.eu-north-1.amazonaws.com"},
            "queryStringParameters": {"t": token},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.eu-north-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": method,
                    "path": "/unsubscribe",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "Mozilla/5.0"
                },
                "requestId": "e2e",
                "routeKey": format!("{method} /unsubscribe"),
                "stage": "$default",
                "time": "02/Nov/2026:09:00:00 +0000",
                "timeEpoch": 1_793_610_000_000_u64
            },
            "isBase64Encoded": false
        });
        if method == "POST" {
            event["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
            event["body"] = json!("List-Unsubscribe=One-Click");
        }
        let request = lambda_http::request::from_str(&event.to_string())
            .map_err(|e| anyhow!("not an HTTP API event: {e}"))?;
        let response = cartback_unsubscribe::handle_http(request, &self.unsubscribe)
            .await
            .map_err(|e| anyhow!("unsubscribe: {e}"))?;
        let status = response.status().as_u16();
        let body = match response.into_body() {
            lambda_http::Body::Text(text) => text,
            lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => String::new(),
        };
        Ok((status, body))
    }

    /// SMS messages SNS accepted, from moto's state (`sns` → `SMS`: phone_number, message).
    pub async fn sent_sms(&self) -> Result<Vec<SentSms>> {
        let data = self.moto.data().await?;
        let mut sms = Vec::new();
        if let Some(sns) = data.get("sns") {
            collect_sms(sns, &mut sms);
        }
        Ok(sms)
    }

    /// Raw MIME messages SES accepted, from moto's state.
    pub async fn sent_emails(&self) -> Result<Vec<SentMail>> {
        let data = self.moto.data().await?;
        let mut mails = Vec::new();
        if let Some(ses) = data.get("ses") {
            collect_mails(ses, &mut mails);
        }
        Ok(mails)
    }
}

/// One message as moto recorded it.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub source: String,
    pub destinations: Vec<String>,
    pub raw: String,
}

impl SentMail {
    /// The decoded parts: (subject, text body, HTML body).
    pub fn decoded(&self) -> Result<(String, String, String)> {
        let message = mail_parser::MessageParser::default()
            .parse(self.raw.as_bytes())
            .ok_or_else(|| anyhow!("the sent message is not MIME"))?;
        Ok((
            message.subject().unwrap_or_default().to_owned(),
            message.body_text(0).unwrap_or_default().into_owned(),
            message.body_html(0).unwrap_or_default().into_owned(),
        ))
    }
}

/// One SMS as moto recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    pub phone_number: String,
    pub message: String,
    pub message_id: String,
}

/// moto 5 keeps published SMS as `{"sns": {"SMS": [{"phone_number", "message",
/// "message_id"}]}}`; any object with those keys is one, wherever moto nests it.
fn collect_sms(value: &Value, found: &mut Vec<SentSms>) {
    match value {
        Value::Object(map) => {
            let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
            if let (Some(phone_number), Some(message)) = (text("phone_number"), text("message")) {
                found.push(SentSms {
                    phone_number,
                    message,
                    message_id: text("message_id").unwrap_or_default(),
                });
                return;
            }
            map.values().for_each(|v| collect_sms(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_sms(v, found)),
        _ => {}
    }
}

/// SNS's Lambda event around SES event JSON, one record per message (the shape of AWS's
/// sample SNS event for Lambda).
pub fn sns_event(messages: &[String]) -> Result<aws_lambda_events::sns::SnsEvent> {
    let topic = format!("arn:aws:sns:{REGION}:123456789012:cartback-ses-events");
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            json!({
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-11-02T09:00:06.000Z",
                    "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
                    "SigningCertUrl": format!("https://sns.{REGION}.amazonaws.com/SimpleNotificationService-example.pem"),
                    "MessageId": format!("95df01b4-ee98-5cb9-9903-4c221d41eb{i:02}"),
                    "Message": message,
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": format!("https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:2bcfbf39"),
                    "TopicArn": topic,
                    "Subject": null
                }
            })
        })
        .collect();
    Ok(serde_json::from_value(json!({ "Records": records }))?)
}

/// An SES event in the documented shape (a fixture of `functions/core/tests/fixtures/ses`)
/// about one of our emails: SES's message id, the recipient, the send time
/// (`mail.timestamp`) and the time of the event (its block's `timestamp`) replaced.
pub fn ses_event(
    fixture: &str,
    message_id: &str,
    to: &str,
    sent_at: Timestamp,
    happened_at: Timestamp,
) -> Result<String> {
    let mut event: Value = serde_json::from_str(fixture)?;
    let block = match event.get("eventType").and_then(Value::as_str) {
        Some("Open") => "open",
        Some("Click") => "click",
        Some("Bounce") => "bounce",
        Some("Complaint") => "complaint",
        Some("Delivery") => "delivery",
        other => bail!("no timestamp block for event type {other:?}"),
    };
    let stamp = |t: Timestamp| json!(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    event["mail"]["timestamp"] = stamp(sent_at);
    event["mail"]["messageId"] = json!(message_id);
    event["mail"]["destination"] = json!([to]);
    event["mail"]["commonHeaders"]["messageId"] = json!(message_id);
    event[block]["timestamp"] = stamp(happened_at);
    Ok(event.to_string())
}

fn collect_mails(value: &Value, mails: &mut Vec<SentMail>) {
    match value {
        Value::Object(map) => {
            if let Some(raw) = map.get("raw_data").and_then(Value::as_str) {
                mails.push(SentMail {
                    source: map
                        .get("source")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    destinations: map
                        .get("destinations")
                        .and_then(Value::as_array)
                        .map(|a| {
                            // moto lists the envelope recipient and the To header both.
                            let mut to: Vec<String> = a
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect();
                            to.dedup();
                            to
                        })
                        .unwrap_or_default(),
                    raw: raw.to_owned(),
                });
                return;
            }
            map.values().for_each(|v| collect_mails(v, mails));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_mails(v, mails)),
        _ => {}
    }
}

fn parse_at(expression: &str) -> Result<Timestamp> {
    let inner = expression
        .strip_prefix("at(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| anyhow!("not an at() expression: {expression}"))?;
    Ok(format!("{inner}Z").parse()?)
}

/// Streams SDK records → the Lambda event the planner receives.
fn lambda_event(
    records: Vec<aws_sdk_dynamodbstreams::types::Record>,
) -> Result<aws_lambda_events::dynamodb::Event> {
    let mut out = Vec::new();
    for record in records {
        let change = record
            .dynamodb
            .ok_or_else(|| anyhow!("stream record without dynamodb"))?;
        let image = |item: Option<
            HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
        >|
         -> Value {
            item.map(|i| serde_json::to_value(serde_dynamo::Item::from(i)).unwrap_or(Value::Null))
                .unwrap_or(Value::Null)
        };
        let mut dynamodb = json!({
            "Keys": image(change.keys),
            "NewImage": image(change.new_image),
            "OldImage": image(change.old_image),
            "SequenceNumber": change.sequence_number,
            "SizeBytes": change.size_bytes.unwrap_or(0),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 0
        });
        if let Some(map) = dynamodb.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        out.push(json!({
            "eventID": record.event_id,
            "eventName": record.event_name.map(|n| n.as_str().to_owned()),
            "eventVersion": record.event_version,
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": dynamodb,
        }));
    }
    Ok(serde_json::from_value(json!({ "Records": out }))?)
}

/// The table, stream, GSI and schedule group of `infra/template.yaml`.
async fn create_resources(sdk: &aws_config::SdkConfig) -> Result<()> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    dynamo
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        )
        .send()
        .await
        .context("creating the table")?;
    aws_sdk_scheduler::Client::new(sdk)
        .create_schedule_group()
        .name(GROUP)
        .send()
        .await
        .context("creating the schedule group")?;
    Ok(())
}
