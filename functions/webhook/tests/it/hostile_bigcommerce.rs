//! Hostile input against the BigCommerce webhook (issue 9, as `hostile.rs` does for the
//! other platforms): generated webhook bodies with the shop's secret header, generated
//! answers from the store API for a genuine webhook, and forged or missing secrets. Whatever
//! arrives, a webhook is answered 200 or a 4xx, and an unreadable API answer a 502, never a
//! panic; a refused webhook stores nothing (no cart, no contact, no delivery marker).
//!
//! A longer run: `PROPTEST_CASES=20000 cargo test --release -p cartback-webhook --test it hostile_bigcommerce`.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::bigcommerce::{Fetch, SECRET_HEADER};
use cartback_core::platforms::webhook::Headers;
use cartback_local::{LocalShops, MemoryStore, MemoryStoreApi, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle};
use proptest::prelude::*;

use crate::hostile_input::{mutated_bytes, mutated_json};

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
    deps: WebhookPorts<MemoryStore, MemoryStoreApi>,
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
            deps: webhook_ports(
                store.clone(),
                shops.clone(),
                VirtualClock::new("2026-11-02T09:31:10Z".parse().expect("time")),
                api.clone(),
            ),
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
