//! The table in memory, with the same conditional-write semantics as DynamoDB, and a
//! stream of changes shaped like DynamoDB stream records (NEW_AND_OLD_IMAGES).
//!
//! Given a clock (`expire_with`), it honours TTL as DynamoDB's readers must: an item whose
//! `expires_at` (epoch seconds; 0 never expires) has passed is gone for every read, index
//! and condition, and a write may take its place. What the store holds is still there for
//! `carts()` (a report over the whole run).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use cartback_core::model::cart::{CartRecord, ContactRecord, Versioned};
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::model::table;
use cartback_core::ports::{
    CartStore, DueIndex, KeyPage, PersonalData, PortError, Put, WriteOutcome,
};
use jiff::Timestamp;

use crate::calls::CallCounts;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Default)]
struct State {
    carts: HashMap<(ShopId, CartId), Versioned<CartRecord>>,
    contacts: HashMap<(ShopId, ContactKey), Versioned<ContactRecord>>,
    deliveries: HashMap<(ShopId, DeliveryId), i64>,
    /// Stream records not yet handed to the planner.
    stream: Vec<Value>,
    sequence: u64,
    /// The time that decides which items have expired (`None`: nothing expires).
    clock: Option<crate::VirtualClock>,
}

impl State {
    /// The current time in epoch seconds, when items expire.
    fn now(&self) -> Option<i64> {
        use cartback_core::model::time::Clock;
        self.clock.as_ref().map(|c| c.now().as_second())
    }

    /// The cart, unless it is absent or expired (for reads and conditions alike).
    fn live_cart(&self, shop: &ShopId, cart: &CartId) -> Option<&Versioned<CartRecord>> {
        let now = self.now();
        self.carts
            .get(&(shop.clone(), cart.clone()))
            .filter(|v| live(v.value.expires_at, now))
    }

    /// The person's record, unless it is absent or expired.
    fn live_contact(&self, shop: &ShopId, key: &ContactKey) -> Option<&Versioned<ContactRecord>> {
        let now = self.now();
        self.contacts
            .get(&(shop.clone(), key.clone()))
            .filter(|v| live(v.value.expires_at, now))
    }

    /// Whether the delivery id is remembered and not expired.
    fn live_delivery(&self, shop: &ShopId, id: &DeliveryId) -> bool {
        let now = self.now();
        self.deliveries
            .get(&(shop.clone(), id.clone()))
            .is_some_and(|expires_at| live(*expires_at, now))
    }
}

/// Whether an item with `expires_at` is still there at `now` (epoch seconds).
fn live(expires_at: i64, now: Option<i64>) -> bool {
    expires_at <= 0 || now.is_none_or(|now| expires_at > now)
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<State>>, CallCounts);

fn image<T: Serialize>(
    value: &T,
    pk: &str,
    sk: &str,
    version: u64,
) -> Result<serde_dynamo::Item, PortError> {
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(value)
        .map_err(|e| PortError::permanent("memory", format!("encoding item: {e}")))?;
    item.insert("pk".into(), serde_dynamo::AttributeValue::S(pk.to_owned()));
    item.insert("sk".into(), serde_dynamo::AttributeValue::S(sk.to_owned()));
    item.insert(
        "version".into(),
        serde_dynamo::AttributeValue::N(version.to_string()),
    );
    Ok(item)
}

impl MemoryStore {
    /// A store that counts the DynamoDB calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    /// From now on, items whose `expires_at` has passed on `clock` are gone, as DynamoDB's
    /// TTL makes them.
    pub fn expire_with(&self, clock: crate::VirtualClock) {
        if let Ok(mut state) = self.lock() {
            state.clock = Some(clock);
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, PortError> {
        self.0
            .lock()
            .map_err(|_| PortError::permanent("memory", "lock poisoned"))
    }

    /// Takes the stream records written since the last call (oldest first).
    pub fn take_stream(&self) -> Vec<Value> {
        self.lock()
            .map(|mut s| std::mem::take(&mut s.stream))
            .unwrap_or_default()
    }

    /// Puts stream records back in front, unhandled: the planner failed on the first of them
    /// and Lambda retries the batch from there.
    pub fn requeue_stream(&self, records: Vec<Value>) {
        if let Ok(mut state) = self.lock() {
            state.stream.splice(0..0, records);
        }
    }

    /// One cart as held, without counting a call (for the runtime's own bookkeeping).
    pub fn peek_cart(&self, shop: &ShopId, cart: &CartId) -> Option<CartRecord> {
        self.lock()
            .ok()?
            .carts
            .get(&(shop.clone(), cart.clone()))
            .map(|v| v.value.clone())
    }

    /// Every cart held, for reports (expired ones too: a report covers the whole run).
    pub fn carts(&self) -> Vec<CartRecord> {
        self.lock()
            .map(|s| s.carts.values().map(|v| v.value.clone()).collect())
            .unwrap_or_default()
    }

    fn record_change(
        state: &mut State,
        pk: &str,
        sk: &str,
        old: Option<serde_dynamo::Item>,
        new: Option<serde_dynamo::Item>,
    ) {
        state.sequence += 1;
        let keys = json!({ "pk": { "S": pk }, "sk": { "S": sk } });
        let event_name = match (&old, &new) {
            (_, None) => "REMOVE",
            (Some(_), Some(_)) => "MODIFY",
            (None, Some(_)) => "INSERT",
        };
        let removed = new.is_none();
        let mut record = json!({
            "eventID": format!("local-{}", state.sequence),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "local",
            "dynamodb": {
                "ApproximateCreationDateTime": 0,
                "Keys": keys,
                "NewImage": new,
                "OldImage": old,
                "SequenceNumber": format!("{:021}", state.sequence),
                "SizeBytes": 0,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        });
        if let Some(change) = record.get_mut("dynamodb").and_then(Value::as_object_mut) {
            if change.get("OldImage").is_some_and(Value::is_null) {
                change.remove("OldImage");
            }
            if removed {
                change.remove("NewImage");
            }
        }
        state.stream.push(record);
    }
}

fn matches(expected: Option<u64>, current: Option<u64>) -> bool {
    expected == current
}

impl CartStore for MemoryStore {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.1.count("dynamodb", "GetItem");
        Ok(self.lock()?.live_cart(shop, cart).cloned())
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.1.count("dynamodb", "GetItem");
        Ok(self.lock()?.live_contact(shop, key).cloned())
    }

    async fn delivery_seen(&self, shop: &ShopId, id: &DeliveryId) -> Result<bool, PortError> {
        self.1.count("dynamodb", "GetItem");
        Ok(self.lock()?.live_delivery(shop, id))
    }

    async fn write(&self, puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        // The DynamoDB adapter: one PutItem for one item, a transaction for more.
        self.1.count(
            "dynamodb",
            if puts.len() == 1 {
                "PutItem"
            } else {
                "TransactWriteItems"
            },
        );
        let mut state = self.lock()?;
        // All conditions first: all or nothing, like a transaction. An expired item is gone.
        for put in &puts {
            let ok = match put {
                Put::Cart { record, expected } => matches(
                    *expected,
                    state
                        .live_cart(&record.shop, &record.cart)
                        .map(|v| v.version),
                ),
                Put::Contact { record, expected } => matches(
                    *expected,
                    state
                        .live_contact(&record.shop, &record.key)
                        .map(|v| v.version),
                ),
                Put::Delivery { shop, id, .. } => !state.live_delivery(shop, id),
                Put::ContactUnchanged {
                    shop,
                    key,
                    expected,
                } => matches(*expected, state.live_contact(shop, key).map(|v| v.version)),
            };
            if !ok {
                return Ok(WriteOutcome::Conflict);
            }
        }
        for put in puts {
            match put {
                Put::Cart { record, expected } => {
                    let version = expected.map_or(1, |v| v + 1);
                    let pk = table::shop_pk(&record.shop);
                    let sk = table::cart_sk(&record.cart);
                    let key = (record.shop.clone(), record.cart.clone());
                    let old = state
                        .carts
                        .get(&key)
                        .map(|v| image(&v.value, &pk, &sk, v.version))
                        .transpose()?;
                    let new = image(&*record, &pk, &sk, version)?;
                    state.carts.insert(
                        key,
                        Versioned {
                            value: *record,
                            version,
                        },
                    );
                    Self::record_change(&mut state, &pk, &sk, old, Some(new));
                }
                Put::Contact { record, expected } => {
                    let version = expected.map_or(1, |v| v + 1);
                    let pk = table::shop_pk(&record.shop);
                    let sk = table::contact_sk(&record.key);
                    let key = (record.shop.clone(), record.key.clone());
                    let old = state
                        .contacts
                        .get(&key)
                        .map(|v| image(&v.value, &pk, &sk, v.version))
                        .transpose()?;
                    let new = image(&record, &pk, &sk, version)?;
                    state.contacts.insert(
                        key,
                        Versioned {
                            value: record,
                            version,
                        },
                    );
                    Self::record_change(&mut state, &pk, &sk, old, Some(new));
                }
                Put::Delivery {
                    shop,
                    id,
                    expires_at,
                } => {
                    state.deliveries.insert((shop, id), expires_at);
                }
                Put::ContactUnchanged { .. } => {}
            }
        }
        Ok(WriteOutcome::Written)
    }
}

impl MemoryStore {
    /// Deletes one cart, with a `REMOVE` stream record (the planner deletes its schedule).
    fn remove_cart(state: &mut State, shop: &ShopId, cart: &CartId) -> Result<bool, PortError> {
        let Some(old) = state.carts.remove(&(shop.clone(), cart.clone())) else {
            return Ok(false);
        };
        let pk = table::shop_pk(shop);
        let sk = table::cart_sk(cart);
        let image = image(&old.value, &pk, &sk, old.version)?;
        Self::record_change(state, &pk, &sk, Some(image), None);
        Ok(true)
    }
}

/// The `due` index in memory: the open carts due before `before`, earliest first.
impl DueIndex for MemoryStore {
    async fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ShopId, CartId)>, PortError> {
        self.1.count("dynamodb", "Query");
        let state = self.lock()?;
        let now = state.now();
        let mut due: Vec<(Timestamp, ShopId, CartId)> = state
            .carts
            .values()
            .filter(|v| v.value.is_open() && live(v.value.expires_at, now))
            .filter_map(|v| {
                let at = v.value.next_due_at.filter(|at| *at < before)?;
                Some((at, v.value.shop.clone(), v.value.cart.clone()))
            })
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, shop, cart)| (shop, cart))
            .collect())
    }
}

/// DynamoDB reads at most this much per `Query` page (counted before a projection).
const PAGE_BYTES: usize = 1024 * 1024;
/// What an entry of a keys-only index holds: the table's keys and the index's key.
const INDEX_ENTRY_BYTES: usize = 160;
/// `BatchGetItem` takes up to 100 keys, `BatchWriteItem` up to 25 requests.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;

impl MemoryStore {
    /// The shop's live items by sort key, in sort key order: what a `Query` on its partition
    /// pages through (sized only when a page reads them).
    fn shop_items<'a>(state: &'a State, shop: &ShopId) -> Vec<(String, Held<'a>)> {
        let now = state.now();
        let mut items = Vec::new();
        for ((s, cart), v) in &state.carts {
            if s == shop && live(v.value.expires_at, now) {
                items.push((table::cart_sk(cart), Held::Cart(v)));
            }
        }
        for ((s, key), v) in &state.contacts {
            if s == shop && live(v.value.expires_at, now) {
                items.push((table::contact_sk(key), Held::Contact(v)));
            }
        }
        for ((s, id), expires_at) in &state.deliveries {
            if s == shop && live(*expires_at, now) {
                items.push((table::delivery_sk(id), Held::Delivery));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }
}

/// One item of a shop's partition, as the store holds it.
enum Held<'a> {
    Cart(&'a Versioned<CartRecord>),
    Contact(&'a Versioned<ContactRecord>),
    Delivery,
}

impl Held<'_> {
    /// The item's size in bytes as DynamoDB counts it, under `pk` and `sk`.
    fn size(&self, pk: &str, sk: &str) -> Result<usize, PortError> {
        Ok(match self {
            Held::Cart(v) => item_size(&image(&v.value, pk, sk, v.version)?),
            Held::Contact(v) => item_size(&image(&v.value, pk, sk, v.version)?),
            // pk, sk, kind, expires_at, version.
            Held::Delivery => pk.len() + sk.len() + 40,
        })
    }
}

/// Erasure and export, counted as the DynamoDB adapter calls: a `Query` per 1 MB page (of
/// the items read, or of a keys-only index's entries), a `BatchGetItem` per 100 carts, a
/// `BatchWriteItem` per 25 deletes.
impl PersonalData for MemoryStore {
    async fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Vec<CartId>, PortError> {
        let state = self.lock()?;
        let now = state.now();
        let mut by_index = [Vec::new(), Vec::new()];
        for v in state.carts.values() {
            if &v.value.shop != shop || !live(v.value.expires_at, now) {
                continue;
            }
            for (index, indexed) in table::person_keys(&v.value).iter().enumerate() {
                if indexed.as_ref() == Some(key) {
                    by_index[index].push(v.value.cart.clone());
                }
            }
        }
        let mut carts = Vec::new();
        for found in by_index {
            let pages = (found.len() * INDEX_ENTRY_BYTES)
                .div_ceil(PAGE_BYTES)
                .max(1);
            self.1.count_n("dynamodb", "Query", pages as u64);
            carts.extend(found);
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
        self.1.count_n(
            "dynamodb",
            "BatchGetItem",
            carts.len().div_ceil(BATCH_GET) as u64,
        );
        let state = self.lock()?;
        Ok(carts
            .iter()
            .filter_map(|cart| state.live_cart(shop, cart).map(|v| v.value.clone()))
            .collect())
    }

    async fn shop_keys(&self, shop: &ShopId, after: Option<&str>) -> Result<KeyPage, PortError> {
        self.1.count("dynamodb", "Query");
        let state = self.lock()?;
        let pk = table::shop_pk(shop);
        let items = Self::shop_items(&state, shop);
        let rest = items
            .iter()
            .skip_while(|(sk, _)| after.is_some_and(|after| sk.as_str() <= after));
        let mut page = KeyPage::default();
        let mut bytes = 0;
        let mut more = false;
        for (sk, held) in rest {
            if bytes >= PAGE_BYTES {
                more = true;
                break;
            }
            bytes += held.size(&pk, sk)?;
            page.sort_keys.push(sk.clone());
        }
        if more {
            page.next = page.sort_keys.last().cloned();
        }
        Ok(page)
    }

    async fn delete_items(&self, shop: &ShopId, sort_keys: &[String]) -> Result<(), PortError> {
        self.1.count_n(
            "dynamodb",
            "BatchWriteItem",
            sort_keys.len().div_ceil(BATCH_WRITE) as u64,
        );
        let mut state = self.lock()?;
        for sk in sort_keys {
            if let Some(cart) = sk.strip_prefix(table::CART_SK_PREFIX) {
                if let Ok(cart) = CartId::parse(cart) {
                    Self::remove_cart(&mut state, shop, &cart)?;
                }
            } else if let Some(key) = sk.strip_prefix(table::CONTACT_SK_PREFIX) {
                state
                    .contacts
                    .retain(|(s, k), _| s != shop || k.as_str() != key);
            } else if let Some(id) = sk.strip_prefix(table::DELIVERY_SK_PREFIX) {
                state
                    .deliveries
                    .retain(|(s, d), _| s != shop || d.as_str() != id);
            }
        }
        Ok(())
    }
}

/// An item's size as DynamoDB counts it: attribute names plus values; a number about one
/// byte per two digits plus one; a list or map 3 bytes plus 1 per element.
pub fn item_size(item: &serde_dynamo::Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(value: &serde_dynamo::AttributeValue) -> usize {
    use serde_dynamo::AttributeValue;
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::B(b) => b.len(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.iter().map(String::len).sum(),
        AttributeValue::Bs(set) => set.iter().map(Vec::len).sum(),
    }
}
