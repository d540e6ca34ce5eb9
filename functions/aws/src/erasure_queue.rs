//! The erasure queue on SQS: the webhook queues a privacy request's erasure, the erasure
//! worker queues the rest of a job it could not finish in one invocation.

use aws_sdk_sqs::Client;
use cartback_core::model::privacy::ErasureJob;
use cartback_core::ports::{ErasureQueue, PortError};

use crate::LazyClient;
use crate::errors::port_error;

const SERVICE: &str = "sqs";

pub struct SqsErasureQueue {
    client: LazyClient<Client>,
    url: String,
}

impl SqsErasureQueue {
    pub fn new(sdk: &aws_config::SdkConfig, url: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), url)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, url: &str) -> Self {
        Self {
            client: client.into(),
            url: url.to_owned(),
        }
    }
}

impl ErasureQueue for SqsErasureQueue {
    /// The job as JSON (hashed keys, no personal data). The SDK retries a throttled or failed
    /// send; an error left is returned, so the webhook answers 5xx and the platform sends the
    /// request again.
    async fn enqueue(&self, job: &ErasureJob) -> Result<(), PortError> {
        let body = serde_json::to_string(job)
            .map_err(|e| PortError::permanent(SERVICE, format!("encoding the job: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "SendMessage", &e))?;
        Ok(())
    }
}
