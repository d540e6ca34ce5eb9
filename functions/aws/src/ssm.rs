//! Webhook secrets from SSM Parameter Store (SecureString), cached for a few minutes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ssm::Client;
use cartback_core::ids::ShopId;
use cartback_core::ports::{PortError, WebhookSecrets};
use cartback_core::shop::{Secret, SignatureCheck};

use crate::errors::{code, port_error};

const SERVICE: &str = "ssm";
const CACHE_TTL: Duration = Duration::from_secs(300);
const MISSING_CACHE_TTL: Duration = Duration::from_secs(30);

/// Secrets at `<prefix><shop>/webhook-secret`.
pub struct SsmWebhookSecrets {
    client: Client,
    prefix: String,
    cache: Mutex<HashMap<ShopId, (Instant, Option<Secret>)>>,
}

impl SsmWebhookSecrets {
    pub fn new(sdk: &aws_config::SdkConfig, prefix: &str) -> Self {
        Self::from_client(Client::new(sdk), prefix)
    }

    pub fn from_client(client: Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_owned(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The parameter name holding a shop's secret.
    pub fn parameter_name(&self, shop: &ShopId) -> String {
        format!("{}{shop}/webhook-secret", self.prefix)
    }

    fn cached(&self, shop: &ShopId) -> Option<Option<Secret>> {
        let cache = self.cache.lock().ok()?;
        let (at, secret) = cache.get(shop)?;
        let ttl = if secret.is_some() {
            CACHE_TTL
        } else {
            MISSING_CACHE_TTL
        };
        (at.elapsed() < ttl).then(|| secret.clone())
    }
}

impl WebhookSecrets for SsmWebhookSecrets {
    async fn webhook_check(&self, shop: &ShopId) -> Result<Option<SignatureCheck>, PortError> {
        let secret = match self.cached(shop) {
            Some(hit) => hit,
            None => {
                let result = self
                    .client
                    .get_parameter()
                    .name(self.parameter_name(shop))
                    .with_decryption(true)
                    .send()
                    .await;
                let secret = match result {
                    Ok(output) => output
                        .parameter
                        .and_then(|p| p.value)
                        .filter(|v| !v.is_empty())
                        .map(Secret::new),
                    Err(e) if code(&e) == Some("ParameterNotFound") => None,
                    Err(e) => return Err(port_error(SERVICE, "GetParameter", &e)),
                };
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(shop.clone(), (Instant::now(), secret.clone()));
                }
                secret
            }
        };
        Ok(secret.map(SignatureCheck::Required))
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
    client: Client,
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
            client: Client::new(sdk),
            name,
        })
    }

    /// The parameter `name` (no environment variable involved).
    pub fn new(sdk: &aws_config::SdkConfig, name: &str) -> Self {
        Self {
            client: Client::new(sdk),
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
