//! cartback's core: what the product knows and decides, with no I/O. Each top-level module is
//! one layer of it, and depends only on the ones listed before it:
//!
//! - [`model`]: the parsed domain types (ids, contacts, money, carts, shops, sequences).
//! - [`rules`]: the pure decisions over a cart, a person, a sequence and the time.
//! - [`platforms`]: the shops' webhooks (Shopify, WooCommerce, BigCommerce, generic) and the
//!   mail service's events, parsed into one event model.
//! - [`messages`]: rendering emails, SMS and pages, and the signed unsubscribe links.
//! - [`insight`]: explaining a cart, reporting lift, metric lines and statistics.
//! - [`ports`]: the capabilities the application layer needs, as narrow traits.

pub mod insight;
pub mod messages;
pub mod model;
pub mod platforms;
pub mod ports;
pub mod rules;
