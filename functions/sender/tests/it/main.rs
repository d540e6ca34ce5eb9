//! The integration tests of cartback-sender, one module per subject, in one binary.

mod wake_up;
