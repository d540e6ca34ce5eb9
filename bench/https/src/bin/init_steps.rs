//! `init-steps [--runs N] [--json FILE]`: where a function's init time goes, step by step.
//!
//! Each run is a fresh process (what a step costs the first time in a process is the point:
//! page faults, lazily initialised statics), started with a cleared environment like the
//! cold-start harness's. The child stamps the wall clock as `main` starts and after each step
//! of what a function's init can do, in order:
//! - the tokio runtime, current-thread (the functions) or multi-thread (`#[tokio::main]`'s
//!   default, hello-world's), alternating between runs;
//! - JSON logging (`init_tracing`) and the SDK config (`load_sdk_config`);
//! - the first client of each SDK crate the functions use, then a second DynamoDB client;
//! - the email renderer with the embedded templates.
//!
//! The parent prints the median of each step (spawn → `main` is the loader, relocations and
//! the runtime's own start).

use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cartback_bench::stats::{median, ms};
use serde_json::json;

const RUNTIMES: [&str; 2] = ["current_thread", "multi_thread"];

fn main() -> ExitCode {
    cartback_bench::fresh_process::main("init-steps", 50, child, parent)
}

/// Nanoseconds since the epoch: comparable between the parent and its child.
fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Step names in order, and for each run of each runtime the duration of every step.
#[derive(Default)]
struct Samples {
    steps: Vec<String>,
    runs: Vec<Vec<Duration>>,
}

fn parent(runs: usize, json_out: Option<&str>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut samples: Vec<Samples> = RUNTIMES.iter().map(|_| Samples::default()).collect();
    for _ in 0..runs {
        for (runtime, samples) in RUNTIMES.iter().zip(samples.iter_mut()) {
            let started = stamp();
            let out = Command::new(&exe)
                .args(["--child", runtime])
                .env_clear()
                .env("AWS_REGION", "eu-west-1")
                .env("AWS_ACCESS_KEY_ID", "bench")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("AWS_SESSION_TOKEN", "bench")
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
                .output()
                .map_err(|e| format!("spawn: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "child failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let (mut previous, mut steps, mut row) = (started, Vec::new(), Vec::new());
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let (step, at) = line
                    .rsplit_once(' ')
                    .and_then(|(step, at)| Some((step, at.parse::<u128>().ok()?)))
                    .ok_or_else(|| format!("unexpected child line {line:?}"))?;
                let nanos = at.saturating_sub(previous);
                row.push(Duration::from_nanos(
                    u64::try_from(nanos).unwrap_or(u64::MAX),
                ));
                steps.push(step.to_owned());
                previous = at;
            }
            samples.steps = steps;
            samples.runs.push(row);
        }
    }
    println!("init step by step: median of {runs} fresh processes per runtime");
    println!("{:<44} {:>16} {:>16}", "step", RUNTIMES[0], RUNTIMES[1]);
    let mut report = serde_json::Map::new();
    let medians: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| {
            (0..s.steps.len())
                .map(|i| {
                    let column: Vec<Duration> =
                        s.runs.iter().filter_map(|r| r.get(i)).copied().collect();
                    median(&column).map(ms).unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    for (i, step) in samples[0].steps.iter().enumerate() {
        let current = medians[0].get(i).copied().unwrap_or(f64::NAN);
        let multi = medians[1].get(i).copied().unwrap_or(f64::NAN);
        println!("{step:<44} {current:>13.2} ms {multi:>13.2} ms");
        report.insert(
            step.clone(),
            json!({ RUNTIMES[0]: current, RUNTIMES[1]: multi }),
        );
    }
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::Value::Object(report).to_string())
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn child(runtime: &str) -> ExitCode {
    let mut marks = vec![("spawn → main (loader, relocations)", stamp())];
    let built = match runtime {
        "current_thread" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let Ok(rt) = built else {
        eprintln!("init-steps: no tokio runtime");
        return ExitCode::FAILURE;
    };
    marks.push(("tokio runtime", stamp()));
    rt.block_on(async {
        cartback_aws::init_tracing();
        marks.push(("JSON logging (init_tracing)", stamp()));
        let sdk = cartback_aws::load_sdk_config().await;
        marks.push(("SDK config (load_sdk_config)", stamp()));
        let clients = (
            aws_sdk_dynamodb::Client::new(&sdk),
            stamp(),
            aws_sdk_ssm::Client::new(&sdk),
            stamp(),
            aws_sdk_sesv2::Client::new(&sdk),
            stamp(),
            aws_sdk_sns::Client::new(&sdk),
            stamp(),
            aws_sdk_scheduler::Client::new(&sdk),
            stamp(),
            aws_sdk_dynamodb::Client::new(&sdk),
            stamp(),
        );
        marks.push(("first DynamoDB client", clients.1));
        marks.push(("first SSM client", clients.3));
        marks.push(("first SES v2 client", clients.5));
        marks.push(("first SNS client", clients.7));
        marks.push(("first Scheduler client", clients.9));
        marks.push(("a second DynamoDB client", clients.11));
        let renderer = cartback_core::messages::render::Renderer::embedded();
        marks.push(("email renderer (embedded templates)", stamp()));
        drop((clients, renderer));
    });
    for (step, at) in marks {
        println!("{step} {at}");
    }
    ExitCode::SUCCESS
}
