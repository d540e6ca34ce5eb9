//! Lambda wiring for the planner: DynamoDB stream in, schedules out, partial batch failures.

use aws_lambda_events::dynamodb::Event;
use cartback_app::{Bundle, SystemClock};
use cartback_aws::{AwsConfig, SchedulerSchedules};
use cartback_planner::handle;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // The planner only reads the stream and writes schedules.
    let ports = Bundle::unwired(SystemClock)
        .with_schedules(SchedulerSchedules::new(&sdk, config.scheduler_target()?));
    let ports = &ports;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(&event.payload, ports).await)
    }))
    .await
}
