//! cartback's ports on AWS: DynamoDB (carts, contacts, deliveries, shop settings, offer code pools),
//! EventBridge Scheduler, SES v2 and SSM Parameter Store. Thin: mapping and error
//! classification only; every decision lives in `cartback-core`.

mod bigcommerce_api;
mod config;
mod dynamo;
mod errors;
mod first_use;
mod https;
mod lazy_client;
mod offer_codes;
mod scheduler;
mod ses;
mod shop_registry;
mod sns;
mod ssm;

pub use bigcommerce_api::{ApiTokens, BigCommerceHttpApi, FixedToken, RetryPolicy, SsmApiTokens};
pub use config::{
    AwsConfig, ConfigError, SchedulerTarget, UNSUBSCRIBE_SECRET_PARAM_ENV, init_tracing,
    load_sdk_config,
};
pub use dynamo::{DynamoCartStore, DynamoShopDirectory, keys};
pub use first_use::{FirstUse, FirstUseError};
pub use https::LazyHttpsClient;
pub use lazy_client::LazyClient;
pub use offer_codes::DynamoOfferCodes;
pub use scheduler::SchedulerSchedules;
pub use ses::SesMailer;
pub use shop_registry::{RegisteredShop, RegistryError, Removed, SecretInfo, ShopRegistry};
pub use sns::SnsSms;
pub use ssm::{
    SecretParameter, SecretParameterError, SsmWebhookSecrets, secret_from_parameter,
    secret_from_parameter_env,
};
