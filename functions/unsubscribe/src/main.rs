//! Lambda wiring for the unsubscribe function: config, AWS clients and the token secret
//! once, then serve `GET|POST /unsubscribe?t=TOKEN`.

use cartback_aws::{AwsConfig, DynamoCartStore, DynamoShopDirectory, UNSUBSCRIBE_SECRET_PARAM_ENV};
use cartback_core::time::SystemClock;
use cartback_feedback::FeedbackDeps;
use cartback_unsubscribe::{UnsubscribeDeps, handle_http};
use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    let secret =
        cartback_aws::secret_from_parameter_env(&sdk, UNSUBSCRIBE_SECRET_PARAM_ENV).await?;
    let deps = UnsubscribeDeps {
        feedback: FeedbackDeps {
            store: DynamoCartStore::new(&sdk, &config.table),
            shops: DynamoShopDirectory::new(&sdk, &config.table),
            clock: SystemClock,
        },
        secret,
    };
    let deps = &deps;
    run(service_fn(move |request: Request| async move {
        handle_http(request, deps).await.map_err(Error::from)
    }))
    .await
}
