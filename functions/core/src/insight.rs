//! What the shop and the on-call engineer read: why a cart stands where it does (`explain`),
//! the holdout lift (`report`, `stats`), which purchase counts as recovered
//! (`attribution`), and CloudWatch metric lines (`metrics`).

pub mod attribution;
pub mod explain;
pub mod metrics;
pub mod report;
pub mod stats;
