//! cartback's core: parsed domain types, sequences, the pure `decide()`, platform webhook
//! adapters, rendering and the ports the handlers are generic over. No AWS, no network.

pub mod attribution;
pub mod bigcommerce;
pub mod cart;
pub mod contact;
pub mod decide;
pub mod erase;
pub mod experiment;
pub mod explain;
pub mod format;
pub mod generic;
pub mod ids;
pub mod lifecycle;
pub mod metrics;
pub mod money;
pub mod offer_codes;
pub mod pages;
pub mod ports;
pub mod redact;
pub mod render;
pub mod report;
pub mod schedule;
pub mod sequence;
pub mod ses_event;
pub mod shop;
pub mod shopify;
pub mod sms;
pub mod stats;
pub mod table;
pub mod time;
pub mod unsubscribe;
pub mod webhook;
pub mod woocommerce;
pub mod zone;
