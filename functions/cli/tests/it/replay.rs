//! `cartback replay` as an operator runs it: the real binary against two SQS queues on
//! emulated AWS (moto), with the usual AWS environment. The dry run prints each message and
//! leaves all of them in the dead-letter queue, visible at once; `--apply` moves exactly the
//! wake-ups, unchanged, and leaves the body that is not one; a missing queue exits 1 naming
//! its URL.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use cartback_core::model::ids::log_hash;
use cartback_devstack::{Moto, MotoOptions};
use serde_json::{Value, json};

use crate::common::emulator::cartback_on;

const SHOP: &str = "replay-shop";
const OTHER_SHOP: &str = "other-shop";
const ADA: &str = "ada0000000000000000000000000000a";
const BOB: &str = "b0b0000000000000000000000000000b";
const CY: &str = "c70000000000000000000000000000c7";
/// A wake-up's ids and a field no wake-up has (named after a person: a body may hold anything).
const NOT_A_WAKE_UP: &str =
    r#"{"shop":"replay-shop","cart":"ada0000000000000000000000000000a","ada@example.com":1}"#;

struct Queues {
    moto: Moto,
    sqs: Client,
    dlq: String,
    send: String,
}

async fn queues() -> Queues {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = cartback_devstack::moto_binary(&root).expect("moto");
    let moto = Moto::start(&binary, &MotoOptions::default())
        .await
        .expect("moto starts");
    let sdk = cartback_devstack::sdk_config(&moto.endpoint, cartback_devstack::REGION).await;
    let sqs = Client::new(&sdk);
    let mut urls = Vec::new();
    for name in ["cartback-scheduler-dlq", "cartback-send"] {
        let created = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("the queue is created");
        urls.push(created.queue_url.expect("a queue URL"));
    }
    let send = urls.pop().expect("two queues");
    let dlq = urls.pop().expect("two queues");
    Queues {
        moto,
        sqs,
        dlq,
        send,
    }
}

fn wake_up(shop: &str, cart: &str, step: u32, generation: u32) -> String {
    json!({"shop": shop, "cart": cart, "step": step, "generation": generation}).to_string()
}

fn cartback(endpoint: &str, args: &[&str]) -> Output {
    cartback_on(endpoint)
        .args(args)
        .output()
        .expect("cartback runs")
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// (visible, in flight) messages of a queue.
async fn counts(sqs: &Client, url: &str) -> (u64, u64) {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("the queue's attributes");
    let attributes = answer.attributes.unwrap_or_default();
    let count = |name| {
        attributes
            .get(&name)
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Every body in a queue (received, then made visible again).
async fn bodies(sqs: &Client, url: &str) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    loop {
        let answer = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .expect("received");
        let messages = answer.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        all.extend(messages.into_iter().map(|m| m.body.unwrap_or_default()));
    }
    all
}

#[tokio::test]
async fn replay_dry_run_leaves_every_message_and_apply_moves_exactly_the_wake_ups() {
    let q = queues().await;
    let valid = [
        wake_up(SHOP, ADA, 0, 3),
        wake_up(SHOP, BOB, 1, 7),
        wake_up(OTHER_SHOP, CY, 2, 1),
    ];
    for body in valid.iter().map(String::as_str).chain([NOT_A_WAKE_UP]) {
        q.sqs
            .send_message()
            .queue_url(&q.dlq)
            .message_body(body)
            .send()
            .await
            .expect("sent to the DLQ");
    }

    // The dry run: 4 lines and the summary; all 4 messages stay, visible at once.
    let dry_run = cartback(
        &q.moto.endpoint,
        &["replay", "--from", &q.dlq, "--to", &q.send],
    );
    let dry = lines(&dry_run);
    assert_eq!(dry.len(), 5, "{dry:#?}");
    let (messages, summary) = dry.split_at(4);
    assert_eq!(
        summary[0],
        json!({"dry_run": true, "messages": 4, "wake_ups": 3, "erasure_jobs": 0, "invalid": 1,
               "by_shop": {SHOP: 2, OTHER_SHOP: 1}})
    );
    let mut valid_lines: Vec<Value> = messages
        .iter()
        .filter(|l| l["valid"] == true)
        .map(|l| {
            let mut l = l.clone();
            assert!(l["message_id"].as_str().is_some_and(|id| !id.is_empty()));
            l.as_object_mut().expect("an object").remove("message_id");
            l
        })
        .collect();
    valid_lines.sort_by_key(|l| l["step"].as_u64());
    assert_eq!(
        valid_lines,
        vec![
            json!({"shop": SHOP, "cart_hash": log_hash(&[SHOP, ADA]), "step": 1, "generation": 3, "valid": true}),
            json!({"shop": SHOP, "cart_hash": log_hash(&[SHOP, BOB]), "step": 2, "generation": 7, "valid": true}),
            json!({"shop": OTHER_SHOP, "cart_hash": log_hash(&[OTHER_SHOP, CY]), "step": 3, "generation": 1, "valid": true}),
        ]
    );
    let invalid: Vec<&Value> = messages.iter().filter(|l| l["valid"] == false).collect();
    assert_eq!(invalid.len(), 1, "{messages:#?}");
    let error = invalid[0]["error"].as_str().expect("an error");
    assert!(
        error.starts_with("not a wake-up: unknown field `…`, expected one of `shop`"),
        "{error}"
    );
    let printed = String::from_utf8_lossy(&dry_run.stdout);
    for secret in [ADA, BOB, CY, "ada@example.com"] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    assert_eq!(
        counts(&q.sqs, &q.dlq).await,
        (4, 0),
        "all 4 stay in the DLQ, visible again"
    );
    assert_eq!(counts(&q.sqs, &q.send).await, (0, 0), "nothing sent");

    // --apply: the 3 wake-ups move unchanged, the other body stays.
    let applied = lines(&cartback(
        &q.moto.endpoint,
        &["replay", "--from", &q.dlq, "--to", &q.send, "--apply"],
    ));
    assert_eq!(applied.len(), 5, "{applied:#?}");
    assert_eq!(
        applied[4],
        json!({"dry_run": false, "messages": 4, "wake_ups": 3, "erasure_jobs": 0, "invalid": 1, "moved": 3,
               "left": 1, "by_shop": {SHOP: 2, OTHER_SHOP: 1}})
    );
    assert_eq!(
        applied[..4].iter().filter(|l| l["moved"] == true).count(),
        3,
        "{applied:#?}"
    );
    assert_eq!(
        counts(&q.sqs, &q.dlq).await,
        (1, 0),
        "the invalid body is left, visible"
    );
    assert_eq!(counts(&q.sqs, &q.send).await, (3, 0));
    assert_eq!(
        bodies(&q.sqs, &q.send).await,
        valid.iter().cloned().collect::<BTreeSet<_>>(),
        "the send queue holds exactly the 3 wake-ups, unchanged"
    );
    assert_eq!(
        bodies(&q.sqs, &q.dlq).await,
        BTreeSet::from([NOT_A_WAKE_UP.to_owned()])
    );
}

#[tokio::test]
async fn replay_to_a_missing_queue_exits_1_naming_its_url_and_moves_nothing() {
    let q = queues().await;
    q.sqs
        .send_message()
        .queue_url(&q.dlq)
        .message_body(wake_up(SHOP, ADA, 0, 1))
        .send()
        .await
        .expect("sent to the DLQ");
    let missing = q.send.replace("cartback-send", "cartback-sned");

    let output = cartback(
        &q.moto.endpoint,
        &["replay", "--from", &q.dlq, "--to", &missing, "--apply"],
    );

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--to (send queue) {missing}: no such queue"))
            && stderr.contains("get-queue-url"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_eq!(counts(&q.sqs, &q.dlq).await, (1, 0), "nothing received");
}

#[tokio::test]
async fn replay_moves_dead_lettered_erasure_jobs_back_onto_the_erasure_queue() {
    let queues = queues().await;
    let job = json!({
        "kind": "shop",
        "shop": SHOP,
        "requested_at": "2026-11-04T08:30:00Z",
        "after": "CART#ada0000000000000000000000000000a",
        "deleted": 812,
        "chunks": 1,
    })
    .to_string();
    queues
        .sqs
        .send_message()
        .queue_url(&queues.dlq)
        .message_body(&job)
        .send()
        .await
        .expect("sent");

    let output = cartback(
        &queues.moto.endpoint,
        &[
            "replay",
            "--from",
            &queues.dlq,
            "--to",
            &queues.send,
            "--apply",
        ],
    );

    let printed = lines(&output);
    assert_eq!(printed[0]["erasure"], "shop", "{printed:?}");
    assert_eq!(printed[0]["moved"], true, "{printed:?}");
    assert_eq!(
        printed[1],
        json!({"dry_run": false, "messages": 1, "wake_ups": 0, "erasure_jobs": 1, "invalid": 0,
               "moved": 1, "left": 0, "by_shop": {SHOP: 1}})
    );
    assert_eq!(
        bodies(&queues.sqs, &queues.send).await,
        BTreeSet::from([job]),
        "moved unchanged, with its progress"
    );
}
