//! The integration tests of cartback-webhook, one module per subject, in one binary.

mod bigcommerce;
mod compliance;
mod generic;
mod hostile;
mod hostile_bigcommerce;
mod hostile_input;
mod http;
mod woocommerce;
