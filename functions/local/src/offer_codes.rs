//! The shops' offer code pools in memory, with the DynamoDB adapter's rules (one cart step
//! per code, the same code on every retry, a claimed code never free again) and its calls
//! counted: a claim is one `BatchGetItem` (the step's claim and the pool's counters), one
//! `Query` for free codes (two when the look-up wraps around) and one `TransactWriteItems`;
//! an import is one `TransactWriteItems` per 49 codes (another for the rest of a batch
//! some of whose codes were known) and one `GetItem` of the counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use cartback_core::model::ids::{CartId, PoolName, ShopId};
use cartback_core::model::offer_codes::{
    ClaimedCode, IMPORT_BATCH, ImportReport, OfferCode, claim_start, free_slot,
};
use cartback_core::ports::{OfferCodes, PortError};
use jiff::Timestamp;

use crate::calls::{CallCounts, read_halves, write_units};

#[derive(Debug, Default)]
struct Pool {
    /// Free codes by their slot (`offer_codes::free_slot`), the adapter's sort order.
    free: BTreeMap<String, OfferCode>,
    /// Every code ever claimed, and by which cart step.
    used: HashMap<OfferCode, (CartId, u32, Timestamp)>,
    /// The code each cart step holds.
    claims: HashMap<(CartId, u32), OfferCode>,
    available: u64,
    claimed: u64,
}

#[derive(Debug, Default)]
struct State {
    pools: HashMap<(ShopId, PoolName), Pool>,
    /// Errors the next claims fail with (popped from the end), for tests of the retry path.
    failures: Vec<PortError>,
}

/// Offer code pools in memory; clones share the pools.
#[derive(Debug, Clone, Default)]
pub struct MemoryOfferCodes(Arc<Mutex<State>>, CallCounts);

impl MemoryOfferCodes {
    /// Pools that count the DynamoDB calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, PortError> {
        self.0
            .lock()
            .map_err(|_| PortError::permanent("memory", "lock poisoned"))
    }

    /// Fills a pool before a run, as an operator's import would, without counting calls.
    pub fn seed(&self, shop: &ShopId, pool: &PoolName, codes: &[OfferCode]) {
        if let Ok(mut state) = self.lock() {
            let pool = state.pools.entry((shop.clone(), pool.clone())).or_default();
            for code in codes {
                add(pool, code);
            }
        }
    }

    /// The next claim fails with `error` (once per call; queued errors go first in, last out).
    pub fn fail_next_claim(&self, error: PortError) {
        if let Ok(mut state) = self.lock() {
            state.failures.push(error);
        }
    }

    /// Free codes left in a pool (0 for a pool never filled).
    pub fn available(&self, shop: &ShopId, pool: &PoolName) -> u64 {
        self.lock()
            .ok()
            .and_then(|s| {
                s.pools
                    .get(&(shop.clone(), pool.clone()))
                    .map(|p| p.available)
            })
            .unwrap_or(0)
    }

    /// The cart step a code was claimed by, if it was.
    pub fn claimed_by(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        code: &OfferCode,
    ) -> Option<(CartId, u32)> {
        let state = self.lock().ok()?;
        let pool = state.pools.get(&(shop.clone(), pool.clone()))?;
        pool.used
            .get(code)
            .map(|(cart, step, _)| (cart.clone(), *step))
    }
}

/// Adds a code the pool never saw; `false` if it knows it (free or ever claimed).
fn add(pool: &mut Pool, code: &OfferCode) -> bool {
    let slot = free_slot(code);
    if pool.used.contains_key(code) || pool.free.contains_key(&slot) {
        return false;
    }
    pool.free.insert(slot, code.clone());
    pool.available += 1;
    true
}

impl OfferCodes for MemoryOfferCodes {
    async fn claim(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        cart: &CartId,
        step: u32,
        at: Timestamp,
    ) -> Result<Option<ClaimedCode>, PortError> {
        let mut state = self.lock()?;
        if let Some(error) = state.failures.pop() {
            return Err(error);
        }
        self.1.count("dynamodb", "BatchGetItem");
        // The pool's counter and the (cart, step) claim, read consistently (items under
        // 4 KB); every write below is of items under 1 KB, twice in a transaction.
        self.1.read(2 * read_halves(0, true));
        let Some(pool) = state.pools.get_mut(&(shop.clone(), pool.clone())) else {
            return Ok(None);
        };
        if let Some(code) = pool.claims.get(&(cart.clone(), step)) {
            return Ok(Some(ClaimedCode {
                code: code.clone(),
                remaining: pool.available,
            }));
        }
        let start = claim_start(cart, step, 0);
        self.1.count("dynamodb", "Query");
        self.1.read(read_halves(0, true));
        let mut found = pool
            .free
            .range(start.clone()..)
            .next()
            .map(|(slot, _)| slot.clone());
        if found.is_none() {
            // Wrap around: the free codes before the start.
            self.1.count("dynamodb", "Query");
            self.1.read(read_halves(0, true));
            found = pool.free.keys().next().cloned();
        }
        let Some(slot) = found else {
            return Ok(None);
        };
        self.1.count("dynamodb", "TransactWriteItems");
        // Delete the free slot, put the used code and the claim, update the counter.
        self.1.write(2 * 4 * write_units(0));
        let Some(code) = pool.free.remove(&slot) else {
            return Ok(None);
        };
        pool.used.insert(code.clone(), (cart.clone(), step, at));
        pool.claims.insert((cart.clone(), step), code.clone());
        pool.available = pool.available.saturating_sub(1);
        pool.claimed += 1;
        Ok(Some(ClaimedCode {
            code,
            remaining: pool.available,
        }))
    }

    async fn import(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        codes: &[OfferCode],
    ) -> Result<ImportReport, PortError> {
        let mut state = self.lock()?;
        let pool = state.pools.entry((shop.clone(), pool.clone())).or_default();
        let mut report = ImportReport::default();
        for batch in codes.chunks(IMPORT_BATCH) {
            self.1.count("dynamodb", "TransactWriteItems");
            // A condition check and a put per code, and the counter's update.
            self.1
                .write(2 * (2 * batch.len() as u64 + 1) * write_units(0));
            let known = batch
                .iter()
                .filter(|code| {
                    pool.used.contains_key(*code) || pool.free.contains_key(&free_slot(code))
                })
                .count();
            if known > 0 && known < batch.len() {
                // The adapter's transaction was cancelled; it writes the rest again.
                self.1.count("dynamodb", "TransactWriteItems");
                let rest = (batch.len() - known) as u64;
                self.1.write(2 * (2 * rest + 1) * write_units(0));
            }
            for code in batch {
                if add(pool, code) {
                    report.added += 1;
                } else {
                    report.already_present += 1;
                }
            }
        }
        self.1.count("dynamodb", "GetItem");
        self.1.read(read_halves(0, true));
        report.available = pool.available;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopId {
        ShopId::parse("demo-shop.myshopify.com").expect("valid")
    }

    fn pool() -> PoolName {
        PoolName::parse("winter10").expect("valid")
    }

    fn cart(id: &str) -> CartId {
        CartId::parse(id).expect("valid")
    }

    fn codes(names: &[&str]) -> Vec<OfferCode> {
        names
            .iter()
            .map(|c| OfferCode::parse(*c).expect("valid"))
            .collect()
    }

    fn t0() -> Timestamp {
        "2026-11-02T09:00:00Z".parse().expect("valid")
    }

    async fn claim(store: &MemoryOfferCodes, id: &str, step: u32) -> Option<ClaimedCode> {
        store
            .claim(&shop(), &pool(), &cart(id), step, t0())
            .await
            .expect("claims")
    }

    #[tokio::test]
    async fn the_same_cart_step_gets_the_same_code_every_time() {
        let store = MemoryOfferCodes::default();
        store
            .import(&shop(), &pool(), &codes(&["A1", "A2", "A3"]))
            .await
            .expect("imports");

        let first = claim(&store, "cart-1", 2).await.expect("a code");
        let again = claim(&store, "cart-1", 2).await.expect("a code");

        assert_eq!(first.code, again.code);
        assert_eq!(first.remaining, 2);
        assert_eq!(store.available(&shop(), &pool()), 2, "one code taken, once");
        assert_eq!(
            store.claimed_by(&shop(), &pool(), &first.code),
            Some((cart("cart-1"), 2))
        );
        // Another step of the same cart is another claim.
        let step_3 = claim(&store, "cart-1", 3).await.expect("a code");
        assert_ne!(step_3.code, first.code);
    }

    #[tokio::test]
    async fn no_code_is_ever_handed_to_two_carts() {
        let store = MemoryOfferCodes::default();
        let all: Vec<String> = (0..40).map(|i| format!("C{i:03}")).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        store
            .import(&shop(), &pool(), &codes(&refs))
            .await
            .expect("imports");

        let mut handed = Vec::new();
        for i in 0..40 {
            let claimed = claim(&store, &format!("cart-{i}"), 0)
                .await
                .expect("a code");
            assert_eq!(claimed.remaining, 39 - i);
            handed.push(claimed.code);
        }

        handed.sort();
        handed.dedup();
        assert_eq!(handed.len(), 40, "every cart got its own code");
        assert_eq!(claim(&store, "cart-late", 0).await, None);
    }

    #[tokio::test]
    async fn an_empty_or_unknown_pool_has_no_code() {
        let store = MemoryOfferCodes::default();
        assert_eq!(claim(&store, "cart-1", 0).await, None, "never filled");
        store
            .import(&shop(), &pool(), &codes(&["ONLY"]))
            .await
            .expect("imports");
        assert!(claim(&store, "cart-1", 0).await.is_some());
        assert_eq!(
            claim(&store, "cart-2", 0).await,
            None,
            "the only code is taken"
        );
        // The pool is per shop.
        let other = ShopId::parse("other-shop").expect("valid");
        let claimed = store
            .claim(&other, &pool(), &cart("cart-1"), 0, t0())
            .await
            .expect("claims");
        assert_eq!(claimed, None);
    }

    #[tokio::test]
    async fn importing_again_adds_nothing_and_never_frees_a_claimed_code() {
        let store = MemoryOfferCodes::default();
        let file = codes(&["A1", "A2", "A3"]);
        let first = store
            .import(&shop(), &pool(), &file)
            .await
            .expect("imports");
        assert_eq!(
            first,
            ImportReport {
                added: 3,
                already_present: 0,
                available: 3
            }
        );
        let taken = claim(&store, "cart-1", 0).await.expect("a code");

        let again = store
            .import(&shop(), &pool(), &file)
            .await
            .expect("imports");

        assert_eq!(
            again,
            ImportReport {
                added: 0,
                already_present: 3,
                available: 2
            }
        );
        // Nobody else ever gets the claimed code.
        for i in 2..=3 {
            let claimed = claim(&store, &format!("cart-{i}"), 0)
                .await
                .expect("a code");
            assert_ne!(claimed.code, taken.code);
        }
        assert_eq!(claim(&store, "cart-4", 0).await, None);
        // A file with new and known codes adds the new ones only.
        let mixed = store
            .import(&shop(), &pool(), &codes(&["A1", "B1"]))
            .await
            .expect("imports");
        assert_eq!(
            (mixed.added, mixed.already_present, mixed.available),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn calls_are_counted_as_the_dynamodb_adapter_makes_them() {
        let calls = CallCounts::default();
        let store = MemoryOfferCodes::counting(calls.clone());
        let all: Vec<String> = (0..1000).map(|i| format!("WINTER-{i:04}")).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();

        store
            .import(&shop(), &pool(), &codes(&refs))
            .await
            .expect("imports");

        assert_eq!(calls.get("dynamodb", "TransactWriteItems"), 21);
        assert_eq!(calls.get("dynamodb", "GetItem"), 1);
        claim(&store, "cart-1", 0).await.expect("a code");
        assert_eq!(calls.get("dynamodb", "BatchGetItem"), 1);
        assert!((1..=2).contains(&calls.get("dynamodb", "Query")));
        assert_eq!(calls.get("dynamodb", "TransactWriteItems"), 22);
    }

    #[tokio::test]
    async fn a_queued_failure_fails_the_next_claim_only() {
        let store = MemoryOfferCodes::default();
        store.seed(&shop(), &pool(), &codes(&["A1"]));
        store.fail_next_claim(PortError::retryable("dynamodb", "ThrottlingException"));

        let failed = store
            .claim(&shop(), &pool(), &cart("cart-1"), 0, t0())
            .await;

        assert!(failed.is_err_and(|e| e.retryable));
        assert!(claim(&store, "cart-1", 0).await.is_some());
    }
}
