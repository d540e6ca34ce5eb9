//! The integration tests of cartback-core, one module per subject, in one binary.

mod bigcommerce;
mod common;
mod compiled;
mod decide;
mod experiment;
mod explain;
mod generic;
mod hostile;
mod layers;
mod lifecycle;
mod locales;
mod properties;
mod render;
mod schedule;
mod sequence;
mod ses_event;
mod shopify;
mod woocommerce;
mod zone;
