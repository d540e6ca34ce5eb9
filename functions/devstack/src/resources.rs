//! Creating what the SAM template creates, on moto: the table (keys, GSI, stream), the
//! schedule group, a connected shop (SES identity, settings item, webhook secret in SSM) and
//! SecureStrings. Creating what already exists is fine, so a reused moto keeps its data.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use cartback_aws::DynamoShopDirectory;
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;

use crate::{DevStackError, Names, Result};

/// The SDK configuration for moto at `endpoint`: dummy credentials, as in a test.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    sdk_loader(endpoint, region).load().await
}

/// Like [`sdk_config`], with the SDK's standard retry policy as deployed (three attempts,
/// the same error classification) but millisecond backoff: behind a [`crate::FaultProxy`]
/// under a virtual clock the SDK's real-time backoff (up to seconds per retry) would only
/// slow the run down, and changes nothing the functions can observe.
pub async fn sdk_config_quick_retries(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let retries = aws_config::retry::RetryConfig::standard()
        .with_initial_backoff(std::time::Duration::from_millis(1))
        .with_max_backoff(std::time::Duration::from_millis(20));
    sdk_loader(endpoint, region)
        .retry_config(retries)
        .load()
        .await
}

fn sdk_loader(endpoint: &str, region: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "cartback-devstack",
        ))
}

fn build_error(what: &str) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> DevStackError {
    let what = what.to_owned();
    move |error| DevStackError::Aws {
        what,
        message: error.to_string(),
    }
}

/// The table (with its GSI and NEW_AND_OLD_IMAGES stream) and the schedule group.
/// Returns whether the table was new.
pub async fn create_resources(sdk: &aws_config::SdkConfig, names: &Names) -> Result<bool> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error("table attribute"))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error("table key"))
    };
    let keys_only = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(build_error("table index"))
    };
    let created = dynamo
        .create_table()
        .table_name(&names.table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("person_pk")?)
        .attribute_definitions(attr("person_alt_pk")?)
        .attribute_definitions(attr("due_pk")?)
        .attribute_definitions(attr("due_sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        // Sparse, keys only: a cart's first and second contact key, to find a person's carts.
        .global_secondary_indexes(keys_only("person", "person_pk")?)
        .global_secondary_indexes(keys_only("person_alt", "person_alt_pk")?)
        // Sparse: only open carts with a due time carry due_pk/due_sk (the sweeper's query).
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("due")
                .key_schema(key("due_pk", KeyType::Hash)?)
                .key_schema(key("due_sk", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(build_error("table index"))?,
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(build_error("table stream"))?,
        )
        .send()
        .await;
    let new_table = match created {
        Ok(_) => true,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(error) => return Err(DevStackError::aws("creating the table")(error)),
    };
    let group = aws_sdk_scheduler::Client::new(sdk)
        .create_schedule_group()
        .name(&names.schedule_group)
        .send()
        .await;
    match group {
        Ok(_) => {}
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) => {}
        Err(error) => return Err(DevStackError::aws("creating the schedule group")(error)),
    }
    // Creating a queue that exists with the same attributes is success.
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(&names.erasure_queue)
        .send()
        .await
        .map_err(DevStackError::aws("creating the erasure queue"))?;
    Ok(new_table)
}

/// Stores a SecureString (replacing an older value).
pub async fn put_secret(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> Result<()> {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(DevStackError::aws(format!("storing the parameter {name}")))?;
    Ok(())
}

/// Connects a shop as the deploy steps of docs/deploy.md do: its from address as an SES identity,
/// its settings item and its webhook secret.
pub async fn connect_shop(
    sdk: &aws_config::SdkConfig,
    names: &Names,
    shop: &ShopId,
    settings: &ShopSettings,
    webhook_secret: &str,
) -> Result<()> {
    let identity = aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(settings.from_address.as_str())
        .send()
        .await;
    match identity {
        Ok(_) => {}
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) => {}
        Err(error) => return Err(DevStackError::aws("creating the SES identity")(error)),
    }
    DynamoShopDirectory::new(sdk, &names.table)
        .put_settings(shop, settings)
        .await
        .map_err(|e| DevStackError::Aws {
            what: format!("storing the settings of {shop}"),
            message: e.to_string(),
        })?;
    put_secret(
        sdk,
        &names.webhook_secret_param(shop.as_str()),
        webhook_secret,
    )
    .await
}
