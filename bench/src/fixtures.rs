//! Shopify checkouts of any size, made from the real `checkouts/create` fixture: its two
//! line items repeated with their own keys, ids and titles, and the totals and tax lines
//! recomputed so the payload stays consistent.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The fixture checkout (Ada's, 2 line items, EUR, VAT included).
pub const CHECKOUT_FIXTURE: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");

/// The fake secret the fixtures are signed with.
pub const SECRET: &str = "cartback-fixture-secret";

/// The shop the fixture belongs to.
pub const SHOP: &str = "demo-shop.myshopify.com";

/// Finnish VAT, as in the fixture (prices include it).
const VAT_PER_MILLE: i64 = 255;

const PRODUCTS: &[(&str, &str)] = &[
    ("Merino Wool Beanie", "Charcoal"),
    ("Organic Cotton Tote", "Natural"),
    ("Linen Tea Towel", "Sage"),
    ("Alpaca Scarf", "Oat"),
    ("Ceramic Mug", "Speckled"),
];

fn cents(amount: &str) -> Option<i64> {
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, "0"));
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.get(..2)?.parse::<i64>().ok()?)
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The VAT included in a gross amount, rounded to the cent.
fn vat_in(gross: i64) -> i64 {
    (gross * VAT_PER_MILLE * 2 + (1000 + VAT_PER_MILLE)) / ((1000 + VAT_PER_MILLE) * 2)
}

/// The fixture checkout with `items` line items (at least 1), as Shopify sends it: compact
/// JSON. Item `i` copies the fixture's item `i % 2` with its own key, ids, SKU and title.
pub fn checkout(items: usize) -> Vec<u8> {
    let value = checkout_value(items);
    serde_json::to_vec(&value).unwrap_or_default()
}

/// [`checkout`] as a JSON value (the generator edits it further).
pub fn checkout_value(items: usize) -> Value {
    let mut checkout: Value = serde_json::from_str(CHECKOUT_FIXTURE).unwrap_or(Value::Null);
    let templates: Vec<Value> = checkout["line_items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if templates.is_empty() {
        return checkout;
    }
    let mut lines = Vec::with_capacity(items.max(1));
    let mut total = 0;
    for i in 0..items.max(1) {
        let mut line = templates[i % templates.len()].clone();
        let (title, variant) = PRODUCTS[i % PRODUCTS.len()];
        let title = if i < PRODUCTS.len() {
            title.to_owned()
        } else {
            format!("{title} No. {}", i / PRODUCTS.len() + 1)
        };
        let price = line["price"].as_str().and_then(cents).unwrap_or(1000);
        let quantity = 1 + (i as i64 % 3);
        let line_price = price * quantity;
        total += line_price;
        line["key"] = json!(format!("{:032x}", 0xa1b2_c3d4_u64 + i as u64));
        line["title"] = json!(title);
        line["presentment_title"] = json!(title);
        line["variant_title"] = json!(variant);
        line["presentment_variant_title"] = json!(variant);
        line["product_id"] = json!(7_712_345_678_901_u64 + i as u64);
        line["variant_id"] = json!(43_012_345_678_901_u64 + i as u64);
        line["sku"] = json!(format!("SKU-{i:05}"));
        line["quantity"] = json!(quantity);
        line["line_price"] = json!(money(line_price));
        line["tax_lines"][0]["price"] = json!(money(vat_in(line_price)));
        line["tax_lines"][0]["tax_calculation_price"] = json!(money(vat_in(line_price)));
        lines.push(line);
    }
    checkout["line_items"] = Value::Array(lines);
    for field in ["total_line_items_price", "total_price", "subtotal_price"] {
        checkout[field] = json!(money(total));
    }
    checkout["total_tax"] = json!(money(vat_in(total)));
    checkout["tax_lines"][0]["price"] = json!(money(vat_in(total)));
    checkout
}

/// base64(HMAC-SHA256(secret, body)): the `X-Shopify-Hmac-Sha256` header value.
pub fn signature(body: &[u8]) -> String {
    cartback_core::platforms::shopify::sign(&cartback_core::model::shop::Secret::new(SECRET), body)
}

/// The floor a webhook is measured against: what any handler must do at least — the
/// HMAC-SHA256 of the body and a `serde_json` parse of it to a `Value`.
pub fn floor(secret: &[u8], body: &[u8]) -> Option<([u8; 32], Value)> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(body);
    let tag: [u8; 32] = mac.finalize().into_bytes().into();
    let value = serde_json::from_slice(body).ok()?;
    Some((tag, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cartback_core::model::cart::{CartEvent, Platform};
    use cartback_core::model::shop::{Secret, SignatureCheck};
    use cartback_core::platforms::webhook::{Headers, parse_webhook};

    fn parsed_items(items: usize) -> usize {
        let body = checkout(items);
        let headers = Headers::new()
            .with("X-Shopify-Topic", "checkouts/create")
            .with("X-Shopify-Hmac-Sha256", signature(&body));
        let check = SignatureCheck::Required(Secret::new(SECRET));
        match parse_webhook(
            Platform::Shopify,
            &headers,
            &body,
            &check,
            jiff::Timestamp::UNIX_EPOCH,
        ) {
            Ok(parsed) => match parsed.event {
                Some(CartEvent::Activity(activity)) => {
                    let sum = activity
                        .snapshot
                        .items
                        .iter()
                        .filter_map(|i| i.unit_price.times(i.quantity))
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>();
                    assert_eq!(sum.len(), items);
                    activity.snapshot.items.len()
                }
                other => panic!("expected cart activity, got {other:?}"),
            },
            Err(e) => panic!("the generated checkout is refused: {e}"),
        }
    }

    #[test]
    fn generated_checkouts_parse_with_every_line_item() {
        for items in [1, 2, 10, 50] {
            assert_eq!(parsed_items(items), items);
        }
    }

    #[test]
    fn totals_add_up() {
        let value = checkout_value(10);
        let sum: i64 = value["line_items"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l["line_price"].as_str().and_then(cents))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(value["total_price"].as_str().and_then(cents), Some(sum));
        // The fixture's own figures: 24.90 + 2 × 12.50 = 49.90, VAT 25.5 % included: 10.14.
        assert_eq!(vat_in(4990), 1014);
    }

    #[test]
    fn the_floor_hashes_and_parses() {
        let body = checkout(1);
        assert!(floor(SECRET.as_bytes(), &body).is_some());
    }
}
