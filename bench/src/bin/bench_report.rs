//! `bench-report`: reads what `scripts/bench` measured — criterion's estimates, the
//! cold-start JSON, `simulate --stats` call counts and the scale run — and prints one
//! markdown ratio table (and the details under it).
//!
//! ```text
//! bench-report --criterion DIR --coldstart FILE [--calls NAME=FILE ...]
//!              [--scale-gen FILE --scale-time FILE --scale-out FILE]
//!              [--year-gen FILE --year-time FILE] [--sizes FILE]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// The goals of the issue "Fast and cheap by construction".
const WEBHOOK_GOAL: f64 = 1.5;
const COLD_START_GOAL: f64 = 1.3;

#[derive(Default)]
struct Args {
    criterion: Option<PathBuf>,
    coldstart: Option<PathBuf>,
    calls: BTreeMap<String, PathBuf>,
    scale_gen: Option<PathBuf>,
    scale_time: Option<PathBuf>,
    scale_out: Option<PathBuf>,
    year_gen: Option<PathBuf>,
    year_time: Option<PathBuf>,
    sizes: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--criterion" => a.criterion = Some(value()?.into()),
            "--coldstart" => a.coldstart = Some(value()?.into()),
            "--calls" => {
                let v = value()?;
                let (name, path) = v.split_once('=').ok_or("--calls NAME=FILE")?;
                a.calls.insert(name.to_owned(), path.into());
            }
            "--scale-gen" => a.scale_gen = Some(value()?.into()),
            "--scale-time" => a.scale_time = Some(value()?.into()),
            "--scale-out" => a.scale_out = Some(value()?.into()),
            "--year-gen" => a.year_gen = Some(value()?.into()),
            "--year-time" => a.year_time = Some(value()?.into()),
            "--sizes" => a.sizes = Some(value()?.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    // `simulate --stats` puts its JSON on the last line of stderr.
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
}

/// criterion's median estimate in nanoseconds.
fn median_ns(dir: &Path, id: &str) -> Option<f64> {
    let value = json(&dir.join(id).join("new").join("estimates.json"))?;
    value["median"]["point_estimate"].as_f64()
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn verdict(ratio: f64, goal: f64) -> &'static str {
    if ratio <= goal { "yes" } else { "**no**" }
}

/// The least a claim-before-send design needs for a three-step cart created once: one
/// write for the webhook, and per step a schedule, a read, a claim, a send and a record.
const MINIMUM_CALLS: u64 = 16;
/// Calls per cart as a multiple of the minimum.
const CALLS_GOAL: f64 = 1.25;
/// DynamoDB write units per three-step cart.
const WRITE_UNITS_GOAL: u64 = 12;
/// An email rendered after the first of its (shop, template, locale, shape).
const RENDER_GOAL_NS: f64 = 30_000.0;
/// `cartback simulate` on three-email carts, one core.
const SIMULATE_GOAL_RATE: f64 = 10_000.0;
/// `cartback simulate` peak memory for 100,000 carts over a week.
const SIMULATE_GOAL_MB: f64 = 400.0;
/// `cartback simulate` peak memory for 1,000,000 carts over a year.
const SIMULATE_YEAR_GOAL_MB: f64 = 500.0;

fn calls(stats: &Value, service: &str, operation: &str) -> u64 {
    stats[service][operation].as_u64().unwrap_or(0)
}

/// `Maximum resident set size (kbytes): N` and the wall clock from `/usr/bin/time -v`.
fn time_v(path: &Path) -> Option<(f64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut wall = None;
    let mut rss = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Maximum resident set size (kbytes):") {
            rss = v.trim().parse().ok();
        } else if line.starts_with("Elapsed (wall clock) time")
            && let Some((_, v)) = line.rsplit_once(": ")
        {
            // h:mm:ss or m:ss.ss
            let secs = v.trim().split(':').try_fold(0.0, |acc, part| {
                part.parse::<f64>().ok().map(|p| acc * 60.0 + p)
            });
            wall = secs;
        }
    }
    Some((wall?, rss?))
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-report: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = String::new();
    let mut push = |line: String| {
        out.push_str(&line);
        out.push('\n');
    };
    let mut failed = Vec::new();
    push("| measure | cartback | baseline | ratio | goal | holds |".into());
    push("|---|---|---|---|---|---|".into());
    if let Some(dir) = &a.criterion {
        for items in [1, 10, 50] {
            let floor = median_ns(dir, &format!("webhook/floor/{items}"));
            let ours = median_ns(dir, &format!("webhook/cartback/{items}"));
            if let (Some(floor), Some(ours)) = (floor, ours) {
                let ratio = ours / floor;
                if ratio > WEBHOOK_GOAL {
                    failed.push(format!("webhook {items} items"));
                }
                push(format!(
                    "| webhook: verify + parse + normalise, {items} line item{} | {} | floor (HMAC + parse to `Value`) {} | {ratio:.2} | ≤ {WEBHOOK_GOAL} | {} |",
                    if items == 1 { "" } else { "s" },
                    time(ours),
                    time(floor),
                    verdict(ratio, WEBHOOK_GOAL)
                ));
            }
        }
    }
    let coldstart = a.coldstart.as_deref().and_then(json);
    if let Some(report) = &coldstart {
        let arch = report["arch"].as_str().unwrap_or("?");
        let rows = report["functions"].as_array().cloned().unwrap_or_default();
        let hello = rows
            .iter()
            .find(|r| r["name"] == "hello")
            .and_then(|r| r["init_ms"]["median"].as_f64());
        for row in rows.iter().filter(|r| r["name"] != "hello") {
            let name = row["name"].as_str().unwrap_or("?");
            match (row["init_ms"]["median"].as_f64(), hello) {
                (Some(ours), Some(hello)) if row["failures"] == 0 => {
                    let ratio = ours / hello;
                    if ratio > COLD_START_GOAL {
                        failed.push(format!("cold start {name}"));
                    }
                    push(format!(
                        "| cold start (init-to-ready p50, {arch}): {name} | {ours:.2} ms | hello-world {hello:.2} ms | {ratio:.2} | ≤ {COLD_START_GOAL} | {} |",
                        verdict(ratio, COLD_START_GOAL)
                    ));
                }
                _ => {
                    failed.push(format!("cold start {name}"));
                    push(format!(
                        "| cold start (init-to-ready p50, {arch}): {name} | failed: {} | | | ≤ {COLD_START_GOAL} | **no** |",
                        row["last_failure"]
                            .as_str()
                            .unwrap_or("?")
                            .replace('|', "/")
                    ));
                }
            }
        }
    }
    let one = a.calls.get("updates1").and_then(|p| json(p));
    let hundred = a.calls.get("updates100").and_then(|p| json(p));
    if let (Some(one), Some(hundred)) = (&one, &hundred) {
        let sched = |s: &Value| {
            calls(s, "scheduler", "CreateSchedule") + calls(s, "scheduler", "DeleteSchedule")
        };
        let two = a.calls.get("updates2").and_then(|p| json(p));
        let base = two.as_ref().map_or(sched(one), sched);
        push(format!(
            "| Scheduler calls, cart updated 100 times vs {} | {} | {} | {:.2} | ≤ 1 | {} |",
            if two.is_some() {
                "once (created + 1 update)"
            } else {
                "created once"
            },
            sched(hundred),
            base,
            sched(hundred) as f64 / base.max(1) as f64,
            if sched(hundred) <= base {
                "yes"
            } else {
                "**no**"
            }
        ));
        if sched(hundred) > base {
            failed.push("lazy re-arm".into());
        }
    }
    // The cost goals (issue 25): calls per cart, held (a regression fails the report);
    // write units, not met yet (printed against the goal, not failed).
    if let Some(one) = &one {
        let total: u64 = one
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(service, _)| *service != "dynamodb_units")
            .flat_map(|(_, ops)| ops.as_object().into_iter().flatten())
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        let ratio = total as f64 / MINIMUM_CALLS as f64;
        if ratio > CALLS_GOAL {
            failed.push("AWS calls per cart".into());
        }
        push(format!(
            "| AWS calls, a three-step email cart created once | {total} | minimum {MINIMUM_CALLS} | {ratio:.2} | ≤ {CALLS_GOAL} | {} |",
            verdict(ratio, CALLS_GOAL)
        ));
        if let Some(write) = one["dynamodb_units"]["write"].as_u64() {
            let ratio = write as f64 / WRITE_UNITS_GOAL as f64;
            push(format!(
                "| DynamoDB write units, the same cart | {write} | goal {WRITE_UNITS_GOAL} | {ratio:.2} | ≤ 1 | {} |",
                if ratio <= 1.0 { "yes" } else { "**no** (open)" }
            ));
        }
    }
    if let Some(dir) = &a.criterion {
        for lang in ["en", "fi", "pl", "ja"] {
            if let Some(ns) = median_ns(dir, &format!("render/email/{lang}")) {
                let ratio = ns / RENDER_GOAL_NS;
                if ratio > 1.0 {
                    failed.push(format!("email render {lang}"));
                }
                push(format!(
                    "| email render ({lang}), after the first of its shape | {} | goal {} | {ratio:.2} | ≤ 1 | {} |",
                    time(ns),
                    time(RENDER_GOAL_NS),
                    verdict(ratio, 1.0)
                ));
            }
        }
    }
    if let (Some(gen_path), Some(time_path)) = (&a.scale_gen, &a.scale_time)
        && let Some((wall, rss_kb)) = time_v(time_path)
    {
        let carts = json(gen_path)
            .and_then(|g| g["carts"].as_f64())
            .unwrap_or(0.0);
        let rate = carts / wall.max(1e-9);
        push(format!(
            "| `simulate`: carts per second ({carts:.0} generated carts, one process) | {rate:.0} | goal {SIMULATE_GOAL_RATE:.0} | {:.2} | ≥ 1 | {} |",
            rate / SIMULATE_GOAL_RATE,
            if rate >= SIMULATE_GOAL_RATE {
                "yes"
            } else {
                "**no** (open)"
            }
        ));
        let mb = rss_kb as f64 / 1024.0;
        // The memory goal is for 100,000 carts over a week (held: a regression fails the
        // report); a smaller run is only indicative.
        if mb > SIMULATE_GOAL_MB && carts >= 100_000.0 {
            failed.push("simulate memory, a week".into());
        }
        push(format!(
            "| `simulate`: peak memory, the same run | {mb:.0} MB | goal {SIMULATE_GOAL_MB:.0} MB (100,000 carts) | {:.2} | ≤ 1 | {} |",
            mb / SIMULATE_GOAL_MB,
            verdict(mb / SIMULATE_GOAL_MB, 1.0)
        ));
    }
    if let (Some(gen_path), Some(time_path)) = (&a.year_gen, &a.year_time)
        && let Some((wall, rss_kb)) = time_v(time_path)
    {
        let carts = json(gen_path)
            .and_then(|g| g["carts"].as_f64())
            .unwrap_or(0.0);
        let mb = rss_kb as f64 / 1024.0;
        if mb > SIMULATE_YEAR_GOAL_MB && carts >= 1_000_000.0 {
            failed.push("simulate memory, a year".into());
        }
        push(format!(
            "| `simulate`: peak memory, {carts:.0} carts over a year ({wall:.0} s) | {mb:.0} MB | goal {SIMULATE_YEAR_GOAL_MB:.0} MB (1,000,000 carts) | {:.2} | ≤ 1 | {} |",
            mb / SIMULATE_YEAR_GOAL_MB,
            verdict(mb / SIMULATE_YEAR_GOAL_MB, 1.0)
        ));
    }
    push(String::new());

    if let Some(dir) = &a.criterion {
        push("| CPU per operation (criterion median) | time |".into());
        push("|---|---|".into());
        for (id, what) in [
            ("decide/send", "`decide()` at a wake-up that sends"),
            (
                "decide/wait",
                "`decide()` at a wake-up that re-arms (cart moved)",
            ),
            (
                "render/email/en",
                "email render, en (its shape compiled: HTML and text filled in, subject, preheader)",
            ),
            ("render/email/fi", "email render, fi"),
            ("render/email/pl", "email render, pl"),
            ("render/email/ja", "email render, ja"),
            (
                "render/email_first/en",
                "email render, en, full pipeline (MJML → HTML, text, subject, preheader)",
            ),
            ("render/email_first/fi", "email render, fi, full pipeline"),
            ("render/email_first/pl", "email render, pl, full pipeline"),
            ("render/email_first/ja", "email render, ja, full pipeline"),
            (
                "render/email_new_shape/en",
                "email render, en, the first message of its shape (full pipeline + compiling the shape)",
            ),
            ("render/message/en", "email render + MIME message, en"),
            (
                "render/email_uncached/en",
                "email render, en, compiling the templates each time",
            ),
        ] {
            if let Some(ns) = median_ns(dir, id) {
                push(format!("| {what} | {} |", time(ns)));
            }
        }
        push(String::new());
    }

    if let Some(report) = &coldstart {
        push(format!(
            "| function | binary ({}) | init-to-ready p50 | p90 | × hello | first invocation p50 |",
            report["arch"].as_str().unwrap_or("?")
        ));
        push("|---|---|---|---|---|---|".into());
        for row in report["functions"].as_array().cloned().unwrap_or_default() {
            let f = |v: &Value| v.as_f64().map_or("-".to_owned(), |v| format!("{v:.2} ms"));
            push(format!(
                "| {} | {:.1} MB | {} | {} | {} | {} |",
                row["name"].as_str().unwrap_or("?"),
                row["binary_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
                f(&row["init_ms"]["median"]),
                f(&row["init_ms"]["p90"]),
                row["vs_hello"]
                    .as_f64()
                    .map_or("-".to_owned(), |r| format!("{r:.2}")),
                if row["first_invocation_event"] == true {
                    f(&row["first_invocation_ms"])
                } else {
                    "needs AWS".to_owned()
                },
            ));
        }
        push(format!("({} runs each, interleaved)", report["runs"]));
        push(String::new());
    }

    if let Some(path) = &a.sizes
        && let Ok(text) = std::fs::read_to_string(path)
    {
        push("| binary (aarch64, `cargo lambda build --release --arm64`) | size |".into());
        push("|---|---|".into());
        for line in text.lines() {
            if let Some((name, bytes)) = line.split_once(' ')
                && let Ok(bytes) = bytes.trim().parse::<f64>()
            {
                push(format!("| {name} | {:.1} MB |", bytes / 1_048_576.0));
            }
        }
        push(String::new());
    }

    if !a.calls.is_empty() {
        let ops = [
            ("dynamodb", "BatchGetItem"),
            ("dynamodb", "GetItem"),
            ("dynamodb", "PutItem"),
            ("dynamodb", "TransactWriteItems"),
            ("scheduler", "CreateSchedule"),
            ("scheduler", "DeleteSchedule"),
            ("sesv2", "SendEmail"),
            ("sns", "Publish"),
            ("sns", "CheckIfPhoneNumberIsOptedOut"),
        ];
        push(format!(
            "| `simulate --stats` | {} | DynamoDB WRU | DynamoDB RRU |",
            ops.iter()
                .map(|(s, o)| format!("{s} {o}"))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        push(format!("|---|{}", "---|".repeat(ops.len() + 2)));
        for (name, path) in &a.calls {
            if let Some(stats) = json(path) {
                let units = &stats["dynamodb_units"];
                push(format!(
                    "| {name} | {} | {} | {} |",
                    ops.iter()
                        .map(|(s, o)| calls(&stats, s, o).to_string())
                        .collect::<Vec<_>>()
                        .join(" | "),
                    units["write"],
                    units["read"]
                ));
            }
        }
        push(String::new());
    }

    if let (Some(gen_path), Some(time_path)) = (&a.scale_gen, &a.scale_time) {
        let generated = json(gen_path).unwrap_or(Value::Null);
        let carts = generated["carts"].as_f64().unwrap_or(0.0);
        if let Some((wall, rss_kb)) = time_v(time_path) {
            let decisions = a
                .scale_out
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|text| {
                    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
                    for line in text.lines() {
                        if let Ok(v) = serde_json::from_str::<Value>(line) {
                            *kinds
                                .entry(v["kind"].as_str().unwrap_or("?").to_owned())
                                .or_default() += 1;
                        }
                    }
                    kinds
                        .iter()
                        .map(|(k, n)| format!("{n} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            push("| scale: `cartback simulate` (release) | value |".into());
            push("|---|---|".into());
            push(format!(
                "| carts | {carts:.0} ({} input lines, {:.0} MB) |",
                generated["lines"],
                generated["bytes"].as_f64().unwrap_or(0.0) / 1e6
            ));
            push(format!("| wall time | {wall:.1} s |"));
            push(format!(
                "| carts per second | {:.0} |",
                carts / wall.max(1e-9)
            ));
            push(format!(
                "| peak memory (max RSS) | {:.0} MB |",
                rss_kb as f64 / 1024.0
            ));
            if !decisions.is_empty() {
                push(format!("| decisions | {decisions} |"));
            }
            push(String::new());
        }
    }
    print!("{out}");
    if failed.is_empty() {
        println!("all goals hold");
    } else {
        println!("goals that do not hold: {}", failed.join(", "));
    }
    ExitCode::SUCCESS
}
