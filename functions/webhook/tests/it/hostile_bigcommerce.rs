//! Hostile input against the BigCommerce webhook (issue 9, as `hostile.rs` does for the
//! other platforms): generated webhook bodies with the shop's secret header, generated
//! answers from the store API for a genuine webhook, and forged or missing secrets. Whatever
//! arrives, a webhook is answered 200 or a 4xx, and an unreadable API answer a 502, never a
//! panic; a refused webhook stores nothing (no cart, no contact, no delivery marker).
//!
//! A longer run: `PROPTEST_CASES=20000 cargo test --release -p cartback-webhook --test it hostile_bigcommerce`.

use cartback_core::bigcommerce::{Fetch, SECRET_HEADER};
use cartback_core::ids::{CartId, ShopId};
use cartback_core::shop::Secret;
use cartback_core::webhook::Headers;
use cartback_local::{LocalShops, MemoryStore, MemoryStoreApi, VirtualClock};
use cartback_webhook::{WebhookDeps, WebhookReply, WebhookRequest, handle};
use proptest::prelude::*;
use serde_json::Value;

const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "bc-hook-Vq3#r8Lm!x2";
const CART: &str = "09346904-4175-44fd-be53-f7e598531b6c";
const ABANDONED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_abandoned.json");
const CONVERTED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_converted.json");
const CART_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/cart.json");
const ORDER_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/order.json");

fn shop_id() -> ShopId {
    ShopId::parse(SHOP).expect("shop")
}

fn cart_fetch() -> Fetch {
    Fetch::Cart(CartId::parse(CART).expect("cart"))
}

fn order_fetch() -> Fetch {
    Fetch::Order {
        cart: CartId::parse(CART).expect("cart"),
        order: 252,
    }
}

struct Harness {
    store: MemoryStore,
    api: MemoryStoreApi,
    deps: WebhookDeps<MemoryStore, LocalShops, LocalShops, VirtualClock, MemoryStoreApi>,
}

impl Harness {
    /// The store API answers the fixture cart and order.
    fn new() -> Self {
        let store = MemoryStore::default();
        let api = MemoryStoreApi::new();
        api.serve(&shop_id(), &cart_fetch(), CART_JSON);
        api.serve(&shop_id(), &order_fetch(), ORDER_JSON);
        let shops = LocalShops::defaults().with_secret(shop_id(), Secret::new(SECRET));
        Self {
            deps: WebhookDeps {
                store: store.clone(),
                shops: shops.clone(),
                secrets: shops,
                clock: VirtualClock::new("2026-11-02T09:31:10Z".parse().expect("time")),
                metrics: cartback_core::metrics::Metrics::memory(),
                store_api: api.clone(),
            },
            store,
            api,
        }
    }

    fn post(&self, body: &[u8], secret: Option<&str>) -> WebhookReply {
        let mut headers = Headers::new().with("content-type", "application/json");
        if let Some(secret) = secret {
            headers.insert(SECRET_HEADER, secret);
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "bigcommerce".to_owned(),
            headers,
            body: body.to_vec(),
        };
        block_on(handle(&request, &self.deps))
    }

    fn writes(&self) -> usize {
        self.store.take_stream().len()
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// 200 or a client error (or, with `api_502`, the 502 of an unreadable API answer); a
/// refusal stores nothing.
fn assert_safe(reply: &WebhookReply, writes: usize, api_502: bool) -> Result<(), TestCaseError> {
    let status = reply.status();
    prop_assert!(
        status == 200 || (400..500).contains(&status) || (api_502 && status == 502),
        "status {status}: {}",
        reply.body()
    );
    if status != 200 {
        prop_assert_eq!(writes, 0, "a refused webhook ({}) stored items", status);
    }
    Ok(())
}

/// Values that break naive parsers: huge and odd numbers, wrong types, long and strange text.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1e308)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(i64::MIN)),
        Just(serde_json::json!(-0.0)),
        Just(serde_json::json!(true)),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!("")),
        Just(serde_json::json!("NaN")),
        Just(serde_json::json!("1e400")),
        Just(serde_json::json!("\u{0}\u{202e}\u{feff}<script>")),
        Just(Value::String("x".repeat(70_000))),
        Just(nested(100)),
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
    ]
}

/// `depth` arrays inside each other (serde_json refuses more than 128 levels).
fn nested(depth: usize) -> Value {
    (0..depth).fold(serde_json::json!(1), |inner, _| Value::Array(vec![inner]))
}

/// Every path to a value in `value` (object keys and array indices).
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at_path<'v>(value: &'v mut Value, path: &[PathStep]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        PathStep::Key(k) => v.get_mut(k.as_str()),
        PathStep::Index(i) => v.get_mut(*i),
    })
}

/// The fixture body with `count` of its values replaced by hostile ones (or removed).
fn mutated_json(body: &str) -> impl Strategy<Value = String> {
    let original: Value = serde_json::from_str(body).expect("fixture body is JSON");
    let mut all = Vec::new();
    paths(&original, &mut Vec::new(), &mut all);
    let n = all.len();
    prop::collection::vec((0..n, hostile_value(), any::<bool>()), 1..6).prop_map(move |changes| {
        let mut value = original.clone();
        for (index, replacement, remove) in changes {
            let path = &all[index];
            if remove && let Some((PathStep::Key(key), parent)) = path.split_last() {
                if let Some(Value::Object(map)) = at_path(&mut value, parent) {
                    map.remove(key);
                }
            } else if let Some(slot) = at_path(&mut value, path) {
                *slot = replacement;
            }
        }
        value.to_string()
    })
}

/// The fixture body with random bytes flipped, cut or inserted (often invalid UTF-8).
fn mutated_bytes(body: &str) -> impl Strategy<Value = Vec<u8>> {
    let original = body.as_bytes().to_vec();
    let len = original.len();
    prop::collection::vec((0..len, any::<u8>(), 0..3u8), 1..8).prop_map(move |edits| {
        let mut bytes = original.clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let at = at.min(bytes.len() - 1);
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.truncate(at);
                }
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(128))]

    #[test]
    fn webhooks_with_hostile_values_and_the_secret_get_200_or_a_4xx(
        body in prop_oneof![mutated_json(ABANDONED), mutated_json(CONVERTED)]
    ) {
        let harness = Harness::new();
        let reply = harness.post(body.as_bytes(), Some(SECRET));
        assert_safe(&reply, harness.writes(), false)?;
    }

    #[test]
    fn garbled_webhook_bytes_with_the_secret_get_200_or_a_4xx(
        body in prop_oneof![mutated_bytes(ABANDONED), mutated_bytes(CONVERTED)]
    ) {
        let harness = Harness::new();
        let reply = harness.post(&body, Some(SECRET));
        assert_safe(&reply, harness.writes(), false)?;
    }

    #[test]
    fn hostile_cart_answers_are_stored_or_a_502_never_a_panic(answer in mutated_json(CART_JSON)) {
        let harness = Harness::new();
        harness.api.serve(&shop_id(), &cart_fetch(), answer);
        let reply = harness.post(ABANDONED.as_bytes(), Some(SECRET));
        assert_safe(&reply, harness.writes(), true)?;
    }

    #[test]
    fn hostile_order_answers_are_stored_or_a_502_never_a_panic(answer in mutated_json(ORDER_JSON)) {
        let harness = Harness::new();
        harness.api.serve(&shop_id(), &order_fetch(), answer);
        let reply = harness.post(CONVERTED.as_bytes(), Some(SECRET));
        assert_safe(&reply, harness.writes(), true)?;
    }

    #[test]
    fn garbled_api_bytes_are_a_502_or_stored(answer in mutated_bytes(CART_JSON)) {
        let harness = Harness::new();
        harness.api.serve(&shop_id(), &cart_fetch(), answer);
        let reply = harness.post(ABANDONED.as_bytes(), Some(SECRET));
        assert_safe(&reply, harness.writes(), true)?;
    }

    #[test]
    fn forged_or_missing_secrets_are_401_read_nothing_and_store_nothing(
        forged in prop_oneof![
            Just(None),
            any::<String>().prop_map(Some),
            Just(Some(format!("{SECRET} "))),
            Just(Some(SECRET.to_uppercase())),
            Just(Some(SECRET[..SECRET.len() - 1].to_owned())),
        ],
        body in prop_oneof![Just(ABANDONED.to_owned()), mutated_json(ABANDONED)]
    ) {
        // A secret with surrounding blanks is the secret (header values are trimmed).
        prop_assume!(forged.as_deref().map(str::trim) != Some(SECRET));
        let harness = Harness::new();
        let reply = harness.post(body.as_bytes(), forged.as_deref());
        prop_assert_eq!(reply.status(), 401);
        prop_assert_eq!(harness.writes(), 0);
        prop_assert!(harness.api.calls().is_empty(), "the store API was called");
    }
}
