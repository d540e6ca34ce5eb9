//! Lambda wiring for the erasure worker: erasure jobs from SQS, one chunk each.

// The handler's future nests the SDK's deeply.
#![recursion_limit = "256"]

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use cartback_app::erasure::{Budget, CHUNK_PAGES};
use cartback_app::{Bundle, Metrics, SystemClock};
use cartback_aws::{AwsConfig, DynamoCartStore, DynamoShopDirectory, SqsErasureQueue};
use cartback_eraser::handle_batch;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

/// Time kept back from the invocation's deadline: the last page's deletes and queueing the
/// rest fit in it.
const MARGIN: Duration = Duration::from_secs(60);

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // The worker reads and deletes items (and writes tombstones), reads a shop's settings to
    // know whether it was removed, and queues the rest of a job. Schedules of deleted carts
    // are deleted by the planner, from the table's stream.
    let ports = Bundle::unwired(SystemClock)
        .with_store(DynamoCartStore::new(&sdk, &config.table))
        .with_shops(DynamoShopDirectory::new(&sdk, &config.table))
        .with_erasures(SqsErasureQueue::new(&sdk, config.erasure_queue_url()?))
        .with_metrics(Metrics::Stdout);
    let ports = &ports;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let budget = Budget {
            pages: CHUNK_PAGES,
            until: stop_at(event.context.deadline),
        };
        Ok::<SqsBatchResponse, Error>(handle_batch(&event.payload, ports, budget).await)
    }))
    .await
}

/// When to stop starting pages: [`MARGIN`] before the invocation's deadline (epoch
/// milliseconds).
fn stop_at(deadline_ms: u64) -> Option<jiff::Timestamp> {
    let deadline = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(deadline_ms))?;
    jiff::Timestamp::try_from(deadline.checked_sub(MARGIN)?).ok()
}
