//! Where the operator commands find a deployed stack's names: `--table`-style flags first,
//! then the outputs of `--stack NAME` (read once from CloudFormation), then the
//! `CARTBACK_*` environment variables of docs/deploy.md, then the template's defaults.
//!
//! One table of settings ([`Setting`]) says which output and which variable each name comes
//! from, so every command resolves them the same way.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A name an operator command needs from the deployed stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Table,
    ScheduleGroup,
    SecretsPrefix,
    UnsubscribeSecretParameter,
    ConfigurationSet,
    SenderIdentity,
    WebhookBase,
}

impl Setting {
    /// The stack output that holds it (infra/template.yaml, Outputs).
    pub const fn output(self) -> &'static str {
        match self {
            Self::Table => "TableName",
            Self::ScheduleGroup => "ScheduleGroupName",
            Self::SecretsPrefix => "SecretsPrefix",
            Self::UnsubscribeSecretParameter => "UnsubscribeSecretParameter",
            Self::ConfigurationSet => "ConfigurationSetName",
            Self::SenderIdentity => "SenderEmailIdentity",
            Self::WebhookBase => "WebhookBaseUrl",
        }
    }

    /// The environment variable docs/deploy.md exports it to.
    pub const fn env(self) -> &'static str {
        match self {
            Self::Table => "CARTBACK_TABLE",
            Self::ScheduleGroup => "CARTBACK_SCHEDULE_GROUP",
            Self::SecretsPrefix => "CARTBACK_SECRETS_PREFIX",
            Self::UnsubscribeSecretParameter => "CARTBACK_UNSUBSCRIBE_SECRET_PARAM",
            Self::ConfigurationSet => "CARTBACK_SES_CONFIGURATION_SET",
            Self::SenderIdentity => "CARTBACK_SENDER_IDENTITY",
            Self::WebhookBase => "CARTBACK_WEBHOOK_BASE",
        }
    }
}

/// The outputs of `--stack`, when it was given.
static OUTPUTS: OnceLock<HashMap<String, String>> = OnceLock::new();

/// A setting: `flag`, else the `--stack` output, else the environment variable; blank values
/// count as unset.
pub fn resolve(flag: Option<String>, setting: Setting) -> Option<String> {
    let from_stack = || OUTPUTS.get().and_then(|o| o.get(setting.output()).cloned());
    let from_env = || std::env::var(setting.env()).ok();
    [flag, from_stack(), from_env()]
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
}

/// Why `--stack` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(
        "--stack {stack}: CloudFormation says: {reason} (the stack's name as `sam deploy` \
         created it; AWS credentials and region as for the AWS CLI)"
    )]
    Describe { stack: String, reason: String },
    #[error("--stack {stack}: not found in this account and region")]
    Missing { stack: String },
    #[error(
        "--stack {stack}: it has no `TableName` output; is it a cartback stack? (status {status})"
    )]
    NotCartback { stack: String, status: String },
}

/// Reads the stack's outputs (one `DescribeStacks`) for [`resolve`]; call once, before the
/// command runs.
pub async fn load(stack: &str) -> Result<(), StackError> {
    let sdk = cartback_aws::load_sdk_config().await;
    let client = aws_sdk_cloudformation::Client::new(&sdk);
    let answer = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| StackError::Describe {
            stack: stack.to_owned(),
            reason: crate::doctor::said(e),
        })?;
    let found = answer
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| StackError::Missing {
            stack: stack.to_owned(),
        })?;
    let outputs: HashMap<String, String> = found
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value?)))
        .collect();
    if !outputs.contains_key(Setting::Table.output()) {
        return Err(StackError::NotCartback {
            stack: stack.to_owned(),
            status: found
                .stack_status
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        });
    }
    // A second `load` in one process keeps the first stack's outputs; main calls it once.
    let _ = OUTPUTS.set(outputs);
    Ok(())
}
