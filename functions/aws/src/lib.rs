//! cartback's ports on AWS: DynamoDB (carts, contacts, deliveries, shop settings, offer code pools),
//! EventBridge Scheduler, SES v2 and SSM Parameter Store. Thin: mapping and error
//! classification only; every decision lives in `cartback-core`.
//!
//! One cargo feature per service, so that a function compiles only the SDK clients it uses:
//! `dynamodb`, `scheduler`, `ses`, `sns`, `sqs` (the erasure queue), `ssm`, `bigcommerce` (the store API over HTTPS),
//! `registry` (`cartback shop`: DynamoDB and SSM); `full` (the default) is all of them.

#[cfg(feature = "bigcommerce")]
mod bigcommerce_api;
mod config;
#[cfg(feature = "dynamodb")]
mod dynamo;
#[cfg(feature = "sqs")]
mod erasure_queue;
#[cfg(any(
    feature = "dynamodb",
    feature = "scheduler",
    feature = "ses",
    feature = "sns",
    feature = "sqs",
    feature = "ssm"
))]
mod errors;
mod first_use;
mod https;
mod lazy_client;
mod log_format;
#[cfg(feature = "dynamodb")]
mod offer_codes;
#[cfg(feature = "scheduler")]
mod scheduler;
#[cfg(feature = "ses")]
mod ses;
#[cfg(any(feature = "dynamodb", feature = "ssm"))]
mod shop_cache;
#[cfg(feature = "registry")]
mod shop_registry;
#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "ssm")]
mod ssm;

#[cfg(feature = "bigcommerce")]
pub use bigcommerce_api::{ApiTokens, BigCommerceHttpApi, FixedToken, RetryPolicy, SsmApiTokens};
pub use config::{
    AwsConfig, ConfigError, SchedulerTarget, UNSUBSCRIBE_SECRET_PARAM_ENV, init_tracing,
    json_subscriber, load_sdk_config,
};
#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoCartStore, DynamoShopDirectory, keys};
#[cfg(feature = "sqs")]
pub use erasure_queue::SqsErasureQueue;
pub use first_use::{FirstUse, FirstUseError};
pub use https::LazyHttpsClient;
pub use lazy_client::LazyClient;
#[cfg(feature = "dynamodb")]
pub use offer_codes::DynamoOfferCodes;
#[cfg(feature = "scheduler")]
pub use scheduler::SchedulerSchedules;
#[cfg(feature = "ses")]
pub use ses::SesMailer;
#[cfg(feature = "registry")]
pub use shop_registry::{RegisteredShop, RegistryError, Removed, SecretInfo, ShopRegistry};
#[cfg(feature = "sns")]
pub use sns::SnsSms;
#[cfg(feature = "ssm")]
pub use ssm::{
    PlatformToken, SecretParameter, SecretParameterError, SsmWebhookSecrets, secret_from_parameter,
    secret_from_parameter_env,
};
