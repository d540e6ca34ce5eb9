//! Webhook secrets from SSM Parameter Store (SecureString), cached for a few minutes.

use std::time::Duration;

use aws_sdk_ssm::Client;
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::ports::{PortError, WebhookSecrets};

use crate::LazyClient;
use crate::errors::{code, port_error};
use crate::shop_cache::ShopCache;

const SERVICE: &str = "ssm";
const CACHE_TTL: Duration = Duration::from_secs(300);
const MISSING_CACHE_TTL: Duration = Duration::from_secs(30);

/// A platform API token a shop may keep in SSM, next to its webhook secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformToken {
    /// The BigCommerce API account's token: the functions read carts and orders with it.
    BigCommerce,
    /// The Shopify Admin API token (`shpat_…`), stored by `cartback shop connect shopify`;
    /// `cartback doctor` reads the store's webhook subscriptions with it.
    Shopify,
}

impl PlatformToken {
    /// The last part of its parameter's name, `<prefix><shop>/<this>`.
    pub const fn parameter(self) -> &'static str {
        match self {
            Self::BigCommerce => "bigcommerce-token",
            Self::Shopify => "shopify-token",
        }
    }
}

/// One SecureString per shop, `<prefix><shop>/<name>`, read with decryption and cached in
/// the container: a value for five minutes, "none" for thirty seconds (a new shop works
/// soon). An empty value counts as none.
pub(crate) struct ShopParameters {
    client: LazyClient<Client>,
    prefix: String,
    name: &'static str,
    cache: ShopCache<String>,
}

impl ShopParameters {
    pub(crate) fn new(
        client: impl Into<LazyClient<Client>>,
        prefix: &str,
        name: &'static str,
    ) -> Self {
        Self {
            client: client.into(),
            prefix: prefix.to_owned(),
            name,
            cache: ShopCache::new(CACHE_TTL, MISSING_CACHE_TTL),
        }
    }

    pub(crate) fn parameter_name(&self, shop: &ShopId) -> String {
        format!("{}{shop}/{}", self.prefix, self.name)
    }

    /// The shop's value, from the cache or one `GetParameter`.
    pub(crate) async fn value(&self, shop: &ShopId) -> Result<Option<String>, PortError> {
        if let Some(hit) = self.cache.get(shop) {
            return Ok(hit);
        }
        let result = self
            .client
            .get_parameter()
            .name(self.parameter_name(shop))
            .with_decryption(true)
            .send()
            .await;
        let value = match result {
            Ok(output) => output
                .parameter
                .and_then(|p| p.value)
                .filter(|v| !v.trim().is_empty()),
            Err(e) if code(&e) == Some("ParameterNotFound") => None,
            Err(e) => return Err(port_error(SERVICE, "GetParameter", &e)),
        };
        self.cache.put(shop, value.clone());
        Ok(value)
    }
}

/// Secrets at `<prefix><shop>/webhook-secret`.
pub struct SsmWebhookSecrets {
    parameters: ShopParameters,
}

impl SsmWebhookSecrets {
    pub fn new(sdk: &aws_config::SdkConfig, prefix: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), prefix)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, prefix: &str) -> Self {
        Self {
            parameters: ShopParameters::new(client, prefix, "webhook-secret"),
        }
    }

    /// The parameter name holding a shop's secret.
    pub fn parameter_name(&self, shop: &ShopId) -> String {
        self.parameters.parameter_name(shop)
    }
}

impl WebhookSecrets for SsmWebhookSecrets {
    async fn webhook_check(&self, shop: &ShopId) -> Result<Option<SignatureCheck>, PortError> {
        Ok(self
            .parameters
            .value(shop)
            .await?
            .map(|value| SignatureCheck::Required(Secret::new(value))))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretParameterError {
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error("SSM parameter {name}: {error}")]
    Read { name: String, error: PortError },
    #[error("SSM parameter {name} is empty")]
    Empty { name: String },
}

/// A SecureString named by an environment variable (the unsubscribe token secret,
/// `CARTBACK_UNSUBSCRIBE_SECRET_PARAM`): the name is checked at start, the value is read
/// with [`SecretParameter::read`] when a handler first needs it, so init makes no network
/// call (see [`crate::FirstUse`]).
pub struct SecretParameter {
    client: LazyClient<Client>,
    name: String,
}

impl SecretParameter {
    /// Checks that `env_name` names a parameter; reads nothing yet.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        env_name: &'static str,
    ) -> Result<Self, crate::ConfigError> {
        let name = std::env::var(env_name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(crate::ConfigError {
                name: env_name,
                fix: "set it to the name of the SSM SecureString holding the secret",
            })?;
        Ok(Self {
            client: LazyClient::new(sdk, Client::new),
            name,
        })
    }

    /// The parameter `name` (no environment variable involved).
    pub fn new(sdk: &aws_config::SdkConfig, name: &str) -> Self {
        Self {
            client: LazyClient::new(sdk, Client::new),
            name: name.to_owned(),
        }
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One `GetParameter` (with decryption).
    pub async fn read(&self) -> Result<Secret, SecretParameterError> {
        let output = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| SecretParameterError::Read {
                name: self.name.clone(),
                error: port_error(SERVICE, "GetParameter", &e),
            })?;
        output
            .parameter
            .and_then(|p| p.value)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or(SecretParameterError::Empty {
                name: self.name.clone(),
            })
    }
}

/// Reads the SecureString named by the environment variable `env_name` now.
pub async fn secret_from_parameter_env(
    sdk: &aws_config::SdkConfig,
    env_name: &'static str,
) -> Result<Secret, SecretParameterError> {
    SecretParameter::from_env(sdk, env_name)?.read().await
}

/// Reads the SecureString `name` now (decrypted).
pub async fn secret_from_parameter(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> Result<Secret, SecretParameterError> {
    SecretParameter::new(sdk, name).read().await
}
