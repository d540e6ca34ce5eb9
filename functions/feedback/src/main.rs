//! Lambda wiring for the feedback function: SES events (through SNS) in, engagement and
//! suppression out.

// The handler's future (SDK clients inside nested async fns) is deeper than rustc's default
// layout query limit.
#![recursion_limit = "256"]

use aws_lambda_events::sns::SnsEvent;
use cartback_app::{Bundle, Metrics, SystemClock};
use cartback_aws::{AwsConfig, DynamoCartStore, DynamoShopDirectory};
use cartback_feedback::handle;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    let ports = Bundle::unwired(SystemClock)
        .with_store(DynamoCartStore::new(&sdk, &config.table))
        .with_shops(DynamoShopDirectory::new(&sdk, &config.table))
        .with_metrics(Metrics::Stdout);
    let ports = &ports;
    run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        // A retryable error fails the invocation: Lambda retries it, then the on-failure
        // destination keeps it.
        handle(&event.payload, ports).await.map_err(Error::from)
    }))
    .await
}
