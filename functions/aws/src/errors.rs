//! Service errors become `PortError`s that say whether a retry may help.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
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

/// Attempts of a send (SES, SNS) in all.
#[cfg(any(feature = "ses", feature = "sns"))]
const SEND_ATTEMPTS: u32 = 3;

/// Runs a send, trying again only when the service refused it (throttling, 5xx: nothing
/// was sent), after 100 then 400 ms. A lost answer (`outcome_unknown`: the message may have
/// gone) or a permanent error is returned at once: a retry could send twice.
#[cfg(any(feature = "ses", feature = "sns"))]
pub async fn retry_refusals<T, F, Fut>(mut send: F) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    let mut attempt = 1;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match send().await {
            Err(error) if error.retryable && !error.outcome_unknown && attempt < SEND_ATTEMPTS => {
                tracing::warn!(service = error.service, error = %error.message, attempt, "send refused; trying again");
                tokio::time::sleep(pause).await;
                attempt += 1;
                pause *= 4;
            }
            result => return result,
        }
    }
}

/// The service error code, if the error came from the service.
#[cfg(any(feature = "dynamodb", feature = "scheduler", feature = "ssm"))]
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

#[cfg(all(test, any(feature = "ses", feature = "sns")))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn attempts_until(
        result: impl Fn(u32) -> Result<&'static str, PortError>,
    ) -> (Result<&'static str, PortError>, u32) {
        let calls = AtomicU32::new(0);
        let outcome = retry_refusals(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(result(n))
        })
        .await;
        (outcome, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_refused_send_is_tried_again_and_a_lost_answer_never_is() {
        let throttled = || PortError::retryable("sesv2", "TooManyRequestsException");
        let (sent, calls) =
            attempts_until(|n| if n < 3 { Err(throttled()) } else { Ok("id") }).await;
        assert_eq!((sent, calls), (Ok("id"), 3));

        let (refused, calls) = attempts_until(|_| Err(throttled())).await;
        assert!(refused.is_err());
        assert_eq!(calls, 3, "three attempts in all");

        let (lost, calls) =
            attempts_until(|_| Err(PortError::outcome_unknown("sesv2", "timeout"))).await;
        assert!(lost.is_err_and(|e| e.outcome_unknown));
        assert_eq!(calls, 1, "no second copy");

        let (bad, calls) =
            attempts_until(|_| Err(PortError::permanent("sesv2", "MessageRejected"))).await;
        assert!(bad.is_err());
        assert_eq!(calls, 1);
    }
}
