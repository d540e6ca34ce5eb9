//! Lambda wiring for the sender: a batch of wake-ups from the send queue in, emails and SMS
//! out, paced to the account's send rate; the wake-ups to try again back to the queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use cartback_app::{Bundle, SystemClock, templates};
use cartback_aws::{
    AwsConfig, DynamoCartStore, DynamoOfferCodes, DynamoShopDirectory, FirstUse, SecretParameter,
    SecretParameterError, SesMailer, SnsSms, UNSUBSCRIBE_SECRET_PARAM_ENV,
};
use cartback_core::messages::render::Renderer;
use cartback_sender::queue::{Pacer, handle_batch};
use cartback_sender::{Metrics, UnsubscribeLinks};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

// Lambda hands a container one event at a time: a current-thread runtime, no worker threads
// to start during init (docs/performance.md, cold start).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    cartback_aws::init_tracing();
    let config = AwsConfig::from_env()?;
    let sdk = cartback_aws::load_sdk_config().await;
    // Unsubscribe links need the public URL and the signing secret: the parameter's name is
    // checked now, its value read from SSM on the first wake-up (no network during init).
    let unsubscribe = (config.public_url.clone())
        .map(|url| SecretParameter::from_env(&sdk, UNSUBSCRIBE_SECRET_PARAM_ENV).map(|p| (url, p)))
        .transpose()?;
    // Shops' own templates compile once, here: a broken file stops the start, named.
    let mut renderer = Renderer::embedded();
    if let Some(dir) = &config.templates_dir {
        renderer = templates::with_template_root(renderer, dir)?;
    }
    // Schedules are the planner's and webhooks the webhook function's: not wired here. EMF
    // lines on stdout: CloudWatch Logs turns them into metrics.
    let ports = Bundle::unwired(SystemClock)
        .with_store(DynamoCartStore::new(&sdk, &config.table))
        .with_mailer(SesMailer::new(&sdk, config.configuration_set.clone()))
        .with_sms(SnsSms::new(&sdk))
        .with_shops(DynamoShopDirectory::new(&sdk, &config.table))
        .with_offer_codes(DynamoOfferCodes::new(&sdk, &config.table))
        .with_renderer(renderer)
        .with_metrics(Metrics::Stdout);
    let ports = FirstUse::new(ports);
    // Every instance keeps to its share of the account's send rate (SES throttles above it;
    // a throttled send is deferred, not lost, but pacing avoids the churn).
    let pacer = config
        .send_rate
        .and_then(|rate| Pacer::new(rate, config.sender_max_concurrency.unwrap_or(1)));
    if let Some(pacer) = &pacer {
        tracing::info!(
            interval_ms = pacer.interval().as_millis() as u64,
            "sends paced"
        );
    }
    let (ports, unsubscribe, pacer) = (&ports, &unsubscribe, &pacer);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let links = || async {
            let Some((base_url, parameter)) = unsubscribe else {
                return Ok::<_, SecretParameterError>(None);
            };
            let secret = parameter.read().await?;
            Ok(Some(UnsubscribeLinks {
                base_url: base_url.clone(),
                secret,
            }))
        };
        let ports = ports.get(links, Bundle::with_unsubscribe_links).await?;
        // A wake-up to try again is a batch item failure: SQS returns it after the visibility
        // timeout, and parks it in the dead-letter queue after the receive limit.
        Ok::<SqsBatchResponse, Error>(handle_batch(&event.payload, ports, pacer.as_ref()).await)
    }))
    .await
}
