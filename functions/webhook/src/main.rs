//! Lambda wiring for the webhook function: config once, each AWS client on its first use,
//! then serve.

use cartback_app::{Absent, Bundle, Messaging};
use cartback_aws::{
    AwsConfig, BigCommerceHttpApi, DynamoCartStore, DynamoShopDirectory, SsmApiTokens,
    SsmWebhookSecrets,
};
use cartback_core::model::time::SystemClock;
use cartback_webhook::{Metrics, handle_http};
use lambda_http::{Error, Request, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    let ports = Bundle {
        store: DynamoCartStore::new(&sdk, &config.table),
        shops: DynamoShopDirectory::new(&sdk, &config.table),
        secrets: SsmWebhookSecrets::new(&sdk, &config.secrets_prefix),
        clock: SystemClock,
        // EMF lines on stdout: CloudWatch Logs turns them into metrics.
        metrics: Metrics::Stdout,
        // BigCommerce carts: the HTTPS client is built on the first such webhook, not here.
        store_api: BigCommerceHttpApi::new(SsmApiTokens::new(&sdk, &config.secrets_prefix)),
        // The webhook sends nothing and schedules nothing (the planner does, from the stream).
        mailer: Absent,
        sms: Absent,
        schedules: Absent,
        offer_codes: Absent,
        messaging: Messaging::default(),
    };
    let ports = &ports;
    run(service_fn(move |request: Request| async move {
        handle_http(request, ports).await.map_err(Error::from)
    }))
    .await
}
