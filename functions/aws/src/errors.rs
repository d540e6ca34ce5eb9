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
];

/// Refusals that come from the account or its configuration, not from the request or the
/// recipient: an operator fixes them (verifies the identity, leaves the sandbox, resumes
/// sending, grants the permission, raises a limit), and the same request then succeeds.
const ACCOUNT_SIDE_CODES: &[&str] = &[
    // SES v2
    "SendingPausedException",
    "AccountSuspendedException",
    "MailFromDomainNotVerifiedException",
    // An identity that is not verified, or (in the sandbox) a recipient that is not.
    "MessageRejected",
    // A configuration set (or another named resource) that does not exist.
    "NotFoundException",
    "ResourceNotFoundException",
    // IAM and credentials
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    // KMS behind an encrypted topic or table
    "KMSAccessDenied",
    "KMSAccessDeniedException",
    "KMSDisabled",
    "KMSDisabledException",
    "KMSInvalidState",
    "KMSInvalidStateException",
    "KMSNotFound",
    "KMSNotFoundException",
    "KMSOptInRequired",
];

/// Whose fault an error of `service` with `code` and `message` is, and so what may help.
fn class_of(service: &str, code: &str, message: &str, server_error: bool) -> Class {
    let lower = message.to_ascii_lowercase();
    if ACCOUNT_SIDE_CODES.contains(&code)
        // SES's daily quota (Max24HourSend) reached: a quick retry cannot help.
        || (service == "sesv2" && code == "LimitExceededException")
        // SNS refuses SMS once the month's spend limit is reached.
        || lower.contains("spend limit")
        || lower.contains("no quota left")
    {
        Class::AccountSide
    } else if RETRYABLE_CODES.contains(&code) || server_error {
        Class::Retryable
    } else {
        Class::Permanent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Retryable,
    AccountSide,
    Permanent,
}

/// Classifies an SDK error: throttling and 5xx answers are retryable (the service refused);
/// an account or configuration refusal is account side (`ACCOUNT_SIDE_CODES`); a timeout, a
/// lost connection or an unreadable answer is retryable with an unknown outcome (the request
/// may have taken effect); anything else is permanent (the request, or the recipient).
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
            let text = err.message().unwrap_or("");
            let message = format!("{operation}: {code}: {text}");
            match class_of(
                service,
                code,
                text,
                context.raw().status().is_server_error(),
            ) {
                Class::Retryable => PortError::retryable(service, message),
                Class::AccountSide => PortError::account_side(service, message),
                Class::Permanent => PortError::permanent(service, message),
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

#[cfg(test)]
mod class_tests {
    use super::*;

    #[test]
    fn only_the_request_or_the_recipient_is_permanent() {
        for (service, code, message, class) in [
            (
                "sesv2",
                "MessageRejected",
                "Email address is not verified.",
                Class::AccountSide,
            ),
            ("sesv2", "SendingPausedException", "", Class::AccountSide),
            ("sesv2", "AccountSuspendedException", "", Class::AccountSide),
            (
                "sesv2",
                "MailFromDomainNotVerifiedException",
                "",
                Class::AccountSide,
            ),
            (
                "sesv2",
                "NotFoundException",
                "Configuration set <x> does not exist.",
                Class::AccountSide,
            ),
            ("sesv2", "AccessDeniedException", "", Class::AccountSide),
            (
                "sesv2",
                "LimitExceededException",
                "Daily message quota exceeded.",
                Class::AccountSide,
            ),
            (
                "sesv2",
                "TooManyRequestsException",
                "Maximum sending rate exceeded.",
                Class::Retryable,
            ),
            (
                "sesv2",
                "BadRequestException",
                "Illegal address",
                Class::Permanent,
            ),
            ("sns", "AuthorizationError", "", Class::AccountSide),
            ("sns", "KMSAccessDenied", "", Class::AccountSide),
            (
                "sns",
                "Throttling",
                "No quota left for account",
                Class::AccountSide,
            ),
            (
                "sns",
                "InvalidParameter",
                "Invalid parameter: PhoneNumber",
                Class::Permanent,
            ),
            ("sns", "Throttling", "Rate exceeded", Class::Retryable),
            ("dynamodb", "LimitExceededException", "", Class::Retryable),
            (
                "dynamodb",
                "ConditionalCheckFailedException",
                "",
                Class::Permanent,
            ),
        ] {
            assert_eq!(
                class_of(service, code, message, false),
                class,
                "{service} {code}"
            );
        }
        assert_eq!(
            class_of("sesv2", "Anything", "", true),
            Class::Retryable,
            "a 5xx"
        );
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
