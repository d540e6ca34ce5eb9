//! The integration tests of cartback-cli, one module per subject, in one binary.

mod commands;
mod common;
mod doctor;
mod email_browser;
mod erase;
mod erase_export;
mod explain;
mod faults;
mod offer_pools;
mod outbox_browser;
mod properties;
mod recovery_flow;
mod render;
mod replay;
mod report;
mod send_limits;
mod shop;
mod simulate;
mod stats;
