//! One scenario, two worlds. The same steps — a signed Shopify checkout, the stream to the
//! planner, the first reminder when it falls due, the order, then days passing — run through
//! the one pipeline runner (`cartback-pipeline`) on the in-memory ports and on the AWS
//! adapters against moto, and must come to the same: one reminder, nothing after the order.

use cartback_app::Ports;
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::PersonalData;
use cartback_e2e::TestEnv;
use cartback_local::{LocalShops, MemoryRuntime, MemoryWorld, VirtualClock};
use cartback_pipeline::{EventSourceMapping, Exhausted, Runner, World};
use cartback_sender::Outcome;
use cartback_webhook::WebhookRequest;
use jiff::Timestamp;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../functions/core/tests/fixtures/shopify/orders_create.json");

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

/// Lambda's event source mapping as `infra/template.yaml` sets it, in both worlds.
fn runner() -> Runner {
    Runner::new(EventSourceMapping {
        batch_size: 100,
        retry_attempts: 10,
        exhausted: Exhausted::DeadLetter,
    })
}

/// A Shopify webhook for the shop, signed as Shopify signs it.
fn shopify(topic: &str, body: &str, id: &str) -> WebhookRequest {
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes());
    WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new()
            .with("X-Shopify-Topic", topic)
            .with("X-Shopify-Hmac-Sha256", &hmac)
            .with("X-Shopify-Webhook-Id", id)
            .with("X-Shopify-Shop-Domain", SHOP),
        body: body.as_bytes().to_vec(),
    }
}

/// What came of each wake-up, in order, as `<outcome> step <n>` (1-based).
async fn fire_due<W: World>(world: &W, runner: &Runner, seen: &mut Vec<String>)
where
    W::Error: std::fmt::Debug,
{
    for due in runner.take_all_due(world).await.expect("the schedules") {
        let invocation = runner.invoke(world, due).await;
        let line = match invocation.result.expect("the sender ran") {
            Outcome::Sent { step, channel, .. } => {
                format!("sent step {} by {}", step + 1, channel.as_str())
            }
            other => other.summary().to_owned(),
        };
        seen.push(line);
    }
    runner.drain_stream(world).await.expect("the stream");
}

/// The scenario, once: returns what the sender did at each wake-up.
async fn checkout_reminder_order<W: World>(world: &W, clock: &VirtualClock) -> Vec<String>
where
    <W::Ports as Ports>::Store: PersonalData,
    W::Error: std::fmt::Debug,
{
    let runner = runner();
    let mut seen = Vec::new();
    let checkout = shopify("checkouts/create", CHECKOUT, "both-worlds-checkout");
    let reply = cartback_webhook::handle(&checkout, world.ports()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    runner.drain_stream(world).await.expect("the stream");
    // Nothing is due before the first reminder (one hour after the checkout's 08:00).
    fire_due(world, &runner, &mut seen).await;
    assert!(seen.is_empty(), "{seen:?}");
    clock.advance_to(at("2026-11-02T09:00:30Z"));
    fire_due(world, &runner, &mut seen).await;
    let order = shopify("orders/create", ORDER, "both-worlds-order");
    clock.advance_to(at("2026-11-02T10:00:00Z"));
    let reply = cartback_webhook::handle(&order, world.ports()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    runner.drain_stream(world).await.expect("the stream");
    for day in [
        "2026-11-03T10:00:00Z",
        "2026-11-05T10:00:00Z",
        "2026-11-09T10:00:00Z",
    ] {
        clock.advance_to(at(day));
        fire_due(world, &runner, &mut seen).await;
    }
    seen
}

const EXPECTED: [&str; 1] = ["sent step 1 by email"];

#[tokio::test]
async fn in_memory_the_scenario_sends_one_reminder_and_nothing_after_the_order() {
    let shop = ShopId::parse(SHOP).expect("shop");
    let shops = LocalShops::defaults()
        .with_settings(shop.clone(), ShopSettings::defaults_for(&shop))
        .with_secret(shop, Secret::new(SECRET));
    let runtime = MemoryRuntime::new(at("2026-11-02T08:00:30Z"), shops);
    let world = MemoryWorld {
        store: runtime.store.clone(),
        schedules: runtime.schedules.clone(),
        ports: runtime.ports(),
    };
    let seen = checkout_reminder_order(&world, &runtime.clock).await;
    assert_eq!(seen, EXPECTED);
    assert_eq!(runtime.mailer.outbox().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_emulator_the_same_scenario_comes_to_the_same() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let seen = checkout_reminder_order(&env.stack, &env.clock).await;
    assert_eq!(seen, EXPECTED);
    assert_eq!(env.sent_emails().await.expect("SES's outbox").len(), 1);
}

/// A new visitor's checkout that is never opened or bought: the three email steps go out
/// (at +1 h, +10 h after it, +2 days after that) and nothing else.
async fn three_steps_never_opened<W: World>(world: &W, clock: &VirtualClock) -> Vec<String>
where
    <W::Ports as Ports>::Store: PersonalData,
    W::Error: std::fmt::Debug,
{
    let runner = runner();
    let mut seen = Vec::new();
    let checkout = shopify("checkouts/create", CHECKOUT, "three-steps-checkout");
    let reply = cartback_webhook::handle(&checkout, world.ports()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    runner.drain_stream(world).await.expect("the stream");
    for when in [
        "2026-11-02T09:00:30Z",
        "2026-11-02T19:00:30Z",
        "2026-11-04T19:00:30Z",
        "2026-11-09T10:00:00Z",
    ] {
        clock.advance_to(at(when));
        fire_due(world, &runner, &mut seen).await;
    }
    seen
}

/// The operations `simulate --stats` counts, as `service/Operation`.
const COUNTED: [&str; 9] = [
    "dynamodb/BatchGetItem",
    "dynamodb/GetItem",
    "dynamodb/PutItem",
    "dynamodb/TransactWriteItems",
    "dynamodb/Query",
    "scheduler/CreateSchedule",
    "scheduler/DeleteSchedule",
    "sesv2/SendEmail",
    "sns/Publish",
];

/// `simulate --stats`' in-memory counts are the calls the AWS adapters make: the same
/// three-step cart through the pipeline on the in-memory ports and, through a proxy that
/// counts every request, on the adapters against moto. The shop's settings item, which the
/// in-memory shop directory holds without a table, is the one read left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_call_counts_are_the_calls_the_adapters_make_on_the_emulator() {
    let start = at("2026-11-02T08:00:30Z");
    let shop = ShopId::parse(SHOP).expect("shop");

    let shops = LocalShops::defaults()
        .with_settings(shop.clone(), ShopSettings::defaults_for(&shop))
        .with_secret(shop.clone(), Secret::new(SECRET));
    let runtime = MemoryRuntime::new(start, shops);
    let memory = MemoryWorld {
        store: runtime.store.clone(),
        schedules: runtime.schedules.clone(),
        ports: runtime.ports(),
    };
    let in_memory = three_steps_never_opened(&memory, &runtime.clock).await;
    assert_eq!(in_memory.len(), 3, "{in_memory:?}");
    assert!(in_memory.iter().all(|s| s.starts_with("sent step")));
    let counts = runtime.calls.to_json();

    let moto = cartback_devstack::Moto::start(
        &cartback_e2e::moto_binary().expect("moto"),
        &cartback_devstack::MotoOptions::default(),
    )
    .await
    .expect("moto starts");
    let plan = cartback_devstack::FaultPlan::new(1, 0.0).expect("a plan");
    let proxy = cartback_devstack::FaultProxy::start(&moto.endpoint, plan)
        .await
        .expect("the counting proxy");
    proxy.record("dynamodb/GetItem");
    let names = cartback_e2e::names();
    let platform = cartback_devstack::sdk_config(&moto.endpoint, cartback_e2e::REGION).await;
    let functions = cartback_devstack::sdk_config(proxy.endpoint(), cartback_e2e::REGION).await;
    cartback_devstack::create_resources(&platform, &names)
        .await
        .expect("resources");
    cartback_devstack::connect_shop(
        &platform,
        &names,
        &shop,
        &ShopSettings::defaults_for(&shop),
        SECRET,
    )
    .await
    .expect("the shop");
    cartback_devstack::put_secret(
        &platform,
        &names.unsubscribe_secret_param,
        "u".repeat(32).as_str(),
    )
    .await
    .expect("the unsubscribe secret");
    let clock = VirtualClock::new(start);
    let stack = cartback_devstack::Stack::with_platform(functions, platform, names, clock.clone())
        .await
        .expect("the stack");
    let before = proxy.stats().requests;
    proxy.take_recorded();
    let on_moto = three_steps_never_opened(&stack, &clock).await;
    assert_eq!(on_moto, in_memory);

    let after = proxy.stats().requests;
    let settings_reads = proxy
        .take_recorded()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("\"CONFIG\""))
        .count() as u64;
    for operation in COUNTED {
        let (service, name) = operation.split_once('/').expect("service/Operation");
        let mut made = after.get(operation).copied().unwrap_or(0)
            - before.get(operation).copied().unwrap_or(0);
        if operation == "dynamodb/GetItem" {
            made -= settings_reads;
        }
        assert_eq!(
            made,
            counts[service][name].as_u64().unwrap_or(0),
            "{operation}: on moto {after:?}, in memory {counts}"
        );
    }
}
