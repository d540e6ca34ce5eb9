//! Erasure end to end on emulated AWS (moto): Ada has two carts in a shop (one under her
//! email, one under her phone), both with a pending Scheduler schedule; Bob has one. Ada is
//! erased twice over, the two ways cartback offers: `cartback erase --email` (the core
//! erasure on the DynamoDB and Scheduler adapters, as the CLI runs it) and Shopify's
//! `customers/redact` webhook (email and phone; the planner deletes the schedule from the
//! table's stream). Then moto's whole state (`/moto-api/data.json`) holds neither her email
//! nor her phone in any table item, no schedule of her carts remains, her contact items are
//! tombstones without a TTL, and Bob's cart and schedule are untouched.

use cartback_aws::{DynamoCartStore, SchedulerSchedules};
use cartback_core::model::cart::SuppressionReason;
use cartback_core::model::cart_item;
use cartback_core::model::contact::{Email, Phone};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::schedule_name;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::ports::CartStore;
use cartback_e2e::{GROUP, TestEnv};
use jiff::Timestamp;
use serde_json::Value;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const PHONE_ONLY: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create_phone_only.json");
const CUSTOMERS_REDACT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/customers_redact.json");
/// Ada's email cart (checkouts_create.json) and her phone-only cart.
const ADA_EMAIL_CART: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const ADA_PHONE_CART: &str = "1e2d3c4b5a69788796a5b4c3d2e1f0a9";
const BOB_CART: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
const ADA_EMAIL: &str = "ada@example.com";
const ADA_PHONE: &str = "+358401234567";
const BOB_EMAIL: &str = "bob@example.com";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

async fn post(env: &TestEnv, topic: &str, body: &str, id: &str) -> (u16, String) {
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes());
    let headers = [
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Webhook-Id", id),
        ("X-Shopify-Shop-Domain", SHOP),
    ];
    env.post_webhook("shopify", &headers, body)
        .await
        .expect("the webhook answers")
}

fn bobs_checkout() -> String {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("JSON fixture");
    checkout["token"] = BOB_CART.into();
    checkout["email"] = BOB_EMAIL.into();
    checkout["customer"]["email"] = BOB_EMAIL.into();
    checkout["customer"]["first_name"] = "Bob".into();
    checkout["customer"]["phone"] = Value::Null;
    checkout.to_string()
}

/// Every string in `value` that contains `needle`, with its JSON path.
fn occurrences(value: &Value, path: &str, needle: &str, found: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains(needle) => found.push(path.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                occurrences(item, &format!("{path}/{i}"), needle, found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if key.contains(needle) {
                    found.push(format!("{path}/{key} (key)"));
                }
                occurrences(item, &format!("{path}/{key}"), needle, found);
            }
        }
        _ => {}
    }
}

/// Every item of the table, each as its debug text (a Scan, paginated); a cart item's
/// compressed record is decoded (`cart_item::decode`) and its JSON added to the text, so an
/// address inside it is found.
async fn all_items(env: &TestEnv) -> Vec<String> {
    let client = aws_sdk_dynamodb::Client::new(&env.sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(cartback_e2e::TABLE)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan on moto");
        for item in page.items() {
            let mut text = format!("{item:?}");
            if item.contains_key(cart_item::RECORD) {
                let cart = cart_item::decode(&serde_dynamo::Item::from(item.clone()))
                    .expect("a readable cart item");
                text.push_str(&serde_json::to_string(&cart.value).expect("JSON"));
            }
            items.push(text);
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return items,
        }
    }
}

fn schedule_names(env_schedules: &[cartback_e2e::StoredSchedule]) -> Vec<String> {
    env_schedules.iter().map(|s| s.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_no_address_in_any_item_and_no_schedule_while_others_stay() {
    // The fixtures' checkouts were last updated 2026-11-02 08:00 UTC.
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let shop = ShopId::parse(SHOP).expect("valid");
    let store: DynamoCartStore = env.store();

    for (body, id) in [
        (CHECKOUT.to_owned(), "wh-ada-email"),
        (PHONE_ONLY.to_owned(), "wh-ada-phone"),
        (bobs_checkout(), "wh-bob"),
    ] {
        let (status, reply) = post(&env, "checkouts/create", &body, id).await;
        assert_eq!(status, 200, "{reply}");
    }
    env.drain_stream().await.expect("the planner runs");
    let before = env.schedules().await.expect("schedules");
    let prefix = |cart: &str| {
        let cart = CartId::parse(cart).expect("valid");
        schedule_name(&shop, &cart, 0, 0)[..19].to_owned()
    };
    let pending_of = |cart: &str| {
        let prefix = prefix(cart);
        move |name: &String| name.starts_with(&prefix)
    };
    let names = schedule_names(&before);
    assert_eq!(names.len(), 3, "one schedule per cart: {names:?}");
    for cart in [ADA_EMAIL_CART, ADA_PHONE_CART, BOB_CART] {
        assert!(names.iter().any(pending_of(cart)), "{cart}: {names:?}");
    }

    // 1. `cartback erase --shop … --email ada@example.com`: the CLI's path.
    let email = Email::parse(ADA_EMAIL).expect("valid");
    let erased = cartback_app::privacy::erase_person(
        &store,
        &SchedulerSchedules::deleting_only(&env.sdk, GROUP),
        &shop,
        &[email.key()],
        env.clock.now(),
    )
    .await
    .expect("erasure on moto");
    assert_eq!(
        erased.carts,
        vec![CartId::parse(ADA_EMAIL_CART).expect("valid")]
    );
    assert_eq!(erased.schedules.len(), 1);
    let names = schedule_names(&env.schedules().await.expect("schedules"));
    assert!(!names.iter().any(pending_of(ADA_EMAIL_CART)), "{names:?}");

    // Again: idempotent, nothing left to do.
    let again = cartback_app::privacy::erase_person(
        &store,
        &SchedulerSchedules::deleting_only(&env.sdk, GROUP),
        &shop,
        &[email.key()],
        env.clock.now(),
    )
    .await
    .expect("a second erasure");
    assert!(again.carts.is_empty() && again.schedules.is_empty());

    // 2. Shopify's customers/redact (email and phone): the phone-only cart goes too, and
    //    the planner deletes its schedule from the stream.
    let (status, reply) = post(&env, "customers/redact", CUSTOMERS_REDACT, "wh-redact").await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("erasure_queued"), "{reply}");
    assert_eq!(env.drain_erasures().await.expect("the worker runs"), 1);
    env.drain_stream().await.expect("the planner runs");

    // A late checkout update of Ada's stores nothing.
    let mut late: Value = serde_json::from_str(CHECKOUT).expect("JSON");
    late["updated_at"] = "2026-11-02T10:00:20+02:00".into();
    let (status, reply) = post(&env, "checkouts/update", &late.to_string(), "wh-late").await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("\"erased\""), "{reply}");
    env.drain_stream().await.expect("the planner runs");

    // No schedule of Ada's carts remains; Bob's is there.
    let names = schedule_names(&env.schedules().await.expect("schedules"));
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names.iter().any(pending_of(BOB_CART)), "{names:?}");

    // Her contact items are tombstones on every channel, without a TTL.
    let phone = Phone::parse(ADA_PHONE, None).expect("valid");
    for key in [email.key(), phone.key()] {
        let contact = store
            .contact(&shop, &key)
            .await
            .expect("reads")
            .expect("a tombstone")
            .value;
        assert_eq!(
            contact.email_suppressed.map(|s| s.reason),
            Some(SuppressionReason::Erased)
        );
        assert_eq!(
            contact.sms_suppressed.map(|s| s.reason),
            Some(SuppressionReason::Erased)
        );
        assert_eq!(contact.expires_at, 0);
    }

    // moto's whole state (`/moto-api/data.json`: schedules, parameters, logs…) holds neither
    // her email nor her phone. That dump leaves DynamoDB items out (they serialise as `{}`),
    // so every item of the table is read too, with a paginated Scan (in this test only), and
    // Bob's address must still be found there: the check can fail.
    let data = env.moto.data().await.expect("moto's state");
    assert!(
        data["scheduler"].is_object(),
        "data.json has a scheduler section"
    );
    let items = all_items(&env).await;
    assert!(
        items.len() >= 4,
        "Bob's cart and contact, Ada's tombstones: {items:?}"
    );
    for needle in [ADA_EMAIL, ADA_PHONE, "358401234567", "40 123 4567"] {
        let mut found = Vec::new();
        occurrences(&data, "", needle, &mut found);
        assert!(
            found.is_empty(),
            "{needle} still in moto's state at {found:?}"
        );
        let in_items: Vec<&String> = items.iter().filter(|i| i.contains(needle)).collect();
        assert!(
            in_items.is_empty(),
            "{needle} still in a table item: {in_items:?}"
        );
    }
    assert!(
        items.iter().any(|i| i.contains(BOB_EMAIL)),
        "Bob's cart is untouched"
    );
    let bobs = store
        .cart(&shop, &CartId::parse(BOB_CART).expect("valid"))
        .await
        .expect("reads")
        .expect("Bob's cart");
    assert!(bobs.value.next_due_at.is_some());

    // And no log line of this process named her.
    env.assert_no_personal_data(&[CHECKOUT, PHONE_ONLY, CUSTOMERS_REDACT])
        .await
        .expect("no personal data in logs, schedules or metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_redact_leaves_the_shop_only_its_settings_and_no_schedule() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    for (body, id) in [
        (CHECKOUT.to_owned(), "wh-ada-email"),
        (PHONE_ONLY.to_owned(), "wh-ada-phone"),
        (bobs_checkout(), "wh-bob"),
    ] {
        let (status, reply) = post(&env, "checkouts/create", &body, id).await;
        assert_eq!(status, 200, "{reply}");
    }
    env.drain_stream().await.expect("the planner runs");
    assert_eq!(env.schedules().await.expect("schedules").len(), 3);
    let shop_redact = include_str!("../../functions/core/tests/fixtures/shopify/shop_redact.json");

    let (status, reply) = post(&env, "shop/redact", shop_redact, "wh-shop-redact").await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("erasure_queued"), "{reply}");
    assert_eq!(env.drain_erasures().await.expect("the worker runs"), 1);
    env.drain_stream().await.expect("the planner runs");

    assert!(env.schedules().await.expect("schedules").is_empty());
    let items = all_items(&env).await;
    // Left: the settings (the shop is still served), nothing else; the redact's own
    // delivery id went with the rest.
    let of_shop: Vec<&String> = items
        .iter()
        .filter(|i| i.contains(&format!("SHOP#{SHOP}")))
        .filter(|i| !i.contains("CONFIG"))
        .collect();
    assert!(of_shop.is_empty(), "only the settings: {of_shop:?}");
    assert!(items.iter().any(|i| i.contains("CONFIG")));
    for needle in [ADA_EMAIL, ADA_PHONE, BOB_EMAIL] {
        assert!(!items.iter().any(|i| i.contains(needle)), "{needle} left");
    }
}

/// A shop of `CARTS` carts on moto, erased by the erasure worker one page a chunk: each
/// chunk queues the rest, the last leaves only the settings. Prints how long the worker
/// took (docs/privacy.md extrapolates it; nothing here depends on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_shop_is_erased_chunk_by_chunk_by_the_worker() {
    const CARTS: usize = 2_500;
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let (status, reply) = post(&env, "checkouts/create", CHECKOUT, "wh-ada").await;
    assert_eq!(status, 200, "{reply}");
    let store = DynamoCartStore::new(&env.sdk, &env.stack.names.table);
    let shop = ShopId::parse(SHOP).expect("valid");
    let ada = store
        .cart(&shop, &CartId::parse(ADA_EMAIL_CART).expect("valid"))
        .await
        .expect("reads")
        .expect("stored")
        .value;
    for i in 0..CARTS {
        let mut other = ada.clone();
        other.cart = CartId::parse(format!("cart-{i:05}")).expect("valid");
        let written = store
            .write(vec![cartback_core::ports::Put::Cart {
                record: Box::new(other),
                expected: None,
            }])
            .await
            .expect("written");
        assert_eq!(written, cartback_core::ports::WriteOutcome::Written);
    }
    env.drain_stream().await.expect("the planner runs");
    let ports = cartback_app::Bundle::unwired(env.clock.clone())
        .with_store(store.clone())
        .with_shops(cartback_aws::DynamoShopDirectory::new(
            &env.sdk,
            &env.stack.names.table,
        ));
    let one_page = cartback_app::erasure::Budget {
        pages: 1,
        until: None,
    };
    let mut job = cartback_core::model::privacy::ErasureJob::Shop {
        shop: shop.clone(),
        requested_at: env.clock.now(),
        after: None,
        deleted: 0,
        chunks: 0,
    };
    let started = std::time::Instant::now();
    let finished = loop {
        match cartback_app::erasure::work(&ports, job, one_page)
            .await
            .expect("a chunk on moto")
        {
            cartback_app::erasure::Progress::More(rest) => job = rest,
            cartback_app::erasure::Progress::Done(finished) => break finished,
        }
    };
    let took = started.elapsed();
    eprintln!(
        "moto: {} items of a shop erased in {} chunks (1 MB page each) in {:.1} s: {:.0} items/s",
        finished.items,
        finished.chunks,
        took.as_secs_f64(),
        finished.items as f64 / took.as_secs_f64()
    );
    assert!(finished.chunks > 1, "{finished:?}");
    // Every cart, Ada's contact item and the webhook's delivery id.
    assert_eq!(finished.items as usize, CARTS + 3, "{finished:?}");
    let items = all_items(&env).await;
    let left: Vec<&String> = items
        .iter()
        .filter(|i| i.contains(&format!("SHOP#{SHOP}")) && !i.contains("CONFIG"))
        .collect();
    assert!(left.is_empty(), "{} items left", left.len());
}
