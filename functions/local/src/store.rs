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
use cartback_core::model::cart_item;
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::model::table;
use cartback_core::ports::{
    CartAndContacts, CartStore, DueIndex, KeyPage, PersonalData, PortError, Put, WriteOutcome,
};
use jiff::Timestamp;

use crate::calls::{CallCounts, read_halves, write_units};
use crate::people::{People, Person};
use serde_json::{Value, json};

/// A cart as held: the very item the DynamoDB adapter stores (`cart_item::encode`, its
/// record compressed), read back through the same codec, so that a write needs no second
/// encoding for the stream's old image; beside it what conditions, TTL and billing look at
/// without decoding it.
#[derive(Debug)]
struct StoredCart {
    item: serde_dynamo::Item,
    version: u64,
    /// Its size as DynamoDB counts it: what reads and writes of it are billed by.
    size: usize,
    /// Epoch seconds; 0 never expires.
    expires_at: i64,
}

impl StoredCart {
    fn versioned(&self) -> Result<Versioned<CartRecord>, PortError> {
        cart_item::decode(&self.item).map_err(|e| PortError::permanent("memory", e.to_string()))
    }

    fn record(&self) -> Result<CartRecord, PortError> {
        self.versioned().map(|v| v.value)
    }

    /// A String attribute of the item.
    fn text(&self, name: &str) -> Option<&str> {
        match self.item.get(name) {
            Some(serde_dynamo::AttributeValue::S(value)) => Some(value),
            _ => None,
        }
    }

    /// The keys the item has in the keys-only indexes.
    fn index_keys(&self) -> IndexKeys {
        let owned = |name: &str| self.text(name).map(str::to_owned);
        IndexKeys {
            person: owned(cart_item::PERSON_PK),
            person_alt: owned(cart_item::PERSON_ALT_PK),
            due: owned(cart_item::DUE_PK).zip(owned(cart_item::DUE_SK)),
        }
    }
}

/// A cart's keys in the keys-only indexes (`person`, `person_alt`, `due`).
#[derive(Debug, Default, PartialEq, Eq)]
struct IndexKeys {
    person: Option<String>,
    person_alt: Option<String>,
    due: Option<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    carts: HashMap<(ShopId, CartId), StoredCart>,
    contacts: People,
    deliveries: HashMap<(ShopId, DeliveryId), i64>,
    /// Stream records not yet handed to the planner.
    stream: Vec<Value>,
    sequence: u64,
    /// The time that decides which items have expired (`None`: nothing expires).
    clock: Option<crate::VirtualClock>,
    /// Whether expired items are dropped from memory (not only hidden), and when next.
    purge: Option<i64>,
}

impl State {
    /// The current time in epoch seconds, when items expire.
    fn now(&self) -> Option<i64> {
        use cartback_core::model::time::Clock;
        self.clock.as_ref().map(|c| c.now().as_second())
    }

    /// The cart, unless it is absent or expired (for reads and conditions alike).
    fn live_cart(&self, shop: &ShopId, cart: &CartId) -> Option<&StoredCart> {
        let now = self.now();
        self.carts
            .get(&(shop.clone(), cart.clone()))
            .filter(|v| live(v.expires_at, now))
    }

    /// The person's item, unless it is absent or expired.
    fn live_person(&self, shop: &ShopId, key: &ContactKey) -> Option<&Person> {
        let now = self.now();
        self.contacts
            .get(shop, key)
            .filter(|p| live(p.expires_at, now))
    }

    /// The person's record and its stored size, unless it is absent or expired.
    fn live_contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<(Versioned<ContactRecord>, usize)>, PortError> {
        self.live_person(shop, key)
            .map(|p| Ok((p.unpack(shop, key)?, p.size)))
            .transpose()
    }

    /// The stored size of the cart (0 when absent).
    fn cart_size(&self, shop: &ShopId, cart: &CartId) -> usize {
        self.carts
            .get(&(shop.clone(), cart.clone()))
            .map_or(0, |c| c.size)
    }

    /// The stored size of the person's item (0 when absent).
    fn contact_size(&self, shop: &ShopId, key: &ContactKey) -> usize {
        self.contacts.get(shop, key).map_or(0, |p| p.size)
    }

    /// Drops the items expired at `now` from memory, as DynamoDB's TTL deletes them (no
    /// stream records: nothing reads an expired item anyway), when a purge is due; at most
    /// one purge per `PURGE_EVERY_SECS`.
    fn purge_expired(&mut self) {
        let (Some(now), Some(due)) = (self.now(), self.purge) else {
            return;
        };
        if now < due {
            return;
        }
        self.purge = Some(now + PURGE_EVERY_SECS);
        self.carts
            .retain(|_, held| live(held.expires_at, Some(now)));
        self.contacts
            .retain(|person| live(person.expires_at, Some(now)));
        self.deliveries
            .retain(|_, expires_at| live(*expires_at, Some(now)));
    }

    /// Whether the delivery id is remembered and not expired.
    fn live_delivery(&self, shop: &ShopId, id: &DeliveryId) -> bool {
        let now = self.now();
        self.deliveries
            .get(&(shop.clone(), id.clone()))
            .is_some_and(|expires_at| live(*expires_at, now))
    }
}

/// How often a store that forgets expired items looks for them (virtual time).
const PURGE_EVERY_SECS: i64 = 24 * 3600;

/// Whether an item with `expires_at` is still there at `now` (epoch seconds).
fn live(expires_at: i64, now: Option<i64>) -> bool {
    expires_at <= 0 || now.is_none_or(|now| expires_at > now)
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<State>>, CallCounts);

/// The cart item the DynamoDB adapter stores for `record` at `version`, through the one
/// cart item codec (`cartback_core::model::cart_item`: keys, kind, version, TTL, index keys
/// and the compressed record, byte for byte as `prepare` in cartback-aws writes it): what
/// the stream's images hold and what reads and writes are billed by.
fn cart_image(record: &CartRecord, version: u64) -> Result<serde_dynamo::Item, PortError> {
    cart_item::encode(record, version).map_err(|e| PortError::permanent("memory", e.to_string()))
}

/// A contact item as plain attributes, with pk, sk and version (the adapter adds
/// `kind = "contact"`: `CONTACT_KIND_BYTES`).
fn contact_image(
    record: &ContactRecord,
    pk: &str,
    sk: &str,
    version: u64,
) -> Result<serde_dynamo::Item, PortError> {
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(record)
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

    /// From now on, expired items are dropped from memory once a day (virtual time), not
    /// only hidden: for a long run that reads nothing after it (`simulate`). [`Self::carts`]
    /// then lists only the carts not yet expired.
    pub fn forget_expired(&self) {
        if let Ok(mut state) = self.lock() {
            state.purge = Some(i64::MIN);
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
            .and_then(|v| v.record().ok())
    }

    /// Every cart held, for reports (expired ones too: a report covers the whole run).
    pub fn carts(&self) -> Vec<CartRecord> {
        self.lock()
            .map(|s| s.carts.values().filter_map(|v| v.record().ok()).collect())
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
        let state = self.lock()?;
        let found = state.live_cart(shop, cart);
        self.1.read(read_halves(found.map_or(0, |c| c.size), true));
        found.map(StoredCart::versioned).transpose()
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.1.count("dynamodb", "GetItem");
        let state = self.lock()?;
        let found = state.live_contact(shop, key)?;
        self.1.read(read_halves(
            found.as_ref().map_or(0, |(_, size)| *size),
            true,
        ));
        Ok(found.map(|(record, _)| record))
    }

    async fn cart_and_contacts(
        &self,
        shop: &ShopId,
        cart: &CartId,
        keys: &[ContactKey],
    ) -> Result<CartAndContacts, PortError> {
        // One `BatchGetItem`, each item billed as its own consistent read.
        self.1.count("dynamodb", "BatchGetItem");
        let state = self.lock()?;
        let found = state.live_cart(shop, cart);
        let mut halves = read_halves(found.map_or(0, |c| c.size), true);
        let mut contacts = Vec::with_capacity(keys.len());
        for key in keys {
            let contact = state.live_contact(shop, key)?;
            halves += read_halves(contact.as_ref().map_or(0, |(_, size)| *size), true);
            contacts.push((key.clone(), contact.map(|(record, _)| record)));
        }
        self.1.read(halves);
        Ok((found.map(StoredCart::versioned).transpose()?, contacts))
    }

    async fn delivery_seen(&self, shop: &ShopId, id: &DeliveryId) -> Result<bool, PortError> {
        self.1.count("dynamodb", "GetItem");
        self.1.read(read_halves(DELIVERY_ITEM_BYTES, true));
        Ok(self.lock()?.live_delivery(shop, id))
    }

    async fn write(&self, puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        // The DynamoDB adapter: one PutItem for one item, a transaction for more (which
        // bills every item, a condition check too, twice).
        let transaction = puts.len() > 1;
        self.1.count(
            "dynamodb",
            if transaction {
                "TransactWriteItems"
            } else {
                "PutItem"
            },
        );
        let factor = if transaction { 2 } else { 1 };
        let mut state = self.lock()?;
        state.purge_expired();
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
                        .live_person(&record.shop, &record.key)
                        .map(|p| p.version),
                ),
                Put::Delivery { shop, id, .. } => !state.live_delivery(shop, id),
                Put::ContactUnchanged {
                    shop,
                    key,
                    expected,
                } => matches(*expected, state.live_person(shop, key).map(|p| p.version)),
                Put::CartUnchanged {
                    shop,
                    cart,
                    expected,
                } => matches(
                    Some(*expected),
                    state.live_cart(shop, cart).map(|v| v.version),
                ),
            };
            if !ok {
                // A failed condition is billed too: the item as it is (at least one unit).
                let held: usize = puts.iter().map(|put| held_size(&state, put)).sum();
                self.1
                    .write(factor * write_units(held).max(puts.len() as u64));
                return Ok(WriteOutcome::Conflict);
            }
        }
        let mut units = 0;
        for put in puts {
            match put {
                Put::Cart { record, expected } => {
                    let version = expected.map_or(1, |v| v + 1);
                    let pk = table::shop_pk(&record.shop);
                    let sk = table::cart_sk(&record.cart);
                    let key = (record.shop.clone(), record.cart.clone());
                    let held_cart = state.carts.get(&key);
                    let new = cart_image(&record, version)?;
                    // The table keeps a copy, the stream the original: a clone's buffers
                    // are exactly as long as their contents, the encoder's are not (the
                    // compressed record's has room to spare), and the table holds its
                    // items for the whole run (25 MB over 100,000 carts).
                    let stored = StoredCart {
                        size: item_size(&new),
                        item: new.clone(),
                        version,
                        expires_at: record.expires_at,
                    };
                    // Each index whose key the put adds, removes or changes is written too.
                    let index = index_writes(
                        held_cart.map(StoredCart::index_keys).as_ref(),
                        Some(&stored.index_keys()),
                    );
                    let held = held_cart.map_or(0, |c| c.size);
                    // A put is billed by the larger of the item before and after.
                    units += factor * write_units(stored.size.max(held)) + index;
                    let old = held_cart.map(|v| v.item.clone());
                    state.carts.insert(key, stored);
                    Self::record_change(&mut state, &pk, &sk, old, Some(new));
                }
                Put::Contact { record, expected } => {
                    let version = expected.map_or(1, |v| v + 1);
                    let pk = table::shop_pk(&record.shop);
                    let sk = table::contact_sk(&record.key);
                    let held = state.contacts.get(&record.shop, &record.key);
                    let old = held
                        .map(|p| {
                            let held = p.unpack(&record.shop, &record.key)?;
                            contact_image(&held.value, &pk, &sk, held.version)
                        })
                        .transpose()?;
                    let held = held.map_or(0, |p| p.size);
                    let new = contact_image(&record, &pk, &sk, version)?;
                    let size = item_size(&new) + CONTACT_KIND_BYTES;
                    units += factor * write_units(size.max(held));
                    let (shop, key) = (record.shop.clone(), record.key.clone());
                    state
                        .contacts
                        .insert(&shop, &key, Person::pack(record, version, size)?)?;
                    Self::record_change(&mut state, &pk, &sk, old, Some(new));
                }
                Put::Delivery {
                    shop,
                    id,
                    expires_at,
                } => {
                    units += factor * write_units(DELIVERY_ITEM_BYTES);
                    state.deliveries.insert((shop, id), expires_at);
                }
                Put::ContactUnchanged { shop, key, .. } => {
                    // A condition check in a transaction, billed as a write of the item.
                    units += factor * write_units(state.contact_size(&shop, &key));
                }
                Put::CartUnchanged { shop, cart, .. } => {
                    units += factor * write_units(state.cart_size(&shop, &cart));
                }
            }
        }
        self.1.write(units);
        Ok(WriteOutcome::Written)
    }
}

/// What the DynamoDB adapter adds to a contact item: `kind = "contact"`.
const CONTACT_KIND_BYTES: usize = "kind".len() + "contact".len();
/// A delivery item: pk, sk, `kind = "delivery"`, `expires_at` (under 200 bytes).
const DELIVERY_ITEM_BYTES: usize = 200;

/// The index writes a cart's change makes: for each keys-only index (`person`,
/// `person_alt`, `due`), one when the item enters or leaves it, two when its key there
/// changes (a delete and a put), none when the key stays.
fn index_writes(before: Option<&IndexKeys>, after: Option<&IndexKeys>) -> u64 {
    fn changed<T: PartialEq>(before: Option<T>, after: Option<T>) -> u64 {
        match (before, after) {
            (None, None) => 0,
            (Some(a), Some(b)) if a == b => 0,
            (Some(_), Some(_)) => 2,
            _ => 1,
        }
    }
    changed(
        before.and_then(|k| k.person.as_ref()),
        after.and_then(|k| k.person.as_ref()),
    ) + changed(
        before.and_then(|k| k.person_alt.as_ref()),
        after.and_then(|k| k.person_alt.as_ref()),
    ) + changed(
        before.and_then(|k| k.due.as_ref()),
        after.and_then(|k| k.due.as_ref()),
    )
}

/// The size of the item a put's condition is checked against (0 when absent).
fn held_size(state: &State, put: &Put) -> usize {
    match put {
        Put::Cart { record, .. } => state.cart_size(&record.shop, &record.cart),
        Put::Contact { record, .. } => state.contact_size(&record.shop, &record.key),
        Put::ContactUnchanged { shop, key, .. } => state.contact_size(shop, key),
        Put::CartUnchanged { shop, cart, .. } => state.cart_size(shop, cart),
        Put::Delivery { .. } => DELIVERY_ITEM_BYTES,
    }
}

impl MemoryStore {
    /// Deletes one cart, with a `REMOVE` stream record (the planner deletes its schedule).
    fn remove_cart(
        state: &mut State,
        shop: &ShopId,
        cart: &CartId,
        calls: &CallCounts,
    ) -> Result<bool, PortError> {
        let Some(old) = state.carts.remove(&(shop.clone(), cart.clone())) else {
            return Ok(false);
        };
        let pk = table::shop_pk(shop);
        let sk = table::cart_sk(cart);
        calls.write(write_units(old.size) + index_writes(Some(&old.index_keys()), None));
        Self::record_change(state, &pk, &sk, Some(old.item), None);
        Ok(true)
    }
}

/// The `due` index in memory, read as the DynamoDB adapter reads it: partition by partition
/// (`table::due_partitions`: the day of `before` and 30 days back, 8 shards each), each
/// partition's carts due before `before` in due order, until `limit`; one `Query` per
/// partition asked.
impl DueIndex for MemoryStore {
    async fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ShopId, CartId)>, PortError> {
        let state = self.lock()?;
        let now = state.now();
        let bound = table::due_sk_bound(before);
        let mut partitions: HashMap<String, Vec<(String, ShopId, CartId)>> = HashMap::new();
        for ((shop, cart), v) in &state.carts {
            if !live(v.expires_at, now) {
                continue;
            }
            if let (Some(pk), Some(sk)) = (v.text(cart_item::DUE_PK), v.text(cart_item::DUE_SK))
                && sk < bound.as_str()
            {
                partitions.entry(pk.to_owned()).or_default().push((
                    sk.to_owned(),
                    shop.clone(),
                    cart.clone(),
                ));
            }
        }
        let mut found = Vec::new();
        let mut queries = 0;
        let mut halves = 0;
        for partition in table::due_partitions(before) {
            if found.len() >= limit {
                break;
            }
            queries += 1;
            let mut entries = partitions.remove(&partition).unwrap_or_default();
            entries.sort();
            let page: Vec<_> = entries
                .into_iter()
                .take(limit - found.len())
                .map(|(_, shop, cart)| (shop, cart))
                .collect();
            // An eventually consistent read of the keys-only entries the page returns.
            halves += read_halves(page.len() * INDEX_ENTRY_BYTES, false);
            found.extend(page);
        }
        self.1.count_n("dynamodb", "Query", queries);
        self.1.read(halves);
        Ok(found)
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
            if s == shop && live(v.expires_at, now) {
                items.push((table::cart_sk(cart), Held::Cart(v)));
            }
        }
        for (s, key, person) in state.contacts.iter() {
            if s == shop && live(person.expires_at, now) {
                items.push((table::contact_sk(&key), Held::Contact(person)));
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
    Cart(&'a StoredCart),
    Contact(&'a Person),
    Delivery,
}

impl Held<'_> {
    /// The item's size in bytes as DynamoDB counts it, under `pk` and `sk`.
    fn size(&self, pk: &str, sk: &str) -> Result<usize, PortError> {
        Ok(match self {
            Held::Cart(v) => v.size,
            Held::Contact(person) => person.size,
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
        let wanted = table::person_pk(shop, key);
        for ((s, cart), v) in &state.carts {
            if s != shop || !live(v.expires_at, now) {
                continue;
            }
            for (index, attribute) in [cart_item::PERSON_PK, cart_item::PERSON_ALT_PK]
                .into_iter()
                .enumerate()
            {
                if v.text(attribute) == Some(wanted.as_str()) {
                    by_index[index].push(cart.clone());
                }
            }
        }
        let mut carts = Vec::new();
        for found in by_index {
            let pages = (found.len() * INDEX_ENTRY_BYTES)
                .div_ceil(PAGE_BYTES)
                .max(1);
            self.1.count_n("dynamodb", "Query", pages as u64);
            // A GSI reads eventually consistently.
            self.1
                .read(read_halves(found.len() * INDEX_ENTRY_BYTES, false).max(pages as u64));
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
        // Consistent reads, each item by its own size.
        self.1.read(
            carts
                .iter()
                .map(|cart| read_halves(state.cart_size(shop, cart), true))
                .sum(),
        );
        carts
            .iter()
            .filter_map(|cart| state.live_cart(shop, cart).map(StoredCart::record))
            .collect()
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
        // A consistent read of what the page read (a projection does not make it cheaper).
        self.1.read(read_halves(bytes, true));
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
                    Self::remove_cart(&mut state, shop, &cart, &self.1)?;
                }
            } else if let Some(key) = sk.strip_prefix(table::CONTACT_SK_PREFIX) {
                let removed = serde_json::from_value::<ContactKey>(Value::String(key.to_owned()))
                    .ok()
                    .and_then(|key| state.contacts.remove(shop, &key));
                self.1.write(write_units(removed.map_or(0, |p| p.size)));
            } else if let Some(id) = sk.strip_prefix(table::DELIVERY_SK_PREFIX) {
                self.1.write(write_units(DELIVERY_ITEM_BYTES));
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

#[cfg(test)]
mod tests {
    use cartback_core::model::cart::Platform;

    use super::*;

    fn open_cart(due: Option<&str>) -> CartRecord {
        let at: Timestamp = "2026-11-02T08:00:00Z".parse().expect("time");
        let mut cart = CartRecord::new(
            ShopId::parse("kuura").expect("shop"),
            CartId::parse("c-1").expect("cart"),
            Platform::Shopify,
            at,
        );
        cart.next_due_at = due.map(|t| t.parse().expect("time"));
        cart
    }

    #[test]
    fn an_index_is_written_once_to_enter_or_leave_and_twice_to_move() {
        let keys = |cart: CartRecord| {
            let item = cart_image(&cart, 1).expect("encodes");
            StoredCart {
                size: item_size(&item),
                item,
                version: 1,
                expires_at: cart.expires_at,
            }
            .index_keys()
        };
        let armed = keys(open_cart(Some("2026-11-02T09:00:00Z")));
        let later = keys(open_cart(Some("2026-11-02T19:00:00Z")));
        let idle = keys(open_cart(None));
        assert_eq!(index_writes(None, Some(&idle)), 0, "in no index");
        assert_eq!(index_writes(None, Some(&armed)), 1, "enters `due`");
        assert_eq!(index_writes(Some(&armed), Some(&armed)), 0, "stays");
        assert_eq!(index_writes(Some(&armed), Some(&later)), 2, "moves");
        assert_eq!(index_writes(Some(&armed), None), 1, "leaves");
    }

    #[tokio::test]
    async fn a_sweep_queries_each_due_partition_until_it_has_enough() {
        let calls = CallCounts::default();
        let store = MemoryStore::counting(calls.clone());
        let before: Timestamp = "2026-11-03T00:00:00Z".parse().expect("time");
        let nothing = store.overdue(before, 100).await.expect("read");
        assert!(nothing.is_empty());
        // 31 days (the sweep's own and 30 back) of 8 shards, every one asked.
        assert_eq!(calls.get("dynamodb", "Query"), 31 * 8);

        let due = open_cart(Some("2026-11-02T09:00:00Z"));
        store
            .write(vec![Put::Cart {
                record: Box::new(due.clone()),
                expected: None,
            }])
            .await
            .expect("written");
        let calls_before = calls.get("dynamodb", "Query");
        let found = store.overdue(before, 1).await.expect("read");
        assert_eq!(found, vec![(due.shop.clone(), due.cart.clone())]);
        let asked = calls.get("dynamodb", "Query") - calls_before;
        // Today's 8 partitions come first; the cart is in yesterday's, where it stops.
        let shard = u64::from(table::due_shard(&due.shop, &due.cart));
        assert_eq!(
            asked,
            8 + shard + 1,
            "stops at the partition that filled the page"
        );
    }

    #[tokio::test]
    async fn a_transaction_bills_each_item_twice() {
        let calls = CallCounts::default();
        let store = MemoryStore::counting(calls.clone());
        let cart = open_cart(None);
        let written = store
            .write(vec![Put::Cart {
                record: Box::new(cart.clone()),
                expected: None,
            }])
            .await
            .expect("written");
        assert_eq!(written, WriteOutcome::Written);
        assert_eq!(calls.units().write, 1, "a small item, in no index");
        let shop = cart.shop.clone();
        store
            .write(vec![
                Put::Cart {
                    record: Box::new(cart),
                    expected: Some(1),
                },
                Put::Delivery {
                    shop,
                    id: DeliveryId::parse("d-1").expect("id"),
                    expires_at: 0,
                },
            ])
            .await
            .expect("written");
        assert_eq!(
            calls.units().write,
            1 + 2 * 2,
            "two small items, twice each"
        );
        assert_eq!(calls.get("dynamodb", "TransactWriteItems"), 1);
    }
}
