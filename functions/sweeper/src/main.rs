//! Lambda wiring for the sweeper: a scheduled event in, stranded carts re-armed.

use cartback_app::{Bundle, Metrics, SystemClock};
use cartback_aws::{AwsConfig, DynamoCartStore};
use cartback_sweeper::handle;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // The sweeper reads the due index and the carts, and writes the carts it re-arms.
    let ports = Bundle::unwired(SystemClock)
        .with_store(DynamoCartStore::new(&sdk, &config.table))
        .with_metrics(Metrics::Stdout);
    let ports = &ports;
    run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = handle(ports).await.map_err(Error::from)?;
        Ok::<_, Error>(serde_json::json!({
            "examined": report.examined,
            "rearmed": report.rearmed,
        }))
    }))
    .await
}
