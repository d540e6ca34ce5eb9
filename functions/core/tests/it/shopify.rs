//! The Shopify adapter on the fixture payloads: what each webhook becomes, and which requests
//! are refused (signature, size, shape).

use cartback_core::model::cart::{CartActivity, CartEvent, Conversion, LineItem, Platform};
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::platforms::shopify;
use cartback_core::platforms::webhook::{
    Headers, MAX_BODY_BYTES, ParsedWebhook, WebhookError, parse_webhook,
};
use jiff::Timestamp;

const CHECKOUT_CREATE: &[u8] = include_bytes!("../fixtures/shopify/checkouts_create.json");
const CHECKOUT_UPDATE: &[u8] = include_bytes!("../fixtures/shopify/checkouts_update.json");
const CHECKOUT_NO_CONTACT: &[u8] =
    include_bytes!("../fixtures/shopify/checkouts_create_no_contact.json");
const CHECKOUT_PHONE_ONLY: &[u8] =
    include_bytes!("../fixtures/shopify/checkouts_create_phone_only.json");
const CHECKOUT_YEN: &[u8] = include_bytes!("../fixtures/shopify/checkouts_create_yen.json");
const ORDER_CREATE: &[u8] = include_bytes!("../fixtures/shopify/orders_create.json");
const ORDER_PAID: &[u8] = include_bytes!("../fixtures/shopify/orders_paid.json");

const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT_TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

/// (file, topic, HMAC from the fixtures' README, webhook id)
const SIGNED: &[(&[u8], &str, &str, &str)] = &[
    (
        CHECKOUT_CREATE,
        "checkouts/create",
        "KsLB8OXzoZSo29Ewz6HJAK4NYvD6B8z959f+aNbUfLY=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a51",
    ),
    (
        CHECKOUT_UPDATE,
        "checkouts/update",
        "5TpINnfglUAf/J4k154ZuBCMFbTxyo7wppBSGc64rNA=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a52",
    ),
    (
        CHECKOUT_NO_CONTACT,
        "checkouts/create",
        "bvmkzOVnMn/Ybby4ELCPnPFRPGxfVRDy8odqGAd74yQ=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a53",
    ),
    (
        CHECKOUT_PHONE_ONLY,
        "checkouts/create",
        "inKqMpnP0AI8xOSDvfUBarKIrg+bB9LeoS4DRmJcaTk=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a54",
    ),
    (
        CHECKOUT_YEN,
        "checkouts/create",
        "fbhFuKRI8umOKZsjB5n85Yoxdqd2FDuaIWaAUxQj/KA=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a55",
    ),
    (
        ORDER_CREATE,
        "orders/create",
        "DcMOVVJbruEgKK6x/ArrKYBGXeFKQnAggz1Ocvl6VOk=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a56",
    ),
    (
        ORDER_PAID,
        "orders/paid",
        "f9talyQLvgNO4KEdExg6edM950KNhItc6E+ti5YigOc=",
        "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a57",
    ),
];

fn secret_check() -> SignatureCheck {
    SignatureCheck::Required(Secret::new(SECRET))
}

fn headers(topic: &str) -> Headers {
    Headers::new()
        .with("Content-Type", "application/json")
        .with("X-Shopify-API-Version", "2026-07")
        .with(shopify::TOPIC_HEADER, topic)
}

fn parse_unsigned(topic: &str, body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    parse_webhook(
        Platform::Shopify,
        &headers(topic),
        body,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a valid RFC 3339 timestamp")
}

fn activity(topic: &str, body: &[u8]) -> CartActivity {
    match parse_unsigned(topic, body).expect("fixture parses").event {
        Some(CartEvent::Activity(activity)) => activity,
        other => panic!("expected cart activity, got {other:?}"),
    }
}

fn conversion(topic: &str, body: &[u8]) -> Conversion {
    match parse_unsigned(topic, body).expect("fixture parses").event {
        Some(CartEvent::Conversion(conversion)) => conversion,
        other => panic!("expected a conversion, got {other:?}"),
    }
}

/// The fixture as JSON with `edit` applied, serialised back to bytes.
fn edited(body: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).expect("fixture is JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("JSON serialises")
}

fn item(items: &[LineItem], index: usize) -> (&str, Option<&str>, u32, i64, &str) {
    let item = &items[index];
    (
        item.title.as_str(),
        item.variant.as_deref(),
        item.quantity,
        item.unit_price.minor,
        item.unit_price.currency.code(),
    )
}

// ---------------------------------------------------------------------------------------------
// What each fixture becomes

#[test]
fn checkout_create_becomes_activity_keyed_by_the_checkout_token() {
    let parsed = parse_unsigned("checkouts/create", CHECKOUT_CREATE).expect("parses");
    assert_eq!(parsed.platform, Platform::Shopify);
    assert_eq!(parsed.topic, "checkouts/create");
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("expected activity, got {:?}", parsed.event);
    };
    assert_eq!(activity.cart.as_str(), CHECKOUT_TOKEN);
    assert_eq!(activity.updated_at, ts("2026-11-02T08:00:00Z"));
}

#[test]
fn checkout_create_carries_contact_consent_and_locale() {
    let snapshot = activity("checkouts/create", CHECKOUT_CREATE).snapshot;
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert!(snapshot.phone.is_none());
    assert_eq!(snapshot.first_name.as_deref(), Some("Ada"));
    assert_eq!(snapshot.orders_count, 0);
    assert!(snapshot.consent.email_marketing);
    assert!(!snapshot.consent.sms_marketing);
    assert_eq!(snapshot.locale.as_deref(), Some("en"));
}

#[test]
fn checkout_create_items_total_and_recovery_url_are_in_minor_units_of_the_presentment_currency() {
    let snapshot = activity("checkouts/create", CHECKOUT_CREATE).snapshot;
    assert_eq!(snapshot.items.len(), 2);
    assert_eq!(
        item(&snapshot.items, 0),
        ("Merino Wool Beanie", Some("Charcoal"), 1, 2490, "EUR")
    );
    assert_eq!(
        item(&snapshot.items, 1),
        ("Organic Cotton Tote", Some("Natural"), 2, 1250, "EUR")
    );
    assert_eq!(snapshot.total.minor, 4990);
    assert_eq!(snapshot.total.currency.code(), "EUR");
    assert_eq!(
        snapshot.recovery_url.as_ref().map(|u| u.as_str()),
        Some(
            "https://demo-shop.myshopify.com/90123456789/checkouts/4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87/recover?key=5e0b1d7c2a9f48e3b6c1d0a9f8e7d6c5"
        )
    );
    // No line item in Shopify's documented payloads has an image.
    assert!(snapshot.items.iter().all(|i| i.image_url.is_none()));
}

#[test]
fn checkout_update_is_the_same_cart_twenty_minutes_later_with_two_beanies() {
    let create = activity("checkouts/create", CHECKOUT_CREATE);
    let update = activity("checkouts/update", CHECKOUT_UPDATE);
    assert_eq!(update.cart, create.cart);
    assert_eq!(update.updated_at, ts("2026-11-02T08:20:00Z"));
    assert_eq!(
        update
            .updated_at
            .duration_since(create.updated_at)
            .as_mins(),
        20
    );
    assert_eq!(update.snapshot.items[0].quantity, 2);
    assert_eq!(update.snapshot.total.minor, 7480);
}

#[test]
fn email_addresses_are_trimmed_and_lower_cased() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["email"] = "  Ada.Lovelace@Example.COM ".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("ada.lovelace@example.com")
    );
}

#[test]
fn checkout_without_top_level_email_falls_back_to_the_customer_email() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["email"] = serde_json::Value::Null;
        v["customer"]["email"] = "Ada@Example.com".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
}

#[test]
fn empty_or_invalid_email_is_treated_as_absent() {
    for bad in ["", "   ", "not-an-email"] {
        let body = edited(CHECKOUT_CREATE, |v| {
            v["email"] = bad.into();
            v["customer"]["email"] = serde_json::Value::Null;
        });
        let snapshot = activity("checkouts/create", &body).snapshot;
        assert!(snapshot.email.is_none(), "{bad:?} gave an email");
    }
}

#[test]
fn no_contact_checkout_has_neither_email_nor_phone() {
    let activity = activity("checkouts/create", CHECKOUT_NO_CONTACT);
    assert_eq!(activity.cart.as_str(), "7a9b1c2d3e4f5061728394a5b6c7d8e9");
    let snapshot = activity.snapshot;
    assert!(snapshot.email.is_none());
    assert!(snapshot.phone.is_none());
    assert!(snapshot.first_name.is_none());
    assert_eq!(snapshot.orders_count, 0);
    assert!(snapshot.contact_key().is_none());
    assert_eq!(snapshot.total.minor, 1250);
    assert_eq!(snapshot.items.len(), 1);
}

#[test]
fn phone_only_checkout_has_an_e164_phone_and_sms_consent() {
    let snapshot = activity("checkouts/create", CHECKOUT_PHONE_ONLY).snapshot;
    assert!(snapshot.email.is_none());
    assert_eq!(
        snapshot.phone.as_ref().map(|p| p.as_str()),
        Some("+358401234567")
    );
    assert!(snapshot.consent.sms_marketing);
    assert!(!snapshot.consent.email_marketing);
    assert_eq!(snapshot.locale.as_deref(), Some("fi"));
    assert_eq!(snapshot.first_name.as_deref(), Some("Maija"));
    assert_eq!(
        snapshot.contact_key(),
        snapshot.phone.as_ref().map(|p| p.key())
    );
}

#[test]
fn national_phone_numbers_use_the_shipping_country_as_region() {
    let body = edited(CHECKOUT_PHONE_ONLY, |v| {
        v["sms_marketing_phone"] = serde_json::Value::Null;
        v["phone"] = "040 123 4567".into();
        v["customer"]["phone"] = serde_json::Value::Null;
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(
        snapshot.phone.as_ref().map(|p| p.as_str()),
        Some("+358401234567")
    );
}

#[test]
fn the_shipping_address_gives_country_and_province_for_the_recipients_zone() {
    // The fixture ships to Helsinki: no province.
    let snapshot = activity("checkouts/create", CHECKOUT_CREATE).snapshot;
    assert_eq!(snapshot.country.as_deref(), Some("FI"));
    assert_eq!(snapshot.region, None);
    assert_eq!(
        snapshot.time_zone, None,
        "Shopify gives no zone for a checkout"
    );
    // A Californian address: province code, upper-cased.
    let body = edited(CHECKOUT_CREATE, |v| {
        v["shipping_address"]["country_code"] = "us".into();
        v["shipping_address"]["province_code"] = "ca".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(
        (snapshot.country.as_deref(), snapshot.region.as_deref()),
        (Some("US"), Some("CA"))
    );
}

#[test]
fn without_a_shipping_address_the_billing_address_counts_and_without_either_nothing() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["shipping_address"] = serde_json::Value::Null;
        v["billing_address"]["country_code"] = "BR".into();
        v["billing_address"]["province_code"] = "AM".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(
        (snapshot.country.as_deref(), snapshot.region.as_deref()),
        (Some("BR"), Some("AM"))
    );
    let body = edited(CHECKOUT_CREATE, |v| {
        v["shipping_address"] = serde_json::Value::Null;
        v["billing_address"] = serde_json::Value::Null;
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!((snapshot.country, snapshot.region), (None, None));
}

#[test]
fn yen_checkout_has_whole_yen_prices_and_orders_count_from_a_string() {
    let activity = activity("checkouts/create", CHECKOUT_YEN);
    assert_eq!(activity.cart.as_str(), "9f8e7d6c5b4a39281706f5e4d3c2b1a0");
    assert_eq!(activity.updated_at, ts("2026-11-02T08:00:00Z"));
    let snapshot = activity.snapshot;
    assert_eq!(snapshot.orders_count, 3);
    assert_eq!(snapshot.first_name.as_deref(), Some("花子"));
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("hanako@example.jp")
    );
    assert_eq!(snapshot.locale.as_deref(), Some("ja"));
    assert_eq!(snapshot.total.minor, 2580);
    assert_eq!(snapshot.total.currency.code(), "JPY");
    assert_eq!(
        item(&snapshot.items, 0),
        ("手ぬぐい", Some("藍"), 1, 1290, "JPY")
    );
    assert_eq!(
        item(&snapshot.items, 1),
        ("風呂敷", Some("桜"), 1, 1290, "JPY")
    );
}

#[test]
fn orders_count_is_read_as_a_number_and_as_a_string() {
    for (value, expected) in [
        (serde_json::json!(3), 3),
        (serde_json::json!("3"), 3),
        (serde_json::json!(" 12 "), 12),
        (serde_json::Value::Null, 0),
    ] {
        let body = edited(CHECKOUT_CREATE, |v| {
            v["customer"]["orders_count"] = value.clone();
        });
        let snapshot = activity("checkouts/create", &body).snapshot;
        assert_eq!(snapshot.orders_count, expected, "orders_count {value}");
    }
    let body = edited(CHECKOUT_CREATE, |v| {
        v["customer"]
            .as_object_mut()
            .expect("customer is an object")
            .remove("orders_count");
    });
    assert_eq!(activity("checkouts/create", &body).snapshot.orders_count, 0);
}

#[test]
fn presentment_currency_wins_over_the_shop_currency() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["currency"] = "USD".into();
        v["presentment_currency"] = "EUR".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    assert_eq!(snapshot.total.currency.code(), "EUR");
    assert_eq!(snapshot.items[0].unit_price.currency.code(), "EUR");

    let body = edited(CHECKOUT_CREATE, |v| {
        v["currency"] = "EUR".into();
        v["presentment_currency"] = "SEK".into();
    });
    assert_eq!(
        activity("checkouts/create", &body)
            .snapshot
            .total
            .currency
            .code(),
        "SEK"
    );
}

#[test]
fn only_https_recovery_urls_are_kept() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["abandoned_checkout_url"] = "http://demo-shop.myshopify.com/recover".into();
    });
    assert!(
        activity("checkouts/create", &body)
            .snapshot
            .recovery_url
            .is_none()
    );
}

#[test]
fn orders_create_is_a_conversion_of_the_checkout_it_completed() {
    let conversion = conversion("orders/create", ORDER_CREATE);
    assert_eq!(
        conversion.cart.as_ref().map(|c| c.as_str()),
        Some(CHECKOUT_TOKEN)
    );
    assert_eq!(conversion.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(conversion.total.expect("a total").minor, 7970);
    assert_eq!(conversion.total.expect("a total").currency.code(), "EUR");
    assert_eq!(
        conversion.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(conversion.at, ts("2026-11-02T08:24:31Z"));
}

#[test]
fn orders_paid_is_the_same_conversion_as_orders_create() {
    let paid = conversion("orders/paid", ORDER_PAID);
    let created = conversion("orders/create", ORDER_CREATE);
    assert_eq!(paid.cart, created.cart);
    assert_eq!(paid.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(paid.total.expect("a total").minor, 7970);
    assert_eq!(paid.contact_keys(), created.contact_keys());
}

#[test]
fn conversion_links_the_checkout_token_of_the_activity() {
    let activity = activity("checkouts/create", CHECKOUT_CREATE);
    let conversion = conversion("orders/create", ORDER_CREATE);
    assert_eq!(conversion.cart.as_ref(), Some(&activity.cart));
    assert_eq!(
        conversion.contact_keys().first(),
        activity.snapshot.contact_key().as_ref()
    );
}

#[test]
fn cancelled_orders_are_accepted_without_an_event() {
    let body = edited(ORDER_CREATE, |v| {
        v["cancelled_at"] = "2026-11-02T11:00:00+02:00".into();
    });
    let parsed = parse_unsigned("orders/create", &body).expect("accepted");
    assert_eq!(parsed.event, None);
}

#[test]
fn checkout_with_completed_at_is_a_conversion() {
    let body = edited(CHECKOUT_UPDATE, |v| {
        v["completed_at"] = "2026-11-02T10:24:31+02:00".into();
        v["order_id"] = serde_json::json!(6_012_345_678_901_u64);
    });
    let conversion = conversion("checkouts/update", &body);
    assert_eq!(
        conversion.cart.as_ref().map(|c| c.as_str()),
        Some(CHECKOUT_TOKEN)
    );
    assert_eq!(conversion.at, ts("2026-11-02T08:24:31Z"));
    assert_eq!(conversion.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(conversion.total.expect("a total").minor, 7480);
    assert_eq!(
        conversion.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
}

#[test]
fn unknown_topics_are_accepted_with_no_event() {
    let parsed = parse_unsigned("products/update", br#"{"id": 1, "title": "Beanie"}"#)
        .expect("unknown topics are accepted");
    assert_eq!(parsed.topic, "products/update");
    assert_eq!(parsed.event, None);
}

#[test]
fn unknown_topic_with_a_body_that_is_not_json_is_malformed() {
    let err = parse_unsigned("products/update", b"<html>").expect_err("not JSON");
    assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
}

#[test]
fn missing_topic_header_is_malformed() {
    let headers = Headers::new().with("Content-Type", "application/json");
    let err = parse_webhook(
        Platform::Shopify,
        &headers,
        CHECKOUT_CREATE,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("no topic");
    assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
}

#[test]
fn garbage_json_is_malformed() {
    for body in [&b"{not json"[..], b"", b"[]", b"null", br#"{"token": 5}"#] {
        let err = parse_unsigned("checkouts/create", body).expect_err("garbage");
        assert!(
            matches!(err, WebhookError::Malformed(_)),
            "{:?}: {err:?}",
            String::from_utf8_lossy(body)
        );
    }
    let err = parse_unsigned("orders/create", b"{\"id\":").expect_err("garbage");
    assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
}

#[test]
fn checkout_with_an_unknown_currency_is_malformed() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["currency"] = "XYZ".into();
        v["presentment_currency"] = "XYZ".into();
    });
    let err = parse_unsigned("checkouts/create", &body).expect_err("bad currency");
    assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
}

#[test]
fn webhook_id_header_becomes_the_delivery_id() {
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(
            shopify::WEBHOOK_ID_HEADER,
            "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a51",
        ),
        CHECKOUT_CREATE,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("parses");
    assert_eq!(
        parsed.delivery.as_ref().map(|d| d.as_str()),
        Some("0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a51")
    );
    assert_eq!(
        parse_unsigned("checkouts/create", CHECKOUT_CREATE)
            .expect("parses")
            .delivery,
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures

fn signed_headers(topic: &str, hmac: &str, webhook_id: &str) -> Headers {
    headers(topic)
        .with(shopify::HMAC_HEADER, hmac)
        .with(shopify::WEBHOOK_ID_HEADER, webhook_id)
}

#[test]
fn every_readme_hmac_verifies_its_fixture() {
    for (body, topic, hmac, id) in SIGNED {
        let parsed = parse_webhook(
            Platform::Shopify,
            &signed_headers(topic, hmac, id),
            body,
            &secret_check(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap_or_else(|e| panic!("{topic} {id}: {e:?}"));
        assert_eq!(parsed.topic, *topic);
        assert!(parsed.event.is_some(), "{topic} {id} has an event");
        assert_eq!(shopify::sign(&Secret::new(SECRET), body), *hmac);
    }
}

#[test]
fn header_names_are_case_insensitive() {
    let headers = Headers::new()
        .with("x-shopify-topic", "checkouts/create")
        .with(
            "x-shopify-hmac-sha256",
            "KsLB8OXzoZSo29Ewz6HJAK4NYvD6B8z959f+aNbUfLY=",
        );
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers,
        CHECKOUT_CREATE,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("lower-case headers (HTTP/2) are accepted");
    assert!(matches!(parsed.event, Some(CartEvent::Activity(_))));
}

#[test]
fn a_flipped_byte_in_the_body_is_unauthorized() {
    let (body, topic, hmac, id) = SIGNED[0];
    for index in [0, body.len() / 2, body.len() - 1] {
        let mut tampered = body.to_vec();
        tampered[index] ^= 0x01;
        let err = parse_webhook(
            Platform::Shopify,
            &signed_headers(topic, hmac, id),
            &tampered,
            &secret_check(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .expect_err("tampered body");
        assert_eq!(err, WebhookError::Unauthorized, "byte {index}");
    }
}

#[test]
fn a_flipped_byte_in_the_signature_is_unauthorized() {
    let (body, topic, hmac, id) = SIGNED[0];
    let bytes = hmac.as_bytes();
    for index in [0, 10, 20] {
        let mut tampered = bytes.to_vec();
        // Swap between two base64 letters, so the header stays valid base64.
        tampered[index] = if tampered[index] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ASCII");
        assert_ne!(tampered, hmac);
        let err = parse_webhook(
            Platform::Shopify,
            &signed_headers(topic, &tampered, id),
            body,
            &secret_check(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .expect_err("tampered signature");
        assert_eq!(err, WebhookError::Unauthorized, "char {index}");
    }
}

#[test]
fn a_signature_made_with_another_secret_is_unauthorized() {
    let (body, topic, _, id) = SIGNED[0];
    let other = shopify::sign(&Secret::new("another-secret"), body);
    let err = parse_webhook(
        Platform::Shopify,
        &signed_headers(topic, &other, id),
        body,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("wrong secret");
    assert_eq!(err, WebhookError::Unauthorized);
}

#[test]
fn a_missing_signature_header_is_unauthorized() {
    let err = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create"),
        CHECKOUT_CREATE,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("unsigned");
    assert_eq!(err, WebhookError::Unauthorized);
}

#[test]
fn a_signature_that_is_not_base64_is_unauthorized() {
    for header in [
        "not base64!",
        "",
        "%%%%",
        "KsLB8OXzoZSo29Ewz6HJAK4NYvD6B8z959f+aNbUfLY",
    ] {
        let err = parse_webhook(
            Platform::Shopify,
            &headers("checkouts/create").with(shopify::HMAC_HEADER, header),
            CHECKOUT_CREATE,
            &secret_check(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .expect_err("bad header");
        assert_eq!(err, WebhookError::Unauthorized, "{header:?}");
    }
}

#[test]
fn a_truncated_signature_is_unauthorized() {
    let full = shopify::sign(&Secret::new(SECRET), CHECKOUT_CREATE);
    let raw = base64_decode(&full);
    let short = base64_encode(&raw[..16]);
    let err = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(shopify::HMAC_HEADER, short),
        CHECKOUT_CREATE,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("half a MAC");
    assert_eq!(err, WebhookError::Unauthorized);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn signature_is_checked_before_the_body_is_parsed() {
    let body = b"{not json";
    let err = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(
            shopify::HMAC_HEADER,
            "KsLB8OXzoZSo29Ewz6HJAK4NYvD6B8z959f+aNbUfLY=",
        ),
        body,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("bad signature first");
    assert_eq!(err, WebhookError::Unauthorized);
}

#[test]
fn skipped_signature_check_accepts_unsigned_and_wrongly_signed_webhooks() {
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(shopify::HMAC_HEADER, "not base64!"),
        CHECKOUT_CREATE,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("skipped check");
    assert!(matches!(parsed.event, Some(CartEvent::Activity(_))));
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create"),
        CHECKOUT_CREATE,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("skipped check");
    assert!(matches!(parsed.event, Some(CartEvent::Activity(_))));
}

#[test]
fn a_body_over_the_limit_is_too_large_even_when_signed() {
    let mut body = CHECKOUT_CREATE.to_vec();
    body.resize(MAX_BODY_BYTES + 1, b' ');
    let hmac = shopify::sign(&Secret::new(SECRET), &body);
    let err = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(shopify::HMAC_HEADER, hmac),
        &body,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect_err("too large");
    assert_eq!(err, WebhookError::TooLarge);
    let err = parse_unsigned("checkouts/create", &body).expect_err("too large");
    assert_eq!(err, WebhookError::TooLarge);
}

#[test]
fn a_body_exactly_at_the_limit_is_read() {
    let mut body = CHECKOUT_CREATE.to_vec();
    body.resize(MAX_BODY_BYTES, b' ');
    let hmac = shopify::sign(&Secret::new(SECRET), &body);
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers("checkouts/create").with(shopify::HMAC_HEADER, hmac),
        &body,
        &secret_check(),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("at the limit");
    assert!(matches!(parsed.event, Some(CartEvent::Activity(_))));
}

#[test]
fn an_email_with_a_display_name_is_reduced_to_its_address_or_dropped() {
    let body = edited(CHECKOUT_CREATE, |v| {
        v["email"] = "Ada Example <ada@example.com>".into();
    });
    let snapshot = activity("checkouts/create", &body).snapshot;
    let email = snapshot.email.as_ref().map(|e| e.as_str().to_owned());
    assert!(
        email.is_none() || email.as_deref() == Some("ada@example.com"),
        "stored as {email:?}"
    );
    if let Some(key) = snapshot.contact_key() {
        // The person's orders (keyed by the bare address) must find this cart's contact.
        let order = conversion("orders/create", ORDER_CREATE);
        assert_eq!(order.contact_keys().first(), Some(&key));
    }
}
