//! The integration tests of cartback-feedback, one module per subject, in one binary.

mod sns;
