//! The sweeper on emulated AWS (moto): carts written through the real DynamoDB adapter carry
//! the sparse `due` index keys; the sweeper's handler, on the same adapter, finds the cart
//! whose due time passed two hours ago with nothing to wake it and re-arms it (a new
//! generation, due now), and leaves a cart due ten minutes ago alone. The re-armed cart
//! leaves the overdue part of the index (its `due_sk` moved with its due time).

use cartback_app::{Bundle, Metrics, Ports};
use cartback_core::model::cart::{CartRecord, CartStatus, Platform};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::ports::{CartStore, DueIndex, Put, WriteOutcome};
use cartback_core::rules::heal::GRACE;
use cartback_e2e::TestEnv;
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";

fn now() -> Timestamp {
    "2026-11-02T12:30:00Z".parse().expect("valid timestamp")
}

fn due_cart(shop: &ShopId, id: &str, ago: SignedDuration) -> CartRecord {
    CartRecord {
        sequence: "new-visitor".into(),
        next_due_at: Some(now() - ago),
        generation: 1,
        expires_at: (now() + SignedDuration::from_hours(24 * 30)).as_second(),
        ..CartRecord::new(
            shop.clone(),
            CartId::parse(id).expect("valid cart id"),
            Platform::Shopify,
            now() - SignedDuration::from_hours(4),
        )
    }
}

#[tokio::test]
async fn the_sweeper_rearms_a_stranded_cart_on_dynamodb() {
    let env = TestEnv::start(now(), SHOP, SECRET)
        .await
        .expect("moto and the stack start");
    let store = env.store();
    // Due two hours ago and stranded (a day earlier in UTC would do as well: the query walks
    // the days back); due ten minutes ago, within the grace period.
    let stranded = due_cart(&env.shop, "stranded-1", SignedDuration::from_hours(2));
    let recent = due_cart(&env.shop, "recent-1", SignedDuration::from_mins(10));
    let mut yesterday = due_cart(&env.shop, "stranded-2", SignedDuration::from_hours(20));
    yesterday.generation = 4;
    let mut converted = due_cart(&env.shop, "converted-1", SignedDuration::from_hours(3));
    converted.status = CartStatus::Converted;
    for cart in [&stranded, &recent, &yesterday, &converted] {
        let written = store
            .write(vec![Put::Cart {
                record: Box::new(cart.clone()),
                expected: None,
            }])
            .await
            .expect("writes");
        assert_eq!(written, WriteOutcome::Written);
    }
    let before = now() - GRACE;
    let mut overdue = store.overdue(before, 100).await.expect("queries the index");
    overdue.sort();
    assert_eq!(
        overdue,
        vec![
            (env.shop.clone(), stranded.cart.clone()),
            (env.shop.clone(), yesterday.cart.clone()),
        ],
        "the open carts due before the grace period, and not the converted one"
    );
    assert_eq!(store.overdue(before, 1).await.expect("queries").len(), 1);

    let ports = Bundle::unwired(env.clock.clone())
        .with_store(store.clone())
        .with_metrics(Metrics::memory());
    let report = cartback_sweeper::handle(&ports).await.expect("sweeps");
    assert_eq!((report.examined, report.rearmed), (2, 2));

    for original in [&stranded, &yesterday] {
        let healed = store
            .cart(&env.shop, &original.cart)
            .await
            .expect("reads")
            .expect("the cart is there")
            .value;
        assert_eq!(healed.generation, original.generation + 1);
        assert_eq!(healed.next_due_at, Some(now()));
    }
    let untouched = store
        .cart(&env.shop, &recent.cart)
        .await
        .expect("reads")
        .expect("the cart is there");
    assert_eq!(untouched.value, recent);
    assert_eq!(untouched.version, 1);
    assert!(
        store
            .overdue(before, 100)
            .await
            .expect("queries")
            .is_empty(),
        "the re-armed carts are due now, no longer overdue"
    );
    let counts: Vec<f64> = ports
        .metrics()
        .emitted()
        .iter()
        .filter_map(|emf| emf.value_of("StrandedCartsRearmed"))
        .collect();
    assert_eq!(counts, vec![2.0]);
}
