//! The integration tests of cartback-webhook, one module per subject, in one binary.

mod bigcommerce;
mod compliance;
mod generic;
mod hostile;
mod hostile_bigcommerce;
mod hostile_input;
mod http;
mod no_values_in_errors;
mod woocommerce;

use cartback_app::{Absent, Bundle, Metrics};
use cartback_core::ports::NoStoreApi;
use cartback_local::{LocalShops, MemoryErasureQueue, VirtualClock};

/// What the webhook function runs on in these tests: a store, the shops (and their secrets),
/// a virtual clock, a store API; nothing else is wired, as on AWS.
pub type WebhookPorts<S, A = NoStoreApi> = Bundle<
    S,
    Absent,
    Absent,
    Absent,
    LocalShops,
    LocalShops,
    A,
    VirtualClock,
    Absent,
    MemoryErasureQueue,
>;

/// The webhook's ports on `store`, `shops` and `api`, at `clock`, its metrics kept in memory.
pub fn webhook_ports<S, A>(
    store: S,
    shops: LocalShops,
    clock: VirtualClock,
    api: A,
) -> WebhookPorts<S, A> {
    Bundle {
        metrics: Metrics::memory(),
        ..Bundle::unwired(clock)
    }
    .with_store(store)
    .with_shops(shops.clone())
    .with_secrets(shops)
    .with_store_api(api)
    .with_erasures(MemoryErasureQueue::default())
}
