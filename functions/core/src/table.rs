//! The single table's key layout, shared by the DynamoDB adapter, the in-memory store and
//! tools that read the table.
//!
//! `pk = SHOP#{shop}`; `sk = CART#{cart}` | `CONTACT#{hash}` | `DELIVERY#{id}` | `CONFIG`.
//! Cart items also carry `gsi1pk = SHOP#{shop}#CONTACT#{hash}`, `gsi1sk = CART#{cart}`.

use crate::ids::{CartId, ContactKey, DeliveryId, ShopId};

pub fn shop_pk(shop: &ShopId) -> String {
    format!("SHOP#{shop}")
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
