//! `cartback shop connect shopify`: subscribes a Shopify store to the topics cartback reads,
//! through the GraphQL Admin API (`webhookSubscriptions`, `webhookSubscriptionCreate`, with
//! the `uri` field of API versions 2025-10 and later), so nobody clicks them together by hand.
//!
//! Idempotent: a topic already subscribed to our URL is kept, so the command can run again
//! after a failure. The access token is read from a file or stdin and never printed.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use cartback_core::model::ids::{IdError, ShopId, ShopifyStore};
use clap::Args;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::FirstLineError;

/// The topics cartback needs from a Shopify store (docs/deploy.md, step 8, "Connect the first shop").
pub const TOPICS: [(&str, &str); 4] = [
    ("CHECKOUTS_CREATE", "checkouts/create"),
    ("CHECKOUTS_UPDATE", "checkouts/update"),
    ("ORDERS_CREATE", "orders/create"),
    ("ORDERS_PAID", "orders/paid"),
];

/// The Admin API version asked for (Shopify supports each for about a year).
pub const DEFAULT_API_VERSION: &str = "2026-10";
const ATTEMPTS: u32 = 4;
const TIMEOUT: Duration = Duration::from_secs(15);
/// What to do about a bad `--webhook-base`.
const WEBHOOK_BASE_FIX: &str = "use the stack's WebhookBaseUrl output, e.g. \
                                https://abc123.execute-api.eu-north-1.amazonaws.com/webhooks/";

/// Why `shop connect shopify` did not subscribe every topic.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error(transparent)]
    Store(#[from] BadStore),
    #[error(transparent)]
    WebhookBase(#[from] WebhookBaseError),
    #[error("{}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] FirstLineError),
    #[error(
        "no webhook base: pass --webhook-base URL (the stack's WebhookBaseUrl output), \
         --stack NAME, or set CARTBACK_WEBHOOK_BASE"
    )]
    NoWebhookBase,
    #[error("no access token: pass --token-file FILE or --token-stdin")]
    NoToken,
    #[error("--api-version `{version}`: use a Shopify API version such as {DEFAULT_API_VERSION}")]
    ApiVersion { version: String },
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("listing webhook subscriptions: {0}")]
    Listing(#[source] AdminError),
    #[error("subscribing {topic}: {source}")]
    Subscribing { topic: String, source: AdminError },
    #[error("subscribing {topic}: Shopify says: {}", errors.join("; "))]
    Refused { topic: String, errors: Vec<String> },
    #[error("subscribing {topic}: the answer names no subscription")]
    NoSubscription { topic: String },
}

/// A `--store` that is not a myshopify domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--store `{store}`: give the store's myshopify domain, e.g. kuura-knitwear.myshopify.com")]
pub struct BadStore {
    store: String,
}

/// A `--webhook-base` Shopify cannot deliver to.
#[derive(Debug, thiserror::Error)]
pub enum WebhookBaseError {
    #[error("--webhook-base `{base}`: {source}; {WEBHOOK_BASE_FIX}")]
    Parse {
        base: String,
        source: url::ParseError,
    },
    #[error("--webhook-base `{base}`: Shopify delivers only to https; {WEBHOOK_BASE_FIX}")]
    NotHttps { base: Url },
    #[error("--webhook-base `{base}`: {source}; {WEBHOOK_BASE_FIX}")]
    Join { base: Url, source: url::ParseError },
}

/// Why an Admin API request failed (after its retries, for the failures worth retrying).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no answer from the Admin API ({})", without_url(.0))]
    NoAnswer(#[source] reqwest::Error),
    #[error("the Admin API answered {0}")]
    Busy(StatusCode),
    #[error(
        "the Admin API refused the access token ({0}): it needs the \
         `read_orders` scope and must belong to this store"
    )]
    Unauthorized(StatusCode),
    #[error(
        "the Admin API's answer ({status}) is not JSON: {}",
        without_url(source)
    )]
    NotJson {
        status: StatusCode,
        source: reqwest::Error,
    },
    #[error("the Admin API answered {status}: {answer}")]
    Failed { status: StatusCode, answer: Value },
    #[error("GraphQL errors: {}", .0.join("; "))]
    GraphQl(Vec<String>),
    /// Every attempt failed; the last failure (none only if no attempt was made).
    #[error(
        "{} (gave up after {ATTEMPTS} attempts)",
        last.as_ref().map(ToString::to_string).unwrap_or_default()
    )]
    GaveUp {
        #[source]
        last: Option<Box<AdminError>>,
    },
}

#[derive(Args, Debug)]
pub struct ConnectShopify {
    /// The shop's id in cartback, as in its webhook URL.
    #[arg(long)]
    shop: String,
    /// The Shopify store: `<name>.myshopify.com` (or just `<name>`).
    #[arg(long)]
    store: String,
    /// The stack's `WebhookBaseUrl` output (https, ends in `/webhooks/`); the webhooks go to
    /// <webhook-base><shop>/shopify (default: the --stack output, else
    /// $CARTBACK_WEBHOOK_BASE).
    #[arg(long)]
    webhook_base: Option<String>,
    /// Read the Admin API access token (`shpat_…`, scope `read_orders`) from this file.
    #[arg(long, conflicts_with = "token_stdin")]
    token_file: Option<PathBuf>,
    /// Read the Admin API access token from standard input.
    #[arg(long)]
    token_stdin: bool,
    /// The Admin API version.
    #[arg(long, default_value = DEFAULT_API_VERSION)]
    api_version: String,
    /// Talk to this Admin API origin instead of https://<store> (tests).
    #[arg(long, hide = true)]
    admin_origin: Option<String>,
    /// Wait before retrying a throttled or failed request (tests shorten it).
    #[arg(long, hide = true, default_value_t = 1000)]
    retry_ms: u64,
    /// The stack whose SSM keeps the access token (for `cartback doctor`).
    #[command(flatten)]
    pub target: super::Target,
}

/// What happened to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created { id: String },
    Kept { id: String },
}

/// What `run` did: the report (a line per topic) and the token it used.
pub struct Connected {
    pub shop: ShopId,
    pub store: String,
    pub report: String,
    pub token: String,
}

/// Runs the command: subscribes the topics; returns the report and the token to store.
pub async fn run(args: &ConnectShopify) -> Result<Connected, ConnectError> {
    let shop = ShopId::parse(args.shop.as_str()).map_err(|source| ConnectError::Shop {
        shop: args.shop.clone(),
        source,
    })?;
    let store = store_host(&args.store)?;
    let base = crate::stack::resolve(
        args.webhook_base.clone(),
        crate::stack::Setting::WebhookBase,
    )
    .ok_or(ConnectError::NoWebhookBase)?;
    let callback = callback_url(&base, &shop)?;
    let token = match (&args.token_file, args.token_stdin) {
        (Some(path), _) => read_token(
            &path.display().to_string(),
            std::fs::File::open(path).map_err(|source| ConnectError::TokenFile {
                path: path.clone(),
                source,
            })?,
        )?,
        (None, true) => read_token("standard input", std::io::stdin().lock())?,
        (None, false) => return Err(ConnectError::NoToken),
    };
    if !valid_api_version(&args.api_version) {
        return Err(ConnectError::ApiVersion {
            version: args.api_version.clone(),
        });
    }
    let origin = args
        .admin_origin
        .clone()
        .unwrap_or_else(|| format!("https://{store}"));
    let admin = AdminApi::new(
        &origin,
        &args.api_version,
        token.clone(),
        Duration::from_millis(args.retry_ms),
    )
    .map_err(ConnectError::Client)?;
    let outcomes = connect(&admin, callback.as_str()).await?;
    let mut out = format!("{store}: webhooks to {callback}");
    for ((_, topic), outcome) in TOPICS.iter().zip(&outcomes) {
        let line = match outcome {
            TopicOutcome::Created { id } => format!("\n  {topic}: subscribed ({id})"),
            TopicOutcome::Kept { id } => format!("\n  {topic}: already subscribed ({id})"),
        };
        out.push_str(&line);
    }
    out.push_str(
        "\nShopify signs these with the app's client secret: that is the shop's webhook secret \
         (`cartback shop add --secret-stdin`).\n\
         Turn off Shopify's own Abandoned checkout automation (Marketing → Automations), or \
         shoppers get two sets of reminders.",
    );
    Ok(Connected {
        shop,
        store,
        report: out,
        token,
    })
}

/// Subscribes every topic of [`TOPICS`] that is not yet subscribed to `callback`.
pub async fn connect(admin: &AdminApi, callback: &str) -> Result<Vec<TopicOutcome>, ConnectError> {
    let existing = admin.subscriptions().await?;
    let mut outcomes = Vec::new();
    for (topic, _) in TOPICS {
        let found = existing
            .iter()
            .find(|(t, uri, _)| t == topic && uri == callback)
            .map(|(_, _, id)| id.clone());
        outcomes.push(match found {
            Some(id) => TopicOutcome::Kept { id },
            None => TopicOutcome::Created {
                id: admin.subscribe(topic, callback).await?,
            },
        });
    }
    Ok(outcomes)
}

/// The store's Admin API over GraphQL.
pub struct AdminApi {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub token: String,
    pub retry: Duration,
}

const LIST: &str = "query cartbackWebhooks($after: String) { webhookSubscriptions(first: 100, after: $after) { nodes { id topic uri } pageInfo { hasNextPage endCursor } } }";
const CREATE: &str = "mutation cartbackSubscribe($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) { webhookSubscription { id topic uri } userErrors { field message } } }";

impl AdminApi {
    /// The Admin API of the store at `origin` (`https://<store>`).
    pub fn new(
        origin: &str,
        api_version: &str,
        token: String,
        retry: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            endpoint: format!(
                "{}/admin/api/{api_version}/graphql.json",
                origin.trim_end_matches('/')
            ),
            token,
            retry,
        })
    }

    /// Every subscription of the app on the store: (topic, uri, id).
    pub async fn subscriptions(&self) -> Result<Vec<(String, String, String)>, ConnectError> {
        let mut all = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = self
                .graphql(LIST, json!({ "after": after }))
                .await
                .map_err(ConnectError::Listing)?;
            let page = &data["webhookSubscriptions"];
            for node in page["nodes"].as_array().into_iter().flatten() {
                if let (Some(topic), Some(uri), Some(id)) = (
                    node["topic"].as_str(),
                    node["uri"].as_str(),
                    node["id"].as_str(),
                ) {
                    all.push((topic.to_owned(), uri.to_owned(), id.to_owned()));
                }
            }
            match (
                page["pageInfo"]["hasNextPage"].as_bool(),
                page["pageInfo"]["endCursor"].as_str(),
            ) {
                (Some(true), Some(cursor)) => after = json!(cursor),
                _ => return Ok(all),
            }
        }
    }

    async fn subscribe(&self, topic: &str, callback: &str) -> Result<String, ConnectError> {
        let variables = json!({
            "topic": topic,
            "webhookSubscription": { "uri": callback, "format": "JSON" },
        });
        let data =
            self.graphql(CREATE, variables)
                .await
                .map_err(|source| ConnectError::Subscribing {
                    topic: topic.to_owned(),
                    source,
                })?;
        let result = &data["webhookSubscriptionCreate"];
        let errors: Vec<String> = result["userErrors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect();
        if !errors.is_empty() {
            return Err(ConnectError::Refused {
                topic: topic.to_owned(),
                errors,
            });
        }
        result["webhookSubscription"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ConnectError::NoSubscription {
                topic: topic.to_owned(),
            })
    }

    /// One GraphQL request, retried when Shopify throttles (429, or a `THROTTLED` error) or
    /// fails (5xx, no answer); returns `data`.
    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, AdminError> {
        let body = json!({ "query": query, "variables": variables });
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(self.retry * 2u32.pow(attempt - 2)).await;
            }
            let response = match self
                .http
                .post(&self.endpoint)
                .header("X-Shopify-Access-Token", &self.token)
                .json(&body)
                .send()
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    last = Some(Box::new(AdminError::NoAnswer(e)));
                    continue;
                }
            };
            let status = response.status();
            if status.as_u16() == 429 || status.is_server_error() {
                last = Some(Box::new(AdminError::Busy(status)));
                continue;
            }
            if status.as_u16() == 401 || status.as_u16() == 403 {
                return Err(AdminError::Unauthorized(status));
            }
            let answer: Value = response
                .json()
                .await
                .map_err(|source| AdminError::NotJson { status, source })?;
            if !status.is_success() {
                return Err(AdminError::Failed { status, answer });
            }
            if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
                let throttled = errors
                    .iter()
                    .any(|e| e["extensions"]["code"].as_str() == Some("THROTTLED"));
                let messages: Vec<String> = errors
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_owned))
                    .collect();
                if throttled {
                    last = Some(Box::new(AdminError::GraphQl(messages)));
                    continue;
                }
                return Err(AdminError::GraphQl(messages));
            }
            return Ok(answer["data"].clone());
        }
        Err(AdminError::GaveUp { last })
    }
}

/// A reqwest error's text without its URL (which is harmless, but noisy).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text.trim().to_owned()
}

/// `name.myshopify.com` from `name`, `name.myshopify.com` or `https://name.myshopify.com/`.
pub fn store_host(store: &str) -> Result<String, BadStore> {
    ShopifyStore::parse(store)
        .map(String::from)
        .map_err(|_| BadStore {
            store: store.to_owned(),
        })
}

/// `<base><shop>/shopify`, where `base` is the stack's https `WebhookBaseUrl`.
pub fn callback_url(base: &str, shop: &ShopId) -> Result<Url, WebhookBaseError> {
    let mut base = Url::parse(base.trim()).map_err(|source| WebhookBaseError::Parse {
        base: base.to_owned(),
        source,
    })?;
    if base.scheme() != "https" {
        return Err(WebhookBaseError::NotHttps { base });
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    match base.join(&format!("{shop}/shopify")) {
        Ok(url) => Ok(url),
        Err(source) => Err(WebhookBaseError::Join { base, source }),
    }
}

fn valid_api_version(version: &str) -> bool {
    version == "unstable"
        || (version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version[..4].chars().all(|c| c.is_ascii_digit())
            && version[5..].chars().all(|c| c.is_ascii_digit()))
}

fn read_token(what: &str, source: impl Read) -> Result<String, FirstLineError> {
    super::first_line("access token", what, "", source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_its_myshopify_domain() {
        for store in [
            "kuura-knitwear",
            "kuura-knitwear.myshopify.com",
            "https://Kuura-Knitwear.myshopify.com/",
        ] {
            assert_eq!(
                store_host(store).as_deref(),
                Ok("kuura-knitwear.myshopify.com"),
                "{store}"
            );
        }
        for bad in ["", "kuura knitwear", "evil.example/x", "-x"] {
            assert!(store_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_callback_is_the_stack_base_plus_the_shop() {
        let shop = ShopId::parse("kuura-knitwear").expect("id");
        let url = callback_url(
            "https://abc.execute-api.eu-north-1.amazonaws.com/webhooks",
            &shop,
        )
        .expect("url");
        assert_eq!(
            url.as_str(),
            "https://abc.execute-api.eu-north-1.amazonaws.com/webhooks/kuura-knitwear/shopify"
        );
        let err = callback_url("http://localhost:8787/webhooks/", &shop)
            .expect_err("http")
            .to_string();
        assert!(err.contains("only to https"), "{err}");
    }

    #[test]
    fn api_versions_are_year_dash_month() {
        assert!(valid_api_version("2026-10"));
        assert!(valid_api_version("unstable"));
        assert!(!valid_api_version("2026-1"));
        assert!(!valid_api_version("latest"));
    }
}
