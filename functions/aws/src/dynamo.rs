//! The table: carts, contacts, delivery markers and shop settings in one DynamoDB table.
//!
//! Keys as in `cartback_core::model::table`. Every item carries `version` (optimistic concurrency)
//! and most `expires_at` (TTL). Cart items are written and read through
//! `cartback_core::model::cart_item` (the record compressed beside the plain attributes).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, KeysAndAttributes, Put as DynamoPut,
    TransactWriteItem, WriteRequest,
};
use cartback_core::model::cart::{CartRecord, ContactRecord, Versioned};
use cartback_core::model::cart_item;
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::model::shop::{Removal, Shop, ShopSettings};
use cartback_core::ports::{
    CartAndContacts, CartStore, DueIndex, KeyPage, PersonalData, PortError, Put, ShopDirectory,
    WriteOutcome,
};
use jiff::Timestamp;
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

/// A cart item as the table holds it (`cartback_core::model::cart_item`: the record
/// compressed into one Binary attribute beside the keys, TTL and index keys), for a put.
fn cart_to_item(record: &CartRecord, version: u64) -> Result<Item, PortError> {
    cart_item::encode(record, version)
        .map(Into::into)
        .map_err(|e| PortError::permanent(SERVICE, e.to_string()))
}

/// The cart a cart item holds, in either form (`cart_item::decode`); an unreadable one is a
/// permanent error naming the item by its hash.
pub(crate) fn cart_from_item(item: Item) -> Result<Versioned<CartRecord>, PortError> {
    cart_item::decode(&serde_dynamo::Item::from(item))
        .map_err(|e| PortError::permanent(SERVICE, e.to_string()))
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

    /// Up to 100 items by key, read consistently in `BatchGetItem` calls (one, unless the
    /// service leaves keys unprocessed: those are asked again after a back-off). Absent
    /// items are left out; the order is the service's.
    pub(crate) async fn batch_get(&self, wanted: Vec<Item>) -> Result<Vec<Item>, PortError> {
        let mut found = Vec::new();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(wanted))
                .consistent_read(true)
                .build()
                .map_err(|e| mapping_error("building a batch read", e))?,
        );
        let mut attempt = 0;
        while let Some(keys_and_attributes) = request.take() {
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys_and_attributes)
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "BatchGetItem", &e))?;
            request = output
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|u| !u.keys().is_empty())
                .cloned();
            found.extend(
                output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            if request.is_some() {
                before_retry(&mut attempt, "BatchGetItem").await?;
            }
        }
        Ok(found)
    }

    /// The item and condition for one put; a condition check's key (pk and sk only) and
    /// condition.
    fn prepare(&self, put: Put) -> Result<Prepared, PortError> {
        let check = matches!(
            put,
            Put::ContactUnchanged { .. } | Put::CartUnchanged { .. }
        );
        let (expected, item) = match put {
            Put::Cart { record, expected } => {
                // The keys, kind, version, TTL, the sparse indexes' keys (the person indexes
                // hold only carts that still carry a contact; a cart that closes or has
                // nothing due leaves `due`, as a put replaces the whole item) and the rest
                // of the record compressed.
                let version = expected.map_or(1, |v| v + 1);
                (expected, cart_to_item(&record, version)?)
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
            Put::CartUnchanged {
                shop,
                cart,
                expected,
            } => {
                let mut item = Item::new();
                item.insert("pk".into(), s(keys::shop_pk(&shop)));
                item.insert("sk".into(), s(keys::cart_sk(&cart)));
                (Some(expected), item)
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
                let cart = cart_from_item(item.clone())?;
                carts.push(cart.value);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(carts),
            }
        }
    }
}

/// The name of the sparse keys-only index of open carts by due time (`infra/template.yaml`).
pub const DUE_INDEX: &str = "due";

/// The sweeper's query: each (day, shard) partition of the `due` index, from the day of
/// `before` back `DUE_LOOKBACK_DAYS` days (the carts' retention: an older cart is gone by
/// its TTL; `keys::due_partitions`), `due_sk < before`, page by page, until `limit`
/// keys. Keys only: the index projects nothing else, and the sweeper reads each cart.
impl DueIndex for DynamoCartStore {
    async fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ShopId, CartId)>, PortError> {
        let mut found = Vec::new();
        let bound = keys::due_sk_bound(before);
        for partition in keys::due_partitions(before) {
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
                    .expression_attribute_values(":pk", s(partition.clone()))
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
        Ok(found)
    }
}

/// The table key (`pk`, `sk`) of a shop's item.
fn item_key(shop: &ShopId, sk: String) -> Item {
    Item::from([
        ("pk".to_owned(), s(keys::shop_pk(shop))),
        ("sk".to_owned(), s(sk)),
    ])
}

/// The person indexes (sparse, keys only, `infra/template.yaml`) and their partition key
/// attributes: a cart's first contact key, and its second.
pub const PERSON_INDEXES: [(&str, &str); 2] = [
    ("person", cart_item::PERSON_PK),
    ("person_alt", cart_item::PERSON_ALT_PK),
];
/// `BatchGetItem` takes up to 100 keys, `BatchWriteItem` up to 25 requests.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;
/// How many times a batch's unprocessed part (throttled) is sent again, with backoff.
const BATCH_ATTEMPTS: u32 = 8;

/// Counts one more attempt at a batch's unprocessed part and waits before it (50 ms,
/// doubling); an error, to be retried later, once [`BATCH_ATTEMPTS`] are spent.
async fn before_retry(attempt: &mut u32, operation: &str) -> Result<(), PortError> {
    *attempt += 1;
    if *attempt >= BATCH_ATTEMPTS {
        return Err(PortError::retryable(
            SERVICE,
            format!("{operation}: items left unprocessed after {BATCH_ATTEMPTS} attempts"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(50 << (*attempt).min(6))).await;
    Ok(())
}

/// The sort key of an item a `Query` returned.
fn sort_key(item: &Item) -> Option<&str> {
    match item.get("sk") {
        Some(AttributeValue::S(sk)) => Some(sk),
        _ => None,
    }
}

/// Erasure and export: a person's carts through the person indexes, reads and deletes in
/// batches, a shop's keys a page at a time.
impl PersonalData for DynamoCartStore {
    async fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Vec<CartId>, PortError> {
        let mut carts = Vec::new();
        for (index, attribute) in PERSON_INDEXES {
            let mut start: Option<Item> = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#key = :key")
                    .expression_attribute_names("#key", attribute)
                    .expression_attribute_values(":key", s(keys::person_pk(shop, key)))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, "Query", &e))?;
                carts.extend(
                    output
                        .items()
                        .iter()
                        .filter_map(sort_key)
                        .filter_map(|sk| sk.strip_prefix(keys::CART_SK_PREFIX))
                        .filter_map(|id| CartId::parse(id).ok()),
                );
                match output.last_evaluated_key() {
                    Some(key) if !key.is_empty() => start = Some(key.clone()),
                    _ => break,
                }
            }
        }
        carts.sort();
        carts.dedup();
        Ok(carts)
    }

    async fn carts_by_id(
        &self,
        shop: &ShopId,
        carts: &[CartId],
    ) -> Result<Vec<CartRecord>, PortError> {
        let mut found = Vec::new();
        for chunk in carts.chunks(BATCH_GET) {
            let wanted = chunk
                .iter()
                .map(|cart| item_key(shop, keys::cart_sk(cart)))
                .collect();
            for item in self.batch_get(wanted).await? {
                let cart = cart_from_item(item)?;
                found.push(cart.value);
            }
        }
        Ok(found)
    }

    async fn shop_keys(&self, shop: &ShopId, after: Option<&str>) -> Result<KeyPage, PortError> {
        let start = after.map(|sk| item_key(shop, sk.to_owned()));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .projection_expression("pk, sk")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "Query", &e))?;
        Ok(KeyPage {
            sort_keys: output
                .items()
                .iter()
                .filter_map(sort_key)
                .map(str::to_owned)
                .collect(),
            next: output
                .last_evaluated_key()
                .and_then(sort_key)
                .map(str::to_owned),
        })
    }

    async fn delete_items(&self, shop: &ShopId, sort_keys: &[String]) -> Result<(), PortError> {
        for chunk in sort_keys.chunks(BATCH_WRITE) {
            let mut requests = chunk
                .iter()
                .map(|sk| {
                    DeleteRequest::builder()
                        .key("pk", s(keys::shop_pk(shop)))
                        .key("sk", s(sk))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                        .map_err(|e| mapping_error("building a batch delete", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| port_error(SERVICE, "BatchWriteItem", &e))?;
                requests = output
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !requests.is_empty() {
                    before_retry(&mut attempt, "BatchWriteItem").await?;
                }
            }
        }
        Ok(())
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
            .map(cart_from_item)
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

    async fn cart_and_contacts(
        &self,
        shop: &ShopId,
        cart: &CartId,
        contact_keys: &[ContactKey],
    ) -> Result<CartAndContacts, PortError> {
        let cart_sk = keys::cart_sk(cart);
        let mut contact_sks: Vec<String> = contact_keys.iter().map(keys::contact_sk).collect();
        let mut wanted = vec![item_key(shop, cart_sk.clone())];
        // A key asked twice in one batch is refused.
        contact_sks.sort();
        contact_sks.dedup();
        wanted.extend(contact_sks.iter().map(|sk| item_key(shop, sk.clone())));
        let mut by_sk: HashMap<String, Item> = HashMap::new();
        for item in self.batch_get(wanted).await? {
            if let Some(sk) = sort_key(&item) {
                by_sk.insert(sk.to_owned(), item);
            }
        }
        let found = by_sk.remove(&cart_sk).map(cart_from_item).transpose()?;
        let mut contacts = Vec::with_capacity(contact_keys.len());
        for key in contact_keys {
            let item = by_sk.get(&keys::contact_sk(key)).cloned();
            contacts.push((key.clone(), item.map(from_item).transpose()?));
        }
        Ok((found, contacts))
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

#[cfg(test)]
mod tests {
    use cartback_core::model::cart::Platform;

    use super::*;

    /// The adapter puts exactly the codec's item: the in-memory store, which sizes carts
    /// with the same codec, bills what DynamoDB would.
    #[test]
    fn a_cart_put_is_the_codec_item_and_reads_back() {
        let sdk = aws_config::SdkConfig::builder().build();
        let store = DynamoCartStore::new(&sdk, "cartback");
        let at: Timestamp = "2026-11-02T08:00:00Z".parse().expect("time");
        let record = CartRecord {
            next_due_at: Some(at),
            expires_at: 1_795_000_000,
            ..CartRecord::new(
                ShopId::parse("kuura").expect("shop"),
                CartId::parse("c-1").expect("cart"),
                Platform::Shopify,
                at,
            )
        };
        let prepared = store
            .prepare(Put::Cart {
                record: Box::new(record.clone()),
                expected: Some(4),
            })
            .expect("prepared");
        let encoded: Item = cart_item::encode(&record, 5).expect("encodes").into();
        assert_eq!(prepared.item, encoded);
        assert_eq!(prepared.condition, "version = :expected");
        let back = cart_from_item(prepared.item).expect("decodes");
        assert_eq!((back.value, back.version), (record, 5));
    }

    #[test]
    fn an_unreadable_cart_item_is_a_permanent_error_naming_its_hash() {
        let mut item: Item = Item::new();
        item.insert("pk".into(), s("SHOP#kuura"));
        item.insert("sk".into(), s("CART#c-1"));
        item.insert(
            cart_item::RECORD.into(),
            AttributeValue::B(vec![cart_item::FORMAT_DEFLATE_JSON, 0xff].into()),
        );
        let error = cart_from_item(item).expect_err("corrupt");
        assert!(!error.retryable);
        let hash = cartback_core::model::ids::log_hash(&["kuura", "c-1"]);
        assert!(error.message.contains(&hash), "{}", error.message);
        assert!(!error.message.contains("c-1"), "{}", error.message);
    }
}
