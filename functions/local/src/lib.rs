//! In-memory ports, a virtual clock and the local runtime that drives cartback's real
//! handlers: webhook → table → stream → planner → schedules → (fired by us) → sender.
//! Used by handler tests, `cartback simulate`, `cartback demo` and property tests.

mod calls;
mod clock;
mod erasures;
mod faults;
mod mailer;
mod offer_codes;
mod outage;
mod people;
mod report;
mod runtime;
mod schedules;
mod shops;
mod sms;
mod store;
mod store_api;
mod world;

pub use calls::{CallCounts, Units, read_halves, write_units};
pub use clock::VirtualClock;
pub use erasures::MemoryErasureQueue;
pub use faults::{BadRate, FaultClass, FaultPlan, Faults, Faulty, MAX_SIMULATED_RATE};
pub use mailer::{LimitStats, MemoryMailer, SendLimits, SentEmail};
pub use offer_codes::MemoryOfferCodes;
pub use outage::OutageStore;
pub use report::{Report, ReportKind};
pub use runtime::{
    FaultyMemoryPorts, LOCAL_PUBLIC_URL, LOCAL_UNSUBSCRIBE_SECRET, MemoryPorts, MemoryRuntime,
    RuntimeError, Unconfirmed, local_messaging,
};
pub use schedules::MemorySchedules;
pub use shops::LocalShops;
pub use sms::{MemorySms, SentSms};
pub use store::{MemoryStore, item_size};
pub use store_api::{MemoryStoreApi, StoreAnswer};
pub use world::MemoryWorld;
