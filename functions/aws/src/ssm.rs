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
