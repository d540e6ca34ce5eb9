//! Lambda wiring for the sender: a schedule's wake-up in, an email out.

use cartback_app::{Absent, Bundle, Messaging};
use cartback_aws::{
    AwsConfig, DynamoCartStore, DynamoOfferCodes, DynamoShopDirectory, FirstUse, SecretParameter,
    SesMailer, SnsSms, UNSUBSCRIBE_SECRET_PARAM_ENV,
};
use cartback_core::messages::render::Renderer;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::SystemClock;
use cartback_sender::{Metrics, UnsubscribeLinks, handle};
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
    let unsubscribe = match config.public_url.clone() {
        Some(base_url) => Some((
            base_url,
            SecretParameter::from_env(&sdk, UNSUBSCRIBE_SECRET_PARAM_ENV)?,
        )),
        None => None,
    };
    // Shops' own templates are compiled here, once (local files, no network): a broken file
    // stops the start with its file and line instead of failing sends later.
    let renderer = match &config.templates_dir {
        Some(dir) => cartback_app::templates::with_template_root(Renderer::embedded(), dir)?,
        None => Renderer::embedded(),
    };
    let deps = FirstUse::new(Bundle {
        store: DynamoCartStore::new(&sdk, &config.table),
        mailer: SesMailer::new(&sdk, config.configuration_set.clone()),
        sms: SnsSms::new(&sdk),
        shops: DynamoShopDirectory::new(&sdk, &config.table),
        clock: SystemClock,
        offer_codes: DynamoOfferCodes::new(&sdk, &config.table),
        // EMF lines on stdout: CloudWatch Logs turns them into metrics.
        metrics: Metrics::Stdout,
        messaging: Messaging {
            renderer,
            unsubscribe: None,
        },
        // Schedules are the planner's; webhooks are the webhook function's.
        schedules: Absent,
        secrets: Absent,
        store_api: Absent,
    });
    let (deps, unsubscribe) = (&deps, &unsubscribe);
    run(service_fn(move |event: LambdaEvent<WakeUp>| async move {
        let deps = deps
            .get(
                || async {
                    match unsubscribe {
                        Some((base_url, parameter)) => Ok(Some(UnsubscribeLinks {
                            base_url: base_url.clone(),
                            secret: parameter.read().await?,
                        })),
                        None => Ok::<_, cartback_aws::SecretParameterError>(None),
                    }
                },
                |partial, links| Bundle {
                    messaging: Messaging {
                        unsubscribe: links,
                        ..partial.messaging
                    },
                    ..partial
                },
            )
            .await?;
        // An error fails the invocation: Lambda's async retries and the DLQ take over.
        handle(&event.payload, deps)
            .await
            .map(|outcome| outcome.summary())
            .map_err(Error::from)
    }))
    .await
}
