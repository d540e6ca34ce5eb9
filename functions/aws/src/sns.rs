//! SMS through SNS: promotional messages to E.164 numbers, and the opt-out list.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use cartback_core::model::contact::Phone;
use cartback_core::ports::{OutgoingSms, PortError, SmsSender};

use crate::LazyClient;
use crate::errors::{port_error, retry_refusals};

const SERVICE: &str = "sns";

pub struct SnsSms {
    client: LazyClient<Client>,
}

impl SnsSms {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new))
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>) -> Self {
        Self {
            client: client.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::permanent(SERVICE, format!("building the request: {e}")))
}

impl SmsSender for SnsSms {
    /// No SDK retries; refusals tried again, for the reasons given on `SesMailer::send_email`.
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<String, PortError> {
        let promotional = attribute("Promotional")?;
        let sender_id = sms.sender_id.as_deref().map(attribute).transpose()?;
        let output = retry_refusals(|| async {
            let mut request = self
                .client
                .publish()
                .phone_number(sms.to.as_str())
                .message(&sms.text)
                .message_attributes("AWS.SNS.SMS.SMSType", promotional.clone());
            if let Some(sender_id) = &sender_id {
                request = request.message_attributes("AWS.SNS.SMS.SenderID", sender_id.clone());
            }
            request
                .customize()
                .config_override(
                    aws_sdk_sns::config::Builder::default()
                        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "Publish", &e))
        })
        .await?;
        output.message_id.ok_or_else(|| {
            PortError::outcome_unknown(SERVICE, "Publish answered without a message id")
        })
    }

    async fn is_opted_out(&self, phone: &Phone) -> Result<bool, PortError> {
        let output = self
            .client
            .check_if_phone_number_is_opted_out()
            .phone_number(phone.as_str())
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "CheckIfPhoneNumberIsOptedOut", &e))?;
        Ok(output.is_opted_out)
    }
}
