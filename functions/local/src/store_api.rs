//! The stores' APIs in memory: what a BigCommerce store would answer for a cart or an order,
//! set by tests and by `simulate` (a line's `api` field) before the webhook is delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cartback_core::model::ids::ShopId;
use cartback_core::platforms::bigcommerce::{Fetch, StoreHash};
use cartback_core::ports::{PortError, StoreApi};

/// One answer of the fake API.
#[derive(Debug, Clone)]
pub enum StoreAnswer {
    /// 200 with this body.
    Body(Vec<u8>),
    /// The call fails (a 429 or 5xx that outlasted the retries, a timeout).
    Fail(PortError),
}

/// Answers by shop and request path; anything not set is a 404.
#[derive(Debug, Clone, Default)]
pub struct MemoryStoreApi {
    answers: Arc<Mutex<HashMap<(ShopId, String), StoreAnswer>>>,
    calls: Arc<Mutex<Vec<(ShopId, String)>>>,
}

impl MemoryStoreApi {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, `fetch` for `shop` answers 200 with `body`.
    pub fn serve(&self, shop: &ShopId, fetch: &Fetch, body: impl Into<Vec<u8>>) {
        self.set(shop, fetch, StoreAnswer::Body(body.into()));
    }

    /// From now on, `fetch` for `shop` fails with `error`.
    pub fn fail(&self, shop: &ShopId, fetch: &Fetch, error: PortError) {
        self.set(shop, fetch, StoreAnswer::Fail(error));
    }

    /// From now on, `fetch` for `shop` is a 404 again.
    pub fn forget(&self, shop: &ShopId, fetch: &Fetch) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.remove(&(shop.clone(), fetch.path()));
        }
    }

    fn set(&self, shop: &ShopId, fetch: &Fetch, answer: StoreAnswer) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert((shop.clone(), fetch.path()), answer);
        }
    }

    /// The requests made so far (shop and path), in order.
    pub fn calls(&self) -> Vec<(ShopId, String)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl StoreApi for MemoryStoreApi {
    async fn bigcommerce(
        &self,
        shop: &ShopId,
        _store: &StoreHash,
        fetch: &Fetch,
    ) -> Result<Option<Vec<u8>>, PortError> {
        let key = (shop.clone(), fetch.path());
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(key.clone());
        }
        let answer = self
            .answers
            .lock()
            .map_err(|_| PortError::retryable("store-api", "memory store API lock poisoned"))?
            .get(&key)
            .cloned();
        match answer {
            Some(StoreAnswer::Body(body)) => Ok(Some(body)),
            Some(StoreAnswer::Fail(error)) => Err(error),
            None => Ok(None),
        }
    }
}
