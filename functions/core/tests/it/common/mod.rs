//! Builders shared by the integration tests: carts, activities and conversions at chosen times.
#![allow(dead_code)]

use cartback_core::model::cart::{
    CartActivity, CartRecord, CartSnapshot, Consent, ContactRecord, Conversion, LineItem, Person,
    Platform, SentStep,
};
use cartback_core::model::contact::{Email, Phone};
use cartback_core::model::experiment::HoldoutShare;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::money::{CurrencyCode, Money};
use cartback_core::model::sequence::Channel;
use cartback_core::model::sequence::Sequence;
use cartback_core::model::shop::Rules;
use cartback_core::rules::decide::{Decision, Situation, decide};
use cartback_core::rules::lifecycle::{Applied, apply_activity, apply_conversion};
use jiff::{SignedDuration, Timestamp};

pub const SHOP: &str = "demo-shop.myshopify.com";
pub const CART: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

pub fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

pub fn cart_id(id: &str) -> CartId {
    CartId::parse(id).expect("valid cart id")
}

/// 2026-11-02 08:00:00 UTC, the fixtures' first checkout.
pub fn t0() -> Timestamp {
    "2026-11-02T08:00:00Z".parse().expect("valid timestamp")
}

pub fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

pub fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

pub fn at(offset: SignedDuration) -> Timestamp {
    t0().checked_add(offset).expect("in range")
}

pub fn eur(amount: &str) -> Money {
    Money::parse(amount, CurrencyCode::parse("EUR").expect("EUR")).expect("valid amount")
}

pub fn email(address: &str) -> Email {
    Email::parse(address).expect("valid email")
}

pub fn phone(number: &str) -> Phone {
    Phone::parse(number, None).expect("valid phone")
}

pub fn snapshot(email: Option<&str>, phone: Option<&str>) -> CartSnapshot {
    CartSnapshot {
        email: email.map(self::email),
        phone: phone.map(self::phone),
        first_name: Some("Ada".to_owned()),
        orders_count: 0,
        consent: Consent {
            email_marketing: true,
            sms_marketing: phone.is_some(),
        },
        locale: Some("en".to_owned()),
        items: vec![LineItem {
            title: "Merino Wool Beanie".to_owned(),
            variant: Some("Charcoal".to_owned()),
            quantity: 1,
            unit_price: eur("24.90"),
            image_url: None,
        }],
        total: eur("24.90"),
        recovery_url: Some(
            url::Url::parse("https://demo-shop.example.com/cart/recover").expect("literal URL"),
        ),
        time_zone: None,
        country: None,
        region: None,
    }
}

pub fn activity_with(snapshot: CartSnapshot, updated_at: Timestamp) -> CartActivity {
    CartActivity {
        cart: cart_id(CART),
        snapshot,
        updated_at,
    }
}

/// Ada's cart (email only) as updated at `updated_at`.
pub fn activity(updated_at: Timestamp) -> CartActivity {
    activity_with(snapshot(Some("ada@example.com"), None), updated_at)
}

pub fn conversion(at: Timestamp) -> Conversion {
    Conversion {
        cart: Some(cart_id(CART)),
        order_id: Some("6012345678901".to_owned()),
        email: Some(email("ada@example.com")),
        phone: None,
        total: Some(eur("79.70")),
        at,
    }
}

pub fn changed(applied: Applied) -> CartRecord {
    match applied {
        Applied::Changed(record) => *record,
        other => panic!("expected a changed record, got {other:?}"),
    }
}

/// Applies `activity` received at `now` to `existing`, expecting a change.
pub fn apply(existing: Option<&CartRecord>, activity: &CartActivity, now: Timestamp) -> CartRecord {
    changed(apply_activity(
        existing,
        &shop(),
        Platform::Shopify,
        activity,
        &Sequence::default_sequence(),
        now,
    ))
}

pub fn convert(
    existing: Option<&CartRecord>,
    conversion: &Conversion,
    now: Timestamp,
) -> CartRecord {
    changed(apply_conversion(
        existing,
        &shop(),
        Platform::Shopify,
        conversion,
        &cart_id(CART),
        &Person::default(),
        now,
    ))
}

/// A fresh cart whose last activity is `t0()`.
pub fn new_cart() -> CartRecord {
    apply(None, &activity(t0()), t0())
}

/// `decide` with the default rules, in UTC, for the person behind `contacts`.
pub fn decide_for(
    cart: &CartRecord,
    contacts: &[ContactRecord],
    sequence: &Sequence,
    now: Timestamp,
) -> Decision {
    let person = Person::merge(contacts);
    decide(&Situation {
        cart,
        person: &person,
        sequence,
        rules: &Rules::default(),
        zone: &jiff::tz::TimeZone::UTC,
        holdout: HoldoutShare::DEFAULT,
        now,
    })
}

/// A step sent by email at `sent_at`, not (yet) opened or clicked.
pub fn sent_step(step: u32, template: &str, sent_at: Timestamp) -> SentStep {
    SentStep {
        step,
        channel: Channel::Email,
        template: template.to_owned(),
        message_id: format!("ses-{step}"),
        sent_at,
        skipped: None,
        unconfirmed: false,
        opened_at: None,
        clicked_at: None,
        variant: None,
    }
}
