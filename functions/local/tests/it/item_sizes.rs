//! The cost model's DynamoDB units: how big the cart item gets over the whole three-step
//! lifecycle (DynamoDB bills a write per started KB and a consistent read per started 4 KB).
//! Run with `--nocapture` to see the sizes.

use cartback_core::model::cart::CartRecord;
use cartback_core::platforms::webhook::Headers;
use cartback_local::{LocalShops, MemoryRuntime};
use cartback_webhook::WebhookRequest;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");

/// The fixture checkout with its two line items repeated to `items`.
fn checkout(items: usize) -> Vec<u8> {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    let lines = checkout["line_items"]
        .as_array()
        .cloned()
        .expect("line items");
    checkout["line_items"] = Value::Array(lines.iter().cycle().take(items).cloned().collect());
    serde_json::to_vec(&checkout).expect("JSON")
}

/// The stored item: the record plus pk, sk, the person index keys, the due index keys and
/// version.
fn item_size(cart: &CartRecord) -> usize {
    let item: serde_dynamo::Item = serde_dynamo::to_item(cart).expect("a cart encodes");
    let person = format!("SHOP#{}#CONTACT#{}", cart.shop, "0".repeat(64));
    let keys = [
        ("pk", format!("SHOP#{}", cart.shop)),
        ("sk", format!("CART#{}", cart.cart)),
        ("person_pk", person.clone()),
        ("person_alt_pk", person),
        ("due_pk", "DUE#2026-11-02#0".to_owned()),
        (
            "due_sk",
            format!("0000000000000#{}#{}", cart.shop, cart.cart),
        ),
        ("version", "12".to_owned()),
    ];
    cartback_local::item_size(&item) + keys.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

/// The fixture checkout with `items` line items, left to run through all three steps.
async fn cart_after_lifecycle(items: usize) -> CartRecord {
    let start: Timestamp = "2026-11-02T08:00:00Z".parse().expect("time");
    let stack = MemoryRuntime::new(start, LocalShops::defaults());
    let request = WebhookRequest {
        shop: "demo-shop.myshopify.com".to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with("X-Shopify-Topic", "checkouts/create"),
        body: checkout(items),
    };
    let (reply, _) = stack.deliver(&request).await.expect("delivered");
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let end = start
        .checked_add(SignedDuration::from_hours(24 * 5))
        .expect("time");
    let reports = stack.run_until(end).await.expect("runs");
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.kind == cartback_local::ReportKind::Sent)
            .count(),
        3
    );
    stack.store.carts().into_iter().next().expect("the cart")
}

#[tokio::test]
async fn a_cart_item_stays_one_consistent_read_through_its_lifecycle() {
    for items in [2, 10] {
        let cart = cart_after_lifecycle(items).await;
        let size = item_size(&cart);
        println!(
            "cart item with {items} line items after 3 steps: {size} bytes = {} WRU per write, {} RRU per consistent read",
            size.div_ceil(1024),
            size.div_ceil(4096)
        );
        assert!(size <= 4096, "{items} items: {size} bytes");
    }
}
