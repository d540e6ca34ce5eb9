//! The single table's key layout, shared by the DynamoDB adapter, the in-memory store and
//! tools that read the table.
//!
//! `pk = SHOP#{shop}`; `sk = CART#{cart}` | `CONTACT#{hash}` | `DELIVERY#{id}` | `CONFIG`
//! | the offer code pools' items (`POOL#{pool}…`, below).
//! Cart items also carry `person_pk = SHOP#{shop}#CONTACT#{hash}` of their first contact key
//! and `person_alt_pk` of their second (the sparse keys-only `person` and `person_alt`
//! indexes that find a person's carts), and an open cart with a due time `due_pk = DUE#{yyyy-mm-dd}#{shard}`,
//! `due_sk = {millis:013}#{shop}#{cart}` (the sparse `due` index the sweeper reads).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::model::cart::CartRecord;
use crate::model::ids::{CartId, ContactKey, DeliveryId, PoolName, ShopId, log_hash};
use crate::model::offer_codes::{OfferCode, free_slot};

/// The partition-key prefix of every item of a shop.
pub const SHOP_PK_PREFIX: &str = "SHOP#";

pub fn shop_pk(shop: &ShopId) -> String {
    format!("{SHOP_PK_PREFIX}{shop}")
}

pub fn cart_sk(cart: &CartId) -> String {
    format!("CART#{cart}")
}

/// The sort-key prefix of contact items.
pub const CONTACT_SK_PREFIX: &str = "CONTACT#";
/// The sort-key prefix of webhook delivery ids.
pub const DELIVERY_SK_PREFIX: &str = "DELIVERY#";

pub fn contact_sk(key: &ContactKey) -> String {
    format!("{CONTACT_SK_PREFIX}{key}")
}

pub fn delivery_sk(id: &DeliveryId) -> String {
    format!("{DELIVERY_SK_PREFIX}{id}")
}

/// The `person` / `person_alt` index partition of a person's key in a shop.
pub fn person_pk(shop: &ShopId, key: &ContactKey) -> String {
    format!("{}#CONTACT#{key}", shop_pk(shop))
}

/// The keys a cart is indexed under: its first two contact keys (the email and the phone
/// typed into the checkout, or the key it was filed under), the first as `person_pk`, the
/// second as `person_alt_pk`. A third key (an email changed on the checkout, the cart still
/// filed under the old one) is not indexed: that person is found by the first two.
pub fn person_keys(record: &CartRecord) -> [Option<ContactKey>; 2] {
    let mut keys = record.contact_keys().into_iter();
    [keys.next(), keys.next()]
}

pub const CONFIG_SK: &str = "CONFIG";
/// The sort-key prefix of cart items (the planner's stream filter).
pub const CART_SK_PREFIX: &str = "CART#";

/// A pool's header: counters of free (`available`), claimed and imported codes.
pub fn pool_sk(pool: &PoolName) -> String {
    format!("POOL#{pool}")
}

/// The sort-key prefix of a pool's free codes.
pub fn pool_free_prefix(pool: &PoolName) -> String {
    format!("POOL#{pool}#FREE#")
}

/// The end of a pool's free codes: `$` sorts right after `#`, so every free slot of the
/// pool sorts before it.
pub fn pool_free_end(pool: &PoolName) -> String {
    format!("POOL#{pool}#FREE$")
}

/// A free (never claimed) code, spread over the sort order by its hash (`offer_codes::free_slot`).
pub fn pool_free_sk(pool: &PoolName, code: &OfferCode) -> String {
    format!("{}{}", pool_free_prefix(pool), free_slot(code))
}

/// A code that was claimed, and by which cart step; kept for good, so a re-import cannot
/// make the code available again.
pub fn pool_used_sk(pool: &PoolName, code: &OfferCode) -> String {
    format!("POOL#{pool}#USED#{code}")
}

/// The code a cart's step holds (looked up first, so a retry gets the same code).
pub fn pool_claim_sk(pool: &PoolName, cart: &CartId, step: u32) -> String {
    format!("POOL#{pool}#CLAIM#{cart}#{step}")
}

/// The `due` index spreads each day's due carts over this many partitions.
pub const DUE_SHARDS: u32 = 8;
/// How many days before the sweep's own the sweeper looks back in the `due` index.
pub const DUE_LOOKBACK_DAYS: i64 = 30;

/// The `due` partitions the sweeper queries for `before`, in its order: the day of `before`
/// first, then each day back, every shard of a day.
pub fn due_partitions(before: Timestamp) -> impl Iterator<Item = String> {
    (0..=DUE_LOOKBACK_DAYS)
        .map_while(move |days_back| {
            before
                .checked_sub(jiff::SignedDuration::from_hours(24 * days_back))
                .ok()
                .map(due_day)
        })
        .flat_map(|day| (0..DUE_SHARDS).map(move |shard| due_pk(day, shard)))
}

/// The partition of the `due` index a cart falls in (0..`DUE_SHARDS`), from a hash of its
/// shop and cart: stable, and spread evenly.
pub fn due_shard(shop: &ShopId, cart: &CartId) -> u32 {
    let hash = log_hash(&[shop.as_str(), cart.as_str()]);
    u32::from_str_radix(&hash[..2], 16).unwrap_or(0) % DUE_SHARDS
}

/// The UTC day of `at`.
pub fn due_day(at: Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

/// `DUE#{yyyy-mm-dd}#{shard}`: one partition of the `due` index.
pub fn due_pk(day: Date, shard: u32) -> String {
    format!("DUE#{day}#{shard}")
}

/// `{epoch millis, 13 digits}`: every `due_sk` of a cart due before `at` sorts before it.
pub fn due_sk_bound(at: Timestamp) -> String {
    format!("{:013}", at.as_millisecond().max(0))
}

/// `{epoch millis, 13 digits}#{shop}#{cart}`: ordered by due time within a partition.
pub fn due_sk(at: Timestamp, shop: &ShopId, cart: &CartId) -> String {
    format!("{}#{shop}#{cart}", due_sk_bound(at))
}

/// The `due` index keys (`due_pk`, `due_sk`) of a cart: only an open cart with a due time
/// has them (the index is sparse).
pub fn due_keys(record: &CartRecord) -> Option<(String, String)> {
    if !record.is_open() {
        return None;
    }
    let at = record.next_due_at?;
    Some((
        due_pk(due_day(at), due_shard(&record.shop, &record.cart)),
        due_sk(at, &record.shop, &record.cart),
    ))
}

/// The shop and cart a `due_sk` names (ids never hold `#`).
pub fn parse_due_sk(sk: &str) -> Option<(ShopId, CartId)> {
    let (_millis, rest) = sk.split_once('#')?;
    let (shop, cart) = rest.split_once('#')?;
    Some((ShopId::parse(shop).ok()?, CartId::parse(cart).ok()?))
}
