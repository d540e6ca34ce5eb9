//! The BigCommerce store API over HTTPS (the `StoreApi` port): one GET per webhook with the
//! shop's API token (`X-Auth-Token`), read from SSM Parameter Store (SecureString
//! `<prefix><shop>/bigcommerce-token`, next to the webhook secret) and cached like it.
//!
//! Each attempt has a timeout; a 429 or a 5xx is tried again a bounded number of times with
//! backoff (a 429 waits what `X-Rate-Limit-Time-Reset-Ms` says, within the same bound), a
//! 404 is `Ok(None)`, any other 4xx is permanent at once. The HTTPS client (rustls) is built
//! on the first call, not at start, so the webhook function's cold start does not pay for
//! it. Neither the token nor a response body ever goes into an error or a log line.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_ssm::Client as SsmClient;
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::Secret;
use cartback_core::platforms::bigcommerce::api::{API_BASE, RATE_LIMIT_RESET_HEADER, TOKEN_HEADER};
use cartback_core::platforms::bigcommerce::{Fetch, StoreHash};
use cartback_core::ports::{PortError, StoreApi};

use crate::LazyClient;
use crate::ssm::{PlatformToken, ShopParameters};

const SERVICE: &str = "bigcommerce";

/// Where a shop's API token comes from.
pub trait ApiTokens: Send + Sync {
    /// The shop's token, or `None` when it has none.
    fn token(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<Secret>, PortError>> + Send;
}

/// Tokens at `<prefix><shop>/bigcommerce-token` (or another [`PlatformToken`]'s name;
/// SecureString), cached like the webhook
/// secrets (`ssm::ShopParameters`).
pub struct SsmApiTokens {
    parameters: ShopParameters,
}

impl SsmApiTokens {
    pub fn new(sdk: &aws_config::SdkConfig, prefix: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, SsmClient::new), prefix)
    }

    pub fn from_client(client: impl Into<LazyClient<SsmClient>>, prefix: &str) -> Self {
        Self {
            parameters: ShopParameters::new(client, prefix, PlatformToken::BigCommerce.parameter()),
        }
    }

    /// Another platform's tokens (`cartback doctor` reads the Shopify Admin API token).
    pub fn for_platform(
        sdk: &aws_config::SdkConfig,
        prefix: &str,
        platform: PlatformToken,
    ) -> Self {
        Self {
            parameters: ShopParameters::new(
                LazyClient::new(sdk, SsmClient::new),
                prefix,
                platform.parameter(),
            ),
        }
    }

    /// The parameter name holding a shop's BigCommerce API token.
    pub fn parameter_name(&self, shop: &ShopId) -> String {
        self.parameters.parameter_name(shop)
    }
}

impl ApiTokens for SsmApiTokens {
    async fn token(&self, shop: &ShopId) -> Result<Option<Secret>, PortError> {
        Ok(self
            .parameters
            .value(shop)
            .await?
            .map(|value| Secret::new(value.trim())))
    }
}

/// One token for every shop (tests, local tools).
pub struct FixedToken(pub Secret);

impl ApiTokens for FixedToken {
    async fn token(&self, _shop: &ShopId) -> Result<Option<Secret>, PortError> {
        Ok(Some(self.0.clone()))
    }
}

/// How hard a request is tried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included).
    pub attempts: u32,
    /// Each attempt's timeout (connect, send, read the body).
    pub timeout: Duration,
    /// The wait before the second attempt; doubled after each failure.
    pub backoff: Duration,
    /// The longest single wait (also the cap on `X-Rate-Limit-Time-Reset-Ms`).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts of at most 2 s, waiting 0.2 s then 0.4 s (a 429's reset time, at most
    /// 1 s): at worst 8 s, inside the webhook function's and API Gateway's 10 s; a longer
    /// outage is left to BigCommerce's redelivery.
    fn default() -> Self {
        Self {
            attempts: 3,
            timeout: Duration::from_secs(2),
            backoff: Duration::from_millis(200),
            max_wait: Duration::from_secs(1),
        }
    }
}

/// The store API on HTTPS.
pub struct BigCommerceHttpApi<T> {
    base: String,
    tokens: T,
    policy: RetryPolicy,
    client: OnceLock<reqwest::Client>,
}

impl<T: ApiTokens> BigCommerceHttpApi<T> {
    /// The real API (`https://api.bigcommerce.com`).
    pub fn new(tokens: T) -> Self {
        Self::with_base(API_BASE, tokens, RetryPolicy::default())
    }

    /// Another base URL (a test server) and policy.
    pub fn with_base(base: &str, tokens: T, policy: RetryPolicy) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            tokens,
            policy,
            client: OnceLock::new(),
        }
    }

    /// Whether the HTTPS client has been built (it is, on the first request).
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }

    fn client(&self) -> Result<&reqwest::Client, PortError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(self.policy.timeout)
            .connect_timeout(self.policy.timeout)
            .user_agent(concat!("cartback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                PortError::permanent(SERVICE, format!("HTTPS client: {}", e.without_url()))
            })?;
        Ok(self.client.get_or_init(|| client))
    }

    fn wait_after(&self, attempt: u32, reset_ms: Option<u64>) -> Duration {
        let backoff = self
            .policy
            .backoff
            .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)));
        reset_ms
            .map(Duration::from_millis)
            .unwrap_or(backoff)
            .min(self.policy.max_wait)
    }
}

/// What one attempt came to.
enum Outcome {
    Done(Option<Vec<u8>>),
    /// Worth another attempt after the wait (a 429's reset time, when it sent one).
    Retry {
        error: PortError,
        reset_ms: Option<u64>,
    },
    Fail(PortError),
}

impl<T: ApiTokens> StoreApi for BigCommerceHttpApi<T> {
    async fn bigcommerce(
        &self,
        shop: &ShopId,
        store: &StoreHash,
        fetch: &Fetch,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let token = self.tokens.token(shop).await?.ok_or_else(|| {
            PortError::permanent(SERVICE, "the shop has no BigCommerce API token in SSM")
        })?;
        let url = fetch.url(&self.base, store);
        let client = self.client()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(client, &url, &token).await;
            let (error, reset_ms) = match outcome {
                Outcome::Done(body) => return Ok(body),
                Outcome::Fail(error) => return Err(error),
                Outcome::Retry { error, reset_ms } => (error, reset_ms),
            };
            if attempt >= self.policy.attempts {
                return Err(error);
            }
            let wait = self.wait_after(attempt, reset_ms);
            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error.message, "store API call failed; trying again");
            tokio::time::sleep(wait).await;
        }
    }
}

impl<T: ApiTokens> BigCommerceHttpApi<T> {
    async fn attempt(&self, client: &reqwest::Client, url: &str, token: &Secret) -> Outcome {
        let token = match std::str::from_utf8(token.expose()) {
            Ok(token) => token,
            Err(_) => {
                return Outcome::Fail(PortError::permanent(SERVICE, "the API token is not text"));
            }
        };
        let response = match client
            .get(url)
            .header(TOKEN_HEADER, token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    error: PortError::retryable(SERVICE, transport(&e)),
                    reset_ms: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return match response.bytes().await {
                Ok(body) => Outcome::Done(Some(body.to_vec())),
                Err(e) => Outcome::Retry {
                    error: PortError::retryable(SERVICE, transport(&e)),
                    reset_ms: None,
                },
            };
        }
        let code = status.as_u16();
        match code {
            404 => Outcome::Done(None),
            429 => Outcome::Retry {
                reset_ms: response
                    .headers()
                    .get(RATE_LIMIT_RESET_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok()),
                error: PortError::retryable(SERVICE, "rate limited (429)"),
            },
            500..=599 => Outcome::Retry {
                error: PortError::retryable(SERVICE, format!("the store API answered {code}")),
                reset_ms: None,
            },
            401 | 403 => Outcome::Fail(PortError::permanent(
                SERVICE,
                format!(
                    "the store API refused the shop's token ({code}); check its scopes (Carts, Orders: read-only)"
                ),
            )),
            _ => Outcome::Fail(PortError::permanent(
                SERVICE,
                format!("the store API answered {code}"),
            )),
        }
    }
}

/// A transport error without its URL (short; the path names the cart).
fn transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!(
        "{kind}: {}",
        std::error::Error::source(error).map_or_else(String::new, |s| s.to_string())
    )
}
