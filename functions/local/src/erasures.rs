//! The erasure queue in memory: the jobs the webhook queued, for the runtime to hand to the
//! erasure worker (`cartback_app::erasure::work`), as SQS and the event source mapping do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cartback_core::model::privacy::ErasureJob;
use cartback_core::ports::{ErasureQueue, PortError};

use crate::calls::CallCounts;

#[derive(Debug, Clone, Default)]
pub struct MemoryErasureQueue(Arc<Mutex<VecDeque<ErasureJob>>>, CallCounts);

impl MemoryErasureQueue {
    /// A queue that counts the SQS calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    /// The oldest job waiting, taken off the queue.
    pub fn take(&self) -> Option<ErasureJob> {
        self.0.lock().ok()?.pop_front()
    }

    /// How many jobs wait.
    pub fn len(&self) -> usize {
        self.0.lock().map(|q| q.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ErasureQueue for MemoryErasureQueue {
    async fn enqueue(&self, job: &ErasureJob) -> Result<(), PortError> {
        self.1.count("sqs", "SendMessage");
        self.0
            .lock()
            .map_err(|_| PortError::permanent("memory", "lock poisoned"))?
            .push_back(job.clone());
        Ok(())
    }
}
