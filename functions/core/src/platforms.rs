//! What comes in from outside, parsed into the model: the shops' webhooks (Shopify,
//! WooCommerce, BigCommerce, the generic API) and the mail service's delivery events.

pub mod bigcommerce;
pub mod generic;
pub mod json;
pub mod ses_event;
pub mod shopify;
pub mod webhook;
pub mod woocommerce;
