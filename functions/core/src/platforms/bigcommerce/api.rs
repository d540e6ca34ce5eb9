//! What cartback reads from a BigCommerce store's REST API, and the normalised event each
//! answer becomes: `GET /v3/carts/{id}?include=redirect_urls` for an abandoned cart (the
//! Management API's cart: email, items with images, amounts, currency, locale and a
//! recovery link), `GET /v2/orders/{id}` for a converted one (the cart is deleted by then).
//!
//! Fields that only decorate a reminder (images, options, the locale) are read leniently;
//! a cart without an id, a currency or an amount is refused ([`ApiError`]).

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::Value;

use crate::model::cart::{CartActivity, CartEvent, CartSnapshot, Consent, Conversion, LineItem};
use crate::model::ids::CartId;
pub use crate::model::ids::{StoreHash, StoreHashError};
use crate::model::money::{CurrencyCode, Money};
use crate::platforms::json;
use crate::platforms::webhook::{Amount, email_of, https_url, non_empty, phone_of};

/// The API's host; `{store_hash}` follows in the path.
pub const API_BASE: &str = "https://api.bigcommerce.com";
/// The header carrying the shop's API account token.
pub const TOKEN_HEADER: &str = "X-Auth-Token";
/// Milliseconds until the rate-limit window resets (sent with a 429).
pub const RATE_LIMIT_RESET_HEADER: &str = "X-Rate-Limit-Time-Reset-Ms";

/// What a webhook needs read from the store's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The abandoned cart (`/v3/carts/{id}?include=redirect_urls`).
    Cart(CartId),
    /// The order a converted cart became (`/v2/orders/{order}`).
    Order { cart: CartId, order: u64 },
}

impl Fetch {
    /// The cart the webhook is about.
    pub fn cart(&self) -> &CartId {
        match self {
            Self::Cart(cart) | Self::Order { cart, .. } => cart,
        }
    }

    /// The request path after `/stores/{store_hash}`.
    pub fn path(&self) -> String {
        match self {
            Self::Cart(cart) => format!(
                "/v3/carts/{}?include=redirect_urls",
                url::form_urlencoded::byte_serialize(cart.as_str().as_bytes()).collect::<String>()
            ),
            Self::Order { order, .. } => format!("/v2/orders/{order}"),
        }
    }

    /// The full URL of the request on `base` (the API host; a test server in tests).
    pub fn url(&self, base: &str, store: &StoreHash) -> String {
        format!(
            "{}/stores/{store}{}",
            base.trim_end_matches('/'),
            self.path()
        )
    }

    /// The event the API's answer `body` becomes.
    pub fn event(&self, body: &[u8]) -> Result<CartEvent, ApiError> {
        match self {
            Self::Cart(cart) => cart_event(cart, body),
            Self::Order { cart, order } => order_event(cart, *order, body),
        }
    }
}

/// An answer from the store's API that cannot be read (a 200 with a body we do not know).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BigCommerce API answer: {0}")]
pub struct ApiError(String);

fn bad(what: impl fmt::Display) -> ApiError {
    ApiError(what.to_string())
}

#[derive(Deserialize)]
struct CartEnvelope {
    data: Cart,
}

#[derive(Deserialize)]
struct Cart {
    id: String,
    #[serde(default)]
    email: Value,
    currency: CurrencyField,
    #[serde(default)]
    tax_included: Value,
    cart_amount: Amount,
    #[serde(default)]
    line_items: Value,
    #[serde(default)]
    created_time: Value,
    #[serde(default)]
    updated_time: Value,
    #[serde(default)]
    locale: Value,
    #[serde(default)]
    redirect_urls: Value,
}

#[derive(Deserialize)]
struct CurrencyField {
    code: String,
}

/// Physical, digital and custom items, in that order (gift certificates are not products).
const ITEM_KINDS: [&str; 3] = ["physical_items", "digital_items", "custom_items"];

fn cart_event(expected: &CartId, body: &[u8]) -> Result<CartEvent, ApiError> {
    let envelope: CartEnvelope = json::from_slice(body).map_err(|e| bad(format!("cart: {e}")))?;
    let cart = envelope.data;
    if cart.id.trim() != expected.as_str() {
        return Err(bad("the cart's id is not the one asked for"));
    }
    let currency = CurrencyCode::parse(&cart.currency.code.to_ascii_uppercase())
        .map_err(|e| bad(format!("cart currency.code: {}", e.problem())))?;
    let total = money(&cart.cart_amount, currency)?;
    let updated_at = time(&cart.updated_time, "updated_time")?
        .or(time(&cart.created_time, "created_time")?)
        .ok_or_else(|| bad("cart: no updated_time or created_time"))?;
    let _ = cart.tax_included;
    let mut items = Vec::new();
    for kind in ITEM_KINDS {
        let Some(lines) = cart.line_items.get(kind).and_then(Value::as_array) else {
            continue;
        };
        for line in lines {
            if let Some(item) = line_item(line, currency)? {
                items.push(item);
            }
        }
    }
    let links = &cart.redirect_urls;
    let recovery_url = ["cart_url", "checkout_url"]
        .iter()
        .find_map(|key| non_empty(links.get(*key).and_then(Value::as_str)).and_then(https_url));
    let snapshot = CartSnapshot {
        email: email_of(cart.email.as_str()),
        // The cart holds no phone and no name: the billing address is the checkout's.
        phone: None,
        first_name: None,
        // The cart carries no count of the person's earlier orders.
        orders_count: 0,
        // BigCommerce's cart holds no marketing consent (see docs/deploy.md: a BigCommerce shop
        // sets `email_consent` as its law and its checkout allow).
        consent: Consent::default(),
        locale: non_empty(cart.locale.as_str()).map(str::to_owned),
        items,
        total,
        recovery_url,
        time_zone: None,
        country: None,
        region: None,
    };
    Ok(CartEvent::Activity(CartActivity {
        cart: expected.clone(),
        snapshot,
        updated_at,
    }))
}

/// A cart line: the unit price the shopper saw (`sale_price`, else `list_price`).
fn line_item(line: &Value, currency: CurrencyCode) -> Result<Option<LineItem>, ApiError> {
    let quantity = line
        .get("quantity")
        .and_then(Value::as_u64)
        .and_then(|q| u32::try_from(q).ok())
        .unwrap_or(0);
    if quantity == 0 {
        return Ok(None);
    }
    let price = ["sale_price", "list_price"]
        .iter()
        .find_map(|key| line.get(*key).filter(|v| v.is_number() || v.is_string()))
        .ok_or_else(|| bad("line item without a price"))?;
    let price = json::from_value::<Amount>(price.clone())
        .map_err(|e| bad(format!("line item price: {e}")))?;
    let options: Vec<String> = line
        .get("options")
        .and_then(Value::as_array)
        .map(|options| {
            options
                .iter()
                .filter_map(|o| non_empty(o.get("value").and_then(Value::as_str)))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(LineItem {
        title: non_empty(line.get("name").and_then(Value::as_str))
            .unwrap_or("Item")
            .to_owned(),
        variant: (!options.is_empty()).then(|| options.join(" / ")),
        quantity,
        unit_price: money(&price, currency)?,
        image_url: non_empty(line.get("image_url").and_then(Value::as_str)).and_then(https_url),
    }))
}

#[derive(Deserialize)]
struct Order {
    id: u64,
    #[serde(default)]
    cart_id: Value,
    date_created: String,
    total_inc_tax: Amount,
    currency_code: String,
    #[serde(default)]
    billing_address: Value,
}

fn order_event(cart: &CartId, number: u64, body: &[u8]) -> Result<CartEvent, ApiError> {
    let order: Order = json::from_slice(body).map_err(|e| bad(format!("order: {e}")))?;
    if order.id != number {
        return Err(bad("the order's id is not the one asked for"));
    }
    // The order names the cart it was made from; where that is not the webhook's cart (never
    // for a genuine webhook), the order is the truth: that cart was bought.
    let cart = match non_empty(order.cart_id.as_str()) {
        Some(own) if own != cart.as_str() => {
            CartId::parse(own).map_err(|e| bad(format!("order cart_id: {e}")))?
        }
        _ => cart.clone(),
    };
    let currency = CurrencyCode::parse(&order.currency_code.to_ascii_uppercase())
        .map_err(|e| bad(format!("order currency_code: {}", e.problem())))?;
    let at = jiff::fmt::rfc2822::parse(order.date_created.trim())
        .map(|zoned| zoned.timestamp())
        .or_else(|_| order.date_created.trim().parse::<Timestamp>())
        .map_err(|_| bad("order: date_created is not a date"))?;
    let billing = &order.billing_address;
    let text = |key: &str| non_empty(billing.get(key).and_then(Value::as_str));
    Ok(CartEvent::Conversion(Conversion {
        cart: Some(cart),
        order_id: Some(order.id.to_string()),
        email: email_of(text("email")),
        phone: phone_of(text("phone"), text("country_iso2")),
        total: Some(money(&order.total_inc_tax, currency)?),
        at,
    }))
}

/// An ISO-8601 time with an offset (`2018-09-17T14:53:40+00:00`); absent is `None`.
fn time(value: &Value, field: &str) -> Result<Option<Timestamp>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|_| bad(format!("{field} is not a date"))),
        _ => Err(bad(format!("{field} is not a date"))),
    }
}

/// An amount (a JSON number, or a string as in the v2 API) in the currency's minor units.
fn money(amount: &Amount, currency: CurrencyCode) -> Result<Money, ApiError> {
    let value = Decimal::from_str(amount.0.trim())
        .or_else(|_| Decimal::from_scientific(amount.0.trim()))
        .map_err(|_| bad("an amount is not a decimal number"))?;
    let rounded =
        value.round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero);
    Money::parse(&rounded.to_string(), currency).map_err(|e| bad(e.problem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_hashes_are_lowercase_letters_and_digits() {
        assert!(StoreHash::parse("abc123xyz").is_ok());
        for bad in ["", "ABC", "abc/../x", "stores/abc", &"a".repeat(33)] {
            assert!(StoreHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_name_the_cart_or_the_order() {
        let cart = CartId::parse("09346904-4175-44fd-be53-f7e598531b6c").expect("id");
        let store = StoreHash::parse("abc123").expect("hash");
        assert_eq!(
            Fetch::Cart(cart.clone()).url("https://api.bigcommerce.com/", &store),
            "https://api.bigcommerce.com/stores/abc123/v3/carts/09346904-4175-44fd-be53-f7e598531b6c?include=redirect_urls"
        );
        assert_eq!(Fetch::Order { cart, order: 252 }.path(), "/v2/orders/252");
    }
}
