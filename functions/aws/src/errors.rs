//! Service errors become `PortError`s that say whether a retry may help.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use cartback_core::ports::PortError;

const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
    "SendingPausedException",
    "AccountSuspendedException",
];

/// Classifies an SDK error: throttling and 5xx answers are retryable (the service refused);
/// a timeout, a lost connection or an unreadable answer is retryable with an unknown outcome
/// (the request may have taken effect).
pub fn port_error<E>(
    service: &'static str,
    operation: &str,
    error: &SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let err = context.err();
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{operation}: {code}: {}", err.message().unwrap_or(""));
            if RETRYABLE_CODES.contains(&code) || context.raw().status().is_server_error() {
                PortError::retryable(service, message)
            } else {
                PortError::permanent(service, message)
            }
        }
        SdkError::ConstructionFailure(_) => PortError::permanent(
            service,
            format!("{operation}: request could not be built: {error}"),
        ),
        SdkError::ResponseError(_) | SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            PortError::outcome_unknown(service, format!("{operation}: {error}"))
        }
        _ => PortError::outcome_unknown(service, format!("{operation}: {error}")),
    }
}

/// The service error code, if the error came from the service.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}
