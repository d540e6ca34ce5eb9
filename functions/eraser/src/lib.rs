//! The erasure worker: each message of the erasure queue is an erasure job
//! (`cartback_core::model::privacy::ErasureJob`) that a privacy webhook queued, or the rest of
//! one. One chunk of it is done (`cartback_app::erasure::work`); what is left goes back on
//! the queue before the message is acknowledged, so a job of any size finishes, and a chunk
//! that fails or times out is received again and starts from where the last chunk stopped.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use cartback_app::Ports;
use cartback_app::erasure::{Budget, Progress, work};
use cartback_core::model::privacy::ErasureJob;
use cartback_core::platforms::json;
use cartback_core::ports::{ErasureQueue, PersonalData};

/// Handles each job of the batch (the template sets one a batch); a job that failed comes
/// back as a batch item failure, received again until the queue's limit, then dead-lettered.
pub async fn handle_batch<P: Ports>(event: &SqsEvent, ports: &P, budget: Budget) -> SqsBatchResponse
where
    P::Store: PersonalData,
{
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let job = match json::from_body::<ErasureJob>(record.body.as_deref()) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(message_id = %id, error = %error, "not an erasure job; left for the dead-letter queue");
                response.add_failure(id);
                continue;
            }
        };
        let log_id = job.log_id();
        let outcome = match work(ports, job, budget).await {
            Ok(Progress::Done(_)) => Ok(()),
            // The rest first: if queueing it fails, this message comes back and the chunk is
            // done again (deleting what is gone already is success).
            Ok(Progress::More(rest)) => ports.erasures().enqueue(&rest).await,
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::error!(message_id = %id, job = %log_id, error = %error, retryable = error.retryable, "erasure chunk failed; received again until the queue's limit, then dead-lettered");
            response.add_failure(id);
        }
    }
    response
}
