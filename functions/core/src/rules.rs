//! The product's decisions as pure functions over state and time: what a wake-up does
//! (`decide`), how a cart's record moves (`lifecycle`), which zone is the recipient's
//! (`zone`), what erasing a person touches (`erase`), when a refused send goes out again
//! (`retry`) and which carts nothing will wake and how they are re-armed (`heal`). Depends
//! on `model` only.

pub mod attribution;
pub mod decide;
pub mod erase;
pub mod heal;
pub mod lifecycle;
pub mod retry;
pub mod zone;
