//! The single table's key layout, shared by the DynamoDB adapter, the in-memory store and
//! tools that read the table.
//!
//! `pk = SHOP#{shop}`; `sk = CART#{cart}` | `CONTACT#{hash}` | `DELIVERY#{id}` | `CONFIG`
//! | the offer code pools' items (`POOL#{pool}…`, below).
//! Cart items also carry `gsi1pk = SHOP#{shop}#CONTACT#{hash}`, `gsi1sk = CART#{cart}`.

use crate::model::ids::{CartId, ContactKey, DeliveryId, PoolName, ShopId};
use crate::model::offer_codes::{OfferCode, free_slot};

/// The partition-key prefix of every item of a shop.
pub const SHOP_PK_PREFIX: &str = "SHOP#";

pub fn shop_pk(shop: &ShopId) -> String {
    format!("{SHOP_PK_PREFIX}{shop}")
}

pub fn cart_sk(cart: &CartId) -> String {
    format!("CART#{cart}")
}

pub fn contact_sk(key: &ContactKey) -> String {
    format!("CONTACT#{key}")
}

pub fn delivery_sk(id: &DeliveryId) -> String {
    format!("DELIVERY#{id}")
}

pub fn contact_gsi_pk(shop: &ShopId, key: &ContactKey) -> String {
    format!("{}#CONTACT#{key}", shop_pk(shop))
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
