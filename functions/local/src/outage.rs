//! A store that can be switched down, for tests of the retry paths: while down every call
//! fails, retryably (throttling) or for good (a broken item), and the data stays as it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use cartback_core::model::cart::{CartRecord, ContactRecord, Versioned};
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::ports::{
    CartAndContacts, CartStore, DueIndex, KeyPage, PersonalData, PortError, Put, WriteOutcome,
};
use jiff::Timestamp;

use crate::MemoryStore;

const UP: u8 = 0;
const DOWN_RETRYABLE: u8 = 1;
const DOWN_PERMANENT: u8 = 2;

/// A `MemoryStore` behind a switch; clones share the switch.
#[derive(Debug, Clone)]
pub struct OutageStore {
    inner: MemoryStore,
    state: Arc<AtomicU8>,
}

impl OutageStore {
    /// Starts up.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            state: Arc::new(AtomicU8::new(UP)),
        }
    }

    /// Every call fails with a retryable error (throttling) until `recover`.
    pub fn fail_retryably(&self) {
        self.state.store(DOWN_RETRYABLE, Ordering::SeqCst);
    }

    /// Every call fails with a permanent error until `recover`.
    pub fn fail_permanently(&self) {
        self.state.store(DOWN_PERMANENT, Ordering::SeqCst);
    }

    pub fn recover(&self) {
        self.state.store(UP, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), PortError> {
        match self.state.load(Ordering::SeqCst) {
            DOWN_RETRYABLE => Err(PortError::retryable(
                "dynamodb",
                "ThrottlingException: rate exceeded",
            )),
            DOWN_PERMANENT => Err(PortError::permanent(
                "dynamodb",
                "decoding item: missing field",
            )),
            _ => Ok(()),
        }
    }
}

impl CartStore for OutageStore {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.check()?;
        self.inner.cart(shop, cart).await
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.check()?;
        self.inner.contact(shop, key).await
    }

    async fn delivery_seen(&self, shop: &ShopId, id: &DeliveryId) -> Result<bool, PortError> {
        self.check()?;
        self.inner.delivery_seen(shop, id).await
    }

    async fn cart_and_contacts(
        &self,
        shop: &ShopId,
        cart: &CartId,
        keys: &[ContactKey],
    ) -> Result<CartAndContacts, PortError> {
        self.check()?;
        self.inner.cart_and_contacts(shop, cart, keys).await
    }

    async fn write(&self, puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        self.check()?;
        self.inner.write(puts).await
    }
}

impl DueIndex for OutageStore {
    async fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ShopId, CartId)>, PortError> {
        self.check()?;
        self.inner.overdue(before, limit).await
    }
}

impl PersonalData for OutageStore {
    async fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Vec<CartId>, PortError> {
        self.check()?;
        self.inner.carts_with_key(shop, key).await
    }

    async fn carts_by_id(
        &self,
        shop: &ShopId,
        carts: &[CartId],
    ) -> Result<Vec<CartRecord>, PortError> {
        self.check()?;
        self.inner.carts_by_id(shop, carts).await
    }

    async fn shop_keys(&self, shop: &ShopId, after: Option<&str>) -> Result<KeyPage, PortError> {
        self.check()?;
        self.inner.shop_keys(shop, after).await
    }

    async fn delete_items(&self, shop: &ShopId, sort_keys: &[String]) -> Result<(), PortError> {
        self.check()?;
        self.inner.delete_items(shop, sort_keys).await
    }
}
