//! The end-to-end test harness: a moto server (installed into a pinned venv by
//! `scripts/pyenv` and started on a free loopback port), the same resources the SAM template
//! creates, and the real webhook, planner, sender, feedback and unsubscribe handlers on the
//! real AWS adapters — all from `cartback-devstack`, which `cartback dev` runs too.
//!
//! moto keeps DynamoDB (with streams), Scheduler, SES v2, SNS (SMS) and SSM faithfully but
//! never fires a schedule: `fire_due_schedules` does, like EventBridge Scheduler would. The
//! planner is fed from the table's real stream (DescribeStream / GetShardIterator /
//! GetRecords), the way Lambda's event source mapping polls it. moto publishes no SES events
//! either: `post_ses_events` hands documented-shape SES events to the feedback handler in the
//! SNS envelope Lambda would receive.

mod personal;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Result, anyhow};
use cartback_aws::{DynamoCartStore, DynamoOfferCodes};
use cartback_core::model::ids::ShopId;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_devstack::apigw::HttpCall;
use cartback_devstack::events::SesEventOf;
use cartback_devstack::{MotoOptions, Names, Stack};
use cartback_feedback::Handled;
use cartback_local::VirtualClock;
use cartback_sender::Outcome;
use jiff::Timestamp;

pub use cartback_devstack::{Moto, PublishedSms, SentMail, StoredSchedule};
pub use personal::{Personal, leaks, occurs_in, personal_data};

pub const TABLE: &str = "cartback-e2e";
pub const GROUP: &str = "cartback";
pub const SECRETS_PREFIX: &str = "/cartback/shops/";
pub const SENDER_ARN: &str = "arn:aws:lambda:eu-north-1:123456789012:function:cartback-sender";
pub const SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/cartback-scheduler";
pub const SCHEDULER_DLQ_ARN: &str = "arn:aws:sqs:eu-north-1:123456789012:cartback-scheduler-dlq";
pub const REGION: &str = cartback_devstack::REGION;
/// The SecureString with the unsubscribe token secret, as `infra/template.yaml` names it.
pub const UNSUBSCRIBE_SECRET_PARAM: &str = "/cartback/unsubscribe-secret";
/// The HTTP API's base URL the emails link to (nothing listens: tests call the handler).
pub const PUBLIC_URL: &str = "https://abc123.execute-api.eu-north-1.amazonaws.com";
const API_DOMAIN: &str = "abc123.execute-api.eu-north-1.amazonaws.com";
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

/// Installs the functions' own JSON log format, writing into `captured_logs()`.
fn capture_logs() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = cartback_aws::json_subscriber(|| LogWriter, "info").try_init();
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Finds `moto_server` once per test process.
pub fn moto_binary() -> Result<PathBuf> {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = FOUND.get() {
        return Ok(path.clone());
    }
    let path = cartback_devstack::moto_binary(&repo_root())?;
    Ok(FOUND.get_or_init(|| path).clone())
}

/// The resource names of the tests' stack (`infra/template.yaml`'s, table `cartback-e2e`).
pub fn names() -> Names {
    Names::for_stack("cartback", TABLE, PUBLIC_URL)
}

/// One test's world: moto, the resources, the handlers, a virtual clock.
pub struct TestEnv {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub clock: VirtualClock,
    pub shop: ShopId,
    pub secret: String,
    pub stack: Stack<VirtualClock>,
    /// Every schedule fired so far (name and input), for the personal-data guard.
    fired: Mutex<Vec<StoredSchedule>>,
}

impl TestEnv {
    /// Starts moto and creates what `infra/template.yaml` creates, plus one connected shop.
    pub async fn start(now: Timestamp, shop: &str, secret: &str) -> Result<Self> {
        Self::start_with(now, shop, secret, false).await
    }

    /// Like `start`, on a moto that serves one request at a time
    /// (`MotoOptions::serialised`): for tests of concurrent transactions.
    pub async fn start_serialised(now: Timestamp, shop: &str, secret: &str) -> Result<Self> {
        Self::start_with(now, shop, secret, true).await
    }

    async fn start_with(
        now: Timestamp,
        shop: &str,
        secret: &str,
        serialised: bool,
    ) -> Result<Self> {
        let id = ShopId::parse(shop).map_err(|e| anyhow!("{e}"))?;
        Self::start_custom(
            now,
            shop,
            secret,
            ShopSettings::defaults_for(&id),
            names(),
            serialised,
        )
        .await
    }

    /// Like `start`, with the shop's settings and the stack's names given (a BigCommerce
    /// shop's store hash, the store API's URL on a test server).
    pub async fn start_custom(
        now: Timestamp,
        shop: &str,
        secret: &str,
        settings: ShopSettings,
        names: Names,
        serialised: bool,
    ) -> Result<Self> {
        capture_logs();
        let options = MotoOptions {
            serialised,
            ..MotoOptions::default()
        };
        let moto = Moto::start(&moto_binary()?, &options).await?;
        let sdk = cartback_devstack::sdk_config(&moto.endpoint, REGION).await;
        cartback_devstack::create_resources(&sdk, &names).await?;
        let shop = ShopId::parse(shop).map_err(|e| anyhow!("{e}"))?;
        cartback_devstack::connect_shop(&sdk, &names, &shop, &settings, secret).await?;
        // The operator creates this secret before deploying; both functions read it at start.
        cartback_devstack::put_secret(
            &sdk,
            UNSUBSCRIBE_SECRET_PARAM,
            "e2e-unsubscribe-secret-not-for-production",
        )
        .await?;
        let clock = VirtualClock::new(now);
        let stack = Stack::new(sdk.clone(), names, clock.clone()).await?;
        Ok(Self {
            moto,
            sdk,
            clock,
            shop,
            secret: secret.to_owned(),
            stack,
            fired: Mutex::default(),
        })
    }

    pub fn store(&self) -> DynamoCartStore {
        self.stack.store()
    }

    /// The offer code pools on the table.
    pub fn offer_codes(&self) -> DynamoOfferCodes {
        self.stack.offer_codes()
    }

    /// The CloudWatch metrics (EMF objects) every function emitted.
    pub fn metrics(&self) -> Vec<cartback_core::insight::metrics::Emf> {
        self.stack.metrics()
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
        let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        all.push(("user-agent".to_owned(), "Shopify-Captain-Hook".to_owned()));
        let path = format!("/webhooks/{shop}/{platform}");
        let reply = self
            .stack
            .call_webhook(&HttpCall {
                method: "POST",
                route: "/webhooks/{shop}/{platform}",
                path: &path,
                headers: all,
                path_parameters: vec![("shop", shop.to_owned()), ("platform", platform.to_owned())],
                body: body.as_bytes(),
                domain: API_DOMAIN,
                source_ip: "127.0.0.1",
                ..HttpCall::default()
            })
            .await?;
        Ok((reply.status, reply.text()))
    }

    /// POSTs a Shopify webhook for the shop, signed with its secret as Shopify signs it.
    pub async fn post_shopify(
        &self,
        topic: &str,
        body: &str,
        webhook_id: &str,
    ) -> Result<(u16, String)> {
        let hmac = cartback_core::platforms::shopify::sign(
            &Secret::new(self.secret.as_str()),
            body.as_bytes(),
        );
        let headers = [
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Hmac-Sha256", hmac.as_str()),
            ("X-Shopify-Webhook-Id", webhook_id),
            ("X-Shopify-Shop-Domain", self.shop.as_str()),
        ];
        self.post_webhook("shopify", &headers, body).await
    }

    /// Reads every new record from the table's stream and hands them to the planner in one
    /// batch, as the event source mapping would. Returns how many records it handled.
    pub async fn drain_stream(&self) -> Result<usize> {
        Ok(self.stack.drain_stream().await?)
    }

    /// Hands the queued erasure jobs to the erasure worker until none is left; the chunks
    /// done.
    pub async fn drain_erasures(&self) -> Result<usize> {
        Ok(self.stack.drain_erasures().await?)
    }

    /// Every schedule in the group, read back from moto.
    pub async fn schedules(&self) -> Result<Vec<StoredSchedule>> {
        Ok(self.stack.schedules().await?)
    }

    /// Fires every schedule due at the clock's time, as EventBridge Scheduler would: the
    /// schedule is deleted (ActionAfterCompletion DELETE) and the sender runs on its input.
    pub async fn fire_due_schedules(&self) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        for (schedule, wake) in self.stack.take_due_schedules().await? {
            if let Ok(mut fired) = self.fired.lock() {
                fired.push(schedule);
            }
            outcomes.push(self.fire_wake_up(&wake).await?);
        }
        Ok(outcomes)
    }

    /// Fails when a person from `inputs` (webhook bodies, SES events: see `personal_data`)
    /// appears in a log line of this process, a schedule's name or input (fired or
    /// pending), or a metric. Returns how many personal values were looked for.
    pub async fn assert_no_personal_data(&self, inputs: &[&str]) -> Result<usize> {
        let mut schedules: Vec<StoredSchedule> =
            self.fired.lock().map(|f| f.clone()).unwrap_or_default();
        schedules.extend(self.schedules().await?);
        assert_no_personal_data_in(inputs, &schedules, &self.metrics())
    }

    /// Delivers one wake-up to the sender directly (a duplicate or late delivery).
    pub async fn fire_wake_up(&self, wake: &WakeUp) -> Result<Outcome> {
        self.stack
            .wake(wake)
            .await
            .map_err(|e| anyhow!("sender: {e}"))
    }

    /// Delivers SES events to the feedback handler as SNS would (one record per message).
    pub async fn post_ses_events(&self, messages: &[String]) -> Result<Handled> {
        Ok(self.stack.post_ses_events(messages).await?)
    }

    /// Calls the unsubscribe function as API Gateway would (HTTP API, payload 2.0): `method`
    /// GET or POST to `/unsubscribe?t=<token>`, a POST with the RFC 8058 one-click body.
    /// Returns status and page.
    pub async fn call_unsubscribe(&self, method: &str, token: &str) -> Result<(u16, String)> {
        let query = format!("t={token}");
        let mut headers = vec![("user-agent".to_owned(), "Mozilla/5.0".to_owned())];
        let body: &[u8] = if method == "POST" {
            headers.push((
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ));
            b"List-Unsubscribe=One-Click"
        } else {
            b""
        };
        let reply = self
            .stack
            .call_unsubscribe(&HttpCall {
                method,
                route: "/unsubscribe",
                path: "/unsubscribe",
                query: &query,
                headers,
                body,
                domain: API_DOMAIN,
                source_ip: "192.0.2.1",
                ..HttpCall::default()
            })
            .await?;
        Ok((reply.status, reply.text()))
    }

    /// SMS messages SNS accepted, from moto's state (`sns` → `SMS`: phone_number, message).
    pub async fn sent_sms(&self) -> Result<Vec<PublishedSms>> {
        Ok(cartback_devstack::sent_sms(&self.moto.data().await?))
    }

    /// Raw MIME messages SES accepted, from moto's state.
    pub async fn sent_emails(&self) -> Result<Vec<SentMail>> {
        Ok(cartback_devstack::sent_emails(&self.moto.data().await?))
    }
}

/// Fails when a person from `inputs` (webhook bodies, SES events: see `personal_data`)
/// appears in a log line of this process, in one of `schedules` (name or input) or in one of
/// `metrics`. Returns how many personal values were looked for.
pub fn assert_no_personal_data_in(
    inputs: &[&str],
    schedules: &[StoredSchedule],
    metrics: &[cartback_core::insight::metrics::Emf],
) -> Result<usize> {
    let mut personal: Vec<Personal> = inputs.iter().flat_map(|i| personal_data(i)).collect();
    personal.sort_by(|a, b| a.value.cmp(&b.value));
    personal.dedup_by(|a, b| a.value == b.value);
    if personal.is_empty() {
        return Err(anyhow!(
            "the inputs hold no personal data: the guard would prove nothing"
        ));
    }
    let logs = captured_logs();
    let schedules: Vec<String> = schedules
        .iter()
        .map(|s| format!("{} {}", s.name, s.input))
        .collect();
    let metrics: Vec<String> = metrics.iter().map(|m| m.to_line()).collect();
    let mut places = vec![("logs", logs.as_str())];
    places.extend(schedules.iter().map(|s| ("a schedule", s.as_str())));
    places.extend(metrics.iter().map(|m| ("a metric", m.as_str())));
    let found = leaks(&personal, &places);
    if let Some((place, value)) = found.first() {
        return Err(anyhow!(
            "personal data ({} {:?}) in {place}; {} leak(s) in all",
            value.field,
            value.value,
            found.len()
        ));
    }
    Ok(personal.len())
}

/// Installs the functions' JSON log format, writing into `captured_logs()` (idempotent).
pub fn capture_function_logs() {
    capture_logs();
}

/// SNS's Lambda event around SES event JSON, one record per message (the shape of AWS's
/// sample SNS event for Lambda).
pub fn sns_event(messages: &[String]) -> Result<aws_lambda_events::sns::SnsEvent> {
    Ok(cartback_devstack::events::sns_event(messages, REGION)?)
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
    Ok(cartback_devstack::events::ses_event(
        fixture,
        &SesEventOf {
            message_id,
            to,
            sent_at,
            happened_at,
            tags: None,
        },
    )?)
}
