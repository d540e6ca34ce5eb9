//! The product's decisions as pure functions over state and time: what a wake-up does
//! (`decide`), how a cart's record moves (`lifecycle`), which zone is the recipient's
//! (`zone`), and what erasing a person touches (`erase`). Depends on `model` only.

pub mod attribution;
pub mod decide;
pub mod erase;
pub mod lifecycle;
pub mod zone;
