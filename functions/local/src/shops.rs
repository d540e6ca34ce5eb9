//! Shops for local runs: every shop counts as configured with the defaults unless settings
//! were given; signatures are checked only for shops given a secret.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cartback_core::model::ids::{PoolName, ShopId};
use cartback_core::model::offer_codes::OfferCode;
use cartback_core::model::shop::{Removal, Secret, Shop, ShopSettings, SignatureCheck};
use cartback_core::platforms::bigcommerce::StoreHash;
use cartback_core::ports::{PortError, ShopDirectory, WebhookSecrets};

#[derive(Debug, Clone, Default)]
pub struct LocalShops {
    settings: Arc<HashMap<ShopId, ShopSettings>>,
    secrets: Arc<HashMap<ShopId, Secret>>,
    /// Offer code pools to fill before a run, as the shop would import them.
    pools: Arc<BTreeMap<(ShopId, PoolName), Vec<OfferCode>>>,
    /// Shops the operator removed (`cartback shop remove`), with their tombstones.
    removed: Arc<HashMap<ShopId, Removal>>,
    /// Each shop as built from its settings (sequences parsed, zone found) the first time it
    /// was asked for, as the deployed directory keeps it for five minutes: a long
    /// `simulate` would otherwise parse two sequence files at every webhook and wake-up.
    /// Every `with_*` starts a new one.
    built: Arc<Mutex<HashMap<ShopId, Shop>>>,
}

impl LocalShops {
    /// Any shop id is served with default settings and unsigned webhooks.
    pub fn defaults() -> Self {
        Self::default()
    }

    pub fn with_settings(mut self, id: ShopId, settings: ShopSettings) -> Self {
        Arc::make_mut(&mut self.settings).insert(id, settings);
        self.built = Arc::default();
        self
    }

    /// The settings the shop is served with (its own, or the defaults).
    pub fn settings_of(&self, id: &ShopId) -> ShopSettings {
        self.settings.get(id).cloned().unwrap_or_else(|| {
            let mut settings = ShopSettings::defaults_for(id);
            // A BigCommerce shop run with the defaults reads its carts from the in-memory
            // store API, which does not look at the hash.
            settings.bigcommerce_store_hash = StoreHash::parse("local").ok();
            settings
        })
    }

    pub fn secret_of(&self, id: &ShopId) -> Option<Secret> {
        self.secrets.get(id).cloned()
    }

    pub fn with_secret(mut self, id: ShopId, secret: Secret) -> Self {
        Arc::make_mut(&mut self.secrets).insert(id, secret);
        self
    }

    /// The shop as `cartback shop remove` leaves it: only its privacy webhooks are handled,
    /// until the tombstone runs out.
    pub fn with_removal(mut self, id: ShopId, removal: Removal) -> Self {
        Arc::make_mut(&mut self.removed).insert(id, removal);
        self.built = Arc::default();
        self
    }

    /// The shop's pool `pool` holds `codes` when a local run starts.
    pub fn with_offer_pool(mut self, id: ShopId, pool: PoolName, codes: Vec<OfferCode>) -> Self {
        Arc::make_mut(&mut self.pools).insert((id, pool), codes);
        self
    }

    /// Every pool to fill: shop, pool, codes.
    pub fn offer_pools(&self) -> Vec<(ShopId, PoolName, Vec<OfferCode>)> {
        self.pools
            .iter()
            .map(|((shop, pool), codes)| (shop.clone(), pool.clone(), codes.clone()))
            .collect()
    }
}

impl ShopDirectory for LocalShops {
    async fn shop(&self, id: &ShopId) -> Result<Option<Shop>, PortError> {
        if let Some(shop) = self
            .built
            .lock()
            .ok()
            .and_then(|built| built.get(id).cloned())
        {
            return Ok(Some(shop));
        }
        let shop = Shop::new(id.clone(), self.settings_of(id))
            .map(|shop| shop.with_removal(self.removed.get(id).copied()))
            .map_err(|e| PortError::permanent("shops", e.to_string()))?;
        if let Ok(mut built) = self.built.lock() {
            built.insert(id.clone(), shop.clone());
        }
        Ok(Some(shop))
    }
}

impl WebhookSecrets for LocalShops {
    async fn webhook_check(&self, shop: &ShopId) -> Result<Option<SignatureCheck>, PortError> {
        Ok(Some(match self.secrets.get(shop) {
            Some(secret) => SignatureCheck::Required(secret.clone()),
            None => SignatureCheck::Skipped,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn a_shop_is_built_once_and_built_again_after_its_settings_change() {
        let id = ShopId::parse("demo-shop.myshopify.com").expect("valid");
        let shops = LocalShops::defaults();
        let first = block_on(shops.shop(&id)).expect("built").expect("served");
        assert_eq!(first.new_visitor.name, "new-visitor");
        assert_eq!(shops.built.lock().expect("lock").len(), 1);
        let again = block_on(shops.clone().shop(&id))
            .expect("built")
            .expect("served");
        assert_eq!(again.settings, first.settings);

        let mut settings = ShopSettings::defaults_for(&id);
        settings.segments.new_visitor = "default".to_owned();
        let changed = shops.with_settings(id.clone(), settings);
        let rebuilt = block_on(changed.shop(&id)).expect("built").expect("served");
        assert_eq!(rebuilt.new_visitor.name, "default");
    }
}
