//! The WooCommerce adapter on the fixture payloads (`fixtures/woocommerce/`, the bytes a
//! webhook delivers): what each order status becomes, the ping, and which requests are
//! refused. WooCommerce signs no timestamp, so there is no stale-signature vector: a replay is
//! caught by the delivery id and by `date_modified_gmt` (see the webhook crate's tests).

use cartback_core::model::cart::{CartActivity, CartEvent, Conversion, Platform};
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::platforms::webhook::{Headers, ParsedWebhook, WebhookError, parse_webhook};
use cartback_core::platforms::woocommerce;
use jiff::Timestamp;
use serde_json::{Value, json};

const PENDING: &str = include_str!("../fixtures/woocommerce/order_created_pending.json");
const FAILED: &str = include_str!("../fixtures/woocommerce/order_updated_failed.json");
const PROCESSING: &str = include_str!("../fixtures/woocommerce/order_updated_processing.json");
const CANCELLED: &str = include_str!("../fixtures/woocommerce/order_updated_cancelled.json");
const DELETED: &str = include_str!("../fixtures/woocommerce/order_deleted.json");

/// The fixture secret (see the fixtures' README).
const SECRET: &str = "Zq8#Lw2!vR5^pX9*mT4(kD7)hB1{nF6}cJ3[sG0]";
/// `X-WC-Webhook-Signature` of `order_created_pending.json`, from the fixtures' README.
const PENDING_SIGNATURE: &str = "qA0X99OCsbVpoNH+ysXX3toNtaiKF0Xc+008NmAh8S8=";
const PAYMENT_URL: &str = "https://lniana-pracownia.example/zamowienie/order-pay/4127/?pay_for_order=true&key=wc_order_kT3pQ8xN2mVzR";

fn now() -> Timestamp {
    "2026-11-02T10:30:00Z".parse().expect("time")
}

fn secret() -> Secret {
    Secret::new(SECRET)
}

fn headers(topic: &str, signature: Option<&str>) -> Headers {
    let mut headers = Headers::new()
        .with("content-type", "application/json")
        .with(woocommerce::TOPIC_HEADER, topic)
        .with(
            woocommerce::DELIVERY_HEADER,
            "3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c",
        );
    if let Some(signature) = signature {
        headers.insert(woocommerce::SIGNATURE_HEADER, signature);
    }
    headers
}

fn parse(topic: &str, body: &str, signature: Option<&str>) -> Result<ParsedWebhook, WebhookError> {
    parse_webhook(
        Platform::WooCommerce,
        &headers(topic, signature),
        body.as_bytes(),
        &SignatureCheck::Required(secret()),
        now(),
    )
}

/// `body` signed with the fixture secret and parsed under `topic`.
fn parse_signed(topic: &str, body: &str) -> ParsedWebhook {
    let signature = woocommerce::sign(&secret(), body.as_bytes());
    parse(topic, body, Some(&signature)).expect("accepted")
}

fn activity(topic: &str, body: &str) -> CartActivity {
    match parse_signed(topic, body).event {
        Some(CartEvent::Activity(activity)) => activity,
        other => panic!("expected cart activity, got {other:?}"),
    }
}

fn conversion(body: &str) -> Conversion {
    match parse_signed("order.updated", body).event {
        Some(CartEvent::Conversion(conversion)) => conversion,
        other => panic!("expected a conversion, got {other:?}"),
    }
}

/// The pending fixture with fields replaced (`/status`, `/needs_payment`, ...).
fn pending_with(changes: &[(&str, Value)]) -> String {
    let mut order: Value = serde_json::from_str(PENDING).expect("fixture is JSON");
    for (pointer, value) in changes {
        *order.pointer_mut(pointer).expect("the field exists") = value.clone();
    }
    order.to_string()
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("time")
}

#[test]
fn a_pending_order_is_an_open_cart_with_its_contact_consent_items_and_payment_link() {
    let parsed = parse("order.created", PENDING, Some(PENDING_SIGNATURE)).expect("accepted");
    assert_eq!(parsed.platform, Platform::WooCommerce);
    assert_eq!(parsed.topic, "order.created");
    let delivery = parsed.delivery.expect("the delivery id");
    assert!(
        delivery
            .as_str()
            .starts_with("3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c:"),
        "{delivery}"
    );
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("expected cart activity");
    };
    assert_eq!(activity.cart.as_str(), "4127", "the order id is the cart");
    assert_eq!(
        activity.updated_at,
        at("2026-11-02T08:00:03Z"),
        "date_modified_gmt is UTC"
    );
    let snapshot = activity.snapshot;
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("zofia.przykladowa@example.com")
    );
    assert_eq!(
        snapshot.phone.as_ref().map(|p| p.as_str()),
        Some("+48512345678")
    );
    assert_eq!(snapshot.first_name.as_deref(), Some("Zofia"));
    assert!(
        snapshot.consent.email_marketing,
        "the checkout's consent box was ticked"
    );
    assert!(!snapshot.consent.sms_marketing);
    assert_eq!(
        snapshot.locale.as_deref(),
        Some("pl"),
        "WPML's order language"
    );
    assert_eq!(snapshot.country.as_deref(), Some("PL"));
    assert_eq!(snapshot.region, None);
    assert_eq!(snapshot.time_zone, None);
    assert_eq!(snapshot.orders_count, 0);
    assert_eq!(snapshot.total.minor, 66399);
    assert_eq!(snapshot.total.currency.code(), "PLN");
    assert_eq!(
        snapshot.recovery_url.as_ref().map(|u| u.as_str()),
        Some(PAYMENT_URL)
    );

    assert_eq!(snapshot.items.len(), 2);
    let towel = &snapshot.items[0];
    assert_eq!(towel.title, "Lniany ręcznik kąpielowy");
    assert_eq!(towel.variant, None);
    assert_eq!(towel.quantity, 2);
    assert_eq!(
        towel.unit_price.minor, 10000,
        "162.60 + 23 % VAT over 2, as the shop shows it"
    );
    assert_eq!(
        towel.image_url.as_ref().map(|u| u.as_str()),
        Some("https://lniana-pracownia.example/wp-content/uploads/2026/03/recznik-lniany.jpg")
    );
    let bedding = &snapshot.items[1];
    assert_eq!(bedding.title, "Lniana pościel", "the variation's product");
    assert_eq!(
        bedding.variant.as_deref(),
        Some("Szałwiowa zieleń, 160x200")
    );
    assert_eq!(bedding.unit_price.minor, 44900);
}

#[test]
fn pending_failed_and_checkout_draft_are_open_carts() {
    let failed = activity("order.updated", FAILED);
    assert_eq!(failed.updated_at, at("2026-11-02T08:01:40Z"));
    assert_eq!(
        failed.snapshot.recovery_url.as_ref().map(|u| u.as_str()),
        Some(PAYMENT_URL),
        "a failed payment can be retried"
    );
    let draft = activity(
        "order.updated",
        &pending_with(&[
            ("/status", json!("checkout-draft")),
            ("/needs_payment", json!(true)),
        ]),
    );
    assert_eq!(
        draft.snapshot.recovery_url.as_ref().map(|u| u.as_str()),
        Some(PAYMENT_URL),
        "a draft the shop lets be paid keeps its link"
    );
    // Stock WooCommerce takes payment for pending and failed orders only: its
    // `needs_payment` is false for a draft, whose payment page would refuse it.
    let unpayable = activity(
        "order.updated",
        &pending_with(&[
            ("/status", json!("checkout-draft")),
            ("/needs_payment", json!(false)),
        ]),
    );
    assert_eq!(unpayable.snapshot.recovery_url, None);
    assert_eq!(unpayable.cart.as_str(), "4127", "still tracked as a cart");
    assert!(unpayable.snapshot.email.is_some());
}

#[test]
fn processing_completed_and_on_hold_are_purchases() {
    let paid = conversion(PROCESSING);
    assert_eq!(paid.cart.as_ref().map(|c| c.as_str()), Some("4127"));
    assert_eq!(paid.order_id.as_deref(), Some("4127"));
    assert_eq!(paid.at, at("2026-11-02T10:12:29Z"), "date_paid_gmt");
    assert_eq!(paid.total.expect("a total").minor, 66399);
    assert_eq!(
        paid.email.as_ref().map(|e| e.as_str()),
        Some("zofia.przykladowa@example.com")
    );
    let completed = conversion(&pending_with(&[
        ("/status", json!("completed")),
        ("/date_modified_gmt", json!("2026-11-03T07:00:00")),
        ("/needs_payment", json!(false)),
    ]));
    assert_eq!(
        completed.at,
        at("2026-11-03T07:00:00Z"),
        "no date_paid: date_modified"
    );
    // A bank transfer: placed, not yet paid; the shopper is done with the cart.
    let on_hold = conversion(&pending_with(&[
        ("/status", json!("on-hold")),
        ("/payment_method", json!("bacs")),
        ("/date_modified_gmt", json!("2026-11-02T08:05:00")),
    ]));
    assert_eq!(on_hold.at, at("2026-11-02T08:05:00Z"));
}

#[test]
fn cancelled_refunded_and_trashed_orders_keep_no_recovery_link() {
    let cancelled = activity("order.updated", CANCELLED);
    assert_eq!(cancelled.updated_at, at("2026-11-02T09:00:07Z"));
    assert_eq!(
        cancelled.snapshot.recovery_url, None,
        "WooCommerce refuses payment for a cancelled order"
    );
    for status in ["refunded", "trash", "draft"] {
        let closed = activity(
            "order.updated",
            &pending_with(&[
                ("/status", json!(status)),
                ("/date_paid_gmt", json!("2026-11-02T08:03:00")),
            ]),
        );
        assert_eq!(closed.snapshot.recovery_url, None, "{status}");
    }
    // An order restored from the trash comes back with its status and its link.
    let restored = activity("order.restored", PENDING);
    assert!(restored.snapshot.recovery_url.is_some());
}

#[test]
fn a_plugins_status_is_a_purchase_when_paid_and_an_open_cart_when_payable() {
    let paid = pending_with(&[
        ("/status", json!("shipped")),
        ("/date_paid_gmt", json!("2026-11-02T08:03:00")),
    ]);
    assert_eq!(conversion(&paid).at, at("2026-11-02T08:03:00Z"));
    let payable = pending_with(&[("/status", json!("awaiting-deposit"))]);
    assert!(
        activity("order.updated", &payable)
            .snapshot
            .recovery_url
            .is_some()
    );
    let neither = pending_with(&[
        ("/status", json!("awaiting-review")),
        ("/needs_payment", json!(false)),
    ]);
    assert_eq!(
        activity("order.updated", &neither).snapshot.recovery_url,
        None
    );
}

#[test]
fn an_unpaid_order_made_in_the_admin_is_no_abandoned_cart_but_its_payment_counts() {
    for origin in ["admin", "rest-api", "subscription"] {
        let invoice = pending_with(&[("/created_via", json!(origin))]);
        let parsed = parse_signed("order.created", &invoice);
        assert_eq!(parsed.event, None, "{origin}: accepted and ignored");
    }
    let paid = pending_with(&[
        ("/created_via", json!("admin")),
        ("/status", json!("completed")),
    ]);
    assert_eq!(
        conversion(&paid).cart.as_ref().map(|c| c.as_str()),
        Some("4127")
    );
    let block_checkout = pending_with(&[("/created_via", json!("store-api"))]);
    assert!(
        activity("order.created", &block_checkout)
            .snapshot
            .recovery_url
            .is_some()
    );
}

#[test]
fn deleted_orders_and_other_topics_are_accepted_and_ignored() {
    let deleted = parse_signed("order.deleted", DELETED);
    assert_eq!(deleted.topic, "order.deleted");
    assert_eq!(deleted.event, None);
    let product = parse_signed("product.updated", r#"{"id":812,"name":"Lniany ręcznik"}"#);
    assert_eq!(product.event, None);
    let signature = woocommerce::sign(&secret(), b"not json");
    assert!(matches!(
        parse(
            "action.woocommerce_add_to_cart",
            "not json",
            Some(&signature)
        ),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn signature_vectors_valid_tampered_wrong_secret_missing_empty_and_garbled() {
    assert!(
        parse("order.created", PENDING, Some(PENDING_SIGNATURE)).is_ok(),
        "valid"
    );
    let tampered = PENDING.replace("\"total\":\"663.99\"", "\"total\":\"6.99\"");
    assert_ne!(tampered, PENDING);
    let wrong = woocommerce::sign(&Secret::new("another shop's secret"), PENDING.as_bytes());
    let cut = &PENDING_SIGNATURE[..PENDING_SIGNATURE.len() - 4];
    for (what, body, signature) in [
        ("tampered body", tampered.as_str(), Some(PENDING_SIGNATURE)),
        ("wrong secret", PENDING, Some(wrong.as_str())),
        ("missing header", PENDING, None),
        ("empty header", PENDING, Some("")),
        ("not base64", PENDING, Some("not a signature!")),
        ("cut short", PENDING, Some(cut)),
        (
            "hex, as some senders do",
            PENDING,
            Some("a9a017f7d382b1b56ea0d1fecac5d7de"),
        ),
    ] {
        assert_eq!(
            parse("order.created", body, signature).err(),
            Some(WebhookError::Unauthorized),
            "{what}"
        );
    }
    // No timestamp is signed: the same genuine delivery verifies whenever it arrives (the
    // handler drops the replay by its delivery id and by date_modified_gmt).
    let much_later = parse_webhook(
        Platform::WooCommerce,
        &headers("order.created", Some(PENDING_SIGNATURE)),
        PENDING.as_bytes(),
        &SignatureCheck::Required(secret()),
        at("2027-06-01T00:00:00Z"),
    );
    assert!(much_later.is_ok());
}

#[test]
fn the_ping_woocommerce_sends_on_saving_a_webhook_is_accepted_unsigned() {
    let ping = Headers::new()
        .with("content-type", "application/x-www-form-urlencoded")
        .with("user-agent", "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)");
    let parsed = parse_webhook(
        Platform::WooCommerce,
        &ping,
        b"webhook_id=12",
        &SignatureCheck::Required(secret()),
        now(),
    )
    .expect("a ping gets a 200");
    assert_eq!(parsed.topic, woocommerce::PING_TOPIC);
    assert_eq!(parsed.event, None);
    assert_eq!(parsed.delivery, None, "nothing to remember either");
    // The same body with a topic is an ordinary webhook, and unsigned it is refused.
    assert_eq!(
        parse("order.created", "webhook_id=12", None).err(),
        Some(WebhookError::Unauthorized)
    );
    // Any other unsigned body is refused too.
    assert_eq!(
        parse_webhook(
            Platform::WooCommerce,
            &ping,
            b"webhook_id=12&status=active",
            &SignatureCheck::Required(secret()),
            now(),
        )
        .err(),
        Some(WebhookError::Unauthorized)
    );
}

#[test]
fn a_signed_webhook_without_a_topic_or_with_a_broken_order_is_a_400() {
    let signature = woocommerce::sign(&secret(), PENDING.as_bytes());
    let no_topic = Headers::new().with(woocommerce::SIGNATURE_HEADER, signature);
    assert!(matches!(
        parse_webhook(
            Platform::WooCommerce,
            &no_topic,
            PENDING.as_bytes(),
            &SignatureCheck::Required(secret()),
            now(),
        ),
        Err(WebhookError::Malformed(message)) if message.contains("X-WC-Webhook-Topic")
    ));
    let malformed = |body: &str| {
        let signature = woocommerce::sign(&secret(), body.as_bytes());
        match parse("order.updated", body, Some(&signature)) {
            Err(WebhookError::Malformed(message)) => message,
            other => panic!("expected a 400 for {body}: {other:?}"),
        }
    };
    // The field and the problem, never the value (platforms::json).
    let currency = malformed(&pending_with(&[("/currency", json!("ZZZ"))]));
    assert!(
        currency.contains("currency") && !currency.contains("ZZZ"),
        "{currency}"
    );
    let total = malformed(&pending_with(&[("/total", json!("lots"))]));
    assert!(
        total.contains("amount") && !total.contains("lots"),
        "{total}"
    );
    assert!(malformed(&pending_with(&[("/id", json!(-3))])).contains("id"));
    assert!(
        malformed(&pending_with(&[("/date_modified_gmt", json!("yesterday"))]))
            .contains("date_modified_gmt")
    );
    let undated = pending_with(&[
        ("/date_modified_gmt", Value::Null),
        ("/date_created_gmt", Value::Null),
    ]);
    assert!(malformed(&undated).contains("date"));
}

#[test]
fn decorations_that_do_not_parse_are_dropped_not_the_cart() {
    let odd = pending_with(&[
        ("/billing/email", json!("not an address")),
        ("/billing/first_name", json!(17)),
        ("/shipping/first_name", json!("")),
        ("/line_items/0/image", json!([])),
        (
            "/line_items/1/image/src",
            json!("http://lniana-pracownia.example/plain.jpg"),
        ),
        (
            "/line_items/1/name",
            json!("Ship Your Idea &ndash; Color: Black"),
        ),
        ("/line_items/1/parent_name", Value::Null),
        ("/payment_url", json!("http://lniana-pracownia.example/pay")),
        ("/meta_data", json!({})),
    ]);
    let snapshot = activity("order.updated", &odd).snapshot;
    assert_eq!(snapshot.email, None);
    assert!(
        snapshot.phone.is_some(),
        "the phone still reaches the person"
    );
    assert_eq!(snapshot.first_name, None);
    assert_eq!(snapshot.items[0].image_url, None);
    assert_eq!(snapshot.items[1].image_url, None, "only https images");
    assert_eq!(
        snapshot.items[1].title, "Ship Your Idea – Color: Black",
        "entities decoded"
    );
    assert_eq!(snapshot.recovery_url, None, "only https links");
    assert!(!snapshot.consent.email_marketing);
    assert_eq!(snapshot.locale, None);
}

#[test]
fn a_shop_with_prices_without_tax_shows_them_without_tax() {
    let net = pending_with(&[("/prices_include_tax", json!(false))]);
    let snapshot = activity("order.created", &net).snapshot;
    assert_eq!(snapshot.items[0].unit_price.minor, 8130, "162.60 over 2");
    assert_eq!(
        snapshot.total.minor, 66399,
        "the order total is what is paid"
    );
}
