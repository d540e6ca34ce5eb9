//! The integration tests of cartback-aws, one module per subject, in one binary.

mod bigcommerce_api;
