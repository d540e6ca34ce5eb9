//! Erasure and export of a person's data (`cartback erase`, `cartback export`, Shopify's
//! compliance webhooks): read what is held, decide with `core::rules::erase`, delete.

use cartback_core::model::ids::{ContactKey, ShopId};
use cartback_core::model::schedule::{ScheduleSpec, desired_schedule};
use cartback_core::ports::{CartStore, PersonalData, PortError, Put, Schedules, WriteOutcome};
use cartback_core::rules::erase::{
    Erasure, Export, ShopErasure, belongs_to, pending_schedules, person_keys, sends,
    shop_item_erased, tombstone,
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

/// Erases the person known by `keys` in `shop` (see the module's documentation). Any error
/// is returned as is: nothing is reported done that was not, and calling again finishes.
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
    let carts = store
        .carts_where(shop, |cart| belongs_to(cart, keys))
        .await?;
    let all_keys = person_keys(keys, &carts);
    for key in &all_keys {
        write_tombstone(store, shop, key, now).await?;
    }
    let mut erasure = Erasure {
        tombstones: all_keys.len(),
        ..Erasure::default()
    };
    for cart in &carts {
        // The schedule first: a retry after a failure here still finds the cart.
        if let Some(spec) = desired_schedule(cart) {
            schedules.delete(&spec.name).await?;
            erasure.schedules.push(spec.name);
        }
        store.delete_cart(shop, &cart.cart).await?;
        erasure.carts.push(cart.cart.clone());
    }
    Ok(erasure)
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

/// Erases everything `shop` holds but its settings: the pending schedules of its carts, then
/// every item. Idempotent, as `erase_person`.
pub async fn erase_shop<S, Q>(
    store: &S,
    schedules: &Q,
    shop: &ShopId,
) -> Result<ShopErasure, PortError>
where
    S: PersonalData,
    Q: Schedules,
{
    let carts = store.carts_where(shop, |_| true).await?;
    let pending = pending_schedules(&carts);
    for spec in &pending {
        schedules.delete(&spec.name).await?;
    }
    let items = store.delete_shop_items(shop, shop_item_erased).await?;
    Ok(ShopErasure {
        carts: carts.len(),
        schedules: pending.len(),
        items,
    })
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
        store
            .carts_where(shop, |cart| belongs_to(cart, keys))
            .await?
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
