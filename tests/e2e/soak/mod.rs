//! The soak (issue 9, "prove it under faults"): 2,000 Shopify carts with seeded random
//! histories run through the real handlers on moto, with a fault proxy between the AWS SDK
//! clients and moto injecting throttling, 500/503s and lost answers, while the platforms'
//! retry paths run for real (Shopify's redeliveries after a 5xx, the stream's partial batch
//! failures re-driven, Scheduler's delivery retries and DLQ, Lambda's async retries and DLQ).
//! The same histories run again on the in-memory ports without faults: the reference.
//!
//! Ground truth is what the services recorded: moto's SES and SNS messages
//! (`/moto-api/data.json`), keyed by cart, step and channel. The fault run must send no
//! duplicate, nothing after a purchase or a suppression it had accepted, and every step the
//! reference sent — except steps recorded as skipped `crash_after_claim` and differences a
//! recorded fault explains (`soak/verdict.rs` has the rules), which are counted.
//!
//! Why the in-memory reference is exact: both runs drive the same handlers with the same
//! driver, tick by tick at the same virtual times, one call at a time; the in-memory ports
//! keep DynamoDB's conditional-write semantics and the same stream, the carts of different
//! people never touch each other, and every time in a history is a whole second, so the one
//! adapter-side transformation (Scheduler's `at()` rounds up to the second) changes nothing.
//! `CARTBACK_SOAK_FAULT_RATE=0` checks it: the moto run must then equal the reference
//! exactly, with nothing to explain.
//!
//! Longer runs: `CARTBACK_SOAK_SEED`, `CARTBACK_SOAK_CARTS`, `CARTBACK_SOAK_FAULT_RATE`,
//! `CARTBACK_SOAK_SHARDS` (moto servers run side by side) and `CARTBACK_SOAK_TICK_SECS`.

mod driver;
mod history;
mod verdict;
mod world;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use cartback_devstack::{FaultClass, FaultPlan, FaultStats, StoredSchedule};
use cartback_local::VirtualClock;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use self::driver::{Counters, Drive};
use self::history::History;
use self::verdict::Verdict;
use self::world::World;

fn setting<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Carts in the soak `scripts/test` runs: enough for every fault class, every retry path of
/// the platforms and every kind of history, in about a minute. `scripts/soak --carts N`
/// runs a longer one (docs/reliability.md has the figures of a 2,000-cart run).
const CI_CARTS: usize = 300;

#[derive(Debug, Clone)]
struct Settings {
    seed: u64,
    carts: usize,
    rate: f64,
    shards: usize,
    tick: SignedDuration,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            // The suite's seed when one is named, else the soak's own.
            seed: setting("CARTBACK_SOAK_SEED", cartback_testkit::seed_or(20_261_102)),
            carts: setting("CARTBACK_SOAK_CARTS", CI_CARTS),
            rate: setting("CARTBACK_SOAK_FAULT_RATE", 0.05_f64).clamp(0.0, 1.0),
            shards: setting("CARTBACK_SOAK_SHARDS", 2_usize).max(1),
            tick: SignedDuration::from_secs(setting("CARTBACK_SOAK_TICK_SECS", 300_i64).max(1)),
        }
    }
}

/// One shard's results: the people with `person % shards == shard` on a moto of their own.
struct Shard {
    history: History,
    faults: FaultStats,
    counters: Counters,
    reference_counters: Counters,
    verdict: Verdict,
    fired: Vec<StoredSchedule>,
    metrics: Vec<cartback_core::insight::metrics::Emf>,
    moto_seconds: f64,
    reference_seconds: f64,
}

fn drive_of(settings: &Settings, shard: u64) -> Drive {
    Drive {
        seed: settings.seed ^ shard.wrapping_mul(0x9e37_79b9),
        fault_rate: settings.rate,
        tick: settings.tick,
    }
}

async fn run_shard(
    history: History,
    drive: Drive,
    (fault_world, fault_clock): (World, VirtualClock),
) -> Result<Shard> {
    let start: Timestamp = history::START.parse()?;
    // The reference runs beside the fault run: it needs no moto.
    let reference = tokio::spawn(run_reference(history.clone(), drive.clone(), start));
    let started = Instant::now();
    let fault_run = driver::run(&fault_world, &fault_clock, &history, &drive, true)
        .await
        .context("the fault run")?;
    let faults = fault_world.proxy().map(|p| p.stats()).unwrap_or_default();
    if let Some(proxy) = fault_world.proxy() {
        proxy.set_rate(0.0);
    }
    let outbox = fault_world.outbox().await?;
    let fault_sends = verdict::sends(&outbox, &fault_run, &history)?;
    let fault_carts = fault_world.carts().await?;
    let mut fired: Vec<StoredSchedule> = fault_world.pending_schedules().await?;
    fired.extend(fault_run.fired.iter().map(|(name, input)| StoredSchedule {
        name: name.clone(),
        input: input.clone(),
        expression: String::new(),
        timezone: None,
        flexible_window_off: true,
        delete_after_completion: true,
        target_arn: String::new(),
        role_arn: String::new(),
        at: start,
    }));
    let mut metrics = fault_world.metrics();
    let moto_seconds = started.elapsed().as_secs_f64();
    let reference = reference.await??;
    metrics.extend(reference.metrics);
    let verdict = verdict::compare(
        &history,
        &fault_run,
        &fault_sends,
        &fault_carts,
        &reference.sends,
        &reference.carts,
    );
    Ok(Shard {
        history,
        faults,
        counters: fault_run.counters,
        reference_counters: reference.run.counters,
        verdict,
        fired,
        metrics,
        moto_seconds,
        reference_seconds: reference.seconds,
    })
}

struct Reference {
    run: driver::Run,
    sends: Vec<verdict::Sent>,
    carts: std::collections::HashMap<(String, String), cartback_core::model::cart::CartRecord>,
    metrics: Vec<cartback_core::insight::metrics::Emf>,
    seconds: f64,
}

/// The same history on the in-memory ports, without faults.
async fn run_reference(history: History, drive: Drive, start: Timestamp) -> Result<Reference> {
    let started = Instant::now();
    let (world, clock) = World::memory(start)?;
    let run = driver::run(&world, &clock, &history, &drive, false)
        .await
        .context("the reference run")?;
    let sends = verdict::sends(&world.outbox().await?, &run, &history)?;
    Ok(Reference {
        sends,
        carts: world.carts().await?,
        metrics: world.metrics(),
        run,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn add_counters(total: &mut serde_json::Map<String, serde_json::Value>, counters: &Counters) {
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(counters) {
        for (key, value) in map {
            let merged = match (total.get(&key), &value) {
                (Some(serde_json::Value::Number(a)), serde_json::Value::Number(b)) => {
                    json!(a.as_u64().unwrap_or(0) + b.as_u64().unwrap_or(0))
                }
                (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => {
                    let mut merged = a.clone();
                    for (k, v) in b {
                        let sum = merged.get(k).and_then(|x| x.as_u64()).unwrap_or(0)
                            + v.as_u64().unwrap_or(0);
                        merged.insert(k.clone(), json!(sum));
                    }
                    serde_json::Value::Object(merged)
                }
                _ => value.clone(),
            };
            total.insert(key, merged);
        }
    }
}

fn sum_maps<'a>(maps: impl Iterator<Item = BTreeMap<String, u64>> + 'a) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for map in maps {
        for (k, v) in map {
            *total.entry(k).or_insert(0) += v;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_under_faults_get_no_duplicate_nothing_after_purchase_and_lose_nothing() {
    cartback_e2e::capture_function_logs();
    let settings = Settings::from_env();
    eprintln!(
        "soak: seed {} (replay with CARTBACK_SOAK_SEED={}), {} carts",
        settings.seed, settings.seed, settings.carts
    );
    let started = Instant::now();
    let history = history::generate(settings.seed, settings.carts);
    // One moto per shard, started one after the other (a loaded machine starts them slowly).
    let start: Timestamp = history::START.parse().expect("the start time");
    let mut tasks = Vec::new();
    for shard in 0..settings.shards {
        let part = history.shard(shard, settings.shards);
        let drive = drive_of(&settings, shard as u64);
        let plan = FaultPlan::new(drive.seed, settings.rate).expect("the soak's fault rate");
        let world = World::moto(start, plan).await.expect("moto and the stack");
        tasks.push(tokio::spawn(run_shard(part, drive, world)));
    }
    let mut shards = Vec::new();
    for task in tasks {
        shards.push(task.await.expect("a shard ran").expect("a shard finished"));
    }

    let faults = FaultStats {
        requests: sum_maps(shards.iter().map(|s| s.faults.requests.clone())),
        injected: {
            let mut total = BTreeMap::new();
            for shard in &shards {
                for (key, n) in &shard.faults.injected {
                    *total.entry(key.clone()).or_insert(0) += n;
                }
            }
            total
        },
        upstream_errors: shards.iter().map(|s| s.faults.upstream_errors).sum(),
    };
    let mut counters = serde_json::Map::new();
    let mut reference_counters = serde_json::Map::new();
    for shard in &shards {
        add_counters(&mut counters, &shard.counters);
        add_counters(&mut reference_counters, &shard.reference_counters);
    }
    let verdicts: Vec<&Verdict> = shards.iter().map(|s| &s.verdict).collect();
    let total = |f: fn(&Verdict) -> u64| verdicts.iter().map(|v| f(v)).sum::<u64>();
    let list = |f: fn(&Verdict) -> &Vec<String>| {
        verdicts
            .iter()
            .flat_map(|v| f(v).iter().cloned())
            .collect::<Vec<String>>()
    };
    let explained = sum_maps(verdicts.iter().map(|v| {
        v.explained
            .iter()
            .map(|(k, n)| ((*k).to_owned(), *n))
            .collect()
    }));
    let duplicates = list(|v| &v.duplicates);
    let after_purchase = list(|v| &v.after_purchase);
    let after_suppression = list(|v| &v.after_suppression);
    let lost = list(|v| &v.lost);
    let extra = list(|v| &v.extra);
    let changed = list(|v| &v.changed);
    let slow = list(|v| &v.delayed_over_an_hour_unexplained);
    let summary = json!({
        "soak": "moto+fault-proxy vs in-memory reference",
        "seed": settings.seed,
        "carts": history.carts.len(),
        "shards": settings.shards,
        "tick_seconds": settings.tick.as_secs(),
        "fault_rate": settings.rate,
        "webhooks": history.webhooks(),
        "requests": faults.total_requests(),
        "faults": {
            "total": faults.total_injected(),
            "by_class": faults.by_class(),
            "by_service": faults.by_service(),
            "by_operation": faults.by_operation(),
        },
        "platform": counters,
        "retries": {
            "webhook_redeliveries": counters.get("webhook_redeliveries"),
            "planner_redrives": counters.get("planner_redrives"),
            "scheduler_retries": counters.get("scheduler_retries"),
            "sender_retries": counters.get("sender_retries"),
            "feedback_retries": counters.get("feedback_retries"),
            "unsubscribe_retries": counters.get("unsubscribe_retries"),
        },
        "dead_lettered": {
            "webhooks_given_up": counters.get("webhooks_given_up"),
            "stream": counters.get("stream_dead_lettered"),
            "scheduler": counters.get("scheduler_dead_lettered"),
            "sender": counters.get("sender_dead_lettered"),
            "feedback": counters.get("feedback_dead_lettered"),
            "unsubscribes_given_up": counters.get("unsubscribes_given_up"),
        },
        "wakeups": counters.get("wakeups"),
        "sends": total(|v| v.sends as u64),
        "reference_sends": total(|v| v.reference_sends as u64),
        "crash_after_claim": total(|v| v.crash_after_claim),
        "crash_after_claim_message_left": total(|v| v.crash_after_claim_sent),
        "explained": explained,
        "delayed_sends": total(|v| v.delayed_sends),
        "delayed_over_an_hour": total(|v| v.delayed_over_an_hour),
        "max_delay_minutes": verdicts.iter().map(|v| v.max_delay_minutes).max(),
        "duplicates": duplicates.len(),
        "after_purchase": after_purchase.len(),
        "after_suppression": after_suppression.len(),
        "lost": lost.len(),
        "extra": extra.len(),
        "changed_channel": changed.len(),
        "delayed_over_an_hour_unexplained": slow.len(),
        "moto_seconds": shards.iter().map(|s| s.moto_seconds).fold(0.0, f64::max),
        "reference_seconds": shards.iter().map(|s| s.reference_seconds).fold(0.0, f64::max),
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");

    let show = |what: &str, items: &[String]| {
        items
            .iter()
            .take(15)
            .map(|i| format!("  {what}: {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let problems = [
        show("duplicate", &duplicates),
        show("after purchase", &after_purchase),
        show("after suppression", &after_suppression),
        show("lost", &lost),
        show("extra", &extra),
        show("other channel", &changed),
        show("delayed over an hour without a recorded fault", &slow),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("\n");
    assert!(problems.is_empty(), "the soak found:\n{problems}");
    if settings.rate > 0.0 {
        // Every class of fault met the functions, however small the run.
        let by_class = faults.by_class();
        for class in FaultClass::ALL {
            assert!(
                by_class.get(class.as_str()).copied().unwrap_or_default() > 0,
                "no `{}` fault was injected: {by_class:?}",
                class.as_str()
            );
        }
    }
    if settings.rate == 0.0 {
        assert!(
            explained.is_empty(),
            "without faults nothing needs explaining: {explained:?}"
        );
    }

    // Nobody's data in the logs of both runs, the schedules or the metrics.
    let bodies: Vec<&str> = shards.iter().flat_map(|s| s.history.bodies()).collect();
    let fired: Vec<StoredSchedule> = shards.iter().flat_map(|s| s.fired.clone()).collect();
    let metrics: Vec<_> = shards.iter().flat_map(|s| s.metrics.clone()).collect();
    let looked_for = cartback_e2e::assert_no_personal_data_in(&bodies, &fired, &metrics)
        .expect("no personal data in logs, schedules or metrics");
    assert!(looked_for > history.carts.len(), "{looked_for}");
}

/// The proxy on moto itself: a lost answer to a write leaves the write done in moto while
/// the SDK sees no answer (with its retries off, as the sender's sends are), and with the
/// SDK's retries on, a conditional write whose answer was lost is retried and then fails its
/// own condition: the store reports a conflict for a write that happened — the case the
/// handlers must recognise. A throttled request never reaches moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_reaches_moto_and_the_sdk_sees_no_answer() -> Result<()> {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    use aws_sdk_dynamodb::error::SdkError;
    use aws_sdk_dynamodb::types::AttributeValue;
    use cartback_core::ports::{CartStore, Put, WriteOutcome};
    let moto = cartback_devstack::Moto::start(
        &cartback_e2e::moto_binary()?,
        &cartback_devstack::MotoOptions::default(),
    )
    .await?;
    let lossy = cartback_devstack::FaultProxy::start(
        &moto.endpoint,
        FaultPlan::new(1, 1.0)
            .expect("a rate")
            .only(&[FaultClass::LostAnswer]),
    )
    .await?;
    let direct = cartback_devstack::sdk_config(&moto.endpoint, cartback_e2e::REGION).await;
    let names = cartback_devstack::Names::for_stack("cartback", "cartback-proxy", "https://x");
    cartback_devstack::create_resources(&direct, &names).await?;
    let read = |sk: &'static str| {
        aws_sdk_dynamodb::Client::new(&direct)
            .get_item()
            .table_name(&names.table)
            .key("pk", AttributeValue::S("SHOP#proxy".into()))
            .key("sk", AttributeValue::S(sk.into()))
            .send()
    };

    let through = cartback_devstack::sdk_config(lossy.endpoint(), cartback_e2e::REGION).await;
    let no_retries = aws_sdk_dynamodb::config::Builder::from(&through)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let error = aws_sdk_dynamodb::Client::from_conf(no_retries)
        .put_item()
        .table_name(&names.table)
        .item("pk", AttributeValue::S("SHOP#proxy".into()))
        .item("sk", AttributeValue::S("PROBE#1".into()))
        .send()
        .await
        .expect_err("the answer was dropped");
    assert!(
        matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "no answer, not a service error: {error:?}"
    );
    assert!(
        read("PROBE#1").await?.item.is_some(),
        "the write reached moto"
    );
    assert_eq!(
        lossy
            .stats()
            .count(FaultClass::LostAnswer, "dynamodb/PutItem"),
        1
    );

    // The store on the SDK's retries: its delivery marker was written, yet it sees a conflict.
    // One answer is lost; the SDK's retry gets through and fails the write's own condition.
    let lossy_once = cartback_devstack::FaultProxy::start(
        &moto.endpoint,
        FaultPlan::new(1, 1.0)
            .expect("a rate")
            .only(&[FaultClass::LostAnswer])
            .limit(1),
    )
    .await?;
    let quick =
        cartback_devstack::sdk_config_quick_retries(lossy_once.endpoint(), cartback_e2e::REGION)
            .await;
    let store = cartback_aws::DynamoCartStore::new(&quick, &names.table);
    let shop = cartback_core::model::ids::ShopId::parse("proxy").map_err(|e| anyhow!("{e}"))?;
    let id =
        cartback_core::model::ids::DeliveryId::parse("delivery-1").map_err(|e| anyhow!("{e}"))?;
    let outcome = store
        .write(vec![Put::Delivery {
            shop: shop.clone(),
            id: id.clone(),
            expires_at: 0,
        }])
        .await;
    assert_eq!(
        outcome.as_ref().ok(),
        Some(&WriteOutcome::Conflict),
        "{outcome:?}"
    );
    assert_eq!(lossy_once.stats().total_injected(), 1);
    assert!(
        store.delivery_seen(&shop, &id).await?,
        "the marker is there"
    );

    let throttling = cartback_devstack::FaultProxy::start(
        &moto.endpoint,
        FaultPlan::new(1, 1.0)
            .expect("a rate")
            .only(&[FaultClass::Throttled]),
    )
    .await?;
    let through = cartback_devstack::sdk_config(throttling.endpoint(), cartback_e2e::REGION).await;
    let no_retries = aws_sdk_dynamodb::config::Builder::from(&through)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let error = aws_sdk_dynamodb::Client::from_conf(no_retries)
        .put_item()
        .table_name(&names.table)
        .item("pk", AttributeValue::S("SHOP#proxy".into()))
        .item("sk", AttributeValue::S("PROBE#2".into()))
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(
        error.as_service_error().and_then(|e| e.code()),
        Some("ProvisionedThroughputExceededException")
    );
    assert!(
        read("PROBE#2").await?.item.is_none(),
        "a throttled write never reached moto"
    );
    Ok(())
}

#[test]
fn the_history_splits_into_shards_by_person() {
    let history = history::generate(5, 300);
    let parts: Vec<History> = (0..3).map(|k| history.shard(k, 3)).collect();
    assert_eq!(
        parts.iter().map(|p| p.carts.len()).sum::<usize>(),
        history.carts.len()
    );
    assert_eq!(
        parts.iter().map(|p| p.events.len()).sum::<usize>(),
        history.events.len()
    );
}
