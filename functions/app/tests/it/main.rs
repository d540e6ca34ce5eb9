//! The integration tests of cartback-app, one module per subject, in one binary.

mod heal;
mod templates;
