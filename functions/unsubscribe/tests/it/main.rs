//! The integration tests of cartback-unsubscribe, one module per subject, in one binary.

mod http;
