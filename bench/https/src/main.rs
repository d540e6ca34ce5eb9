//! `first-request [--runs N] [--json FILE]`: what building the HTTPS client costs, and when
//! (its own package, so the criterion benches of `cartback-bench` do not link the AWS SDK).
//!
//! Each run is a fresh process (the SDK caches the loaded root certificates per process)
//! that builds the SDK config and three service clients, as a function's init does, then
//! makes two DynamoDB calls to a local stub that answers `{}`. Two ways, interleaved:
//! - `sdk-default`: the SDK's default HTTPS client, which builds its connector (root
//!   certificates, TLS configuration) while each service client is constructed;
//! - `lazy-shared`: `cartback_aws::LazyHttpsClient`, as the functions use it: one client for
//!   all three, built on the first request.
//!
//! It prints init (config + three clients), the first call and the second call, medians.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use cartback_bench::stats::{median, ms, p90};
use serde_json::json;

const MODES: [&str; 2] = ["sdk-default", "lazy-shared"];

fn main() -> ExitCode {
    cartback_bench::fresh_process::main("first-request", 20, child, parent)
}

/// One sample: (init, first call, second call).
type Sample = (Duration, Duration, Duration);

fn parent(runs: usize, json_out: Option<&str>) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let endpoint = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || stub_connection(stream));
        }
    });
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); MODES.len()];
    for _ in 0..runs {
        for (i, mode) in MODES.iter().enumerate() {
            let out = Command::new(&exe)
                .args(["--child", mode])
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_REGION", "eu-west-1")
                .env("AWS_ACCESS_KEY_ID", "bench")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("spawn: {e}"))?;
            let line = String::from_utf8_lossy(&out.stdout);
            let nanos: Vec<u64> = line
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            let [init, first, second] = nanos.as_slice() else {
                return Err(format!("{mode}: unexpected output {line:?}"));
            };
            samples[i].push((
                Duration::from_nanos(*init),
                Duration::from_nanos(*first),
                Duration::from_nanos(*second),
            ));
        }
    }
    println!(
        "HTTPS client: init (config + 3 clients) and the first two DynamoDB calls, {runs} fresh processes each"
    );
    println!(
        "{:<12} {:>10} {:>12} {:>12} {:>12}",
        "client", "init p50", "1st call p50", "2nd call p50", "init p90"
    );
    let mut report = serde_json::Map::new();
    for (mode, samples) in MODES.iter().zip(&samples) {
        let pick = |f: fn(&Sample) -> Duration| samples.iter().map(f).collect::<Vec<_>>();
        let (init, first, second) = (pick(|s| s.0), pick(|s| s.1), pick(|s| s.2));
        let p50 = |d: &[Duration]| median(d).map(ms).unwrap_or(f64::NAN);
        println!(
            "{:<12} {:>7.2} ms {:>9.2} ms {:>9.2} ms {:>9.2} ms",
            mode,
            p50(&init),
            p50(&first),
            p50(&second),
            p90(&init).map(ms).unwrap_or(f64::NAN)
        );
        report.insert(
            (*mode).to_owned(),
            json!({
                "runs": samples.len(),
                "init_p50_ms": p50(&init),
                "first_call_p50_ms": p50(&first),
                "second_call_p50_ms": p50(&second),
            }),
        );
    }
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::Value::Object(report).to_string())
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// Answers every request on the connection with `200 {}` (keep-alive).
fn stub_connection(stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let response = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\nx-amzn-requestid: bench\r\n\r\n{}";
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn child(mode: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let started = Instant::now();
        let sdk = if mode == "lazy-shared" {
            cartback_aws::load_sdk_config().await
        } else {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
                .credentials_provider(
                    aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                )
                .load()
                .await
        };
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let _ssm = aws_sdk_ssm::Client::new(&sdk);
        let _ses = aws_sdk_sesv2::Client::new(&sdk);
        let init = started.elapsed();
        let mut calls = Vec::new();
        for _ in 0..2 {
            let started = Instant::now();
            let result = dynamo
                .get_item()
                .table_name("bench")
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("x".into()))
                .send()
                .await;
            if let Err(e) = result {
                eprintln!("{mode}: GetItem: {e:?}");
                return ExitCode::FAILURE;
            }
            calls.push(started.elapsed());
        }
        println!(
            "{} {} {}",
            init.as_nanos(),
            calls[0].as_nanos(),
            calls[1].as_nanos()
        );
        ExitCode::SUCCESS
    })
}
