//! `cartback dev`: the whole pipeline on a laptop, no Docker and no AWS account. A moto
//! server (installed by `scripts/pyenv`, or reused when one answers on the moto port) gets
//! the SAM template's resources; the real handlers run on the real AWS adapters against it:
//! HTTP webhooks and unsubscribe routes, the table's stream feeding the planner, due
//! schedules firing the sender on a clock that may run faster than the wall clock, and the
//! outbox page showing what SES and SNS accepted.

mod actions;
mod journal;
mod outbox;
mod server;
pub mod setup;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cartback_app::send::Outcome;
use cartback_core::model::time::Clock;
use cartback_devstack::{
    DevStackError, Fired, Moto, MotoOptions, Names, Pump, REGION, ScaledClock, Stack, connect_shop,
    create_resources, put_secret, sdk_config,
};
use serde_json::Value;

use journal::{Entry, Journal, Source};
use outbox::OutboxError;
use setup::SetupError;

/// How often the stream and the schedules are polled (wall-clock time).
const POLL: Duration = Duration::from_millis(200);

/// Why `cartback dev` could not start, or stopped on a failure.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("--moto-port must differ from --port")]
    SamePorts,
    #[error("cannot listen on 127.0.0.1:{port} ({source}): pass --port")]
    Listen { port: u16, source: std::io::Error },
    #[error("the listening socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("{}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot find the cartback workspace (scripts/pyenv), which installs moto: run \
         `cartback dev` inside the clone, or set CARTBACK_MOTO_SERVER to a moto_server"
    )]
    NoWorkspace,
    #[error("{source}\n{log_tail}")]
    MotoStart {
        source: DevStackError,
        log_tail: String,
    },
    /// Preparing moto, its resources or the stack on it failed.
    #[error(transparent)]
    Stack(#[from] DevStackError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("the outbox template: {0}")]
    Template(#[source] minijinja::Error),
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// `cartback dev`'s flags.
pub struct DevOptions {
    /// 0: a free port (the banner says which).
    pub port: u16,
    /// Default: `port + 1`, or a free one when `port` is 0; 0: a free one.
    pub moto_port: Option<u16>,
    pub speed: u32,
    /// Print the functions' JSON logs.
    pub logs: bool,
}

/// What the HTTP routes and the pump share.
pub struct App {
    pub stack: Stack<ScaledClock>,
    pub journal: Journal,
    pub templates: minijinja::Environment<'static>,
    pub speed: u32,
    /// `http://localhost:PORT`.
    pub base_url: String,
    /// `localhost:PORT`.
    pub host: String,
    moto_endpoint: String,
    http: reqwest::Client,
}

impl App {
    /// moto's whole state.
    pub async fn moto_data(&self) -> Result<Value, OutboxError> {
        self.http
            .get(format!("{}/moto-api/data.json", self.moto_endpoint))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(OutboxError::MotoState)?
            .json()
            .await
            .map_err(OutboxError::MotoAnswer)
    }
}

/// The workspace (for `scripts/pyenv`): from the current directory up, else where this
/// binary was built from.
fn workspace() -> Result<PathBuf, DevError> {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::current_dir() {
        candidates.push(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.push(exe);
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    cartback_devstack::find_pyenv(&candidates).ok_or(DevError::NoWorkspace)
}

/// moto on `port` (reused when one answers there), or on a free port moto picks when `port`
/// is 0.
async fn moto(port: u16, log: &Path) -> Result<Moto, DevError> {
    if port != 0
        && let Some(moto) = Moto::reuse(port).await
    {
        return Ok(moto);
    }
    let binary = if std::env::var_os("CARTBACK_MOTO_SERVER").is_some() {
        cartback_devstack::moto_binary(Path::new("."))
    } else {
        eprintln!(
            "cartback dev: preparing moto (installed once into ~/.cache/cartback by scripts/pyenv)…"
        );
        cartback_devstack::moto_binary(&workspace()?)
    }?;
    let options = MotoOptions {
        port: (port != 0).then_some(port),
        serialised: false,
        log: Some(log.to_path_buf()),
    };
    Moto::start(&binary, &options)
        .await
        .map_err(|source| DevError::MotoStart {
            source,
            log_tail: Moto::log_tail(log),
        })
}

/// Runs until Ctrl-C (or SIGTERM); stops everything it started.
pub async fn run(options: DevOptions) -> Result<(), DevError> {
    if options.logs {
        cartback_aws::init_tracing();
    }
    let asked = options.port;
    // --port 0 asks for a free port, and then moto gets one too unless --moto-port names it.
    let moto_port = options.moto_port.unwrap_or(if asked == 0 {
        0
    } else {
        asked.saturating_add(1)
    });
    if moto_port == asked && asked != 0 {
        return Err(DevError::SamePorts);
    }
    // Bind first: a taken port fails before anything starts.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", asked))
        .await
        .map_err(|source| DevError::Listen {
            port: asked,
            source,
        })?;
    let port = listener.local_addr().map_err(DevError::Socket)?.port();
    let dir = std::env::temp_dir().join(format!("cartback-dev-{port}"));
    if let Err(source) = std::fs::create_dir_all(&dir) {
        return Err(DevError::Dir { path: dir, source });
    }
    let mut moto = moto(moto_port, &dir.join("moto.log")).await?;
    let base_url = format!("http://localhost:{port}");
    let names = Names::for_stack("cartback", setup::TABLE, &base_url);
    let sdk = sdk_config(&moto.endpoint, REGION).await;
    let fresh = create_resources(&sdk, &names).await?;
    put_secret(
        &sdk,
        &names.unsubscribe_secret_param,
        setup::DEV_UNSUBSCRIBE_SECRET,
    )
    .await?;
    let (shop, settings) = setup::demo_shop()?;
    connect_shop(&sdk, &names, &shop, &settings, setup::DEMO_WEBHOOK_SECRET).await?;
    let clock = ScaledClock::start(options.speed);
    let stack = Stack::new(sdk, names, clock).await?;
    if !fresh {
        // A reused moto: what an earlier run wrote was planned then.
        stack.skip_stream_backlog().await?;
    }
    let body = setup::sample_checkout(clock.now())?;
    let sample = setup::sample_request(&dir, &base_url, &body)?;
    let mut templates = minijinja::Environment::new();
    templates
        .add_template(outbox::TEMPLATE_NAME, outbox::TEMPLATE)
        .map_err(DevError::Template)?;
    let app = Arc::new(App {
        stack,
        journal: Journal::echoing(),
        templates,
        speed: clock.speed(),
        host: format!("localhost:{port}"),
        base_url: base_url.clone(),
        moto_endpoint: moto.endpoint.clone(),
        http: reqwest::Client::new(),
    });
    banner(&app, &moto, &sample);
    let pump = tokio::spawn(pump_loop(app.clone()));
    let served = axum::serve(listener, server::router(app.clone()))
        .with_graceful_shutdown(shutdown())
        .await;
    pump.abort();
    let _ = pump.await;
    drop(app);
    let started_here = moto.started_here();
    moto.stop();
    // The sample checkout and moto's log; kept when something failed before this point.
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "cartback dev: stopped{}",
        if started_here {
            " (and the moto server it started)"
        } else {
            "; the moto server it reused keeps running"
        }
    );
    served.map_err(DevError::Serve)
}

fn banner(app: &App, moto: &Moto, sample: &setup::SampleRequest) {
    let base = &app.base_url;
    let moto_note = if moto.started_here() {
        "started here; stops with cartback dev"
    } else {
        "reused: it was already running"
    };
    let reminder = match app.speed {
        1 => {
            "The first reminder goes out 1 h after the checkout (try --speed 60: an hour a minute)."
                .to_owned()
        }
        speed => format!(
            "The clock runs ×{speed}. The checkout is stamped with the time cartback dev started, \
             so its first reminder (1 h later) is due {} s after the start — or at once, if \
             you paste it later than that.",
            3600 / speed.max(1)
        ),
    };
    println!(
        "\ncartback dev: the real functions on a local AWS emulator, clock ×{speed}\n\n\
         \x20 outbox       {base}/outbox\n\
         \x20 webhooks     {base}/webhooks/{{shop}}/shopify   demo shop `{shop}` (secret `{secret}`)\n\
         \x20 unsubscribe  {base}/unsubscribe\n\
         \x20 moto         {endpoint} ({moto_note}), table `{table}`\n\n\
         A new checkout for the demo shop, Kuura Knitwear ({file}):\n\n{curl}\n\n\
         {reminder}\n\
         Explain a cart: cartback explain --local --port {port} --shop {shop} --cart <checkout token>\n\
         Ctrl-C stops everything cartback dev started.\n",
        speed = app.speed,
        shop = setup::DEMO_SHOP,
        secret = setup::DEMO_WEBHOOK_SECRET,
        endpoint = moto.endpoint,
        table = app.stack.names.table,
        file = sample.file.display(),
        curl = sample.curl,
        port = app.host.rsplit(':').next().unwrap_or("8787"),
    );
}

async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    println!("\ncartback dev: stopping…");
}

/// Polls the stream and the schedules, as AWS does on its own, and journals each wake-up.
async fn pump_loop(app: Arc<App>) {
    let pump = Pump::new();
    let mut last_error = String::new();
    loop {
        match pump.tick(&app.stack).await {
            Ok(tick) => {
                for fired in &tick.fired {
                    record(&app.journal, fired);
                }
                if tick.changed() {
                    app.journal.bump();
                }
                last_error.clear();
            }
            Err(error) => {
                let error = error.to_string();
                if error != last_error {
                    eprintln!("cartback dev: {error}");
                    last_error = error;
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// ` (variant b)` for a step split into variants.
fn variant_words(variant: Option<&str>) -> String {
    variant.map_or_else(String::new, |v| format!(" (variant {v})"))
}

/// One sender invocation in the journal: the page's words and the terminal's (no subject,
/// address or SMS text there).
fn record(journal: &Journal, fired: &Fired) {
    let step = fired.wake.step + 1;
    let (source, text, console) = match &fired.result {
        Ok(Outcome::Sent {
            step,
            channel,
            subject,
            variant,
            ..
        }) => {
            let what = format!(
                "step {}{} sent by {}",
                step + 1,
                variant_words(variant.as_deref()),
                channel.as_str()
            );
            (Source::Step, format!("{what}: {subject}"), what)
        }
        Ok(Outcome::Skipped {
            step,
            channel,
            reason,
            variant,
        }) => {
            let what = format!(
                "step {}{} skipped on {}: {}",
                step + 1,
                variant_words(variant.as_deref()),
                channel.as_str(),
                reason.as_str()
            );
            (Source::Step, what.clone(), what)
        }
        Ok(Outcome::HeldOut { step }) => {
            let what = format!(
                "step {}: held out (the shop's holdout group gets no messages)",
                step + 1
            );
            (Source::Sender, what.clone(), what)
        }
        Ok(Outcome::Deferred { until, reason, .. }) => {
            let what = format!(
                "step {step} deferred until {}: {}",
                cartback_core::insight::explain::short_time(*until),
                reason.as_str()
            );
            (Source::Sender, what.clone(), what)
        }
        Ok(Outcome::Rearmed { until }) => {
            let what = format!(
                "woke for step {step}, not due yet with the engagement so far: re-armed for {}",
                cartback_core::insight::explain::short_time(*until)
            );
            (Source::Sender, what.clone(), what)
        }
        Ok(Outcome::Stopped { reason, .. }) => {
            let what = format!("woke for step {step}: stopped, {}", reason.as_str());
            (Source::Sender, what.clone(), what)
        }
        Ok(Outcome::Stale(why)) => {
            let what = format!("stale wake-up for step {step} ignored ({why:?})");
            (Source::Sender, what.clone(), what)
        }
        Ok(Outcome::Gone) => {
            let what = "wake-up for a cart or shop that is gone".to_owned();
            (Source::Sender, what.clone(), what)
        }
        Err(error) => {
            let then = match fired.retry_at {
                Some(at) => format!(
                    "the send queue delivers it again at {}",
                    cartback_core::insight::explain::short_time(at)
                ),
                None => {
                    "given up after 10 receives (dead-lettered; `cartback replay` re-drives it)"
                        .to_owned()
                }
            };
            let what = format!("the sender failed on step {step}: {error}; {then}");
            (Source::Sender, what.clone(), what)
        }
    };
    journal.add(
        Entry {
            at: fired.at,
            shop: fired.wake.shop.to_string(),
            cart: Some(fired.wake.cart.to_string()),
            source,
            text,
        },
        &console,
    );
}
