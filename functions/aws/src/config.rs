//! Configuration from the environment (read once at start) and shared set-up.

use std::env;

/// Settings every function reads from its environment (set by `infra/template.yaml`).
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub table: String,
    pub secrets_prefix: String,
    pub configuration_set: Option<String>,
    pub schedule_group: String,
    /// What schedules target: the send queue's ARN (`CARTBACK_WAKE_TARGET_ARN`).
    pub wake_target_arn: Option<String>,
    pub scheduler_role_arn: Option<String>,
    pub scheduler_dlq_arn: Option<String>,
    /// The HTTP API's public base URL (`https://…`), for the links in our emails.
    pub public_url: Option<String>,
    /// Shops' own templates, one folder per shop id (`CARTBACK_TEMPLATES_DIR`).
    pub templates_dir: Option<std::path::PathBuf>,
    /// The account's SES send rate, emails a second (`CARTBACK_SEND_RATE`), shared by at
    /// most `sender_max_concurrency` senders (`CARTBACK_SENDER_MAX_CONCURRENCY`).
    pub send_rate: Option<f64>,
    pub sender_max_concurrency: Option<u32>,
    /// Where privacy requests' erasures wait for the erasure worker
    /// (`CARTBACK_ERASURE_QUEUE_URL`).
    pub erasure_queue_url: Option<String>,
}

/// The environment variable naming the SSM SecureString with the unsubscribe token secret.
pub const UNSUBSCRIBE_SECRET_PARAM_ENV: &str = "CARTBACK_UNSUBSCRIBE_SECRET_PARAM";

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} is not set: {fix}")]
pub struct ConfigError {
    pub name: &'static str,
    pub fix: &'static str,
}

/// Where schedules send their wake-ups.
#[derive(Debug, Clone)]
pub struct SchedulerTarget {
    pub group: String,
    /// The send queue's ARN (the sender reads it).
    pub target_arn: String,
    pub role_arn: String,
    pub dlq_arn: Option<String>,
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A positive number from the environment, if set.
fn number<T: std::str::FromStr + PartialOrd + Default>(
    name: &'static str,
) -> Result<Option<T>, ConfigError> {
    match var(name) {
        None => Ok(None),
        Some(text) => match text.trim().parse::<T>() {
            Ok(value) if value > T::default() => Ok(Some(value)),
            _ => Err(ConfigError {
                name,
                fix: "set it to a positive number (the SAM template sets it from its parameters)",
            }),
        },
    }
}

impl AwsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: var("CARTBACK_TABLE").ok_or(ConfigError {
                name: "CARTBACK_TABLE",
                fix: "set it to the DynamoDB table's name (the SAM template does)",
            })?,
            secrets_prefix: var("CARTBACK_SECRETS_PREFIX")
                .unwrap_or_else(|| "/cartback/shops/".to_owned()),
            configuration_set: var("CARTBACK_SES_CONFIGURATION_SET"),
            schedule_group: var("CARTBACK_SCHEDULE_GROUP").unwrap_or_else(|| "cartback".to_owned()),
            wake_target_arn: var("CARTBACK_WAKE_TARGET_ARN"),
            scheduler_role_arn: var("CARTBACK_SCHEDULER_ROLE_ARN"),
            scheduler_dlq_arn: var("CARTBACK_SCHEDULER_DLQ_ARN"),
            public_url: var("CARTBACK_PUBLIC_URL"),
            templates_dir: var("CARTBACK_TEMPLATES_DIR").map(Into::into),
            send_rate: number("CARTBACK_SEND_RATE")?,
            sender_max_concurrency: number("CARTBACK_SENDER_MAX_CONCURRENCY")?,
            erasure_queue_url: var("CARTBACK_ERASURE_QUEUE_URL"),
        })
    }

    /// The erasure queue's URL, required by the webhook and the erasure worker.
    pub fn erasure_queue_url(&self) -> Result<&str, ConfigError> {
        self.erasure_queue_url.as_deref().ok_or(ConfigError {
            name: "CARTBACK_ERASURE_QUEUE_URL",
            fix: "set it to the erasure queue's URL (the SAM template does)",
        })
    }

    pub fn scheduler_target(&self) -> Result<SchedulerTarget, ConfigError> {
        Ok(SchedulerTarget {
            group: self.schedule_group.clone(),
            target_arn: self.wake_target_arn.clone().ok_or(ConfigError {
                name: "CARTBACK_WAKE_TARGET_ARN",
                fix: "set it to the send queue's ARN (the SAM template does)",
            })?,
            role_arn: self.scheduler_role_arn.clone().ok_or(ConfigError {
                name: "CARTBACK_SCHEDULER_ROLE_ARN",
                fix: "set it to the role EventBridge Scheduler assumes to invoke the sender",
            })?,
            dlq_arn: self.scheduler_dlq_arn.clone(),
        })
    }
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
///
/// Lambda always sets `AWS_REGION` and the execution role's keys in the environment: when
/// they are there, they are used directly, so init builds no provider chain (profile files,
/// SSO, STS web identity, container and instance metadata clients) that would never be asked.
/// Without them (a developer's machine with a profile) the default chains apply.
///
/// Every client made from it shares one HTTPS client, built on the first request
/// ([`crate::LazyHttpsClient`]): init loads no certificates.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::LazyHttpsClient::new().shared());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    if var("AWS_ACCESS_KEY_ID").is_some() && var("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// JSON logs, one object per line, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`; every
/// line of an invocation carries its `requestId` and `xrayTraceId` (`log_format`).
pub fn init_tracing() {
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .unwrap_or_else(|| "info".to_owned())
        .to_lowercase();
    // As `fmt().try_init()`: also routes `log` records into tracing.
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_subscriber(std::io::stdout, &level).try_init();
}

/// The functions' subscriber: JSON lines to `writer`, the event's fields (`message`
/// among them) at the top level, the innermost span's fields under `span`, no time
/// (CloudWatch stamps each line), the invocation's ids at the top level.
pub fn json_subscriber<W>(
    writer: W,
    level: &str,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(crate::log_format::WithInvocationIds(format))
        .finish()
}
