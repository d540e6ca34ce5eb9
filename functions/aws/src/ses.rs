//! Email through SES v2, as a raw MIME message so every header survives.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use cartback_core::ports::{Mailer, OutgoingEmail, PortError};

use crate::LazyClient;
use crate::errors::{port_error, retry_refusals};

const SERVICE: &str = "sesv2";

pub struct SesMailer {
    client: LazyClient<Client>,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(sdk: &aws_config::SdkConfig, configuration_set: Option<String>) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), configuration_set)
    }

    pub fn from_client(
        client: impl Into<LazyClient<Client>>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client: client.into(),
            configuration_set,
        }
    }
}

fn build_error(error: impl std::fmt::Display) -> PortError {
    PortError::permanent(SERVICE, format!("building the request: {error}"))
}

impl Mailer for SesMailer {
    /// No SDK retries: a retry after a lost answer could send the message twice. A refusal
    /// (throttling, 5xx) is tried again ([`retry_refusals`]), then left to the sender's
    /// invocation retry; a lost answer is `outcome_unknown` and never retried.
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, PortError> {
        let tags = email
            .tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(name).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let raw = RawMessage::builder()
            .data(Blob::new(email.raw.clone()))
            .build()
            .map_err(build_error)?;
        let output = retry_refusals(|| async {
            self.client
                .send_email()
                .from_email_address(email.from.as_str())
                .destination(
                    Destination::builder()
                        .to_addresses(email.to.as_str())
                        .build(),
                )
                .content(EmailContent::builder().raw(raw.clone()).build())
                .set_email_tags(Some(tags.clone()))
                .set_configuration_set_name(self.configuration_set.clone())
                .customize()
                .config_override(
                    aws_sdk_sesv2::config::Builder::default()
                        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "SendEmail", &e))
        })
        .await?;
        output.message_id.ok_or_else(|| {
            PortError::outcome_unknown(SERVICE, "SendEmail answered without a message id")
        })
    }
}
