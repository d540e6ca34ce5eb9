//! Offer code pools end to end on emulated AWS (moto): `cartback codes import`'s library
//! function fills a pool on the DynamoDB table; fifty carts claiming at once (each claim
//! delivered twice) get fifty distinct codes, a duplicate gets its cart's code, the counters
//! add up and importing the file again adds nothing. And a pool offer goes out through SES
//! with the code drawn for the cart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use cartback_app::offer_codes::import_file;
use cartback_aws::DynamoOfferCodes;
use cartback_core::model::ids::{CartId, PoolName, ShopId};
use cartback_core::model::offer_codes::{ImportReport, OfferCode};
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_core::ports::OfferCodes;
use cartback_e2e::{TABLE, TestEnv};
use cartback_sender::Outcome;
use jiff::Timestamp;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn winter10() -> PoolName {
    PoolName::parse("winter10").expect("valid pool name")
}

/// Counts the DynamoDB operations a client sends (every attempt, SDK retries included).
#[derive(Debug, Clone, Default)]
struct CountCalls(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}

impl CountCalls {
    fn take(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

fn counted_store(env: &TestEnv) -> (DynamoOfferCodes, CountCalls) {
    let calls = CountCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&env.sdk)
        .interceptor(calls.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    (DynamoOfferCodes::from_client(client, TABLE), calls)
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

/// The table's pool items, by sort key.
async fn pool_items(env: &TestEnv) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    let mut items = BTreeMap::new();
    let mut start = None;
    loop {
        let page = aws_sdk_dynamodb::Client::new(&env.sdk)
            .query()
            .table_name(TABLE)
            .key_condition_expression("pk = :pk AND begins_with(sk, :pool)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("SHOP#{SHOP}")))
            .expression_attribute_values(":pool", AttributeValue::S("POOL#winter10".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query");
        for item in page.items() {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .expect("an sk")
                .clone();
            items.insert(sk, item.clone());
        }
        match page.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return items,
        }
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_carts_claiming_at_once_get_fifty_distinct_codes_and_duplicates_get_their_own() {
    let env = TestEnv::start_serialised(at("2026-11-02T08:00:00Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let (store, counted) = counted_store(&env);
    let file: String = std::iter::once("# winter campaign\n".to_owned())
        .chain((0..200).map(|i| format!("WINTER10-{i:04}\n")))
        .collect();

    // What `cartback codes import --shop … --pool winter10 codes.txt` runs.
    let report = import_file(&store, &shop(), &winter10(), "codes.txt", &file)
        .await
        .expect("imported");

    assert_eq!(
        report,
        ImportReport {
            added: 200,
            already_present: 0,
            available: 200
        }
    );
    // 49 codes per transaction: 5 transactions, then the counters read once.
    assert_eq!(
        counted.take(),
        calls(&[("GetItem", 1), ("TransactWriteItems", 5)])
    );

    // One claim on its own: the step's claim and the counters read together, free codes
    // queried from the cart's point (a second query if it wraps around), one transaction.
    let solo = CartId::parse("cart-00").expect("valid");
    let first = store
        .claim(&shop(), &winter10(), &solo, 2, at("2026-11-02T09:00:00Z"))
        .await
        .expect("claims")
        .expect("a code");
    assert_eq!(first.remaining, 199);
    let solo_calls = counted.take();
    assert_eq!(solo_calls.get("BatchGetItem"), Some(&1), "{solo_calls:?}");
    assert_eq!(
        solo_calls.get("TransactWriteItems"),
        Some(&1),
        "{solo_calls:?}"
    );
    assert!(
        matches!(solo_calls.get("Query"), Some(1 | 2)),
        "{solo_calls:?}"
    );
    // Asking again is one read and the same code.
    let again = store
        .claim(&shop(), &winter10(), &solo, 2, at("2026-11-02T09:01:00Z"))
        .await
        .expect("claims")
        .expect("a code");
    assert_eq!(again.code, first.code);
    assert_eq!(counted.take(), calls(&[("BatchGetItem", 1)]));

    // Fifty carts at once (cart-00 among them, asking again), each claim delivered twice
    // (duplicate wake-ups, retries).
    let mut tasks = Vec::new();
    for i in 0..50 {
        for copy in 0..2 {
            let store = store.clone();
            let cart = CartId::parse(format!("cart-{i:02}")).expect("valid");
            tasks.push(tokio::spawn(async move {
                let claimed = store
                    .claim(&shop(), &winter10(), &cart, 2, at("2026-11-02T10:00:00Z"))
                    .await;
                (cart, copy, claimed)
            }));
        }
    }
    let mut by_cart: HashMap<CartId, Vec<OfferCode>> = HashMap::new();
    for task in tasks {
        let (cart, _copy, claimed) = task.await.expect("the task ran");
        let claimed = claimed
            .unwrap_or_else(|e| panic!("{cart}: {e}"))
            .unwrap_or_else(|| panic!("{cart}: no code"));
        by_cart.entry(cart).or_default().push(claimed.code);
    }
    let concurrent_calls = counted.take();

    assert_eq!(by_cart.len(), 50);
    for (cart, codes) in &by_cart {
        assert_eq!(codes.len(), 2);
        assert_eq!(
            codes[0], codes[1],
            "{cart}: a duplicate claim got another code"
        );
    }
    assert_eq!(by_cart[&solo][0], first.code, "cart-00 keeps its code");
    let distinct: HashSet<&OfferCode> = by_cart.values().map(|codes| &codes[0]).collect();
    assert_eq!(distinct.len(), 50, "a code went to two carts");

    // The table agrees: counters, one used item per code and cart step, no free copy left.
    let items = pool_items(&env).await;
    let header = &items["POOL#winter10"];
    assert_eq!(number(header, "available"), 150);
    assert_eq!(number(header, "claimed"), 50);
    assert_eq!(number(header, "imported"), 200);
    let free = items
        .keys()
        .filter(|sk| sk.starts_with("POOL#winter10#FREE#"))
        .count();
    assert_eq!(free, 150);
    let used: Vec<_> = items
        .iter()
        .filter(|(sk, _)| sk.starts_with("POOL#winter10#USED#"))
        .collect();
    assert_eq!(used.len(), 50);
    for (cart, codes) in &by_cart {
        let used = &items[&format!("POOL#winter10#USED#{}", codes[0])];
        assert_eq!(
            used.get("cart").and_then(|v| v.as_s().ok()),
            Some(&cart.to_string())
        );
        assert_eq!(number(used, "step"), 2);
        let claim = &items[&format!("POOL#winter10#CLAIM#{cart}#2")];
        assert_eq!(
            claim.get("code").and_then(|v| v.as_s().ok()),
            Some(&codes[0].to_string())
        );
    }
    // Claimed-by records name carts, never a person.
    let everything = format!("{items:?}");
    assert!(!everything.contains('@'), "personal data in pool items");

    // Importing the same file again adds nothing; no claimed code becomes free again.
    let again = import_file(&store, &shop(), &winter10(), "codes.txt", &file)
        .await
        .expect("imported");
    assert_eq!(
        again,
        ImportReport {
            added: 0,
            already_present: 200,
            available: 150
        }
    );
    let items = pool_items(&env).await;
    for code in distinct {
        assert!(
            !items.keys().any(
                |sk| sk.starts_with("POOL#winter10#FREE#") && sk.ends_with(&format!("#{code}"))
            ),
            "{code} is free again"
        );
    }
    eprintln!("offer codes on moto: 100 concurrent claims of 50 carts took {concurrent_calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_offer_goes_out_through_ses_with_the_code_drawn_for_the_cart() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.sequence_toml = Some(
        "name = \"pool-offer\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n\
         offer = { description = \"10 % off your cart\", pool = \"winter10\", valid_for = \"24h\" }\n"
            .to_owned(),
    );
    cartback_aws::DynamoShopDirectory::new(&env.sdk, TABLE)
        .put_settings(&shop(), &settings)
        .await
        .expect("settings");
    import_file(
        &env.offer_codes(),
        &shop(),
        &winter10(),
        "codes.txt",
        "WINTER-A1\nWINTER-B2\n",
    )
    .await
    .expect("imported");

    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), CHECKOUT.as_bytes());
    let (status, body) = env
        .post_webhook(
            "shopify",
            &[
                ("X-Shopify-Topic", "checkouts/create"),
                ("X-Shopify-Hmac-Sha256", hmac.as_str()),
                ("X-Shopify-Webhook-Id", "wh-pool-1"),
                ("X-Shopify-Shop-Domain", SHOP),
            ],
            CHECKOUT,
        )
        .await
        .expect("posted");
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(at("2026-11-02T09:00:00Z"));

    let outcomes = env.fire_due_schedules().await.expect("fired");

    let [
        Outcome::Sent {
            offer_code: Some(code),
            ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("the offer goes out with a code: {outcomes:?}");
    };
    assert!(
        ["WINTER-A1", "WINTER-B2"].contains(&code.as_str()),
        "{code}"
    );
    let mails = env.sent_emails().await.expect("mails");
    assert_eq!(mails.len(), 1);
    let (_, text, html) = mails[0].decoded().expect("MIME");
    assert!(
        text.contains(&format!("Use this code at checkout: {code}")),
        "{text}"
    );
    assert!(html.contains(code.as_str()));
    // One code left, below the default low-water mark of 50: a warning and the metric.
    let metrics = env.metrics();
    assert_eq!(
        metrics
            .iter()
            .filter_map(|m| m.value_of("OfferCodesRemaining"))
            .collect::<Vec<_>>(),
        [1.0]
    );
    let logs = cartback_e2e::captured_logs();
    let low = logs
        .lines()
        .find(|l| l.contains("offer_pool_low"))
        .expect("an offer_pool_low warning");
    let low: serde_json::Value = serde_json::from_str(low).expect("JSON");
    assert_eq!(low["level"], "WARN");
    assert_eq!(low["pool"], "winter10");
    assert_eq!(low["remaining"], 1);
    assert_eq!(
        low["shop_hash"],
        cartback_core::model::ids::log_hash(&[SHOP])
    );
    env.assert_no_personal_data(&[CHECKOUT])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
