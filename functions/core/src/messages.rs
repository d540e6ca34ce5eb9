//! What goes out: emails and SMS rendered from the shop's templates in the recipient's
//! language, money and dates in their locale, SMS lengths, and signed unsubscribe tokens.

pub(crate) mod compiled;
pub mod format;
pub mod pages;
pub mod render;
pub mod sms;
pub mod unsubscribe;
