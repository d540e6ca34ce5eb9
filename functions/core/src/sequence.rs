//! Reminder sequences are data: a TOML file names each step's channel, template and delay.
//!
//! ```toml
//! name = "default"
//! [[step]]
//! template = "reminder"
//! delay = "1h"            # after the cart's last activity
//! ```

use std::ops::Range;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Serialize};

/// How a step reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
        }
    }
}

/// What a step's delay counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayFrom {
    /// The cart's last activity (the classic "1 h, 24 h, 72 h after abandonment").
    LastActivity,
    /// The time the previous step was sent.
    PreviousStep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub channel: Channel,
    pub template: String,
    pub delay: SignedDuration,
    pub from: DelayFrom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub name: String,
    pub steps: Vec<Step>,
}

/// Templates a step may name (the files under `templates/email/<locale>/`).
pub const KNOWN_TEMPLATES: &[&str] = &["reminder", "reassure", "offer"];
/// The most steps a sequence may have: more is fatigue, not recovery.
pub const MAX_STEPS: usize = 5;
/// The earliest a first reminder may go out after the cart's last activity.
pub const MIN_FIRST_DELAY: SignedDuration = SignedDuration::from_mins(10);

/// An error in a sequence file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}\n  fix: {fix}")]
pub struct SequenceError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceFile {
    name: toml::Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    step: Vec<toml::Spanned<StepFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    #[serde(default = "default_channel")]
    channel: Channel,
    template: toml::Spanned<String>,
    delay: toml::Spanned<String>,
    #[serde(default = "default_from")]
    from: DelayFrom,
}

fn default_channel() -> Channel {
    Channel::Email
}

fn default_from() -> DelayFrom {
    DelayFrom::LastActivity
}

/// Parses "1h", "24h", "3 days", "90m" or ISO 8601 ("PT1H") into an exact duration.
pub fn parse_delay(text: &str) -> Option<SignedDuration> {
    let span: Span = text.trim().parse().ok()?;
    span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()
}

/// 1-based line and column (in characters, not bytes) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Sequence {
    /// Parses and checks a sequence file; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Self, SequenceError> {
        let error = |span: Range<usize>, message: String, fix: &str| {
            let (line, column) = line_col(source, span.start);
            SequenceError {
                file: file.to_owned(),
                line,
                column,
                message,
                fix: fix.to_owned(),
            }
        };
        let raw: SequenceFile = toml::from_str(source).map_err(|e| {
            error(
                e.span().unwrap_or(0..0),
                e.message().to_owned(),
                "write the file as in templates/sequences/default.toml: `name = \"...\"` and one `[[step]]` table per step with `template` and `delay`",
            )
        })?;
        if raw.name.get_ref().trim().is_empty() {
            return Err(error(
                raw.name.span(),
                "the sequence name is empty".into(),
                "give the sequence a name, e.g. `name = \"default\"`",
            ));
        }
        if raw.step.is_empty() {
            return Err(error(
                0..0,
                "the sequence has no steps".into(),
                "add at least one `[[step]]` table",
            ));
        }
        if raw.step.len() > MAX_STEPS {
            return Err(error(
                raw.step[MAX_STEPS].span(),
                format!("the sequence has {} steps", raw.step.len()),
                &format!(
                    "keep at most {MAX_STEPS} steps: more reminders annoy more than they recover"
                ),
            ));
        }
        let mut steps = Vec::with_capacity(raw.step.len());
        let mut previous_offset: Option<SignedDuration> = None;
        for (index, spanned) in raw.step.into_iter().enumerate() {
            let step_span = spanned.span();
            let step = spanned.into_inner();
            let template = step.template.get_ref().clone();
            if !KNOWN_TEMPLATES.contains(&template.as_str()) {
                return Err(error(
                    step.template.span(),
                    format!("unknown template `{template}`"),
                    &format!("use one of: {}", KNOWN_TEMPLATES.join(", ")),
                ));
            }
            let delay = parse_delay(step.delay.get_ref()).ok_or_else(|| {
                error(
                    step.delay.span(),
                    format!("`{}` is not a duration", step.delay.get_ref()),
                    "write a duration such as \"1h\", \"24h\", \"90m\" or \"3 days\"",
                )
            })?;
            if delay.is_negative() {
                return Err(error(
                    step.delay.span(),
                    "the delay is negative".into(),
                    "use a positive duration",
                ));
            }
            if index == 0 {
                if step.from != DelayFrom::LastActivity {
                    return Err(error(
                        step_span,
                        "the first step can only count from the cart's last activity".into(),
                        "remove `from` from the first step",
                    ));
                }
                if delay < MIN_FIRST_DELAY {
                    return Err(error(
                        step.delay.span(),
                        format!(
                            "the first reminder would go out {delay:#} after the last activity"
                        ),
                        "wait at least 10 minutes: the shopper may still be checking out",
                    ));
                }
            }
            // Steps counting from the last activity must come strictly later than the one
            // before; after a step that counts from the previous send, their order depends on
            // when that send happened, so they must count from the previous step too.
            match (step.from, previous_offset) {
                (DelayFrom::LastActivity, Some(previous)) if delay <= previous => {
                    return Err(error(
                        step.delay.span(),
                        format!("step {} is due no later than the step before it", index + 1),
                        "give each step a longer delay than the previous one, or set `from = \"previous_step\"`",
                    ));
                }
                (DelayFrom::LastActivity, None) if index > 0 => {
                    return Err(error(
                        step.delay.span(),
                        format!(
                            "step {} counts from the last activity but follows a step that counts from the previous send",
                            index + 1
                        ),
                        "set `from = \"previous_step\"` on this step too",
                    ));
                }
                (DelayFrom::LastActivity, _) => previous_offset = Some(delay),
                (DelayFrom::PreviousStep, _) => previous_offset = None,
            }
            steps.push(Step {
                channel: step.channel,
                template,
                delay,
                from: step.from,
            });
        }
        Ok(Self {
            name: raw.name.into_inner(),
            steps,
        })
    }

    /// The sequence shipped with cartback: three emails at 1 h, 24 h and 72 h.
    pub fn default_sequence() -> Self {
        match Self::parse(DEFAULT_SEQUENCE_FILE, DEFAULT_SEQUENCE) {
            Ok(sequence) => sequence,
            // The embedded file is checked by a unit test; a broken build must not ship.
            Err(error) => panic!("embedded default sequence is invalid: {error}"),
        }
    }
}

pub const DEFAULT_SEQUENCE_FILE: &str = "templates/sequences/default.toml";
pub const DEFAULT_SEQUENCE: &str = include_str!("../../../templates/sequences/default.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sequence_is_three_emails_at_1_24_72_hours() {
        let seq = Sequence::default_sequence();
        let hours: Vec<i64> = seq.steps.iter().map(|s| s.delay.as_hours()).collect();
        assert_eq!(hours, vec![1, 24, 72]);
        assert!(seq.steps.iter().all(|s| s.channel == Channel::Email));
        assert!(seq.steps.iter().all(|s| s.from == DelayFrom::LastActivity));
        assert_eq!(
            seq.steps
                .iter()
                .map(|s| s.template.as_str())
                .collect::<Vec<_>>(),
            vec!["reminder", "reassure", "offer"]
        );
    }

    #[test]
    fn delays_accept_friendly_and_iso_forms() {
        assert_eq!(parse_delay("1h"), Some(SignedDuration::from_hours(1)));
        assert_eq!(parse_delay("3 days"), Some(SignedDuration::from_hours(72)));
        assert_eq!(parse_delay("PT90M"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_delay("soon"), None);
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let src = "name = \"x\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\n[[step]]\ntemplate = \"welcome\"\ndelay = \"2h\"\n";
        let err = Sequence::parse("shop.toml", src).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("shop.toml", 8));
        assert!(err.message.contains("welcome"), "{err}");
        assert!(err.fix.contains("reminder"), "{err}");
        assert!(err.to_string().starts_with("shop.toml:8:"));
    }

    #[test]
    fn bad_durations_and_order_are_refused() {
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"whenever\"\n";
        let err = Sequence::parse("a.toml", src).unwrap_err();
        assert_eq!(err.line, 4);
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n";
        let err = Sequence::parse("a.toml", src).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1m\"\n";
        assert!(Sequence::parse("a.toml", src).is_err());
    }

    #[test]
    fn syntax_errors_and_unknown_keys_point_at_the_line() {
        let err = Sequence::parse(
            "a.toml",
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nwhen = 3\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        let err = Sequence::parse("a.toml", "name = \n").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
    }
}
