//! The integration tests of cartback-planner, one module per subject, in one binary.

mod stream;
