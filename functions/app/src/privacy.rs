//! Erasure and export of a person's data (`cartback erase`, `cartback export`, Shopify's
//! compliance webhooks): read what is held, decide with `core::rules::erase`, delete.

use std::collections::BTreeSet;

use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::{CartId, ContactKey, ShopId};
use cartback_core::model::schedule::ScheduleSpec;
use cartback_core::model::table;
use cartback_core::ports::{CartStore, PersonalData, PortError, Put, Schedules, WriteOutcome};
use cartback_core::rules::erase::{
    Erasure, Export, pending_schedules, person_keys, sends, tombstone,
};
use jiff::Timestamp;

/// How many times a tombstone write is retried when someone else wrote the item first.
const WRITE_ATTEMPTS: usize = 5;

/// Schedules that need no call: the planner deletes a deleted cart item's pending schedule
/// from the table's stream (`schedule::reconcile` with no new image). For the webhook
/// function, which has no scheduler permissions; `schedules` in an `Erasure` made with it
/// lists what the planner will delete.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViaStream;

impl Schedules for ViaStream {
    async fn create(&self, _spec: &ScheduleSpec) -> Result<(), PortError> {
        Ok(())
    }

    async fn delete(&self, _name: &str) -> Result<(), PortError> {
        Ok(())
    }
}

/// Erases the person known by `keys` in `shop` (see the module's documentation). Their
/// carts are found through the person indexes, by the keys asked for and then by every other
/// key on those carts: a handful of index queries, never a read of the shop's partition. Any
/// error is returned as is: nothing is reported done that was not, and calling again
/// finishes.
pub async fn erase_person<S, Q>(
    store: &S,
    schedules: &Q,
    shop: &ShopId,
    keys: &[ContactKey],
    now: Timestamp,
) -> Result<Erasure, PortError>
where
    S: CartStore + PersonalData,
    Q: Schedules,
{
    if keys.is_empty() {
        // Nobody to find (a request naming no usable email or phone): nothing to read.
        return Ok(Erasure::default());
    }
    // The keys asked for first: a cart a webhook races in from now on is refused.
    for key in keys {
        write_tombstone(store, shop, key, now).await?;
    }
    let carts = person_carts(store, shop, keys).await?;
    let all_keys = person_keys(keys, &carts);
    for key in all_keys.iter().skip(keys.len()) {
        write_tombstone(store, shop, key, now).await?;
    }
    let mut erasure = Erasure {
        tombstones: all_keys.len(),
        ..Erasure::default()
    };
    // The schedules first: a retry after a failure here still finds the carts.
    for spec in pending_schedules(&carts) {
        schedules.delete(&spec.name).await?;
        erasure.schedules.push(spec.name);
    }
    let sort_keys: Vec<String> = carts.iter().map(|c| table::cart_sk(&c.cart)).collect();
    store.delete_items(shop, &sort_keys).await?;
    erasure.carts = carts.into_iter().map(|c| c.cart).collect();
    Ok(erasure)
}

/// Every cart of the person known by `keys`: those indexed under one of the keys, then those
/// under the other keys found on them (the phone typed into the same checkout as the email),
/// until no new key turns up. Each key is looked up once; each cart read once.
async fn person_carts<S: PersonalData>(
    store: &S,
    shop: &ShopId,
    keys: &[ContactKey],
) -> Result<Vec<CartRecord>, PortError> {
    let mut looked_up: Vec<ContactKey> = Vec::new();
    let mut pending: Vec<ContactKey> = keys.to_vec();
    let mut found: BTreeSet<CartId> = BTreeSet::new();
    let mut carts: Vec<CartRecord> = Vec::new();
    while let Some(key) = pending.pop() {
        if looked_up.contains(&key) {
            continue;
        }
        let new: Vec<CartId> = store
            .carts_with_key(shop, &key)
            .await?
            .into_iter()
            .filter(|id| !found.contains(id))
            .collect();
        looked_up.push(key.clone());
        if new.is_empty() {
            continue;
        }
        for cart in store.carts_by_id(shop, &new).await? {
            let cart_keys = cart.contact_keys();
            // The indexes are eventually consistent: a cart whose keys changed is not theirs.
            if !cart_keys.contains(&key) {
                continue;
            }
            pending.extend(cart_keys.into_iter().filter(|k| !looked_up.contains(k)));
            found.insert(cart.cart.clone());
            carts.push(cart);
        }
    }
    carts.sort_by(|a, b| a.cart.as_str().cmp(b.cart.as_str()));
    Ok(carts)
}

async fn write_tombstone<S: CartStore>(
    store: &S,
    shop: &ShopId,
    key: &ContactKey,
    now: Timestamp,
) -> Result<(), PortError> {
    for _ in 0..WRITE_ATTEMPTS {
        let existing = store.contact(shop, key).await?;
        let Some(record) = tombstone(existing.as_ref().map(|v| &v.value), shop, key, now) else {
            return Ok(());
        };
        let put = Put::Contact {
            record,
            expected: existing.map(|v| v.version),
        };
        if store.write(vec![put]).await? == WriteOutcome::Written {
            return Ok(());
        }
    }
    Err(PortError::retryable(
        "erase",
        "a contact item kept changing while it was being erased",
    ))
}

/// Everything held about the person known by `keys` in `shop`: only carts that carry one of
/// those keys and the contact items of those keys, so no one else's data is in it.
pub async fn export_person<S>(
    store: &S,
    shop: &ShopId,
    keys: &[ContactKey],
) -> Result<Export, PortError>
where
    S: CartStore + PersonalData,
{
    let mut carts = if keys.is_empty() {
        Vec::new()
    } else {
        person_carts(store, shop, keys).await?
    };
    carts.sort_by_key(|c| c.last_activity_at);
    let mut contacts = Vec::new();
    for key in keys {
        if let Some(contact) = store.contact(shop, key).await? {
            contacts.push(contact.value);
        }
    }
    Ok(Export {
        shop: shop.clone(),
        sends: sends(&carts),
        carts,
        contacts,
    })
}
