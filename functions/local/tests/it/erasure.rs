//! Erasure at size, on the in-memory table, counted as the DynamoDB adapter calls (a `Query`
//! per 1 MB page, a `BatchGetItem` per 100 keys, a `BatchWriteItem` per 25 deletes):
//! - a person erased from a shop of 20,000 carts costs a handful of reads beyond their own
//!   carts (the person indexes, never the shop's partition);
//! - a shop's erasure goes chunk by chunk, and a chunk that fails is done again from where
//!   the last one stopped, never from the start.

use cartback_app::erasure::{Budget, Progress, work};
use cartback_app::privacy::{ViaStream, erase_person};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::contact::{Email, Phone};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::privacy::ErasureJob;
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, Put};
use cartback_local::{CallCounts, LocalShops, MemoryRuntime, MemoryStore, OutageStore};
use cartback_webhook::WebhookRequest;
use jiff::Timestamp;

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const SHOP: &str = "demo-shop.myshopify.com";
/// The shop's other carts.
const CARTS: usize = 20_000;

fn start() -> Timestamp {
    "2026-11-02T08:00:00Z".parse().expect("a time")
}

/// Ada's cart, as the webhook stores it from the fixture checkout (`ada@example.com`).
async fn adas_cart() -> CartRecord {
    let stack = MemoryRuntime::new(start(), LocalShops::defaults());
    let request = WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with("X-Shopify-Topic", "checkouts/create"),
        body: CHECKOUT.as_bytes().to_vec(),
    };
    let (reply, _) = stack.deliver(&request).await.expect("delivered");
    assert_eq!(reply.status(), 200, "{}", reply.body());
    stack.store.carts().into_iter().next().expect("the cart")
}

/// `cart` under another id and another person's email (no phone).
fn someone_elses(cart: &CartRecord, i: usize) -> CartRecord {
    let mut other = cart.clone();
    other.cart = CartId::parse(format!("cart-{i:05}")).expect("an id");
    let email = Email::parse(&format!("shopper{i}@example.com")).expect("an address");
    other.contact = Some(email.key());
    if let Some(snapshot) = other.snapshot.as_mut() {
        snapshot.email = Some(email);
        snapshot.phone = None;
    }
    other
}

/// A counting store with Ada's email cart, her phone-only cart (another checkout, filed
/// under her phone, found only through the email cart's phone) and `others` other carts.
async fn shop_of(others: usize) -> (MemoryStore, CallCounts, ShopId) {
    let calls = CallCounts::default();
    let store = MemoryStore::counting(calls.clone());
    let mut ada = adas_cart().await;
    let phone = Phone::parse("+358401234567", None).expect("a phone");
    if let Some(snapshot) = ada.snapshot.as_mut() {
        snapshot.phone = Some(phone.clone());
    }
    let mut by_phone = ada.clone();
    by_phone.cart = CartId::parse("ada-phone-cart").expect("an id");
    by_phone.contact = Some(phone.key());
    if let Some(snapshot) = by_phone.snapshot.as_mut() {
        snapshot.email = None;
    }
    let mut carts = vec![ada.clone(), by_phone];
    carts.extend((0..others).map(|i| someone_elses(&ada, i)));
    for record in carts {
        store
            .write(vec![Put::Cart {
                record: Box::new(record),
                expected: None,
            }])
            .await
            .expect("written");
    }
    (store, calls, ada.shop)
}

/// Every read call so far: `Query` pages, `GetItem`, `BatchGetItem`, `Scan`.
fn reads(calls: &CallCounts) -> u64 {
    ["Query", "GetItem", "BatchGetItem", "Scan"]
        .iter()
        .map(|op| calls.get("dynamodb", op))
        .sum()
}

#[tokio::test]
async fn a_person_erased_from_a_shop_of_20000_carts_costs_a_few_reads_beyond_their_own_carts() {
    let (store, calls, shop) = shop_of(CARTS).await;
    let ada = Email::parse("ada@example.com").expect("an address");
    let before_reads = reads(&calls);
    let before_batches = calls.get("dynamodb", "BatchGetItem");

    let erased = erase_person(&store, &ViaStream, &shop, &[ada.key()], start())
        .await
        .expect("erased");

    assert_eq!(
        erased.carts.len(),
        2,
        "her email cart and her phone-only cart"
    );
    assert_eq!(erased.tombstones, 2, "email and phone");
    let all = reads(&calls) - before_reads;
    // Her own carts are read by id, a BatchGetItem per key that found new carts.
    let own = calls.get("dynamodb", "BatchGetItem") - before_batches;
    println!(
        "person erased from {} carts: {all} reads ({} Query pages, {} GetItem, {own} BatchGetItem of her own carts), {} BatchWriteItem, Scan {}",
        CARTS + 2,
        calls.get("dynamodb", "Query"),
        calls.get("dynamodb", "GetItem"),
        calls.get("dynamodb", "BatchWriteItem"),
        calls.get("dynamodb", "Scan"),
    );
    assert!(all - own <= 10, "{} reads beyond her own carts", all - own);
    assert_eq!(calls.get("dynamodb", "Scan"), 0);
    assert_eq!(store.carts().len(), CARTS, "everyone else's carts stay");
}

#[tokio::test]
async fn a_shop_erasure_goes_chunk_by_chunk_and_a_failed_chunk_resumes_where_the_last_stopped() {
    // More than three 1 MB pages of cart items (each about 0.55 KB, its record compressed).
    let (memory, calls, shop) = shop_of(6_000).await;
    let outage = OutageStore::new(memory.clone());
    let ports = cartback_app::Bundle::unwired(cartback_local::VirtualClock::new(start()))
        .with_store(outage.clone())
        .with_shops(LocalShops::defaults());
    // Only cart items: the carts were written without contact items.
    let total = memory.carts().len();
    let queries_before = calls.get("dynamodb", "Query");
    let one_page = Budget {
        pages: 1,
        until: None,
    };
    let mut job = ErasureJob::Shop {
        shop: shop.clone(),
        requested_at: start(),
        after: None,
        deleted: 0,
        chunks: 0,
    };
    let mut chunks = 0;
    let mut failed_once = false;
    let finished = loop {
        // The third chunk meets a table outage: it fails, and its message comes back.
        if chunks == 2 && !failed_once {
            outage.fail_retryably();
            let failed = work(&ports, job.clone(), one_page).await;
            assert!(failed.is_err_and(|e| e.retryable));
            outage.recover();
            failed_once = true;
            continue;
        }
        match work(&ports, job, one_page).await.expect("a chunk") {
            Progress::More(rest) => {
                if let ErasureJob::Shop { after, deleted, .. } = &rest {
                    assert!(after.is_some(), "the rest starts after a page");
                    assert_eq!(
                        *deleted as usize,
                        total - memory.carts().len(),
                        "what is deleted is counted once"
                    );
                }
                job = rest;
                chunks += 1;
            }
            Progress::Done(finished) => break finished,
        }
    };

    let pages = calls.get("dynamodb", "Query") - queries_before;
    println!(
        "shop of {} carts erased in {} chunks of one page: {pages} Query pages, {} BatchWriteItem",
        total,
        finished.chunks,
        calls.get("dynamodb", "BatchWriteItem"),
    );
    assert!(memory.carts().is_empty());
    assert_eq!(finished.items as usize, total);
    assert!(finished.chunks > 2, "{finished:?}");
    assert_eq!(
        pages,
        u64::from(finished.chunks),
        "one page a chunk, none read twice: the failed chunk started where the last stopped"
    );
}
