//! The emulator as the pipeline runner (`cartback-pipeline`) sees it: the stack's ports, the
//! table's stream read over DynamoDB Streams, the schedules read back from moto's Scheduler.

use aws_lambda_events::dynamodb::EventRecord;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::time::Clock;
use cartback_pipeline::World;
use jiff::Timestamp;

use crate::stack::EmulatorPorts;
use crate::{DevStackError, Result, Stack, events};

impl<C: Clock + Clone> World for Stack<C> {
    type Ports = EmulatorPorts<C>;
    type Error = DevStackError;

    fn ports(&self) -> &EmulatorPorts<C> {
        &self.ports
    }

    async fn read_stream(&self) -> Result<Vec<EventRecord>> {
        let records = self.read_stream_records().await?;
        Ok(events::stream_event(records, &self.names.region)?.records)
    }

    /// The earliest schedule read back (or learnt) and not fired since: no call to moto.
    fn next_due_at(&self) -> Option<Timestamp> {
        self.next_known_due()
    }

    async fn take_due(&self, until: Timestamp) -> Result<Option<(Timestamp, WakeUp)>> {
        for schedule in self.schedules().await? {
            if schedule.at > until {
                break;
            }
            if let Some(wake) = self.fire(&schedule).await? {
                return Ok(Some((schedule.at, wake)));
            }
        }
        Ok(None)
    }

    /// One listing of the group for every schedule due (see [`Stack::take_due_schedules`]).
    async fn take_all_due(&self) -> Result<Vec<(Timestamp, WakeUp)>> {
        Ok(self
            .take_due_schedules()
            .await?
            .into_iter()
            .map(|(schedule, wake)| (schedule.at, wake))
            .collect())
    }
}
