//! Lambda wiring for the unsubscribe function: config once, each AWS client on its first use,
//! the token secret on the first request, then serve `GET|POST /unsubscribe?t=TOKEN`.

use cartback_app::{Bundle, Metrics, SystemClock};
use cartback_aws::{
    AwsConfig, DynamoCartStore, DynamoShopDirectory, FirstUse, SecretParameter,
    UNSUBSCRIBE_SECRET_PARAM_ENV,
};
use cartback_unsubscribe::{UnsubscribeDeps, handle_http};
use lambda_http::{Error, Request, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // The parameter's name is checked now; its value is read from SSM on the first request
    // (no network during init; a failed read fails that request, the next one tries again).
    let secret = SecretParameter::from_env(&sdk, UNSUBSCRIBE_SECRET_PARAM_ENV)?;
    let deps = FirstUse::new(
        Bundle::unwired(SystemClock)
            .with_store(DynamoCartStore::new(&sdk, &config.table))
            .with_shops(DynamoShopDirectory::new(&sdk, &config.table))
            .with_metrics(Metrics::Stdout),
    );
    let (deps, secret) = (&deps, &secret);
    run(service_fn(move |request: Request| async move {
        let deps = deps
            .get(
                || secret.read(),
                |ports, secret| UnsubscribeDeps { ports, secret },
            )
            .await?;
        handle_http(request, deps).await.map_err(Error::from)
    }))
    .await
}
