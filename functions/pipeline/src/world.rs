//! What differs between the worlds the handlers run in: where their ports are, how the
//! table's stream is read and how schedules come due. Everything AWS does with those is the
//! same in every world and lives in [`crate::Runner`].

use aws_lambda_events::dynamodb::EventRecord;
use cartback_app::Ports as _;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock as _;
use jiff::Timestamp;

/// One world: the in-memory ports (`cartback-local`), or the AWS adapters on moto
/// (`cartback-devstack`). Its clock is the one in its ports.
pub trait World: Sync {
    /// What the handlers run on.
    type Ports: cartback_app::Ports;
    /// Why reading the stream or the schedules failed.
    type Error;

    fn ports(&self) -> &Self::Ports;

    /// The records written to the table's stream since the last read, oldest first, as
    /// Lambda's event source mapping hands them to the planner. A record read is not read
    /// again: re-driving a failed batch is the runner's business.
    fn read_stream(&self) -> impl Future<Output = Result<Vec<EventRecord>, Self::Error>> + Send;

    /// When the earliest pending schedule fires, as far as the world knows without asking
    /// its scheduler.
    fn next_due_at(&self) -> Option<Timestamp>;

    /// Takes the earliest schedule due at or before `until`, with the time it was due: it
    /// fires and, as with `ActionAfterCompletion: DELETE`, is gone. `None`: nothing is due.
    fn take_due(
        &self,
        until: Timestamp,
    ) -> impl Future<Output = Result<Option<(Timestamp, WakeUp)>, Self::Error>> + Send;

    /// Takes every schedule due at the world's time, in the order they fire. One by one
    /// unless the world can do better (a scheduler read over the network lists once).
    fn take_all_due(
        &self,
    ) -> impl Future<Output = Result<Vec<(Timestamp, WakeUp)>, Self::Error>> + Send {
        async {
            let until = self.ports().clock().now();
            let mut due = Vec::new();
            while let Some(taken) = self.take_due(until).await? {
                due.push(taken);
            }
            Ok(due)
        }
    }
}
