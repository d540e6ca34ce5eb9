//! The cost model's DynamoDB units: how big the cart item gets over the whole three-step
//! lifecycle (DynamoDB bills a write per started KB and a consistent read per started 4 KB),
//! as the adapter stores it (`cart_item::encode`: the record compressed beside the plain
//! attributes) and as it stored it before (every field a plain attribute).
//! Run with `--no-capture` to see the sizes.

use cartback_core::model::cart::CartRecord;
use cartback_core::model::cart_item;
use cartback_core::platforms::webhook::Headers;
use cartback_local::{LocalShops, MemoryRuntime, item_size};
use cartback_webhook::WebhookRequest;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");

const PRODUCTS: [(&str, &str); 5] = [
    ("Merino Wool Beanie", "Charcoal"),
    ("Organic Cotton Tote", "Natural"),
    ("Linen Tea Towel", "Sage"),
    ("Alpaca Scarf", "Oat"),
    ("Ceramic Mug", "Speckled"),
];

/// The fixture checkout with `items` line items, each its own product (title, variant,
/// price, quantity; with `images`, an image URL of its own, as Shopify's CDN names them),
/// so compression finds no repeated line to fold.
fn checkout(items: usize, images: bool) -> Vec<u8> {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    let lines = checkout["line_items"]
        .as_array()
        .cloned()
        .expect("line items");
    let mut total = 0;
    let mut line_items = Vec::new();
    for i in 0..items {
        let mut line = lines[i % lines.len()].clone();
        let (product, variant) = PRODUCTS[i % PRODUCTS.len()];
        let title = format!("{product} No. {}", i + 1);
        let cents = 990 + 731 * i as i64;
        let quantity = 1 + i as i64 % 3;
        total += cents * quantity;
        line["title"] = json!(title);
        line["variant_title"] = json!(variant);
        line["price"] = json!(format!("{}.{:02}", cents / 100, cents % 100));
        line["quantity"] = json!(quantity);
        line["sku"] = json!(format!("SKU-{i:05}"));
        if images {
            let slug = product.to_lowercase().replace(' ', "-");
            line["image_url"] = json!(format!(
                "https://cdn.shopify.com/s/files/1/0612/3456/7890/files/{slug}-{i}_{:08x}.jpg?v={}",
                0x5eed_0000_u32.wrapping_mul(i as u32 + 7),
                1_698_765_432 + 86_413 * i as u64
            ));
        }
        line_items.push(line);
    }
    checkout["line_items"] = Value::Array(line_items);
    let money = json!(format!("{}.{:02}", total / 100, total % 100));
    for field in ["total_line_items_price", "total_price", "subtotal_price"] {
        checkout[field] = money.clone();
    }
    serde_json::to_vec(&checkout).expect("JSON")
}

/// The stored item's size now (`cart_item::encode`), and before the record was compressed:
/// the record's fields as plain attributes beside the same keys, kind, version, TTL and
/// index keys (what the adapter wrote until then).
fn item_sizes(cart: &CartRecord) -> (usize, usize) {
    let item = cart_item::encode(cart, 12).expect("a cart encodes");
    let mut plain: serde_dynamo::Item = serde_dynamo::to_item(cart).expect("a cart encodes");
    for (name, value) in item.iter() {
        if name != cart_item::RECORD {
            plain.insert(name.clone(), value.clone());
        }
    }
    (item_size(&item), item_size(&plain))
}

/// The fixture checkout with `items` line items, left to run through all three steps.
async fn cart_after_lifecycle(items: usize, images: bool) -> CartRecord {
    let start: Timestamp = "2026-11-02T08:00:00Z".parse().expect("time");
    let stack = MemoryRuntime::new(start, LocalShops::defaults());
    let request = WebhookRequest {
        shop: "demo-shop.myshopify.com".to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with("X-Shopify-Topic", "checkouts/create"),
        body: checkout(items, images),
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
async fn a_cart_item_stays_one_write_unit_through_its_lifecycle() {
    for (items, images) in [(2, false), (10, false), (2, true), (10, true)] {
        let cart = cart_after_lifecycle(items, images).await;
        assert_eq!(cart.snapshot.as_ref().map(|s| s.items.len()), Some(items));
        let (size, plain) = item_sizes(&cart);
        let images = if images { "with" } else { "without" };
        println!(
            "cart item, {items} line items {images} image URLs, after 3 steps: {size} bytes \
             = {} WRU per write, {} RRU per consistent read (record as plain attributes: \
             {plain} bytes = {} WRU)",
            size.div_ceil(1024),
            size.div_ceil(4096),
            plain.div_ceil(1024),
        );
        assert!(size <= 1024, "{items} items {images} images: {size} bytes");
        assert!(size < plain, "compressing saves: {size} vs {plain}");
    }
}
