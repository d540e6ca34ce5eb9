//! cartback's application layer: each use case reads through the ports, asks core's pure
//! rules what to do, and writes the result. The Lambda handlers (`functions/webhook`,
//! `planner`, `sender`, `feedback`, `unsubscribe`) only translate their events into these
//! calls and the outcomes back into HTTP statuses, batch failures, metrics and logs.
//!
//! | use case | module |
//! | --- | --- |
//! | ingest a shop's webhook | [`ingest`] |
//! | plan schedules from a change of a cart | [`plan`] |
//! | wake up and send a step | [`send`] (composing the message: [`compose`]) |
//! | apply a recipient event (open, click, bounce, complaint, unsubscribe) | [`feedback`] |
//! | unsubscribe through a signed link | [`unsubscribe`] |
//! | erase a person or a shop, export a person's data | [`privacy`] |
//! | explain where a cart stands | [`explain`] |
//! | import offer codes | [`offer_codes`] |
//! | re-arm stranded carts (the sweeper) | [`heal`] |

mod cart_write;
pub mod compose;
pub mod erasure;
pub mod explain;
pub mod feedback;
pub mod heal;
pub mod ingest;
pub mod metrics;
pub mod offer_codes;
pub mod plan;
pub mod ports;
pub mod privacy;
pub mod send;
pub mod templates;
pub mod unsubscribe;

pub use metrics::Metrics;
pub use ports::{Absent, Bundle, Messaging, Ports, SystemClock};
