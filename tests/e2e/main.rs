//! The end-to-end tests: the five functions' real handlers and AWS adapters on moto, one
//! module per flow, in one binary (the SDK is linked once).

mod account_side;
mod bigcommerce;
mod both_worlds;
mod carried_sends;
mod cart_items;
mod erasure;
mod generic;
mod offer_codes;
mod shopify;
mod sms_feedback;
mod soak;
mod sweeper;
mod unsubscribe;
mod woocommerce;
