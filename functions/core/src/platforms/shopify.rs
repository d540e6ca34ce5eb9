//! Shopify: `checkouts/create|update` are cart activity, `orders/create|paid` conversions,
//! and the mandatory compliance webhooks (`customers/redact`, `shop/redact`,
//! `customers/data_request`) privacy requests (`core::erase`).
//! Signed with `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(secret, raw body)).

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};

use crate::model::cart::{
    CartActivity, CartEvent, CartSnapshot, Consent, Conversion, LineItem, Platform,
};
use crate::model::ids::{CartId, DeliveryId};
use crate::model::money::{CurrencyCode, Money};
use crate::model::shop::Secret;
use crate::platforms::json;
use crate::platforms::webhook::{
    Amount, Headers, ParsedWebhook, WebhookError, email_of, https_url, malformed, malformed_money,
    non_empty, null_as_empty, phone_of, sign_base64, unexpected_kind, verify_base64_hmac,
};

pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";

/// Checks the body's signature; any doubt is a refusal.
pub fn verify(secret: &Secret, headers: &Headers, body: &[u8]) -> Result<(), WebhookError> {
    verify_base64_hmac(secret, headers.get(HMAC_HEADER), body)
}

/// The header value Shopify would send for `body` (for tests and tools that sign).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    sign_base64(secret, body)
}

/// Parses a verified webhook into the normalised event.
pub fn parse(headers: &Headers, body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let topic = headers
        .get(TOPIC_HEADER)
        .ok_or_else(|| WebhookError::Malformed(format!("missing {TOPIC_HEADER} header")))?
        .trim()
        .to_owned();
    let delivery = headers
        .get(WEBHOOK_ID_HEADER)
        .map(|id| {
            DeliveryId::parse(id.trim())
                .map_err(|e| WebhookError::Malformed(format!("{WEBHOOK_ID_HEADER}: {e}")))
        })
        .transpose()?;
    let event = match topic.as_str() {
        "checkouts/create" | "checkouts/update" => Some(checkout_event(body)?),
        "orders/create" | "orders/paid" | "orders/updated" => order_event(body)?,
        "customers/redact" | "shop/redact" | "customers/data_request" => {
            Some(CartEvent::Privacy(privacy_request(&topic, body)?))
        }
        _ => {
            // Still refuse bodies that are not JSON: a sender that cannot send JSON is broken.
            json::from_slice::<serde::de::IgnoredAny>(body)
                .map_err(|e| WebhookError::Malformed(format!("body is not JSON: {e}")))?;
            None
        }
    };
    Ok(ParsedWebhook {
        platform: Platform::Shopify,
        topic,
        delivery,
        event,
        fetch: None,
    })
}

/// The customer of a compliance webhook: Shopify's customer id (we keep none), and the
/// email and phone we may hold their carts under.
#[derive(Deserialize)]
struct ComplianceCustomer {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

/// `customers/redact`, `customers/data_request` and `shop/redact` bodies: `shop_id`,
/// `shop_domain`, and for the two customer topics `customer` (`id`, `email`, `phone`) with
/// `orders_to_redact` or `orders_requested` (order ids; ours are found by the person).
#[derive(Deserialize)]
struct Compliance {
    #[serde(default)]
    customer: Option<ComplianceCustomer>,
}

/// The request of a compliance webhook. A phone written without a country code cannot be
/// matched (we hold E.164 numbers only) and is left out; the email still finds the person.
fn privacy_request(
    topic: &str,
    body: &[u8],
) -> Result<crate::model::privacy::PrivacyRequest, WebhookError> {
    use crate::model::privacy::{PrivacyRequest, Subject};
    let compliance: Compliance = json::from_slice(body).map_err(malformed)?;
    if topic == "shop/redact" {
        return Ok(PrivacyRequest::EraseShop);
    }
    let customer = compliance
        .customer
        .ok_or_else(|| malformed("customer is missing"))?;
    let subject = Subject {
        email: email_of(customer.email.as_deref()),
        phone: phone_of(customer.phone.as_deref(), None),
    };
    Ok(if topic == "customers/redact" {
        PrivacyRequest::ErasePerson(subject)
    } else {
        PrivacyRequest::DataRequest(subject)
    })
}

#[derive(Deserialize)]
struct Checkout {
    token: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    sms_marketing_phone: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    #[serde(default)]
    buyer_accepts_marketing: Option<bool>,
    #[serde(default)]
    buyer_accepts_sms_marketing: Option<bool>,
    #[serde(default)]
    customer_locale: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    line_items: Vec<CheckoutLine>,
    total_price: Amount,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    presentment_currency: Option<String>,
    #[serde(default)]
    abandoned_checkout_url: Option<String>,
    updated_at: Timestamp,
    #[serde(default)]
    completed_at: Option<Timestamp>,
    #[serde(default)]
    order_id: Option<serde_json::Value>,
    #[serde(default)]
    shipping_address: Option<Address>,
    #[serde(default)]
    billing_address: Option<Address>,
}

#[derive(Deserialize)]
struct Customer {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "count")]
    orders_count: u32,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Deserialize)]
struct Address {
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    province_code: Option<String>,
}

#[derive(Deserialize)]
struct CheckoutLine {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    presentment_title: Option<String>,
    #[serde(default)]
    variant_title: Option<String>,
    #[serde(default)]
    presentment_variant_title: Option<String>,
    #[serde(default = "one")]
    quantity: u32,
    price: Amount,
    #[serde(default)]
    image_url: Option<String>,
}

fn one() -> u32 {
    1
}

/// `orders_count` arrives as a number or a string.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(0),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| serde::de::Error::custom("orders_count out of range")),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("orders_count is not a number")),
        Some(other) => Err(serde::de::Error::invalid_type(
            unexpected_kind(&other),
            &"a count",
        )),
    }
}

fn currency_of(
    presentment: Option<&str>,
    shop: Option<&str>,
) -> Result<CurrencyCode, WebhookError> {
    let code = non_empty(presentment)
        .or(non_empty(shop))
        .ok_or_else(|| malformed("no currency"))?;
    CurrencyCode::parse(code).map_err(malformed_money("currency"))
}

fn checkout_event(body: &[u8]) -> Result<CartEvent, WebhookError> {
    let checkout: Checkout =
        json::from_slice(body).map_err(|e| malformed(format!("checkout: {e}")))?;
    let cart =
        CartId::parse(checkout.token.trim()).map_err(|e| malformed(format!("token: {e}")))?;
    let currency = currency_of(
        checkout.presentment_currency.as_deref(),
        checkout.currency.as_deref(),
    )?;
    let total =
        Money::parse(&checkout.total_price.0, currency).map_err(malformed_money("total_price"))?;
    let address = checkout
        .shipping_address
        .as_ref()
        .or(checkout.billing_address.as_ref());
    let region = address.and_then(|a| a.country_code.as_deref());
    let customer = checkout.customer.as_ref();
    let email = email_of(checkout.email.as_deref())
        .or_else(|| email_of(customer.and_then(|c| c.email.as_deref())));
    let phone = phone_of(checkout.sms_marketing_phone.as_deref(), region)
        .or_else(|| phone_of(checkout.phone.as_deref(), region))
        .or_else(|| phone_of(customer.and_then(|c| c.phone.as_deref()), region));

    if let Some(completed_at) = checkout.completed_at {
        return Ok(CartEvent::Conversion(Conversion {
            cart: Some(cart),
            order_id: checkout.order_id.as_ref().map(json_id),
            email,
            phone,
            total: Some(total),
            at: completed_at,
        }));
    }

    let items = checkout
        .line_items
        .iter()
        .map(|line| {
            let title = non_empty(line.presentment_title.as_deref())
                .or(non_empty(line.title.as_deref()))
                .unwrap_or("Item")
                .to_owned();
            Ok(LineItem {
                title,
                variant: non_empty(line.presentment_variant_title.as_deref())
                    .or(non_empty(line.variant_title.as_deref()))
                    .map(str::to_owned),
                quantity: line.quantity,
                unit_price: Money::parse(&line.price.0, currency)
                    .map_err(malformed_money("line_items.price"))?,
                image_url: non_empty(line.image_url.as_deref()).and_then(https_url),
            })
        })
        .collect::<Result<Vec<_>, WebhookError>>()?;
    let snapshot = CartSnapshot {
        email,
        phone,
        first_name: non_empty(customer.and_then(|c| c.first_name.as_deref())).map(str::to_owned),
        orders_count: customer.map_or(0, |c| c.orders_count),
        consent: Consent {
            email_marketing: checkout.buyer_accepts_marketing.unwrap_or(false),
            sms_marketing: checkout.buyer_accepts_sms_marketing.unwrap_or(false),
        },
        locale: non_empty(checkout.customer_locale.as_deref()).map(str::to_owned),
        items,
        total,
        recovery_url: non_empty(checkout.abandoned_checkout_url.as_deref()).and_then(https_url),
        // Shopify gives no zone for a checkout: the address (or the phone) decides it.
        time_zone: None,
        country: address
            .and_then(|a| non_empty(a.country_code.as_deref()))
            .map(str::to_ascii_uppercase),
        region: address
            .and_then(|a| non_empty(a.province_code.as_deref()))
            .map(str::to_ascii_uppercase),
    };
    Ok(CartEvent::Activity(CartActivity {
        cart,
        snapshot,
        updated_at: checkout.updated_at,
    }))
}

fn json_id(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct Order {
    id: serde_json::Value,
    #[serde(default)]
    checkout_token: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    total_price: Amount,
    #[serde(default)]
    total_price_set: Option<PriceSet>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    presentment_currency: Option<String>,
    created_at: Timestamp,
    #[serde(default)]
    processed_at: Option<Timestamp>,
    #[serde(default)]
    cancelled_at: Option<Timestamp>,
    #[serde(default)]
    billing_address: Option<Address>,
    #[serde(default)]
    shipping_address: Option<Address>,
}

#[derive(Deserialize)]
struct PriceSet {
    presentment_money: Option<MoneyBag>,
}

#[derive(Deserialize)]
struct MoneyBag {
    amount: Amount,
    currency_code: String,
}

fn order_event(body: &[u8]) -> Result<Option<CartEvent>, WebhookError> {
    let order: Order = json::from_slice(body).map_err(|e| malformed(format!("order: {e}")))?;
    if order.cancelled_at.is_some() {
        return Ok(None);
    }
    let total = match order
        .total_price_set
        .as_ref()
        .and_then(|set| set.presentment_money.as_ref())
    {
        Some(bag) => Money::parse(
            &bag.amount.0,
            CurrencyCode::parse(&bag.currency_code)
                .map_err(malformed_money("total_price_set.currency_code"))?,
        ),
        None => Money::parse(
            &order.total_price.0,
            currency_of(
                order.currency.as_deref(),
                order.presentment_currency.as_deref(),
            )?,
        ),
    }
    .map_err(malformed_money("total_price"))?;
    let region = order
        .shipping_address
        .as_ref()
        .or(order.billing_address.as_ref())
        .and_then(|a| a.country_code.as_deref());
    let customer = order.customer.as_ref();
    let cart = non_empty(order.checkout_token.as_deref())
        .map(|t| CartId::parse(t).map_err(|e| malformed(format!("checkout_token: {e}"))))
        .transpose()?;
    Ok(Some(CartEvent::Conversion(Conversion {
        cart,
        order_id: Some(json_id(&order.id)),
        email: email_of(order.email.as_deref())
            .or_else(|| email_of(order.contact_email.as_deref()))
            .or_else(|| email_of(customer.and_then(|c| c.email.as_deref()))),
        phone: phone_of(order.phone.as_deref(), region)
            .or_else(|| phone_of(customer.and_then(|c| c.phone.as_deref()), region)),
        total: Some(total),
        at: order.processed_at.unwrap_or(order.created_at),
    })))
}
