//! One-shot EventBridge Scheduler schedules that wake the sender.

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use cartback_core::model::schedule::ScheduleSpec;
use cartback_core::ports::{PortError, Schedules};
use jiff::{SignedDuration, Timestamp};

use crate::LazyClient;
use crate::config::SchedulerTarget;
use crate::errors::{code, port_error};

const SERVICE: &str = "scheduler";

/// `at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded up to the whole second.
pub fn at_expression(at: Timestamp) -> String {
    let rounded = if at.subsec_nanosecond() > 0 {
        at.checked_add(SignedDuration::from_nanos(i64::from(
            1_000_000_000 - at.subsec_nanosecond(),
        )))
        .unwrap_or(at)
    } else {
        at
    };
    format!("at({})", rounded.strftime("%Y-%m-%dT%H:%M:%S"))
}

pub struct SchedulerSchedules {
    client: LazyClient<Client>,
    target: SchedulerTarget,
}

impl SchedulerSchedules {
    pub fn new(sdk: &aws_config::SdkConfig, target: SchedulerTarget) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), target)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, target: SchedulerTarget) -> Self {
        Self {
            client: client.into(),
            target,
        }
    }

    /// Schedules of `group` for tools that only delete (`cartback erase`): `create` would
    /// fail, having no sender or role to target.
    pub fn deleting_only(sdk: &aws_config::SdkConfig, group: &str) -> Self {
        Self::new(
            sdk,
            SchedulerTarget {
                group: group.to_owned(),
                target_arn: String::new(),
                role_arn: String::new(),
                dlq_arn: None,
            },
        )
    }
}

fn build_error(error: impl std::fmt::Display) -> PortError {
    PortError::permanent(SERVICE, format!("building the request: {error}"))
}

impl Schedules for SchedulerSchedules {
    async fn create(&self, spec: &ScheduleSpec) -> Result<(), PortError> {
        let input = serde_json::to_string(&spec.wake_up).map_err(build_error)?;
        let mut target = Target::builder()
            .arn(&self.target.target_arn)
            .role_arn(&self.target.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_event_age_in_seconds(6 * 3600)
                    .maximum_retry_attempts(20)
                    .build(),
            );
        if let Some(dlq) = &self.target.dlq_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        let result = self
            .client
            .create_schedule()
            .name(&spec.name)
            .group_name(&self.target.group)
            .schedule_expression(at_expression(spec.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(build_error)?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target.build().map_err(build_error)?)
            .client_token(&spec.name)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The name is deterministic: "already exists" means a replay already made it.
            Err(e) if code(&e) == Some("ConflictException") => Ok(()),
            Err(e) => Err(port_error(SERVICE, "CreateSchedule", &e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), PortError> {
        let result = self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.target.group)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already fired (ActionAfterCompletion DELETE) or deleted by a replay.
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(port_error(SERVICE, "DeleteSchedule", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_are_utc_and_rounded_up() {
        let t: Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
        assert_eq!(at_expression(t), "at(2026-11-02T09:00:00)");
        let t: Timestamp = "2026-11-02T09:00:00.2+02:00".parse().unwrap();
        assert_eq!(at_expression(t), "at(2026-11-02T07:00:01)");
    }
}
