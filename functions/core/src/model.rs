//! The domain's types, parsed once at the edge: ids, contacts, money, carts and the people
//! behind them, shops and their sequences, offer codes, schedules, and how items are keyed
//! in the table. Depends on nothing else in core.

pub mod cart;
pub mod cart_item;
pub mod contact;
pub mod experiment;
pub mod ids;
pub mod money;
pub mod offer_codes;
pub mod privacy;
pub mod reason;
pub mod redact;
pub mod schedule;
pub mod sequence;
pub mod shop;
pub mod table;
pub mod time;
