//! What can go wrong while running the stack, with the step that failed.

/// A failure of the local stack: which step failed, and why.
#[derive(Debug, thiserror::Error)]
pub enum DevStackError {
    /// moto could not be installed, started or reached.
    #[error("moto server: {0}")]
    Moto(String),
    /// An AWS call on moto failed.
    #[error("{what}: {message}")]
    Aws { what: String, message: String },
    /// A handler failed where Lambda would fail the invocation.
    #[error("{handler}: {message}")]
    Handler {
        handler: &'static str,
        message: String,
    },
    /// Data read back from moto is not what the handlers wrote.
    #[error("unexpected data: {0}")]
    Data(String),
}

impl DevStackError {
    /// An AWS SDK error, with its code and message (never the request).
    pub fn aws<E>(what: impl Into<String>) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error,
    {
        let what = what.into();
        move |error| Self::Aws {
            what,
            message: aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string(),
        }
    }

    pub fn handler(handler: &'static str) -> impl FnOnce(String) -> Self {
        move |message| Self::Handler { handler, message }
    }
}
