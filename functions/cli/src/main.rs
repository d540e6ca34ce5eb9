//! `cartback`: run the demo, simulate event files, check sequence files, import offer codes,
//! explain a cart, run the whole stack locally (`dev`), and re-drive dead-lettered wake-ups
//! (`replay`).

mod check;
mod codes;
mod demo;
mod dev;
mod doctor;
mod explain;
mod invariants;
mod privacy;
mod render;
mod replay;
mod report;
mod shop;
mod simulate;
mod stack;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jiff::Timestamp;

/// Why a command failed: printed after `cartback: `, exit code 2 (1 for `replay`).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Simulate(#[from] simulate::SimulateError),
    #[error(transparent)]
    Render(#[from] render::RenderCmdError),
    #[error(transparent)]
    Check(#[from] check::CheckError),
    #[error(transparent)]
    Codes(#[from] codes::CodesError),
    #[error(transparent)]
    Shop(#[from] shop::ShopCmdError),
    #[error(transparent)]
    Explain(#[from] explain::ExplainError),
    #[error(transparent)]
    Privacy(#[from] privacy::PrivacyError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Dev(#[from] dev::DevError),
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error(transparent)]
    Doctor(#[from] doctor::DoctorError),
    /// What a command prints could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Replay(_) => 1,
            _ => 2,
        }
    }
}

#[derive(Parser)]
#[command(
    name = "cartback",
    version,
    about = "Abandoned-cart recovery you run in your own AWS account"
)]
struct Cli {
    /// The deployed stack (its CloudFormation name): the commands that read a deployed stack
    /// (shop, doctor, explain, erase, export, report, codes) take its table, schedule group,
    /// secrets prefix, unsubscribe secret, configuration set, sender identity and webhook
    /// base from the stack's outputs. Flags such as --table still win; without --stack the
    /// `CARTBACK_*` variables of docs/deploy.md are read.
    #[arg(long, global = true, value_name = "NAME")]
    stack: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Command {
    /// Whether the command reads a deployed stack (and so takes `--stack`).
    fn reads_a_stack(&self) -> bool {
        matches!(
            self,
            Command::Shop { .. }
                | Command::Doctor(_)
                | Command::Explain { .. }
                | Command::Erase { .. }
                | Command::Export { .. }
                | Command::Report { .. }
                | Command::Codes { .. }
        )
    }
}

#[derive(Subcommand)]
enum Command {
    /// A realistic multi-cart scenario on the in-memory stack with a virtual clock: no AWS, no setup.
    Demo,
    /// Run webhook and recipient events (JSON lines) through the real pipeline on a virtual clock.
    Simulate {
        /// JSON lines: webhooks {at, shop, platform, topic, payload} or recipient events
        /// {at, shop, event, cart, step}.
        #[arg(long)]
        events: PathBuf,
        /// A sequence file used for every shop instead of the default sequence.
        #[arg(long)]
        sequence: Option<PathBuf>,
        /// Shop settings (TOML, one `[shops.<id>]` table each); others get the defaults.
        #[arg(long)]
        shops: Option<PathBuf>,
        /// Run the clock until this time (RFC 3339); default 30 days after the last event.
        #[arg(long)]
        until: Option<Timestamp>,
        /// Print to stderr, as one JSON line, the AWS calls the real functions would make,
        /// by service and operation (shop settings and secrets are cached per container and
        /// not counted).
        #[arg(long)]
        stats: bool,
        /// Inject faults at this rate (0 to 0.5): throttled, failed and unanswered AWS calls,
        /// duplicate, late and out-of-order deliveries, a sender dying after its claim. The
        /// same input also runs without faults; a summary JSON line on stderr compares them,
        /// and the command fails if a message went twice, after a purchase, or was lost.
        #[arg(long, value_name = "RATE")]
        faults: Option<f64>,
        /// The seed of `--faults` (the same seed injects the same faults).
        #[arg(long, default_value_t = 1, requires = "faults")]
        seed: u64,
        /// SES accepts at most N sends per (virtual) second and throttles the rest, as it
        /// does at the account's MaxSendRate. A summary JSON line (`send_limits`) goes to
        /// stderr.
        #[arg(long, value_name = "N", conflicts_with = "faults", value_parser = clap::value_parser!(u32).range(1..))]
        send_rate: Option<u32>,
        /// SES refuses every send for an account-side reason (sending paused) from FROM up to
        /// TO (RFC 3339 times, `FROM..TO`).
        #[arg(long, value_name = "FROM..TO", conflicts_with = "faults", value_parser = parse_outage)]
        account_outage: Option<(Timestamp, Timestamp)>,
    },
    /// Write one step of one cart exactly as it would be sent: message.eml (the full MIME
    /// given to SES), message.html and message.txt, or message.sms.txt for an SMS step.
    Render(render::RenderRequest),
    /// Check sequence files and the built-in templates; errors name file, line and fix.
    Check {
        /// Sequence files (default: templates/sequences/*.toml).
        files: Vec<PathBuf>,
        /// A shop's template directory (laid out like `templates/`: email/<lang>/...,
        /// sms/<lang>/...) to check over the built-in templates.
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Single-use offer codes on the DynamoDB table (AWS credentials and region from the
    /// environment, as for the AWS CLI; `AWS_ENDPOINT_URL` for an emulator).
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
    /// A preflight of a deployed stack (or of `cartback dev` with --local): the table, the
    /// unsubscribe secret, the SES identity and DKIM, production access, the configuration
    /// set's events, each shop's settings, secret and token, the SMS sandbox and spend limit;
    /// one line per check with what to fix. Exits 1 when something must be fixed.
    Doctor(doctor::DoctorArgs),
    /// The shops a stack serves: their settings (the table's CONFIG item) and webhook
    /// secrets (SSM SecureString), on a deployed stack (AWS environment as for the AWS CLI)
    /// or on the running `cartback dev` (--local); and their platforms' webhooks.
    Shop {
        #[command(subcommand)]
        command: shop::ShopCommand,
    },
    /// Explain one cart: its state, what was sent and why, and the next decision with its
    /// reason and time — on a deployed table or on the running `cartback dev`.
    Explain {
        /// The shop's id, as in its webhook URL.
        #[arg(long)]
        shop: String,
        /// The cart id (for Shopify, the checkout token).
        #[arg(long)]
        cart: String,
        /// Ask the `cartback dev` running on --port (its moto and its clock).
        #[arg(long, conflicts_with = "table")]
        local: bool,
        /// The deployed DynamoDB table (default: the --stack output, else $CARTBACK_TABLE; AWS credentials, region
        /// and `AWS_ENDPOINT_URL` from the environment).
        #[arg(long)]
        table: Option<String>,
        /// The port of the `cartback dev` to ask (with --local).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// Explain as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<Timestamp>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget a person in a shop: delete their carts and the carts' pending schedules, and
    /// leave only a hashed tombstone (suppressed on every channel, never expiring) so they
    /// get nothing if they come back. Prints what was done (ids and counts); idempotent:
    /// after a failure, run it again.
    Erase {
        #[command(flatten)]
        person: PersonArgs,
        /// The EventBridge Scheduler group (default: the --stack output, else $CARTBACK_SCHEDULE_GROUP, else `cartback`).
        #[arg(long)]
        schedule_group: Option<String>,
    },
    /// Print, as JSON, everything stored about a person in a shop: their carts, their contact
    /// items and the messages sent to them.
    Export {
        #[command(flatten)]
        person: PersonArgs,
    },
    /// What the messages add for one shop: carts, conversions, conversion rate, revenue and
    /// recovered orders for the holdout, the treatment and each variant of each split step,
    /// and the lift of the treatment over the holdout with its 95 % confidence interval.
    Report {
        /// Run these events (JSON lines, as `simulate` reads them) and report on the end state.
        #[arg(long, conflicts_with_all = ["local", "table"])]
        events: Option<PathBuf>,
        /// Shop settings for --events (as `simulate --shops`).
        #[arg(long, requires = "events")]
        shops: Option<PathBuf>,
        /// A sequence file for every shop of --events (as `simulate --sequence`).
        #[arg(long, requires = "events")]
        sequence: Option<PathBuf>,
        /// Run the --events clock until this time (RFC 3339); default 30 days after the last event.
        #[arg(long, requires = "events")]
        until: Option<Timestamp>,
        /// Ask the `cartback dev` running on --port (its moto and its table).
        #[arg(long, conflicts_with = "table")]
        local: bool,
        /// The port of the `cartback dev` to ask (with --local).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// The deployed DynamoDB table (default: the --stack output, else $CARTBACK_TABLE; AWS credentials, region
        /// and `AWS_ENDPOINT_URL` from the environment).
        #[arg(long)]
        table: Option<String>,
        /// The shop (needed with a table; with --events, the only shop of the events by default).
        #[arg(long)]
        shop: Option<String>,
        /// Only carts last active at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<Timestamp>,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Re-drive wake-ups from a dead-letter queue (the Scheduler's, or the send queue's
    /// redrive DLQ) to the send queue, after the cause of the failures is fixed. Without
    /// --apply, a dry run: prints what it would move and leaves every message in place.
    ///
    /// Prints one JSON line per message (shop, cart hash, step, generation; never a cart id
    /// in clear) and a summary line. With --apply each wake-up is sent unchanged to --to and
    /// only then deleted from --from: a crash in between re-drives that wake-up twice, which
    /// is harmless, since the sender does nothing for a duplicate or stale wake-up. A body
    /// that is not a wake-up is never sent: it stays in --from and is reported. Stops when
    /// the queue is empty or after --max messages. AWS credentials and region from the
    /// environment, as for the AWS CLI; `AWS_ENDPOINT_URL` for an emulator. Exit status 1
    /// if a queue is missing or AWS refuses a call.
    Replay {
        /// The dead-letter queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
        #[arg(long, value_name = "DLQ_URL")]
        from: String,
        /// The send queue's URL (the queue the sender function reads).
        #[arg(long, value_name = "SEND_QUEUE_URL")]
        to: String,
        /// Move the wake-ups (send to --to, then delete from --from); without it, a dry run.
        #[arg(long)]
        apply: bool,
        /// Stop after this many messages.
        #[arg(long, value_name = "N", default_value_t = replay::DEFAULT_MAX, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
    },
    /// The whole stack on this machine: a local AWS emulator (moto, installed on first use)
    /// with the SAM template's resources, the real functions on it, HTTP webhooks and
    /// unsubscribe routes, and an outbox page. Ctrl-C stops everything it started.
    Dev {
        /// The HTTP port (webhooks, unsubscribe, the outbox); 0 picks a free one.
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// moto's port (default: --port + 1, or a free one with --port 0); a moto already
        /// answering there is reused; 0 starts one on a free port.
        #[arg(long)]
        moto_port: Option<u16>,
        /// Run the clock N times faster: 60 = an hour a minute, 3600 = an hour a second.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        speed: u32,
        /// Print the functions' JSON logs too.
        #[arg(long)]
        logs: bool,
    },
}

/// The person of `erase` and `export`, on the deployed table.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("person").required(true).args(["email", "phone"])))]
struct PersonArgs {
    /// The shop's id, as in its webhook URL.
    #[arg(long)]
    shop: String,
    /// The person's email address.
    #[arg(long)]
    email: Option<String>,
    /// The person's phone number, with its country code (+358…).
    #[arg(long)]
    phone: Option<String>,
    /// The DynamoDB table (default: the --stack output, else $CARTBACK_TABLE; AWS credentials, region and
    /// `AWS_ENDPOINT_URL` from the environment).
    #[arg(long)]
    table: Option<String>,
}

impl PersonArgs {
    fn target(self) -> Result<privacy::Target, privacy::PrivacyError> {
        privacy::target(
            &self.shop,
            self.email.as_deref(),
            self.phone.as_deref(),
            self.table,
        )
    }
}

#[derive(Subcommand)]
enum CodesCommand {
    /// Add a file's codes (one per line; blank lines and `#` comments skipped) to a shop's
    /// pool. Known codes, and codes ever claimed, are not added again. Prints
    /// {"added": N, "already_present": M, "available": K}.
    Import {
        /// The shop's id, as in its webhook URL.
        #[arg(long)]
        shop: String,
        /// The pool's name, as a sequence's `offer = { pool = "…" }` names it.
        #[arg(long)]
        pool: String,
        /// The code file.
        file: PathBuf,
        /// The DynamoDB table (default: the --stack output, else $CARTBACK_TABLE).
        #[arg(long)]
        table: Option<String>,
    },
}

/// `simulate` makes and frees millions of small objects (records, stream images, messages);
/// mimalloc does that faster than the system allocator, with less memory held.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cartback: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(stack) = &cli.stack {
        if !cli.command.reads_a_stack() {
            eprintln!(
                "cartback: --stack is for the commands that read a deployed stack: shop, doctor, \
                 explain, erase, export, report, codes"
            );
            return ExitCode::from(2);
        }
        if let Err(error) = runtime.block_on(stack::load(stack)) {
            eprintln!("cartback: {error}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Demo => runtime.block_on(demo::run()).map_err(CliError::from),
        Command::Simulate {
            events,
            sequence,
            shops,
            until,
            stats,
            faults,
            seed,
            send_rate,
            account_outage,
        } => {
            let limits = (send_rate.is_some() || account_outage.is_some()).then_some(
                cartback_local::SendLimits {
                    per_second: send_rate,
                    outage: account_outage,
                },
            );
            let plan = faults
                .map(|rate| {
                    cartback_local::FaultPlan::within(
                        seed,
                        rate,
                        cartback_local::MAX_SIMULATED_RATE,
                    )
                })
                .transpose()
                .map_err(|e| CliError::from(simulate::SimulateError::from(e)));
            plan.and_then(|plan| {
                runtime.block_on(simulate_command(
                    events, sequence, shops, until, stats, plan, limits,
                ))
            })
        }
        Command::Render(request) => runtime
            .block_on(render::run(&request))
            .map_err(CliError::from)
            .and_then(|written| {
                serde_json::to_string(&written)
                    .map(|line| println!("{line}"))
                    .map_err(CliError::from)
            }),
        Command::Check { files, templates } => {
            check::run(&files, templates.as_deref()).map_err(CliError::from)
        }
        Command::Codes {
            command:
                CodesCommand::Import {
                    shop,
                    pool,
                    file,
                    table,
                },
        } => runtime
            .block_on(codes::import(&shop, &pool, &file, table))
            .map_err(CliError::from)
            .and_then(print_line),
        Command::Shop { command } => runtime
            .block_on(shop::run(command))
            .map_err(CliError::from)
            .and_then(print_line),
        Command::Explain {
            shop,
            cart,
            local,
            table,
            port,
            at,
            json,
        } => runtime.block_on(explain_command(&shop, &cart, local, table, port, at, json)),
        Command::Erase {
            person,
            schedule_group,
        } => person
            .target()
            .and_then(|target| runtime.block_on(privacy::erase(&target, schedule_group)))
            .map_err(CliError::from)
            .and_then(print_line),
        Command::Export { person } => person
            .target()
            .and_then(|target| runtime.block_on(privacy::export(&target)))
            .map_err(CliError::from)
            .and_then(print_line),
        Command::Report {
            events,
            shops,
            sequence,
            until,
            local,
            port,
            table,
            shop,
            since,
            json,
        } => {
            let source = match (events, local) {
                (Some(events), _) => Ok(report::Source::Events {
                    events,
                    shops,
                    sequence,
                    until,
                }),
                (None, true) => Ok(report::Source::Local(port)),
                (None, false) => codes::deployed_table(table)
                    .map(report::Source::Table)
                    .ok_or(CliError::Report(report::ReportError::NoSource)),
            };
            source.and_then(|source| {
                runtime.block_on(report_command(source, shop.as_deref(), since, json))
            })
        }
        Command::Dev {
            port,
            moto_port,
            speed,
            logs,
        } => runtime
            .block_on(dev::run(dev::DevOptions {
                port,
                moto_port,
                speed,
                logs,
            }))
            .map_err(CliError::from),
        Command::Doctor(args) => match runtime.block_on(doctor::run(&args)) {
            Ok(checks) => {
                let report = if args.json {
                    doctor::json_lines(&checks)
                } else {
                    doctor::text(&checks)
                };
                print!("{report}");
                if doctor::needs_fixing(&checks) {
                    return ExitCode::from(1);
                }
                Ok(())
            }
            Err(error) => Err(CliError::from(error)),
        },
        Command::Replay {
            from,
            to,
            apply,
            max,
        } => {
            let options = replay::ReplayOptions {
                from,
                to,
                apply,
                max,
            };
            runtime
                .block_on(replay::run(&options, &mut std::io::stdout().lock()))
                .map(|_| ())
                .map_err(CliError::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cartback: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// `FROM..TO`, two RFC 3339 times, FROM before TO.
fn parse_outage(text: &str) -> Result<(Timestamp, Timestamp), String> {
    let (from, to) = text.split_once("..").ok_or_else(|| {
        format!("`{text}`: expected FROM..TO, e.g. 2026-11-02T10:00:00Z..2026-11-02T13:00:00Z")
    })?;
    let time = |t: &str| {
        t.trim()
            .parse::<Timestamp>()
            .map_err(|e| format!("`{t}`: not an RFC 3339 time ({e}), e.g. 2026-11-02T10:00:00Z"))
    };
    let (from, to) = (time(from)?, time(to)?);
    if from >= to {
        return Err(format!("`{text}`: FROM must be before TO"));
    }
    Ok((from, to))
}

fn print_line(line: String) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(CliError::Output)
}

async fn simulate_command(
    events: PathBuf,
    sequence: Option<PathBuf>,
    shops: Option<PathBuf>,
    until: Option<Timestamp>,
    stats: bool,
    faults: Option<cartback_local::FaultPlan>,
    limits: Option<cartback_local::SendLimits>,
) -> Result<(), CliError> {
    let (events, local_shops, file) =
        simulate::load(&events, sequence.as_deref(), shops.as_deref())?;
    // With RUST_LOG set, the functions' JSON logs go to stderr (the decisions stay on stdout).
    if let Ok(level) = std::env::var("RUST_LOG") {
        use tracing_subscriber::util::SubscriberInitExt;
        let _ = cartback_aws::json_subscriber(std::io::stderr, &level).try_init();
    }
    // Which carts are one person's, for the invariants (computed before the run takes the
    // input).
    // A run with faults holds its input (it looks ahead, and runs it twice); one without
    // reads the events file as it goes.
    let (input, held, people) = match faults {
        Some(_) => {
            let lines = events.hold().map_err(simulate::SimulateError::from)?;
            let people = simulate::people_of(&lines);
            (
                simulate::Events::from(lines.clone()),
                Some(lines),
                Some(people),
            )
        }
        None => (events, None, None),
    };
    // The same input without faults: what the faulty run is held to.
    let reference = match held {
        Some(lines) => {
            let mut decisions = Vec::new();
            simulate::run(lines, local_shops.clone(), until, &file, |progress| {
                if let simulate::Progress::Decision(report) = progress {
                    decisions.push(report.clone());
                }
            })
            .await
            .map_err(simulate::SimulateError::from)?;
            Some(decisions)
        }
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let mut decisions = Vec::new();
    let mut converted = HashMap::new();
    let stack = simulate::run_limited(
        input,
        local_shops,
        until,
        &file,
        faults.clone(),
        simulate::RunOptions {
            limits,
            // The invariants of a run with faults read every cart afterwards.
            forget_expired: faults.is_none(),
        },
        |progress| match progress {
            simulate::Progress::Decision(report) => {
                if reference.is_some() {
                    decisions.push(report.clone());
                }
                if write_error.is_none() {
                    let line = serde_json::to_string(report).unwrap_or_default();
                    if let Err(e) = writeln!(out, "{line}") {
                        write_error = Some(e);
                    }
                }
            }
            simulate::Progress::Webhook { input, at, reply } => {
                // Only the invariants of a run with faults read the conversions.
                if reference.is_some()
                    && let (
                        Ok(cartback_app::ingest::Accepted::Converted {
                            cart: Some(cart), ..
                        }),
                        simulate::InputEvent::Webhook { shop, .. },
                    ) = (&reply.0, &input.event)
                {
                    converted
                        .entry((shop.clone(), cart.to_string()))
                        .or_insert(at);
                }
            }
            simulate::Progress::Recipient { .. } => {}
        },
    )
    .await
    .map_err(simulate::SimulateError::from)?;
    if stats {
        eprintln!("{}", stack.calls.to_json());
    }
    if let Some(limits) = stack.mailer.limit_stats() {
        eprintln!("{}", serde_json::json!({ "send_limits": limits }));
    }
    if let (Some(reference), Some(plan)) = (reference, faults) {
        let carts = stack.store.carts();
        let crashed = carts
            .iter()
            .flat_map(|cart| {
                cart.sent
                    .iter()
                    .filter(|s| {
                        s.skipped == Some(cartback_core::model::reason::SkipReason::CrashAfterClaim)
                    })
                    .map(|s| (cart.shop.to_string(), cart.cart.to_string(), s.step + 1))
            })
            .collect();
        let summary = invariants::check(
            &reference,
            &invariants::FaultyRun {
                reports: &decisions,
                unconfirmed: &stack.unconfirmed(),
                converted: &converted,
                faults: &stack.faults,
                crashed: &crashed,
                people: &people.unwrap_or_default(),
                outbox: stack.mailer.sent_count() + stack.sms.sent_count(),
                carts: carts.len(),
            },
            plan.seed(),
            plan.rate(),
        );
        eprintln!("{}", serde_json::to_string(&summary)?);
        if !summary.invariants_hold {
            return Err(simulate::SimulateError::Invariants {
                violations: summary.violations,
            }
            .into());
        }
    }
    match write_error {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

async fn report_command(
    source: report::Source,
    shop: Option<&str>,
    since: Option<Timestamp>,
    json: bool,
) -> Result<(), CliError> {
    let lift = report::run(source, shop, since).await?;
    let text = if json {
        serde_json::to_string(&lift)? + "\n"
    } else {
        report::text(&lift)
    };
    write!(std::io::stdout().lock(), "{text}").map_err(CliError::Output)
}

async fn explain_command(
    shop: &str,
    cart: &str,
    local: bool,
    table: Option<String>,
    port: u16,
    at: Option<Timestamp>,
    json: bool,
) -> Result<(), CliError> {
    let source = if local {
        explain::Source::Local(port)
    } else {
        let table = codes::deployed_table(table).ok_or(explain::ExplainError::NoSource)?;
        explain::Source::Table(table)
    };
    let explanation = explain::run(shop, cart, source, at).await?;
    let text = if json {
        serde_json::to_string(&explanation)? + "\n"
    } else {
        explain::text(&explanation)
    };
    write!(std::io::stdout().lock(), "{text}").map_err(CliError::Output)
}
