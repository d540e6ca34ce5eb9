//! `coldstart --bins DIR [--runs N] [--json FILE] [--only a,b]`: starts each function
//! binary in DIR (and the `hello` baseline) N times against a local Lambda Runtime API,
//! interleaved so every function sees the same machine, and prints init-to-ready (spawn →
//! first `/next`) median and p90 side by side with hello-world, plus the first invocation
//! of an event that needs no AWS call where the function has one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cartback_bench::runtime_api::{Launch, Measured, cold_start};
use cartback_bench::stats::{median, ms, p90};
use serde_json::json;

struct Function {
    name: &'static str,
    memory_mb: u32,
    /// The function's own variables, as infra/template.yaml sets them.
    env: &'static [(&'static str, &'static str)],
    /// An event whose handling needs no AWS call (AWS is unreachable here).
    event: Option<String>,
}

const TABLE: (&str, &str) = ("CARTBACK_TABLE", "cartback-Table-1A2B3C4D5E6F");
/// The erasure queue's URL, as the template passes it to the webhook and the eraser.
const ERASURE_QUEUE: (&str, &str) = (
    "CARTBACK_ERASURE_QUEUE_URL",
    "https://sqs.eu-north-1.amazonaws.com/123456789012/cartback-erasure",
);
const UNSUBSCRIBE_PARAM: (&str, &str) = (
    "CARTBACK_UNSUBSCRIBE_SECRET_PARAM",
    "/cartback/unsubscribe-secret",
);

fn api_gateway_request(method: &str, path: &str, route: &str, params: serde_json::Value) -> String {
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": { "content-type": "application/json", "host": "abc123.execute-api.eu-west-1.amazonaws.com" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "Shopify-Captain-Hook" },
            "requestId": "bench", "routeKey": route, "stage": "$default",
            "time": "02/Nov/2026:08:00:00 +0000", "timeEpoch": 1_793_606_400_000_u64
        },
        "pathParameters": params,
        "body": "{}",
        "isBase64Encoded": false
    })
    .to_string()
}

fn functions() -> Vec<Function> {
    vec![
        Function {
            name: "hello",
            memory_mb: 128,
            env: &[],
            event: Some(r#"{"hello":"world"}"#.into()),
        },
        Function {
            name: "webhook",
            memory_mb: 128,
            env: &[
                TABLE,
                ("CARTBACK_SECRETS_PREFIX", "/cartback/shops/"),
                ERASURE_QUEUE,
            ],
            // An unknown platform is refused (404) before any AWS call.
            event: Some(api_gateway_request(
                "POST",
                "/webhooks/demo-shop.myshopify.com/bench",
                "POST /webhooks/{shop}/{platform}",
                json!({ "shop": "demo-shop.myshopify.com", "platform": "bench" }),
            )),
        },
        Function {
            name: "planner",
            memory_mb: 128,
            env: &[
                TABLE,
                ("CARTBACK_SCHEDULE_GROUP", "cartback"),
                (
                    "CARTBACK_WAKE_TARGET_ARN",
                    "arn:aws:sqs:eu-west-1:123456789012:cartback-SendQueue",
                ),
                (
                    "CARTBACK_SCHEDULER_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/cartback-SchedulerRole",
                ),
                (
                    "CARTBACK_SCHEDULER_DLQ_ARN",
                    "arn:aws:sqs:eu-west-1:123456789012:cartback-SchedulerDeadLetterQueue",
                ),
            ],
            event: Some(r#"{"Records":[]}"#.into()),
        },
        Function {
            name: "sender",
            memory_mb: 256,
            env: &[
                TABLE,
                (
                    "CARTBACK_SES_CONFIGURATION_SET",
                    "cartback-ConfigurationSet",
                ),
                (
                    "CARTBACK_PUBLIC_URL",
                    "https://abc123.execute-api.eu-west-1.amazonaws.com",
                ),
                UNSUBSCRIBE_PARAM,
                ("CARTBACK_SEND_RATE", "14"),
                ("CARTBACK_SENDER_MAX_CONCURRENCY", "2"),
            ],
            // Every wake-up reads the cart from DynamoDB.
            event: None,
        },
        Function {
            name: "feedback",
            memory_mb: 128,
            env: &[TABLE],
            event: Some(r#"{"Records":[]}"#.into()),
        },
        Function {
            name: "unsubscribe",
            memory_mb: 128,
            env: &[TABLE, UNSUBSCRIBE_PARAM],
            // The first request reads the token secret from SSM.
            event: None,
        },
        Function {
            name: "sweeper",
            memory_mb: 128,
            env: &[TABLE],
            // Every sweep queries the table's due index.
            event: None,
        },
        Function {
            name: "eraser",
            memory_mb: 128,
            env: &[TABLE, ERASURE_QUEUE],
            // Every invocation is an SQS batch of erasure jobs that reads and deletes items.
            event: None,
        },
    ]
}

struct Args {
    bins: PathBuf,
    runs: usize,
    json: Option<PathBuf>,
    only: Option<Vec<String>>,
    first_invocation: bool,
    /// Extra variables for every function (experiments, e.g. SSL_CERT_FILE).
    env: Vec<(String, String)>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        bins: PathBuf::new(),
        runs: 20,
        json: None,
        only: None,
        first_invocation: true,
        env: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bins" => parsed.bins = PathBuf::from(value()?),
            "--runs" => parsed.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--json" => parsed.json = Some(PathBuf::from(value()?)),
            "--only" => parsed.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--no-invoke" => parsed.first_invocation = false,
            "--env" => {
                let pair = value()?;
                let (k, v) = pair.split_once('=').ok_or("--env NAME=VALUE")?;
                parsed.env.push((k.to_owned(), v.to_owned()));
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: coldstart --bins DIR [--runs N] [--json FILE] [--only a,b] [--no-invoke] [--env NAME=VALUE]..."
                ));
            }
        }
    }
    if parsed.bins.as_os_str().is_empty() {
        return Err("--bins DIR (the release binaries) is required".into());
    }
    Ok(parsed)
}

#[derive(Default)]
struct Samples {
    init: Vec<Duration>,
    invoke: Vec<Duration>,
    failures: usize,
    last_failure: Option<String>,
}

fn measure(function: &Function, args: &Args, logs: &Path) -> Result<Measured, String> {
    let (bins, invoke) = (&args.bins, args.first_invocation);
    let mut env: Vec<(String, String)> = function
        .env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.extend(args.env.iter().cloned());
    let name = format!("cartback-{}", function.name);
    cold_start(&Launch {
        program: &bins.join(function.name),
        function_name: &name,
        env: &env,
        memory_mb: function.memory_mb,
        event: function
            .event
            .as_deref()
            .map(str::as_bytes)
            .filter(|_| invoke),
        log: &logs.join(format!("{}.log", function.name)),
        timeout: Duration::from_secs(10),
    })
    .map_err(|e| format!("{}: {e}", function.name))
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("coldstart: {e}");
            return ExitCode::from(2);
        }
    };
    let functions: Vec<Function> = functions()
        .into_iter()
        .filter(|f| {
            args.only
                .as_ref()
                .is_none_or(|only| f.name == "hello" || only.iter().any(|o| o == f.name))
        })
        .collect();
    for f in &functions {
        if !args.bins.join(f.name).is_file() {
            eprintln!("coldstart: no binary {}", args.bins.join(f.name).display());
            return ExitCode::from(2);
        }
    }
    let logs = std::env::temp_dir().join(format!("cartback-coldstart-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&logs) {
        eprintln!("coldstart: {}: {e}", logs.display());
        return ExitCode::from(1);
    }
    let mut samples: Vec<Samples> = functions.iter().map(|_| Samples::default()).collect();
    // One discarded round first: page cache and CPU frequency settle.
    for run in 0..=args.runs {
        for k in 0..functions.len() {
            // Rotate the order so no function always goes first.
            let i = (k + run) % functions.len();
            let function = &functions[i];
            let measured = match measure(function, &args, &logs) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("coldstart: {e}");
                    return ExitCode::from(1);
                }
            };
            if run == 0 {
                continue;
            }
            let s = &mut samples[i];
            match measured {
                Measured::Ready {
                    init,
                    first_invocation,
                } => {
                    s.init.push(init);
                    match first_invocation {
                        Some(Ok(took)) => s.invoke.push(took),
                        Some(Err(error)) => {
                            s.last_failure = Some(format!("first invocation failed: {error}"));
                        }
                        None => {}
                    }
                }
                Measured::Failed { why, .. } => {
                    s.failures += 1;
                    s.last_failure = Some(why);
                }
            }
        }
    }
    let hello = median(&samples[0].init);
    let mut rows = Vec::new();
    println!(
        "cold start, {} runs each, native {} release binaries, local Runtime API",
        args.runs,
        std::env::consts::ARCH
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>8} {:>14} {:>10}",
        "function", "size MB", "init p50", "init p90", "× hello", "1st invoke p50", "failures"
    );
    for (function, s) in functions.iter().zip(&samples) {
        let size = std::fs::metadata(args.bins.join(function.name)).map_or(0, |m| m.len());
        let p50 = median(&s.init);
        let ratio = match (p50, hello) {
            (Some(a), Some(b)) if !b.is_zero() => Some(a.as_secs_f64() / b.as_secs_f64()),
            _ => None,
        };
        let show = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} ms", ms(d)));
        println!(
            "{:<12} {:>10.1} {:>10} {:>10} {:>8} {:>14} {:>10}",
            function.name,
            size as f64 / 1_048_576.0,
            show(p50),
            show(p90(&s.init)),
            ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            show(median(&s.invoke)),
            s.failures
        );
        if let Some(why) = &s.last_failure {
            println!("  {}: {why}", function.name);
        }
        rows.push(json!({
            "name": function.name,
            "memory_mb": function.memory_mb,
            "binary_bytes": size,
            "init_ms": { "median": p50.map(ms), "p90": p90(&s.init).map(ms), "min": s.init.iter().min().copied().map(ms) },
            "vs_hello": ratio,
            "first_invocation_ms": median(&s.invoke).map(ms),
            "first_invocation_event": function.event.is_some(),
            "failures": s.failures,
            "last_failure": s.last_failure,
        }));
    }
    let _ = std::fs::remove_dir_all(&logs);
    if let Some(path) = &args.json {
        let report =
            json!({ "arch": std::env::consts::ARCH, "runs": args.runs, "functions": rows });
        if let Err(e) = std::fs::write(path, report.to_string()) {
            eprintln!("coldstart: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if samples.iter().any(|s| s.failures > 0) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Each function resource of the SAM template: its name, memory and `CARTBACK_*`
    /// variables (the global `CARTBACK_TABLE` included).
    fn template_functions() -> Vec<(String, u32, BTreeSet<String>)> {
        let template = include_str!("../../../infra/template.yaml");
        let words = |text: &str| -> BTreeSet<String> {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("CARTBACK_"))
                .map(str::to_owned)
                .collect()
        };
        let (globals, resources) = template.split_once("\nResources:").expect("sections");
        let global_vars = words(globals.split_once("\nGlobals:").expect("globals").1);
        let mut found = Vec::new();
        // One chunk per resource: a line indented by exactly two spaces starts the next.
        let mut chunks: Vec<String> = Vec::new();
        for line in resources.lines() {
            let top = line
                .strip_prefix("  ")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphanumeric()));
            if top || chunks.is_empty() {
                chunks.push(String::new());
            }
            if let Some(chunk) = chunks.last_mut() {
                chunk.push_str(line);
                chunk.push('\n');
            }
        }
        for chunk in chunks.iter().filter(|c| {
            c.lines()
                .next()
                .is_some_and(|l| l.trim().ends_with("Function:"))
        }) {
            let Some(name) = chunk.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("FunctionName: !Sub ${AWS::StackName}-")
            }) else {
                continue;
            };
            let memory = chunk
                .lines()
                .find_map(|l| l.trim().strip_prefix("MemorySize:"))
                .and_then(|m| m.split('#').next()?.trim().parse().ok())
                .unwrap_or(128);
            let mut vars = words(chunk);
            vars.extend(global_vars.iter().cloned());
            found.push((name.to_owned(), memory, vars));
        }
        found
    }

    #[test]
    fn each_function_starts_with_the_variables_and_memory_the_template_gives_it() {
        let template = template_functions();
        assert_eq!(template.len(), 7, "{template:?}");
        for (name, memory, mut vars) in template {
            // Set only when the stack is given a layer of shop templates (none here).
            vars.remove("CARTBACK_TEMPLATES_DIR");
            let ours = functions()
                .into_iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no harness entry for {name}"));
            let our_vars: BTreeSet<String> =
                ours.env.iter().map(|(k, _)| (*k).to_owned()).collect();
            assert_eq!(our_vars, vars, "{name}");
            assert_eq!(ours.memory_mb, memory, "{name}");
        }
    }
}
