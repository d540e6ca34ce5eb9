//! `cartback simulate --send-rate N` and `--account-outage FROM..TO`: SES's limits and an
//! account-side outage, modelled on the virtual clock. A throttled send is delayed, an
//! account-side refusal waits until the account is fixed; neither loses nor stops a cart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn burst(dir: &Path, carts: u64) -> std::path::PathBuf {
    let file = dir.join("burst.jsonl");
    let mut out = std::fs::File::create(&file).expect("create the events file");
    cartback_bench::carts::write_burst(&mut out, carts, 1).expect("generate carts");
    file
}

/// (decisions, the `send_limits` summary)
fn simulate(events: &Path, args: &[&str]) -> (Vec<Value>, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["simulate", "--events"])
        .arg(events)
        .args(args)
        .output()
        .expect("run cartback");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let decisions = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let summary: Value = serde_json::from_str(stderr.lines().last().expect("a summary line"))
        .expect("the summary is JSON");
    (decisions, summary["send_limits"].clone())
}

fn of_kind<'a>(decisions: &'a [Value], kind: &str) -> Vec<&'a Value> {
    decisions.iter().filter(|d| d["kind"] == kind).collect()
}

/// Carts the sequence treats (not held out): each must get its first step.
fn treated(decisions: &[Value]) -> BTreeSet<String> {
    let held_out: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d["reason"] == "holdout")
        .filter_map(|d| d["cart"].as_str())
        .collect();
    decisions
        .iter()
        .filter_map(|d| d["cart"].as_str())
        .filter(|c| !held_out.contains(c))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_burst_of_3000_carts_due_in_one_minute_drains_at_the_send_rate_and_loses_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = burst(dir.path(), 3000);
    let (decisions, limits) = simulate(
        &events,
        &["--send-rate", "14", "--until", "2026-11-02T11:00:00Z"],
    );

    let sent = of_kind(&decisions, "sent");
    let first_steps: BTreeSet<&str> = sent
        .iter()
        .filter(|d| d["step"] == 1)
        .filter_map(|d| d["cart"].as_str())
        .collect();
    let treated = treated(&decisions);
    assert!(treated.len() > 2500, "{}", treated.len());
    assert_eq!(
        first_steps.len(),
        treated.len(),
        "every treated cart got its reminder"
    );
    assert_eq!(sent.len(), treated.len(), "and only once");
    assert!(of_kind(&decisions, "stopped").is_empty(), "no cart stopped");

    let mut per_second: BTreeMap<&str, u32> = BTreeMap::new();
    for d in &sent {
        *per_second
            .entry(d["at"].as_str().expect("a time"))
            .or_default() += 1;
    }
    assert_eq!(
        per_second.values().max(),
        Some(&14),
        "never more than 14 in a second"
    );
    assert_eq!(limits["busiest_second"], 14);
    assert_eq!(limits["accepted"], sent.len());

    let throttled = of_kind(&decisions, "deferred");
    assert!(!throttled.is_empty());
    assert!(throttled.iter().all(|d| d["reason"] == "throttled"));
    assert_eq!(
        limits["throttled"],
        throttled.len(),
        "each refusal is a line"
    );
    // The burst drains within minutes: a few times 3000 / 14 = 214 s at most.
    let last = limits["last_accepted"].as_str().expect("a time");
    assert!(last < "2026-11-02T10:15:00Z", "{last}");
}

#[test]
fn carts_due_during_a_3_hour_account_outage_send_after_it_ends_and_none_is_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = burst(dir.path(), 300);
    // Every first step falls due at 10:00, half an hour into the outage.
    let (decisions, limits) = simulate(
        &events,
        &[
            "--account-outage",
            "2026-11-02T09:30:00Z..2026-11-02T12:30:00Z",
            "--until",
            "2026-11-02T20:00:00Z",
        ],
    );

    let sent = of_kind(&decisions, "sent");
    let treated = treated(&decisions);
    assert!(treated.len() > 250, "{}", treated.len());
    assert_eq!(
        sent.len(),
        treated.len(),
        "every treated cart got its reminder, once"
    );
    assert!(of_kind(&decisions, "stopped").is_empty(), "no cart stopped");
    assert!(
        sent.iter()
            .all(|d| d["at"].as_str() >= Some("2026-11-02T12:30:00Z")),
        "nothing went during the outage"
    );
    let deferred = of_kind(&decisions, "deferred");
    assert!(deferred.iter().all(|d| d["reason"] == "account"));
    assert_eq!(limits["refused_account"], deferred.len());
    // Each cart waited 15, 15, 30, 60 then 120 minutes (plus up to an eighth): four or
    // five refusals during three hours, not one a minute.
    let per_cart = deferred.len() as f64 / treated.len() as f64;
    assert!((3.0..=6.0).contains(&per_cart), "{per_cart}");
    // And it goes within the longest delay after the outage ends.
    let last = sent
        .iter()
        .filter_map(|d| d["at"].as_str())
        .max()
        .expect("sent");
    assert!(last < "2026-11-02T15:30:00Z", "{last}");
}

#[test]
fn an_outage_that_is_not_from_before_to_is_refused_with_the_fix() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args([
            "simulate",
            "--events",
            "nowhere.jsonl",
            "--account-outage",
            "2026-11-02T12:00:00Z..2026-11-02T10:00:00Z",
        ])
        .output()
        .expect("run cartback");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("FROM must be before TO"), "{stderr}");
}
