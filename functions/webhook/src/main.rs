//! Lambda wiring for the webhook function: config once, each AWS client on its first use,
//! then serve.

use cartback_app::{Bundle, SystemClock};
use cartback_aws::{
    AwsConfig, BigCommerceHttpApi, DynamoCartStore, DynamoShopDirectory, SqsErasureQueue,
    SsmApiTokens, SsmWebhookSecrets,
};
use cartback_webhook::{Metrics, handle_http};
use lambda_http::{Error, Request, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // The webhook sends nothing and schedules nothing (the planner does, from the stream).
    // BigCommerce carts: the HTTPS client is built on the first such webhook, not here. EMF
    // lines on stdout: CloudWatch Logs turns them into metrics. Privacy requests' erasures go
    // to the erasure queue.
    let ports = Bundle::unwired(SystemClock)
        .with_store(DynamoCartStore::new(&sdk, &config.table))
        .with_shops(DynamoShopDirectory::new(&sdk, &config.table))
        .with_secrets(SsmWebhookSecrets::new(&sdk, &config.secrets_prefix))
        .with_store_api(BigCommerceHttpApi::new(SsmApiTokens::new(
            &sdk,
            &config.secrets_prefix,
        )))
        .with_erasures(SqsErasureQueue::new(&sdk, config.erasure_queue_url()?))
        .with_metrics(Metrics::Stdout);
    let ports = &ports;
    run(service_fn(move |request: Request| async move {
        handle_http(request, ports).await.map_err(Error::from)
    }))
    .await
}
