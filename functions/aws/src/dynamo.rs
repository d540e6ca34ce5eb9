//! The table: carts, contacts, delivery markers and shop settings in one DynamoDB table.
//!
//! Keys as in `cartback_core::model::table`. Every item carries `version` (optimistic concurrency)
//! and most `expires_at` (TTL).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put as DynamoPut, TransactWriteItem,
};
use cartback_core::model::cart::{CartRecord, ContactRecord, Versioned};
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::model::shop::{Removal, Shop, ShopSettings};
use cartback_core::ports::{
    CartStore, DueIndex, PersonalData, PortError, Put, ShopDirectory, WriteOutcome,
};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::LazyClient;
use crate::errors::{code, port_error};
use crate::shop_cache::ShopCache;

const SERVICE: &str = "dynamodb";
/// How long shop settings are cached in a warm container.
const SHOP_CACHE_TTL: Duration = Duration::from_secs(300);
/// How long "no such shop" is remembered (short, so a new shop works at once).
const UNKNOWN_SHOP_CACHE_TTL: Duration = Duration::from_secs(30);

pub use cartback_core::model::table as keys;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn mapping_error(what: &str, error: impl std::fmt::Display) -> PortError {
    PortError::permanent(SERVICE, format!("{what}: {error}"))
}

pub(crate) fn to_item<T: Serialize>(
    value: &T,
    pk: String,
    sk: String,
    version: u64,
) -> Result<Item, PortError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| mapping_error("encoding item", e))?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert("version".into(), n(version));
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<Versioned<T>, PortError> {
    let version = match item.get("version") {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| mapping_error("version", e))?,
        _ => 0,
    };
    let value = serde_dynamo::from_item(item).map_err(|e| mapping_error("decoding item", e))?;
    Ok(Versioned { value, version })
}

/// Carts, contacts and delivery markers on DynamoDB.
#[derive(Clone)]
pub struct DynamoCartStore {
    pub(crate) client: LazyClient<Client>,
    pub(crate) table: String,
}

impl DynamoCartStore {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), table)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, table: &str) -> Self {
        Self {
            client: client.into(),
            table: table.to_owned(),
        }
    }

    /// One item, read consistently.
    pub(crate) async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "GetItem", &e))?;
        Ok(output.item)
    }

    /// The item and condition for one put; a condition check's key (pk and sk only) and
    /// condition.
    fn prepare(&self, put: Put) -> Result<Prepared, PortError> {
        let check = matches!(put, Put::ContactUnchanged { .. });
        let (expected, item) = match put {
            Put::Cart { record, expected } => {
                let version = expected.map_or(1, |v| v + 1);
                let mut item = to_item(
                    &*record,
                    keys::shop_pk(&record.shop),
                    keys::cart_sk(&record.cart),
                    version,
                )?;
                item.insert("kind".into(), s("cart"));
                if let Some(contact) = &record.contact {
                    item.insert(
                        "gsi1pk".into(),
                        s(keys::contact_gsi_pk(&record.shop, contact)),
                    );
                    item.insert("gsi1sk".into(), s(keys::cart_sk(&record.cart)));
                }
                // Sparse: a put replaces the whole item, so a cart that closes or has nothing
                // due leaves the `due` index.
                if let Some((due_pk, due_sk)) = keys::due_keys(&record) {
                    item.insert("due_pk".into(), s(due_pk));
                    item.insert("due_sk".into(), s(due_sk));
                }
                (expected, item)
            }
            Put::Contact { record, expected } => {
                let version = expected.map_or(1, |v| v + 1);
                let mut item = to_item(
                    &record,
                    keys::shop_pk(&record.shop),
                    keys::contact_sk(&record.key),
                    version,
                )?;
                item.insert("kind".into(), s("contact"));
                (expected, item)
            }
            Put::Delivery {
                shop,
                id,
                expires_at,
            } => {
                let mut item = Item::new();
                item.insert("pk".into(), s(keys::shop_pk(&shop)));
                item.insert("sk".into(), s(keys::delivery_sk(&id)));
                item.insert("kind".into(), s("delivery"));
                item.insert("expires_at".into(), n(expires_at));
                item.insert("version".into(), n(1));
                (None, item)
            }
            Put::ContactUnchanged {
                shop,
                key,
                expected,
            } => {
                let mut item = Item::new();
                item.insert("pk".into(), s(keys::shop_pk(&shop)));
                item.insert("sk".into(), s(keys::contact_sk(&key)));
                (expected, item)
            }
        };
        let mut values = HashMap::new();
        let condition = match expected {
            None => "attribute_not_exists(pk)".to_owned(),
            Some(version) => {
                values.insert(":expected".to_owned(), n(version));
                "version = :expected".to_owned()
            }
        };
        Ok(Prepared {
            item,
            condition,
            values,
            check,
        })
    }
}

/// One item of a write, ready for DynamoDB: a put, or (`check`) a condition check on the
/// item's key.
struct Prepared {
    item: Item,
    condition: String,
    values: HashMap<String, AttributeValue>,
    check: bool,
}

impl DynamoCartStore {
    /// Every cart item of `shop` (a paginated `Query` on its partition, `sk` beginning with
    /// `CART#`), for reports. One page reads up to 1 MB; a shop's carts expire 90 days after
    /// their last change, so this is bounded by three months of carts.
    pub async fn carts_of(&self, shop: &ShopId) -> Result<Vec<CartRecord>, PortError> {
        let mut carts = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :carts)")
                .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
                .expression_attribute_values(":carts", s(keys::CART_SK_PREFIX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "Query", &e))?;
            for item in output.items() {
                let cart: Versioned<CartRecord> = from_item(item.clone())?;
                carts.push(cart.value);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(carts),
            }
        }
    }
}

impl DynamoCartStore {
    /// Reads the shop's partition page by page (`sk` beginning with `prefix`; all of it for
    /// an empty prefix), handing each page's items to `each`; only the keys when `keys_only`.
    async fn each_page<F>(
        &self,
        shop: &ShopId,
        prefix: &str,
        keys_only: bool,
        mut each: F,
    ) -> Result<(), PortError>
    where
        F: FnMut(&[Item]) -> Result<(), PortError>,
    {
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            // A key condition cannot hold an empty string: no prefix, the whole partition.
            query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            if keys_only {
                query = query.projection_expression("pk, sk");
            }
            let output = query
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "Query", &e))?;
            each(output.items())?;
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(()),
            }
        }
    }

    async fn delete_item(&self, pk: String, sk: String) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "DeleteItem", &e))?;
        Ok(())
    }
}

/// The name of the sparse keys-only index of open carts by due time (`infra/template.yaml`).
pub const DUE_INDEX: &str = "due";
/// How far back the sweeper looks: the carts' retention (an older cart is gone by its TTL).
const DUE_LOOKBACK_DAYS: i64 = 30;

/// The sweeper's query: each (day, shard) partition of the `due` index, from the day of
/// `before` back [`DUE_LOOKBACK_DAYS`] days, `due_sk < before`, page by page, until `limit`
/// keys. Keys only: the index projects nothing else, and the sweeper reads each cart.
impl DueIndex for DynamoCartStore {
    async fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ShopId, CartId)>, PortError> {
        let mut found = Vec::new();
        let bound = keys::due_sk_bound(before);
        for days_back in 0..=DUE_LOOKBACK_DAYS {
            let Some(day) = before
                .checked_sub(SignedDuration::from_hours(24 * days_back))
                .ok()
                .map(keys::due_day)
            else {
                break;
            };
            for shard in 0..keys::DUE_SHARDS {
                let mut start: Option<Item> = None;
                loop {
                    if found.len() >= limit {
                        return Ok(found);
                    }
                    let page = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
                    let output = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .index_name(DUE_INDEX)
                        .key_condition_expression("due_pk = :pk AND due_sk < :before")
                        .expression_attribute_values(":pk", s(keys::due_pk(day, shard)))
                        .expression_attribute_values(":before", s(bound.clone()))
                        .limit(page)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| port_error(SERVICE, "Query", &e))?;
                    for item in output.items() {
                        let parsed = match item.get("due_sk") {
                            Some(AttributeValue::S(sk)) => keys::parse_due_sk(sk),
                            _ => None,
                        };
                        match parsed {
                            Some(key) if found.len() < limit => found.push(key),
                            Some(_) => {}
                            None => tracing::warn!("a due index item without a readable due_sk"),
                        }
                    }
                    match output.last_evaluated_key() {
                        Some(key) if !key.is_empty() => start = Some(key.clone()),
                        _ => break,
                    }
                }
            }
        }
        Ok(found)
    }
}

/// Erasure and export. A person's carts are found by reading the shop's cart items page by
/// page and keeping those the pure predicate selects (`core::erase::belongs_to`): a cart
/// filed under the email key is found by the phone too, which neither the `gsi1` index (one
/// key per cart) nor a filter expression on the stored `contact` attribute would do.
impl PersonalData for DynamoCartStore {
    async fn carts_where<F>(&self, shop: &ShopId, keep: F) -> Result<Vec<CartRecord>, PortError>
    where
        F: Fn(&CartRecord) -> bool + Send + Sync,
    {
        let mut carts = Vec::new();
        self.each_page(shop, keys::CART_SK_PREFIX, false, |items| {
            for item in items {
                let cart: Versioned<CartRecord> = from_item(item.clone())?;
                if keep(&cart.value) {
                    carts.push(cart.value);
                }
            }
            Ok(())
        })
        .await?;
        Ok(carts)
    }

    /// Deleting a cart that is already gone succeeds (DeleteItem without a condition).
    async fn delete_cart(&self, shop: &ShopId, cart: &CartId) -> Result<(), PortError> {
        self.delete_item(keys::shop_pk(shop), keys::cart_sk(cart))
            .await
    }

    async fn delete_shop_items(
        &self,
        shop: &ShopId,
        erase: fn(&str) -> bool,
    ) -> Result<usize, PortError> {
        let mut doomed = Vec::new();
        self.each_page(shop, "", true, |items| {
            doomed.extend(items.iter().filter_map(|item| match item.get("sk") {
                Some(AttributeValue::S(sk)) if erase(sk) => Some(sk.clone()),
                _ => None,
            }));
            Ok(())
        })
        .await?;
        for sk in &doomed {
            self.delete_item(keys::shop_pk(shop), sk.clone()).await?;
        }
        Ok(doomed.len())
    }
}

impl CartStore for DynamoCartStore {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.get(keys::shop_pk(shop), keys::cart_sk(cart))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.get(keys::shop_pk(shop), keys::contact_sk(key))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn delivery_seen(&self, shop: &ShopId, id: &DeliveryId) -> Result<bool, PortError> {
        Ok(self
            .get(keys::shop_pk(shop), keys::delivery_sk(id))
            .await?
            .is_some())
    }

    async fn write(&self, puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        let mut prepared = puts
            .into_iter()
            .map(|put| self.prepare(put))
            .collect::<Result<Vec<_>, _>>()?;
        if prepared.len() == 1 && !prepared[0].check {
            let Some(Prepared {
                item,
                condition,
                values,
                ..
            }) = prepared.pop()
            else {
                return Ok(WriteOutcome::Written);
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(WriteOutcome::Written),
                Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                    Ok(WriteOutcome::Conflict)
                }
                Err(e) => Err(port_error(SERVICE, "PutItem", &e)),
            };
        }
        let mut request = self.client.transact_write_items();
        for Prepared {
            item,
            condition,
            values,
            check,
        } in prepared
        {
            let values = (!values.is_empty()).then_some(values);
            let transact = if check {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(item))
                    .condition_expression(condition)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(|e| mapping_error("building a transaction", e))?;
                TransactWriteItem::builder().condition_check(check).build()
            } else {
                let put = DynamoPut::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(|e| mapping_error("building a transaction", e))?;
                TransactWriteItem::builder().put(put).build()
            };
            request = request.transact_items(transact);
        }
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) => {
                let conflict = e
                    .as_service_error()
                    .and_then(|se| match se {
                        TransactWriteItemsError::TransactionCanceledException(tc) => Some(tc),
                        _ => None,
                    })
                    .is_some_and(|tc| {
                        tc.cancellation_reasons().iter().any(|reason| {
                            matches!(
                                reason.code(),
                                Some("ConditionalCheckFailed" | "TransactionConflict")
                            )
                        })
                    });
                if conflict {
                    Ok(WriteOutcome::Conflict)
                } else {
                    Err(port_error(SERVICE, "TransactWriteItems", &e))
                }
            }
        }
    }
}

/// Shop settings from the table's `CONFIG` items, cached for a few minutes.
pub struct DynamoShopDirectory {
    store: DynamoCartStore,
    cache: ShopCache<Shop>,
}

impl DynamoShopDirectory {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), table)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, table: &str) -> Self {
        Self {
            store: DynamoCartStore::from_client(client, table),
            cache: ShopCache::new(SHOP_CACHE_TTL, UNKNOWN_SHOP_CACHE_TTL),
        }
    }

    /// Writes a shop's settings (used by tools and tests; the functions only read them).
    pub async fn put_settings(
        &self,
        id: &ShopId,
        settings: &ShopSettings,
    ) -> Result<(), PortError> {
        let item = to_item(settings, keys::shop_pk(id), keys::CONFIG_SK.to_owned(), 1)?;
        self.store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "PutItem", &e))?;
        Ok(())
    }
}

/// The CONFIG item's attribute that marks a removed shop (epoch milliseconds); its TTL
/// (`expires_at`) deletes the tombstone once kept long enough.
pub(crate) const REMOVED_AT: &str = "removed_at";
/// Until when a removed shop's tombstone is honoured (epoch milliseconds).
pub(crate) const KEEP_UNTIL: &str = "keep_until";

/// A removed shop's tombstone, from its CONFIG item.
pub(crate) fn removal_of(item: &Item) -> Option<Removal> {
    let millis = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .ok()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
        _ => None,
    };
    Some(Removal {
        at: millis(REMOVED_AT)?,
        keep_until: millis(KEEP_UNTIL)?,
    })
}

impl ShopDirectory for DynamoShopDirectory {
    async fn shop(&self, id: &ShopId) -> Result<Option<Shop>, PortError> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(hit);
        }
        let shop = match self
            .store
            .get(keys::shop_pk(id), keys::CONFIG_SK.to_owned())
            .await?
        {
            None => None,
            Some(item) => {
                let removal = removal_of(&item);
                let settings: Versioned<ShopSettings> = from_item(item).map_err(|e| {
                    PortError::permanent(
                        SERVICE,
                        format!("shop {id}: CONFIG item is invalid: {}", e.message),
                    )
                })?;
                Some(
                    Shop::new(id.clone(), settings.value)
                        .map_err(|e| PortError::permanent(SERVICE, format!("shop {id}: {e}")))?
                        .with_removal(removal),
                )
            }
        };
        self.cache.put(id, shop.clone());
        Ok(shop)
    }
}
