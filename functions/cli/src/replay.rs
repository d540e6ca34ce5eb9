//! `cartback replay`: the wake-ups in a dead-letter queue (the Scheduler's DLQ or the send
//! queue's redrive DLQ) back onto the send queue, or the erasure jobs of the erasure queue's
//! DLQ back onto the erasure queue, once the operator has fixed what made them fail (the AWS
//! environment as usual: credentials, region, `AWS_ENDPOINT_URL`).
//!
//! A dry run (the default) only looks: each message it receives stays hidden for
//! [`VISIBILITY_SECONDS`] while the run goes on (so no message is seen twice), and is made
//! visible again at the end. With `apply`, each wake-up is sent unchanged to the send queue and
//! only then deleted from the dead-letter queue; a crash in between re-drives it twice, which
//! is harmless: the sender does nothing for a duplicate or stale wake-up, and erasure is
//! idempotent. A body that is neither is never sent; it stays in the dead-letter queue and is reported.
//!
//! It prints one JSON line per message and a summary line; it names carts only by
//! [`log_hash`] of shop and cart, never in clear.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, QueueAttributeName};
use cartback_core::model::ids::log_hash;
use cartback_core::model::privacy::ErasureJob;
use cartback_core::model::schedule::WakeUp;
use serde_json::{Value, json};

/// `--max` by default.
pub const DEFAULT_MAX: u32 = 10_000;
/// Messages per ReceiveMessage (the SQS maximum).
const BATCH: u32 = 10;
/// ReceiveMessage's long poll: short, so an empty queue ends the run at once.
const WAIT_SECONDS: i32 = 1;
/// How long a received message stays hidden from other receivers (and from this run's next
/// receives) before it is deleted, or made visible again at the end of the run.
const VISIBILITY_SECONDS: i32 = 30;

/// What `cartback replay` is asked to do.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The dead-letter queue's URL.
    pub from: String,
    /// The send queue's URL.
    pub to: String,
    /// Move the wake-ups (without it: a dry run).
    pub apply: bool,
    /// Stop after this many messages.
    pub max: u32,
}

/// Which of the two queues an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `--from`
    DeadLetter,
    /// `--to`
    Send,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::DeadLetter => "--from (dead-letter queue)",
            Role::Send => "--to (send queue)",
        })
    }
}

/// Why `replay` stopped (what it moved before stays moved; running it again goes on).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "{role} {url}: no such queue; check the URL (`aws sqs get-queue-url --queue-name NAME` \
         prints it) and that AWS_REGION is the queue's region"
    )]
    NoQueue { role: Role, url: String },
    #[error(
        "{role} {url}: {operation} failed: {detail}; check the AWS credentials and region and \
         that they may call sqs:{operation} on this queue, then run replay again (what was \
         moved stays moved)"
    )]
    Aws {
        role: Role,
        url: String,
        operation: &'static str,
        detail: String,
    },
    #[error("--from and --to are the same queue ({url}): --to must be the send queue")]
    SameQueue { url: String },
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
}

/// What one run did, the last line it prints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub dry_run: bool,
    /// Messages received (each counted once).
    pub messages: u64,
    /// Of them, bodies that are wake-ups.
    pub wake_ups: u64,
    /// Of them, bodies that are erasure jobs (the erasure queue's dead-letter queue).
    pub erasure_jobs: u64,
    /// Of them, bodies that are not.
    pub invalid: u64,
    /// With `apply`: wake-ups sent to the send queue and deleted from the dead-letter queue.
    pub moved: u64,
    /// Wake-ups per shop.
    pub by_shop: BTreeMap<String, u64>,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        let mut line = json!({
            "dry_run": self.dry_run,
            "messages": self.messages,
            "wake_ups": self.wake_ups,
            "erasure_jobs": self.erasure_jobs,
            "invalid": self.invalid,
            "by_shop": self.by_shop,
        });
        if !self.dry_run {
            line["moved"] = json!(self.moved);
            line["left"] = json!(self.messages - self.moved);
        }
        line
    }
}

/// A body `replay` moves: a wake-up, or an erasure job.
enum Body {
    WakeUp(WakeUp),
    Erasure(ErasureJob),
}

impl Body {
    fn shop(&self) -> &cartback_core::model::ids::ShopId {
        match self {
            Body::WakeUp(wake_up) => &wake_up.shop,
            Body::Erasure(job) => job.shop(),
        }
    }
}

/// Runs `replay` on the AWS environment's SQS, writing the lines to `out`.
pub async fn run(options: &ReplayOptions, out: &mut impl Write) -> Result<Summary, ReplayError> {
    let sdk = cartback_aws::load_sdk_config().await;
    run_with(&Client::new(&sdk), options, out).await
}

/// Runs `replay` with this client.
pub async fn run_with(
    client: &Client,
    options: &ReplayOptions,
    out: &mut impl Write,
) -> Result<Summary, ReplayError> {
    if options.from.trim_end_matches('/') == options.to.trim_end_matches('/') {
        return Err(ReplayError::SameQueue {
            url: options.from.clone(),
        });
    }
    // Both queues must exist before anything is received: a wrong --to fails a dry run too.
    check_queue(client, Role::DeadLetter, &options.from).await?;
    check_queue(client, Role::Send, &options.to).await?;

    let mut summary = Summary {
        dry_run: !options.apply,
        ..Summary::default()
    };
    let mut seen = HashSet::new();
    // Receipts of the messages left in the dead-letter queue, made visible again at the end.
    let mut release = Vec::new();
    let result = drain(client, options, out, &mut summary, &mut seen, &mut release).await;
    let released = make_visible(client, &options.from, &release).await;
    result?;
    if let Err(error) = released {
        // Not fatal: they become visible by themselves when their timeout runs out.
        eprintln!(
            "cartback: {error} (the messages left become visible again within {VISIBILITY_SECONDS} s)"
        );
    }
    writeln!(out, "{}", summary.to_json()).map_err(ReplayError::Output)?;
    Ok(summary)
}

async fn drain(
    client: &Client,
    options: &ReplayOptions,
    out: &mut impl Write,
    summary: &mut Summary,
    seen: &mut HashSet<String>,
    release: &mut Vec<String>,
) -> Result<(), ReplayError> {
    while summary.messages < u64::from(options.max) {
        let want = (u64::from(options.max) - summary.messages).min(u64::from(BATCH));
        let received = client
            .receive_message()
            .queue_url(&options.from)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .wait_time_seconds(WAIT_SECONDS)
            .visibility_timeout(VISIBILITY_SECONDS)
            .send()
            .await
            .map_err(|e| failed(Role::DeadLetter, &options.from, "ReceiveMessage", e))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let mut new = false;
        for message in messages {
            let id = message.message_id.unwrap_or_default();
            let receipt = message.receipt_handle.unwrap_or_default();
            // Seen before (its timeout ran out during a long run): counted once, left alone.
            if !seen.insert(id.clone()) {
                release.push(receipt);
                continue;
            }
            new = true;
            summary.messages += 1;
            let body = message.body.unwrap_or_default();
            let parsed = serde_json::from_str::<WakeUp>(&body)
                .map(Body::WakeUp)
                .or_else(|error| {
                    serde_json::from_str::<ErasureJob>(&body)
                        .map(Body::Erasure)
                        .map_err(|_| error)
                });
            let line = match parsed {
                Ok(parsed) => {
                    let shop = parsed.shop().to_string();
                    *summary.by_shop.entry(shop.clone()).or_default() += 1;
                    let mut line = match &parsed {
                        Body::WakeUp(wake_up) => {
                            summary.wake_ups += 1;
                            json!({
                                "message_id": id,
                                "shop": shop,
                                "cart_hash": log_hash(&[wake_up.shop.as_str(), wake_up.cart.as_str()]),
                                "step": wake_up.step + 1,
                                "generation": wake_up.generation,
                                "valid": true,
                            })
                        }
                        Body::Erasure(job) => {
                            summary.erasure_jobs += 1;
                            json!({
                                "message_id": id,
                                "shop": shop,
                                "erasure": job.kind(),
                                "job": job.log_id(),
                                "valid": true,
                            })
                        }
                    };
                    if options.apply {
                        // Send, then delete: never the other way round.
                        client
                            .send_message()
                            .queue_url(&options.to)
                            .message_body(&body)
                            .send()
                            .await
                            .map_err(|e| failed(Role::Send, &options.to, "SendMessage", e))?;
                        client
                            .delete_message()
                            .queue_url(&options.from)
                            .receipt_handle(&receipt)
                            .send()
                            .await
                            .map_err(|e| {
                                failed(Role::DeadLetter, &options.from, "DeleteMessage", e)
                            })?;
                        summary.moved += 1;
                        line["moved"] = json!(true);
                    } else {
                        release.push(receipt);
                    }
                    line
                }
                Err(error) => {
                    summary.invalid += 1;
                    release.push(receipt);
                    let mut line = json!({
                        "message_id": id,
                        "valid": false,
                        "error": not_a_wake_up(&error),
                    });
                    if options.apply {
                        line["moved"] = json!(false);
                    }
                    line
                }
            };
            writeln!(out, "{line}").map_err(ReplayError::Output)?;
        }
        if !new {
            // Only messages this run has already seen came back: all of the queue went by.
            break;
        }
    }
    Ok(())
}

/// Why a body is not a wake-up, without the body's values or keys (it may hold anything):
/// serde's message with each quoted string replaced by `"…"`, and each name in backticks
/// that is not a wake-up's field by `` `…` ``.
fn not_a_wake_up(error: &serde_json::Error) -> String {
    const FIELDS: [&str; 4] = ["shop", "cart", "step", "generation"];
    let message = error.to_string();
    let mut redacted = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['"', '`']) {
        let quote = &rest[open..=open];
        redacted.push_str(&rest[..=open]);
        let Some(close) = rest[open + 1..].find(quote).map(|i| open + 1 + i) else {
            redacted.push('…');
            rest = "";
            break;
        };
        let inner = &rest[open + 1..close];
        if quote == "`" && FIELDS.contains(&inner) {
            redacted.push_str(inner);
        } else {
            redacted.push('…');
        }
        redacted.push_str(quote);
        rest = &rest[close + 1..];
    }
    redacted.push_str(rest);
    format!("not a wake-up: {redacted}")
}

async fn check_queue(client: &Client, role: Role, url: &str) -> Result<(), ReplayError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed(role, url, "GetQueueAttributes", e))
}

/// Makes the messages left in the dead-letter queue visible again at once (visibility 0).
async fn make_visible(client: &Client, url: &str, receipts: &[String]) -> Result<(), ReplayError> {
    for chunk in receipts.chunks(BATCH as usize) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ReplayError::Aws {
                role: Role::DeadLetter,
                url: url.to_owned(),
                operation: "ChangeMessageVisibilityBatch",
                detail: e.to_string(),
            })?;
        let answer = client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failed(Role::DeadLetter, url, "ChangeMessageVisibilityBatch", e))?;
        if let Some(first) = answer.failed.first() {
            return Err(ReplayError::Aws {
                role: Role::DeadLetter,
                url: url.to_owned(),
                operation: "ChangeMessageVisibilityBatch",
                detail: format!(
                    "{} of {} messages: {} {}",
                    answer.failed.len(),
                    chunk.len(),
                    first.code,
                    first.message.as_deref().unwrap_or("")
                ),
            });
        }
    }
    Ok(())
}

fn failed<E, R>(
    role: Role,
    url: &str,
    operation: &'static str,
    error: SdkError<E, R>,
) -> ReplayError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default();
    if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        return ReplayError::NoQueue {
            role,
            url: url.to_owned(),
        };
    }
    ReplayError::Aws {
        role,
        url: url.to_owned(),
        operation,
        detail: DisplayErrorContext(&error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_s_values_are_not_echoed_in_its_error() {
        let error = serde_json::from_str::<WakeUp>(
            r#"{"shop":"s","cart":"c","step":"ada@example.com","generation":1}"#,
        )
        .expect_err("step is no number");
        let text = not_a_wake_up(&error);
        assert!(!text.contains("ada@example.com"), "{text}");
        assert!(
            text.starts_with("not a wake-up: invalid type: string \"…\""),
            "{text}"
        );
    }

    /// The lines docs/cli.md shows.
    #[test]
    fn the_documented_example_is_what_replay_prints() {
        let error = serde_json::from_str::<WakeUp>(
            r#"{"shop":"kuura-knitwear","cart":"000000000000000018eab6449ba4ff94","step":1}"#,
        )
        .expect_err("no generation");
        assert_eq!(
            not_a_wake_up(&error),
            "not a wake-up: missing field `generation` at line 1 column 76"
        );
        assert_eq!(
            log_hash(&["kuura-knitwear", "000000000000000018eab6449ba4ff94"]),
            "f2fb058acb84e073"
        );
    }

    #[test]
    fn the_summary_of_an_apply_says_what_moved_and_what_is_left() {
        let summary = Summary {
            dry_run: false,
            messages: 4,
            wake_ups: 3,
            erasure_jobs: 0,
            invalid: 1,
            moved: 3,
            by_shop: BTreeMap::from([("s".to_owned(), 3)]),
        };
        assert_eq!(
            summary.to_json(),
            json!({"dry_run": false, "messages": 4, "wake_ups": 3, "erasure_jobs": 0,
                   "invalid": 1, "moved": 3, "left": 1, "by_shop": {"s": 3}})
        );
    }
}
