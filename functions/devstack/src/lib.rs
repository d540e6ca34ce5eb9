//! cartback on emulated AWS, on a laptop: a moto server (installed into a pinned venv by
//! `scripts/pyenv`), the resources `infra/template.yaml` creates, and the real webhook,
//! planner, sender, feedback and unsubscribe handlers on the real AWS adapters
//! (`cartback-aws`) with dummy credentials — exactly as deployed code runs them.
//!
//! moto keeps DynamoDB (with streams), Scheduler, SES v2, SNS (SMS) and SSM faithfully but
//! never fires a schedule and publishes no SES events. [`Stack`] does what AWS would:
//! [`Stack::drain_stream`] feeds the planner from the table's real stream (DescribeStream /
//! GetShardIterator / GetRecords, as Lambda's event source mapping polls it),
//! [`Stack::take_due_schedules`] fires due schedules (deleting them, as
//! `ActionAfterCompletion: DELETE` does) and [`Stack::post_ses_events`] hands SES events to
//! the feedback handler in the SNS envelope Lambda receives. HTTP requests reach the
//! webhook and unsubscribe handlers as API Gateway (HTTP API, payload 2.0) events
//! ([`apigw`]).
//!
//! Used by `cartback dev` (with a [`ScaledClock`]) and by the end-to-end tests (with a
//! virtual clock).

pub mod apigw;
mod clock;
mod error;
pub mod events;
pub mod faults;
mod moto;
mod names;
mod outbox;
mod pump;
mod resources;
mod stack;
mod world;

pub use clock::ScaledClock;
pub use error::DevStackError;
pub use faults::{FaultClass, FaultPlan, FaultProxy, FaultStats, Recorded, SplitMix64};
pub use moto::{Moto, MotoOptions, announced_port, find_pyenv, moto_binary};
pub use names::{ACCOUNT, Names, REGION};
pub use outbox::{ParsedMail, PublishedSms, SentMail, sent_emails, sent_sms};
pub use pump::{Fired, Pump, Tick};
pub use resources::{
    connect_shop, create_resources, put_secret, sdk_config, sdk_config_quick_retries,
};
pub use stack::{
    DeadLetteredRecord, Drained, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS, ScheduleChange, Stack,
    StoredSchedule,
};

pub type Result<T, E = DevStackError> = std::result::Result<T, E>;
