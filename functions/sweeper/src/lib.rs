//! The sweeper function: every 15 minutes (an EventBridge schedule rule, whose event says
//! nothing the sweep needs), re-arms the open carts nothing will wake
//! (`cartback_app::heal::sweep`). A failed sweep fails the invocation; the next one, 15
//! minutes later, does its work.

use cartback_app::Ports;
pub use cartback_app::heal::SweepReport;
use cartback_core::ports::{DueIndex, PortError};

/// Carts one invocation reads at most (the rest wait for the next sweep).
pub const LIMIT: usize = 1_000;

/// One sweep of up to [`LIMIT`] overdue carts.
pub async fn handle<P: Ports>(ports: &P) -> Result<SweepReport, PortError>
where
    P::Store: DueIndex,
{
    cartback_app::heal::sweep(ports, LIMIT).await
}
