//! `cartback simulate --faults RATE --seed N` over generated carts: under throttled, failed
//! and unanswered AWS calls, duplicate, late and out-of-order deliveries and senders dying
//! after their claim, no message goes twice, none after a purchase, and none is lost except
//! the steps recorded as `crash_after_claim` (at most once, by choice).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const CARTS: u64 = 300;

fn carts(dir: &Path, count: u64) -> std::path::PathBuf {
    let file = dir.join("carts.jsonl");
    let mut out = std::fs::File::create(&file).expect("create the events file");
    cartback_bench::carts::write(&mut out, count, 1).expect("generate carts");
    file
}

fn simulate(events: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["simulate", "--events"])
        .arg(events)
        .args(args)
        .output()
        .expect("run cartback")
}

/// (decisions on stdout, the summary line from stderr)
fn faulty_run(events: &Path, rate: &str, seed: &str) -> (Vec<Value>, Value) {
    let output = simulate(events, &["--faults", rate, "--seed", seed]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let decisions = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let summary = serde_json::from_str(stderr.lines().last().expect("a summary line"))
        .expect("the summary is JSON");
    (decisions, summary)
}

#[test]
fn under_faults_nothing_goes_twice_nothing_after_purchase_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = carts(dir.path(), CARTS);
    let mut sender_retries = 0;
    // One call in ten fails: often enough that a wake-up fails outright and comes back from
    // the send queue (rarer at 5 %, now that a cart takes fewer calls).
    for seed in ["1", "2"] {
        let (decisions, summary) = faulty_run(&events, "0.1", seed);

        assert_eq!(summary["invariants_hold"], true, "{summary}");
        for zero in [
            "duplicates",
            "after_purchase",
            "lost",
            "unexplained_extra",
            "hidden",
        ] {
            assert_eq!(summary[zero], 0, "{zero}: {summary}");
        }
        assert_eq!(summary["carts"], CARTS);
        let reference = summary["reference_sent"].as_u64().expect("a count");
        assert!(reference > 2 * CARTS, "{summary}");
        // Every class of fault was met, and each was survived by a retry path.
        let faults = &summary["faults"];
        for class in [
            "dynamodb_throttled",
            "dynamodb_server_error",
            "dynamodb_lost_answer",
            "scheduler_lost_answer",
            "sesv2_throttled",
            "sesv2_lost_answer",
            "sender_crash_after_claim",
            "wakeup_late",
            "wakeup_duplicate",
            "webhook_duplicate",
        ] {
            assert!(faults[class].as_u64() > Some(0), "{class}: {summary}");
        }
        for path in ["sdk", "send"] {
            assert!(
                summary["retries"][path].as_u64() > Some(0),
                "{path}: {summary}"
            );
        }
        // A failed wake-up comes back from the send queue; throttled sends no longer fail
        // the invocation (they are deferred), so a seed may meet none.
        sender_retries += summary["retries"]["sender"].as_u64().unwrap_or(0);
        // Every message that went out is a line: a `sent` line, with `"confirmed": false`
        // when its send got no answer; only a send whose recording then failed too (the
        // invocation failed) is counted apart, as `unconfirmed`.
        let sent = decisions.iter().filter(|d| d["kind"] == "sent").count() as u64;
        let unanswered = decisions
            .iter()
            .filter(|d| d["kind"] == "sent" && d["confirmed"] == false)
            .count();
        assert!(unanswered > 0, "lost answers were injected: {summary}");
        let delivered = summary["delivered"].as_u64().expect("a count");
        assert_eq!(
            sent + summary["unconfirmed"].as_u64().expect("a count"),
            delivered,
            "{summary}"
        );
        let missing = reference - delivered.min(reference);
        assert!(
            missing
                <= summary["crash_after_claim"].as_u64().unwrap_or(0)
                    + summary["explained_missing"].as_u64().unwrap_or(0),
            "every missing message is accounted for: {summary}"
        );
    }
    assert!(
        sender_retries > 0,
        "the send queue's redelivery was exercised"
    );
}

#[test]
fn the_same_seed_injects_the_same_faults_and_gives_the_same_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = carts(dir.path(), 100);
    let (first_decisions, first) = faulty_run(&events, "0.1", "7");
    let (second_decisions, second) = faulty_run(&events, "0.1", "7");
    let (_, other) = faulty_run(&events, "0.1", "8");

    assert_eq!(first, second);
    assert_eq!(first_decisions, second_decisions);
    assert_ne!(first["faults"], other["faults"]);
}

#[test]
fn a_fault_rate_out_of_range_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = carts(dir.path(), 1);
    let output = simulate(&events, &["--faults", "0.7"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--faults: fault rate 0.7 is not between 0 and 0.5"),
        "{stderr}"
    );

    let output = simulate(&events, &["--seed", "3"]);
    assert!(!output.status.success(), "--seed needs --faults");
}
