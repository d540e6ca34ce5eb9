//! The integration tests of cartback-local, one module per subject, in one binary.

mod item_sizes;
mod ttl;
