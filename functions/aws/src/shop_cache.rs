//! A per-container cache of what was read about each shop: a value for a few minutes, "no
//! such shop" for less. The misses are bounded: a webhook URL names its shop, so junk
//! requests naming random shops must not grow a container's memory without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cartback_core::model::ids::ShopId;

/// The most "no such shop" answers kept; beyond it, the oldest is forgotten (and read
/// again if asked: a miss costs one read).
pub(crate) const MAX_MISSES: usize = 256;

pub(crate) struct ShopCache<V> {
    entries: Mutex<HashMap<ShopId, (Instant, Option<V>)>>,
    hit_ttl: Duration,
    miss_ttl: Duration,
}

impl<V: Clone> ShopCache<V> {
    pub(crate) fn new(hit_ttl: Duration, miss_ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            hit_ttl,
            miss_ttl,
        }
    }

    /// `Some(answer)` while the answer is fresh.
    pub(crate) fn get(&self, id: &ShopId) -> Option<Option<V>> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(id)?;
        let ttl = if value.is_some() {
            self.hit_ttl
        } else {
            self.miss_ttl
        };
        (at.elapsed() < ttl).then(|| value.clone())
    }

    pub(crate) fn put(&self, id: &ShopId, value: Option<V>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if value.is_none() && !entries.contains_key(id) {
            let misses = entries.values().filter(|(_, v)| v.is_none()).count();
            if misses >= MAX_MISSES {
                let miss_ttl = self.miss_ttl;
                entries.retain(|_, (at, v)| v.is_some() || at.elapsed() < miss_ttl);
                let misses: Vec<(Instant, ShopId)> = entries
                    .iter()
                    .filter(|(_, (_, v))| v.is_none())
                    .map(|(k, (at, _))| (*at, k.clone()))
                    .collect();
                if misses.len() >= MAX_MISSES
                    && let Some((_, oldest)) = misses.into_iter().min_by_key(|(at, _)| *at)
                {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(id.clone(), (Instant::now(), value));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(i: usize) -> ShopId {
        ShopId::parse(format!("junk-{i}.example")).expect("a shop id")
    }

    #[test]
    fn junk_shop_ids_cannot_grow_the_cache_and_real_shops_stay() {
        let cache = ShopCache::new(Duration::from_secs(300), Duration::from_secs(30));
        let real = ShopId::parse("kuura.myshopify.com").expect("a shop id");
        cache.put(&real, Some("settings"));
        for i in 0..10_000 {
            cache.put(&shop(i), None);
        }
        assert_eq!(cache.len(), MAX_MISSES + 1);
        assert_eq!(cache.get(&real), Some(Some("settings")));
        assert_eq!(
            cache.get(&shop(9_999)),
            Some(None),
            "the newest miss is kept"
        );
        assert_eq!(cache.get(&shop(0)), None, "the oldest is forgotten");
    }
}
