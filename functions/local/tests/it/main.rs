//! The integration tests of cartback-local, one module per subject, in one binary.

mod erasure;
mod item_sizes;
mod ttl;
