//! What AWS does between requests, written once for every world cartback runs in: the
//! table's stream feeds the planner (Lambda's event source mapping, re-driving a failed
//! batch from the failed record), due schedules wake the sender (EventBridge Scheduler), and
//! a failed sender invocation is retried (Lambda's asynchronous invoke).
//!
//! A [`World`] says what differs: its ports, how its stream is read and how its schedules
//! come due. [`Runner`] does the rest. `cartback-local`'s `MemoryRuntime` drives the
//! in-memory world with it, `cartback-devstack`'s `Pump` and `Stack` the AWS adapters on
//! moto.

mod runner;
mod stream;
mod wake_ups;
mod world;

pub use runner::Runner;
pub use stream::{Drain, EventSourceMapping, Exhausted};
pub use wake_ups::{Due, Invocation, Origin, RETRY_DELAYS};
pub use world::World;
