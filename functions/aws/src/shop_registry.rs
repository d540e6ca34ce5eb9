//! The shops a stack serves, for the operator's `cartback shop` command: each shop's settings
//! (the table's `CONFIG` item) and its webhook secret (the SSM SecureString
//! `<prefix><shop>/webhook-secret`). The functions only read these (`DynamoShopDirectory`,
//! `SsmWebhookSecrets`); this module writes them, lists them and removes them.
//!
//! A secret's value is written, never read back: what the registry reports about a secret is
//! whether it exists, its version and when it last changed.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::types::ParameterType;
use cartback_core::model::cart::Versioned;
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::{Removal, Secret, Shop, ShopError, ShopSettings};
use cartback_core::ports::PortError;
use jiff::Timestamp;

use crate::dynamo::{DynamoCartStore, Item, from_item, keys, n, removal_of, s, to_item};
use crate::errors::{code, port_error};

const SECRET_SUFFIX: &str = "/webhook-secret";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("shop `{0}` already has settings on the table: pass --replace to overwrite them")]
    Exists(ShopId),
    #[error("shop `{id}`: {error}")]
    Invalid { id: ShopId, error: ShopError },
    #[error("shop `{id}`: its CONFIG item cannot be read: {error}")]
    Unreadable { id: ShopId, error: PortError },
    #[error(transparent)]
    Aws(#[from] PortError),
}

/// What the registry knows about a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub parameter: String,
    pub version: i64,
    pub last_modified: Option<Timestamp>,
}

/// One shop as the stack sees it: its settings, its secret, either of which may be missing
/// (a shop needs both to receive webhooks).
#[derive(Debug, Clone)]
pub struct RegisteredShop {
    pub id: ShopId,
    pub settings: Option<Versioned<ShopSettings>>,
    pub secret: Option<SecretInfo>,
    /// Set once the operator removed the shop (`retire`): only its privacy webhooks are
    /// handled, until `keep_until`.
    pub removed: Option<Removal>,
}

impl RegisteredShop {
    /// Whether webhooks for this shop are accepted (settings and secret both present, not
    /// removed).
    pub fn is_live(&self) -> bool {
        self.settings.is_some() && self.secret.is_some() && self.removed.is_none()
    }
}

/// What `remove` found and deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub settings: bool,
    pub secret: bool,
}

/// The table and the secrets prefix of one stack.
pub struct ShopRegistry {
    store: DynamoCartStore,
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

impl ShopRegistry {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str, secrets_prefix: &str) -> Self {
        Self {
            store: DynamoCartStore::new(sdk, table),
            ssm: aws_sdk_ssm::Client::new(sdk),
            prefix: secrets_prefix.to_owned(),
        }
    }

    /// The SSM parameter holding a shop's webhook secret.
    pub fn parameter_name(&self, shop: &ShopId) -> String {
        format!("{}{shop}{SECRET_SUFFIX}", self.prefix)
    }

    /// The SSM parameter holding a shop's platform API token.
    pub fn token_name(&self, shop: &ShopId, platform: crate::PlatformToken) -> String {
        format!("{}{shop}/{}", self.prefix, platform.parameter())
    }

    /// Stores a shop's platform API token (SecureString `<prefix><shop>/<token name>`),
    /// replacing an older one; returns the parameter's name.
    pub async fn put_api_token(
        &self,
        id: &ShopId,
        platform: crate::PlatformToken,
        token: &Secret,
    ) -> Result<String, RegistryError> {
        let name = self.token_name(id, platform);
        let value = std::str::from_utf8(token.expose())
            .map_err(|_| PortError::permanent("ssm", "the API token is not UTF-8 text"))?;
        self.ssm
            .put_parameter()
            .name(&name)
            .r#type(ParameterType::SecureString)
            .value(value)
            .overwrite(true)
            .description("cartback: this shop's platform API token")
            .send()
            .await
            .map_err(|e| port_error("ssm", "PutParameter", &e))?;
        Ok(name)
    }

    /// Registers a shop: its secret, then its settings (the write that makes it live).
    /// Settings are checked as the functions check them before anything is written; a shop
    /// with settings already is refused unless `replace`.
    pub async fn add(
        &self,
        id: &ShopId,
        settings: &ShopSettings,
        secret: &Secret,
        replace: bool,
    ) -> Result<RegisteredShop, RegistryError> {
        Shop::new(id.clone(), settings.clone()).map_err(|error| RegistryError::Invalid {
            id: id.clone(),
            error,
        })?;
        let current = self.config_item(id).await?;
        if current.is_some() && !replace {
            return Err(RegistryError::Exists(id.clone()));
        }
        let version = current
            .as_ref()
            .and_then(|item| match item.get("version") {
                Some(AttributeValue::N(v)) => v.parse::<u64>().ok(),
                _ => None,
            })
            .unwrap_or(0);
        let value = std::str::from_utf8(secret.expose())
            .map_err(|_| PortError::permanent("ssm", "the webhook secret is not UTF-8 text"))?;
        self.ssm
            .put_parameter()
            .name(self.parameter_name(id))
            .r#type(ParameterType::SecureString)
            .value(value)
            .overwrite(true)
            .description("cartback: the key this shop's webhooks are signed with")
            .send()
            .await
            .map_err(|e| port_error("ssm", "PutParameter", &e))?;
        let item = to_item(
            settings,
            keys::shop_pk(id),
            keys::CONFIG_SK.to_owned(),
            version + 1,
        )?;
        let mut put = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item));
        put = match current {
            // Nobody added the shop in between.
            None => put.condition_expression("attribute_not_exists(pk)"),
            // Nobody changed it in between.
            Some(_) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string())),
        };
        match put.send().await {
            Ok(_) => {}
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                return Err(RegistryError::Exists(id.clone()));
            }
            Err(e) => return Err(port_error("dynamodb", "PutItem", &e).into()),
        }
        self.show(id).await
    }

    /// One shop's settings and secret (either may be missing).
    pub async fn show(&self, id: &ShopId) -> Result<RegisteredShop, RegistryError> {
        let item = self.config_item(id).await?;
        let removed = item.as_ref().and_then(removal_of);
        let settings = match item {
            None => None,
            Some(item) => Some(from_item::<ShopSettings>(item).map_err(|error| {
                RegistryError::Unreadable {
                    id: id.clone(),
                    error,
                }
            })?),
        };
        Ok(RegisteredShop {
            id: id.clone(),
            settings,
            secret: self.secret_info(id).await?,
            removed,
        })
    }

    /// Every shop with settings on the table or a secret under the prefix, by id.
    ///
    /// The settings come from a Scan of the table filtered to `CONFIG` items: it reads the
    /// whole table (billed as such), which suits an operator's occasional look; the functions
    /// never list shops.
    pub async fn list(&self) -> Result<Vec<RegisteredShop>, RegistryError> {
        let mut pages = self
            .store
            .client
            .scan()
            .table_name(&self.store.table)
            .filter_expression("sk = :config")
            .expression_attribute_values(":config", s(keys::CONFIG_SK))
            .into_paginator()
            .send();
        let mut configs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("dynamodb", "Scan", &e))?;
            configs.extend(page.items.unwrap_or_default());
        }
        let mut found: BTreeMap<String, RegisteredShop> = BTreeMap::new();
        for item in configs {
            let Some(id) = shop_of_pk(&item) else {
                continue;
            };
            let removed = removal_of(&item);
            let settings =
                from_item::<ShopSettings>(item).map_err(|error| RegistryError::Unreadable {
                    id: id.clone(),
                    error,
                })?;
            found.insert(
                id.to_string(),
                RegisteredShop {
                    id,
                    settings: Some(settings),
                    secret: None,
                    removed,
                },
            );
        }

        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(self.prefix.trim_end_matches('/'))
            .recursive(true)
            .with_decryption(false)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("ssm", "GetParametersByPath", &e))?;
            for parameter in page.parameters.unwrap_or_default() {
                let Some(name) = parameter.name.as_deref() else {
                    continue;
                };
                let Some(id) = name
                    .strip_prefix(&self.prefix)
                    .and_then(|rest| rest.strip_suffix(SECRET_SUFFIX))
                    .and_then(|id| ShopId::parse(id).ok())
                else {
                    continue;
                };
                let info = SecretInfo {
                    parameter: name.to_owned(),
                    version: parameter.version,
                    last_modified: parameter.last_modified_date.and_then(timestamp),
                };
                found
                    .entry(id.to_string())
                    .or_insert_with(|| RegisteredShop {
                        id,
                        settings: None,
                        secret: None,
                        removed: None,
                    })
                    .secret = Some(info);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Removes a shop but keeps what its `shop/redact` needs: the settings item is marked
    /// removed (`removed_at`, `keep_until`) and expires by TTL at `keep_until`; the secret
    /// stays. Until then its webhooks are ignored except the privacy ones (warm functions
    /// within 5 minutes); after it the shop is unknown (404). `false` when it had no
    /// settings to mark.
    pub async fn retire(
        &self,
        id: &ShopId,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> Result<bool, RegistryError> {
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .key("pk", s(keys::shop_pk(id)))
            .key("sk", s(keys::CONFIG_SK))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET #removed = :at, #keep = :until, #ttl = :ttl")
            .expression_attribute_names("#removed", crate::dynamo::REMOVED_AT)
            .expression_attribute_names("#keep", crate::dynamo::KEEP_UNTIL)
            .expression_attribute_names("#ttl", "expires_at")
            .expression_attribute_values(":at", n(now.as_millisecond()))
            .expression_attribute_values(":until", n(keep_until.as_millisecond()))
            .expression_attribute_values(":ttl", n(keep_until.as_second()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(port_error("dynamodb", "UpdateItem", &e).into()),
        }
    }

    /// Deletes a shop's settings, secret and platform API tokens at once: its webhooks get 404 from then on
    /// (warm functions within 5 minutes), including a later `shop/redact`, and its pending
    /// reminders are dropped when they fire. Its carts and contacts stay until their TTL, or
    /// `cartback erase`.
    pub async fn remove(&self, id: &ShopId) -> Result<Removed, RegistryError> {
        let deleted = self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .key("pk", s(keys::shop_pk(id)))
            .key("sk", s(keys::CONFIG_SK))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("dynamodb", "DeleteItem", &e))?;
        let settings = deleted.attributes.is_some_and(|a| !a.is_empty());
        let secret = match self
            .ssm
            .delete_parameter()
            .name(self.parameter_name(id))
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if code(&e) == Some("ParameterNotFound") => false,
            Err(e) => return Err(port_error("ssm", "DeleteParameter", &e).into()),
        };
        // The platform API tokens go with the shop.
        for platform in [
            crate::PlatformToken::BigCommerce,
            crate::PlatformToken::Shopify,
        ] {
            match self
                .ssm
                .delete_parameter()
                .name(self.token_name(id, platform))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("ParameterNotFound") => {}
                Err(e) => return Err(port_error("ssm", "DeleteParameter", &e).into()),
            }
        }
        Ok(Removed { settings, secret })
    }

    async fn config_item(&self, id: &ShopId) -> Result<Option<Item>, PortError> {
        self.store
            .get(keys::shop_pk(id), keys::CONFIG_SK.to_owned())
            .await
    }

    async fn secret_info(&self, id: &ShopId) -> Result<Option<SecretInfo>, PortError> {
        let name = self.parameter_name(id);
        match self
            .ssm
            .get_parameter()
            .name(&name)
            .with_decryption(false)
            .send()
            .await
        {
            Ok(output) => Ok(output.parameter.map(|p| SecretInfo {
                parameter: name,
                version: p.version,
                last_modified: p.last_modified_date.and_then(timestamp),
            })),
            Err(e) if code(&e) == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(port_error("ssm", "GetParameter", &e)),
        }
    }
}

fn shop_of_pk(item: &Item) -> Option<ShopId> {
    match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk
            .strip_prefix(keys::SHOP_PK_PREFIX)
            .and_then(|id| ShopId::parse(id).ok()),
        _ => None,
    }
}

fn timestamp(at: aws_smithy_types::DateTime) -> Option<Timestamp> {
    Timestamp::new(at.secs(), i32::try_from(at.subsec_nanos()).ok()?).ok()
}
