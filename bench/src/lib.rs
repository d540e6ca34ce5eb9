//! What cartback's benchmarks share: real-sized Shopify checkouts generated from the test
//! fixture, the floor the webhook path is measured against, a minimal local Lambda Runtime
//! API for cold starts, the command line of the tools that measure in fresh processes, a
//! generator of abandoned carts for `cartback simulate`, and the statistics the report
//! prints.

pub mod carts;
pub mod fixtures;
pub mod fresh_process;
pub mod runtime_api;
pub mod stats;
