//! The in-memory table honours TTL as DynamoDB's readers must: once `expires_at` has passed,
//! an item is gone for reads and conditions, and a new item may take its place; an item
//! with `expires_at = 0` (a tombstone) never expires.

use cartback_core::model::cart::ContactRecord;
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{DeliveryId, ShopId};
use cartback_core::ports::{CartStore, Put, WriteOutcome};
use cartback_local::{MemoryStore, VirtualClock};
use jiff::{SignedDuration, Timestamp};

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

#[tokio::test]
async fn an_expired_item_is_gone_and_a_tombstone_never_expires() {
    let clock = VirtualClock::new(at("2026-11-02T08:00:00Z"));
    let store = MemoryStore::default();
    store.expire_with(clock.clone());
    let shop = ShopId::parse("kuura-knitwear").expect("a shop");
    let ada = Email::parse("ada@example.com").expect("an address").key();
    let grace = Email::parse("grace@example.com").expect("an address").key();
    let mut held = ContactRecord::new(&shop, &ada);
    held.expires_at = at("2026-11-03T08:00:00Z").as_second();
    let mut tombstone = ContactRecord::new(&shop, &grace);
    tombstone.expires_at = 0;
    let delivery = DeliveryId::parse("wh-1").expect("an id");
    let written = store
        .write(vec![
            Put::Contact {
                record: held.clone(),
                expected: None,
            },
            Put::Contact {
                record: tombstone,
                expected: None,
            },
            Put::Delivery {
                shop: shop.clone(),
                id: delivery.clone(),
                expires_at: at("2026-11-03T08:00:00Z").as_second(),
            },
        ])
        .await
        .expect("written");
    assert_eq!(written, WriteOutcome::Written);
    assert!(store.contact(&shop, &ada).await.expect("read").is_some());
    assert!(store.delivery_seen(&shop, &delivery).await.expect("read"));

    clock.advance_to(at("2026-11-03T08:00:00Z") + SignedDuration::from_secs(1));

    assert!(
        store.contact(&shop, &ada).await.expect("read").is_none(),
        "expired"
    );
    assert!(!store.delivery_seen(&shop, &delivery).await.expect("read"));
    assert!(
        store.contact(&shop, &grace).await.expect("read").is_some(),
        "a tombstone stays"
    );
    // A new record takes the expired one's place, as after DynamoDB deleted it.
    held.expires_at = at("2027-11-03T08:00:00Z").as_second();
    let again = store
        .write(vec![Put::Contact {
            record: held,
            expected: None,
        }])
        .await
        .expect("written");
    assert_eq!(again, WriteOutcome::Written);
    assert!(store.contact(&shop, &ada).await.expect("read").is_some());
}

/// Two carts, one expiring a day after `start` and one a year after, written to `store`.
async fn two_carts(store: &MemoryStore, shop: &ShopId, start: Timestamp) {
    use cartback_core::model::cart::{CartRecord, Platform};
    use cartback_core::model::ids::CartId;
    for (id, days) in [("short", 1), ("long", 365)] {
        let record = CartRecord {
            expires_at: (start + SignedDuration::from_hours(24 * days)).as_second(),
            ..CartRecord::new(
                shop.clone(),
                CartId::parse(id).expect("an id"),
                Platform::Shopify,
                start,
            )
        };
        let written = store
            .write(vec![Put::Cart {
                record: Box::new(record),
                expected: None,
            }])
            .await
            .expect("written");
        assert_eq!(written, WriteOutcome::Written);
    }
}

#[tokio::test]
async fn a_store_that_forgets_expired_items_drops_them_and_one_that_does_not_keeps_them() {
    let start = at("2026-11-02T08:00:00Z");
    let shop = ShopId::parse("kuura-knitwear").expect("a shop");
    let held_after = |forget: bool| {
        let shop = shop.clone();
        async move {
            let clock = VirtualClock::new(start);
            let store = MemoryStore::default();
            store.expire_with(clock.clone());
            if forget {
                store.forget_expired();
            }
            two_carts(&store, &shop, start).await;
            // Two days on, the next write finds the first cart expired.
            clock.advance_to(start + SignedDuration::from_hours(48));
            let ada = Email::parse("ada@example.com").expect("an address").key();
            store
                .write(vec![Put::Contact {
                    record: ContactRecord::new(&shop, &ada),
                    expected: None,
                }])
                .await
                .expect("written");
            let mut held: Vec<String> = store
                .carts()
                .into_iter()
                .map(|c| c.cart.to_string())
                .collect();
            held.sort();
            held
        }
    };

    assert_eq!(
        held_after(false).await,
        ["long", "short"],
        "hidden, still held"
    );
    assert_eq!(held_after(true).await, ["long"], "dropped from memory");
}
