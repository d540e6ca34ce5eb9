//! A cart as the table stores it, and back: the one codec of cart items, used by every
//! reader and writer of them (the DynamoDB adapter, the planner's stream images, the
//! in-memory store that bills by the adapter's sizes, the emulator stack).
//!
//! Plain, top-level attributes are only those DynamoDB itself or a query reads:
//!
//! | attribute | read by |
//! |---|---|
//! | `pk`, `sk` | the table's keys; the planner's stream filter (`sk` begins with `CART#`) |
//! | `kind` (`cart`) | anyone scanning the table |
//! | `version` | the condition of every write (`version = :expected`) |
//! | `expires_at` | DynamoDB's TTL, which needs a top-level Number (epoch seconds) |
//! | `person_pk`, `person_alt_pk` | the sparse keys-only `person` and `person_alt` indexes |
//! | `due_pk`, `due_sk` | the sparse keys-only `due` index (the sweeper) |
//!
//! The rest of the [`CartRecord`] (the snapshot, the sent steps, the claim, the order …)
//! is one Binary attribute, [`RECORD`]: a format byte ([`FORMAT_DEFLATE_JSON`]), then the
//! record's JSON without `shop`, `cart` (the keys name them) and `expires_at`, compressed
//! with raw DEFLATE (RFC 1951) from a preset dictionary ([`DICTIONARY`]: the record's field
//! names and common values, so a small record does not pay for spelling them out). Nothing
//! queries inside a cart, and DynamoDB bills a write per started KB: a cart item after its
//! three steps is about 0.5 to 0.8 KB where the plain one was 1.2 to 3 KB.
//!
//! An item written before [`RECORD`] existed holds the whole record as plain attributes;
//! it is read as it was written, and its next write stores it in this form.

use std::io::{Read, Write};

use flate2::{Compress, Compression, Decompress};
use serde_dynamo::{AttributeValue, Item};
use serde_json::{Map, Value};

use crate::model::cart::{CartRecord, Versioned};
use crate::model::ids::log_hash;
use crate::model::table;

/// The Binary attribute holding the compressed record.
pub const RECORD: &str = "record";
/// The item's kind (`cart`), beside the keys.
pub const KIND: &str = "kind";
/// The version every write is conditional on.
pub const VERSION: &str = "version";
/// DynamoDB's TTL attribute (epoch seconds, a Number).
pub const EXPIRES_AT: &str = "expires_at";
/// The hash keys of the `person` and `person_alt` indexes.
pub const PERSON_PK: &str = "person_pk";
pub const PERSON_ALT_PK: &str = "person_alt_pk";
/// The keys of the `due` index.
pub const DUE_PK: &str = "due_pk";
pub const DUE_SK: &str = "due_sk";

/// The first byte of [`RECORD`]: what follows is the record's JSON (without the plain
/// parts), compressed with raw DEFLATE (RFC 1951) from the preset [`DICTIONARY`].
pub const FORMAT_DEFLATE_JSON: u8 = 1;

/// The preset dictionary of [`FORMAT_DEFLATE_JSON`]: JSON shaped like a record (every field
/// name in the order serde writes them, the enums' common values), the most common shape
/// last, where DEFLATE reaches it most cheaply. Stored blobs refer into it: it never changes
/// (a unit test pins it). A better one is a new format byte, with this one kept to read the
/// blobs already stored.
pub const DICTIONARY: &str = concat!(
    r#"{"platform":"woocommerce","platform":"bigcommerce","platform":"generic","#,
    r#""status":"converted","snapshot":{"phone":"+","first_name":"","orders_count":1,"#,
    r#""consent":{"email_marketing":false,"sms_marketing":true},"#,
    r#""locale":"fi","locale":"pl","locale":"ja","#,
    r#""items":[{"title":"","variant":"","quantity":2,"unit_price":{"minor":0,"#,
    r#""currency":"USD"},"image_url":"https://cdn.shopify.com/s/files/1/0"},"#,
    r#"{"title":"","quantity":3,"unit_price":{"minor":0,"currency":"GBP"},"#,
    r#""image_url":"https://"}],"total":{"minor":0,"currency":"USD"},"#,
    r#""recovery_url":"https://?wc-api=","time_zone":"America/","time_zone":"Europe/","#,
    r#""country":"US","region":""},"contact":"","last_activity_at":1,"#,
    r#""source_updated_at":1,"sequence":"returning-customer","#,
    r#""sent":[{"step":1,"channel":"sms","template":"","message_id":"","sent_at":1,"#,
    r#""skipped":"no_email_consent","unconfirmed":true,"opened_at":1,"clicked_at":1,"#,
    r#""variant":"b"}],"next_step":1,"next_due_at":1,"generation":1,"claimed_step":0,"#,
    r#""claimed_at":1,"claimed_channel":"email","claim_id":"","fired":1,"#,
    r#""stop_reason":"purchased","converted_at":1,"order_id":"","#,
    r#""order_total":{"minor":0,"currency":"EUR"},"arm":"holdout","recovered":true}"#,
    r#"{"platform":"shopify","status":"open","snapshot":{"email":"@gmail.com","#,
    r#""first_name":"","orders_count":0,"consent":{"email_marketing":true,"#,
    r#""sms_marketing":false},"locale":"en","items":[{"title":"","variant":"","#,
    r#""quantity":1,"unit_price":{"minor":0,"currency":"EUR"}}],"#,
    r#""total":{"minor":0,"currency":"EUR"},"#,
    r#""recovery_url":"https://.myshopify.com/checkouts//recover?key=","country":"FI"},"#,
    r#""contact":"","last_activity_at":1,"source_updated_at":1,"sequence":"new-visitor","#,
    r#""sent":[{"step":0,"channel":"email","template":"reminder","message_id":"","#,
    r#""sent_at":1},{"step":1,"channel":"email","template":"reassure","message_id":"","#,
    r#""sent_at":1},{"step":2,"channel":"email","template":"offer","message_id":"","#,
    r#""sent_at":1}],"next_step":3,"generation":4,"fired":3,"#,
    r#""stop_reason":"sequence_complete","arm":"treatment"}"#,
);

/// The record's fields that live in plain attributes instead of the blob.
const PLAIN_FIELDS: [&str; 3] = ["shop", "cart", EXPIRES_AT];
/// A blob that inflates past this is refused: a record comes nowhere near it (an item is
/// at most 400 KB), so it is corrupt or not ours.
const MAX_RECORD_JSON: u64 = 4 * 1024 * 1024;

/// A cart item that cannot be written or read. `item` is the hash of the shop and cart
/// ids (as logs name carts), never the ids themselves, and `problem` quotes no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cart item {item}: {problem}")]
pub struct CartItemError {
    pub item: String,
    pub problem: String,
}

/// The item storing `record` at `version`: the plain attributes and the compressed rest.
pub fn encode(record: &CartRecord, version: u64) -> Result<Item, CartItemError> {
    let fail = |problem: String| CartItemError {
        item: log_hash(&[record.shop.as_str(), record.cart.as_str()]),
        problem,
    };
    let mut fields = match serde_json::to_value(record) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Err(fail("the record is not a JSON object".to_owned())),
        Err(e) => return Err(fail(format!("encoding the record: {}", json_problem(&e)))),
    };
    for field in PLAIN_FIELDS {
        fields.remove(field);
    }
    let json = serde_json::to_vec(&fields)
        .map_err(|e| fail(format!("encoding the record: {}", json_problem(&e))))?;
    let blob = deflate(&json).map_err(|e| fail(format!("compressing the record: {e}")))?;

    let s = |value: String| AttributeValue::S(value);
    let mut item = Item::default();
    item.insert("pk".into(), s(table::shop_pk(&record.shop)));
    item.insert("sk".into(), s(table::cart_sk(&record.cart)));
    item.insert(KIND.into(), s("cart".to_owned()));
    item.insert(VERSION.into(), AttributeValue::N(version.to_string()));
    item.insert(
        EXPIRES_AT.into(),
        AttributeValue::N(record.expires_at.to_string()),
    );
    // Sparse: the person indexes hold only carts that still carry a contact.
    for (attribute, key) in [PERSON_PK, PERSON_ALT_PK]
        .into_iter()
        .zip(table::person_keys(record))
    {
        if let Some(key) = key {
            item.insert(attribute.into(), s(table::person_pk(&record.shop, &key)));
        }
    }
    // Sparse: a put replaces the whole item, so a cart that closes or has nothing due
    // leaves the `due` index.
    if let Some((due_pk, due_sk)) = table::due_keys(record) {
        item.insert(DUE_PK.into(), s(due_pk));
        item.insert(DUE_SK.into(), s(due_sk));
    }
    item.insert(RECORD.into(), AttributeValue::B(blob));
    Ok(item)
}

/// The cart an item stores, and its version (0 when the item has none): from [`RECORD`]
/// when the item has it, else from the plain attributes an item written before it holds.
pub fn decode(item: &Item) -> Result<Versioned<CartRecord>, CartItemError> {
    let fail = |problem: String| CartItemError {
        item: item_hash(item),
        problem,
    };
    let version = match item.get(VERSION) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| fail("`version` is not a whole number".to_owned()))?,
        Some(_) => return Err(fail("`version` is not a Number".to_owned())),
        None => 0,
    };
    let value = match item.get(RECORD) {
        Some(AttributeValue::B(blob)) => decode_blob(item, blob).map_err(fail)?,
        Some(_) => return Err(fail(format!("`{RECORD}` is not Binary"))),
        // Written before the record was compressed: every field a plain attribute.
        None => serde_dynamo::from_item(item.clone())
            .map_err(|e| fail(format!("a cart item with plain attributes: {e}")))?,
    };
    Ok(Versioned { value, version })
}

/// The record from the blob and the plain attributes beside it.
fn decode_blob(item: &Item, blob: &[u8]) -> Result<CartRecord, String> {
    let Some((&format, compressed)) = blob.split_first() else {
        return Err(format!("`{RECORD}` is empty"));
    };
    if format != FORMAT_DEFLATE_JSON {
        return Err(format!("`{RECORD}` has unknown format {format}"));
    }
    let json = inflate(compressed)?;
    let mut fields: Map<String, Value> = serde_json::from_slice(&json)
        .map_err(|e| format!("`{RECORD}` is not a JSON object: {}", json_problem(&e)))?;
    let text = |name: &str, prefix: &str| match item.get(name) {
        Some(AttributeValue::S(key)) => key
            .strip_prefix(prefix)
            .map(|id| Value::String(id.to_owned()))
            .ok_or_else(|| format!("`{name}` does not begin with {prefix}")),
        _ => Err(format!("no `{name}` String")),
    };
    fields.insert("shop".into(), text("pk", table::SHOP_PK_PREFIX)?);
    fields.insert("cart".into(), text("sk", table::CART_SK_PREFIX)?);
    let expires_at = match item.get(EXPIRES_AT) {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .map_err(|_| format!("`{EXPIRES_AT}` is not a whole number"))?,
        _ => return Err(format!("no `{EXPIRES_AT}` Number")),
    };
    fields.insert(EXPIRES_AT.into(), Value::from(expires_at));
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("`{RECORD}` is not a cart record: {}", json_problem(&e)))
}

/// [`FORMAT_DEFLATE_JSON`] then `json` deflated (raw) from [`DICTIONARY`], at zlib's default
/// level: on a cart record the best level saves a few bytes at a third more time.
/// The `Compress` is driven by the zlib encoder, which adds no header of its own: the
/// header is the compressor's, and it was made without one.
fn deflate(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut compress = Compress::new(Compression::default(), false);
    compress
        .set_dictionary(DICTIONARY.as_bytes())
        .map_err(std::io::Error::other)?;
    let mut encoder = flate2::write::ZlibEncoder::new_with_compress(
        Vec::with_capacity(json.len() / 2 + 16),
        compress,
    );
    encoder.get_mut().push(FORMAT_DEFLATE_JSON);
    encoder.write_all(json)?;
    encoder.finish()
}

/// The JSON a raw DEFLATE stream from [`DICTIONARY`] holds, refused past
/// [`MAX_RECORD_JSON`].
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut decompress = Decompress::new(false);
    decompress
        .set_dictionary(DICTIONARY.as_bytes())
        .map_err(|e| format!("`{RECORD}`: {e}"))?;
    let mut json = Vec::new();
    let read = flate2::bufread::ZlibDecoder::new_with_decompress(compressed, decompress)
        .take(MAX_RECORD_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("`{RECORD}` does not inflate: {e}"))?;
    if read as u64 > MAX_RECORD_JSON {
        return Err(format!("`{RECORD}` inflates past {MAX_RECORD_JSON} bytes"));
    }
    Ok(json)
}

/// A JSON error without the text it was reading (which may be a person's address).
fn json_problem(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "a field is missing or of the wrong type",
        serde_json::error::Category::Eof => "unexpected end",
    };
    if error.line() == 0 {
        kind.to_owned()
    } else {
        format!("{kind} at line {} column {}", error.line(), error.column())
    }
}

/// The hash of the shop and cart an item's keys name (as logs name carts).
fn item_hash(item: &Item) -> String {
    let id = |name: &str, prefix: &str| match item.get(name) {
        Some(AttributeValue::S(key)) => key.strip_prefix(prefix).map(str::to_owned),
        _ => None,
    };
    match (
        id("pk", table::SHOP_PK_PREFIX),
        id("sk", table::CART_SK_PREFIX),
    ) {
        (Some(shop), Some(cart)) => log_hash(&[&shop, &cart]),
        _ => "without readable keys".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::model::cart::{Platform, SentStep};
    use crate::model::ids::{CartId, ContactKey, ShopId};
    use crate::model::sequence::Channel;

    fn record() -> CartRecord {
        let at: Timestamp = "2026-11-02T08:00:00Z".parse().expect("time");
        CartRecord {
            contact: Some(ContactKey::from_bytes([7; 32])),
            sequence: "new-visitor".to_owned(),
            next_step: 1,
            next_due_at: Some("2026-11-02T18:00:00Z".parse().expect("time")),
            generation: 2,
            sent: vec![SentStep {
                step: 0,
                channel: Channel::Email,
                template: "reminder".to_owned(),
                message_id: "m-1".to_owned(),
                sent_at: at,
                skipped: None,
                unconfirmed: false,
                opened_at: None,
                clicked_at: None,
                variant: None,
            }],
            expires_at: 1_767_000_000,
            ..CartRecord::new(
                ShopId::parse("kuura").expect("shop"),
                CartId::parse("c-1").expect("cart"),
                Platform::Shopify,
                at,
            )
        }
    }

    #[test]
    fn a_record_comes_back_as_it_went_in() {
        let cart = record();
        let item = encode(&cart, 7).expect("encodes");
        let back = decode(&item).expect("decodes");
        assert_eq!(
            back,
            Versioned {
                value: cart,
                version: 7
            }
        );
        assert!(matches!(item.get(RECORD), Some(AttributeValue::B(_))));
        assert_eq!(item.get(KIND), Some(&AttributeValue::S("cart".into())));
        assert_eq!(
            item.get(EXPIRES_AT),
            Some(&AttributeValue::N("1767000000".into()))
        );
    }

    #[test]
    fn the_dictionary_of_format_1_never_changes() {
        // Every stored blob of format 1 refers into these bytes.
        assert_eq!(DICTIONARY.len(), 1940);
        assert_eq!(log_hash(&[DICTIONARY]), "7f3a86ef17cbe6f2");
    }

    /// A blob as stored by an earlier build (at the best level, not today's default):
    /// whatever changes in the encoder (the library, its level), what is stored reads back.
    #[test]
    fn a_stored_blob_of_format_1_still_reads() {
        let mut item = encode(&record(), 7).expect("encodes");
        let stored = hex::decode(STORED_BLOB).expect("hex");
        item.insert(RECORD.into(), AttributeValue::B(stored));
        assert_eq!(decode(&item).expect("decodes").value, record());
    }

    const STORED_BLOB: &str = concat!(
        "01ab468a1f0373caa012aad38cb046b7b9a5b1998199890108a0974820391323143978a460cfc4b0a4",
        "8019c628019aab6b8812a6a88e80a7236ca90614fcb8932296948b6e367231530b00"
    );

    #[test]
    fn the_dictionary_makes_a_small_record_smaller() {
        let json = serde_json::to_vec(&record()).expect("JSON");
        let with = deflate(&json).expect("deflate").len();
        let mut without = Compress::new(Compression::default(), false);
        let mut plain = Vec::with_capacity(json.len() + 64);
        without
            .compress_vec(&json, &mut plain, flate2::FlushCompress::Finish)
            .expect("deflate");
        assert!(4 * with < 3 * plain.len(), "{with} vs {}", plain.len());
    }

    #[test]
    fn only_what_dynamodb_or_a_query_reads_is_plain() {
        let item = encode(&record(), 1).expect("encodes");
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "due_pk",
                "due_sk",
                "expires_at",
                "kind",
                "person_pk",
                "pk",
                "record",
                "sk",
                "version"
            ]
        );
    }

    #[test]
    fn an_item_with_plain_attributes_still_reads() {
        let cart = record();
        // As written before the blob: the record's fields, the keys, kind and version.
        let mut item: Item = serde_dynamo::to_item(&cart).expect("plain item");
        item.insert("pk".into(), AttributeValue::S("SHOP#kuura".into()));
        item.insert("sk".into(), AttributeValue::S("CART#c-1".into()));
        item.insert(KIND.into(), AttributeValue::S("cart".into()));
        item.insert(VERSION.into(), AttributeValue::N("3".into()));
        let back = decode(&item).expect("decodes");
        assert_eq!(
            back,
            Versioned {
                value: cart,
                version: 3
            }
        );
    }

    #[test]
    fn a_corrupt_blob_is_an_error_naming_the_item_by_its_hash() {
        let cart = record();
        let hash = log_hash(&["kuura", "c-1"]);
        let mut item = encode(&cart, 1).expect("encodes");
        let corrupt = |item: &mut Item, blob: Vec<u8>| {
            item.insert(RECORD.into(), AttributeValue::B(blob));
        };
        for (blob, says) in [
            (vec![], "empty"),
            (vec![9, 1, 2, 3], "unknown format 9"),
            (
                vec![FORMAT_DEFLATE_JSON, 0xff, 0xfe, 0x00],
                "does not inflate",
            ),
        ] {
            corrupt(&mut item, blob);
            let error = decode(&item).expect_err("corrupt");
            assert_eq!(error.item, hash);
            assert!(error.problem.contains(says), "{error}");
            assert!(!error.to_string().contains("kuura"), "{error}");
        }
        // Valid DEFLATE of something that is not a record.
        corrupt(
            &mut item,
            deflate(br#"{"sequence": "ada@example.com"}"#).expect("deflate"),
        );
        let error = decode(&item).expect_err("not a record");
        assert!(error.problem.contains("not a cart record"), "{error}");
        assert!(!error.to_string().contains("ada@"), "{error}");
        item.insert(RECORD.into(), AttributeValue::S("text".into()));
        assert!(
            decode(&item)
                .expect_err("not binary")
                .problem
                .contains("not Binary")
        );
    }
}
