//! Sequence files a shop owner might get wrong, and where the error points.

use cartback_core::sequence::{
    DEFAULT_SEQUENCE, DEFAULT_SEQUENCE_FILE, DelayFrom, MAX_STEPS, Sequence,
};
use jiff::SignedDuration;

struct Broken {
    what: &'static str,
    source: &'static str,
    line: usize,
    column: usize,
    /// A word the message must contain.
    message: &'static str,
}

const BROKEN: &[Broken] = &[
    Broken {
        what: "unknown template",
        source: "name = \"x\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\n[[step]]\ntemplate = \"welcome\"\ndelay = \"2h\"\n",
        line: 8,
        column: 12,
        message: "welcome",
    },
    Broken {
        what: "delay that is not a duration",
        source: "# comment\nname = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"whenever\"\n",
        line: 5,
        column: 9,
        message: "whenever",
    },
    Broken {
        what: "delay in months (not an exact duration)",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1 month\"\n",
        line: 4,
        column: 9,
        message: "1 month",
    },
    Broken {
        what: "delay as a number",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = 60\n",
        line: 4,
        column: 9,
        message: "60",
    },
    Broken {
        what: "negative delay",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"-2h\"\nfrom = \"previous_step\"\n",
        line: 7,
        column: 9,
        message: "negative",
    },
    Broken {
        what: "first reminder too early",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"5m\"\n",
        line: 4,
        column: 9,
        message: "5m",
    },
    Broken {
        what: "second step earlier than the first",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n",
        line: 7,
        column: 9,
        message: "step 2",
    },
    Broken {
        what: "second step at the same time as the first",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"60m\"\n",
        line: 7,
        column: 9,
        message: "step 2",
    },
    Broken {
        what: "first step counting from a previous step",
        source: "name = \"x\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nfrom = \"previous_step\"\n",
        line: 3,
        column: 1,
        message: "first step",
    },
    Broken {
        what: "too many steps",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"3h\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"4h\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"5h\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"6h\"\n",
        line: 17,
        column: 1,
        message: "6 steps",
    },
    Broken {
        what: "no steps",
        source: "# only a name\nname = \"x\"\n",
        line: 1,
        column: 1,
        message: "no steps",
    },
    Broken {
        what: "empty name",
        source: "\n\nname = \"  \"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n",
        line: 3,
        column: 8,
        message: "name",
    },
    Broken {
        what: "step without a template",
        source: "name = \"x\"\n\n[[step]]\ndelay = \"1h\"\n",
        line: 3,
        column: 1,
        message: "template",
    },
    Broken {
        what: "unknown key in a step",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nwhen = 3\n",
        line: 5,
        column: 1,
        message: "when",
    },
    Broken {
        what: "unknown top-level key",
        source: "name = \"x\"\nversion = 2\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n",
        line: 2,
        column: 1,
        message: "version",
    },
    Broken {
        what: "unknown channel",
        source: "name = \"x\"\n[[step]]\nchannel = \"sms\"\ntemplate = \"reminder\"\ndelay = \"1h\"\n",
        line: 3,
        column: 11,
        message: "sms",
    },
    Broken {
        what: "unknown `from`",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\nfrom = \"checkout\"\n",
        line: 8,
        column: 8,
        message: "checkout",
    },
    Broken {
        what: "duplicate key",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ntemplate = \"offer\"\ndelay = \"1h\"\n",
        line: 4,
        column: 1,
        message: "duplicate",
    },
    Broken {
        what: "unclosed string",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\ndelay = \"1h\"\n",
        line: 3,
        column: 21,
        message: "string",
    },
    Broken {
        what: "value missing",
        source: "name = \n",
        line: 1,
        column: 8,
        message: "",
    },
    Broken {
        what: "`step` that is not a table",
        source: "name = \"x\"\nstep = 3\n",
        line: 2,
        column: 8,
        message: "3",
    },
    Broken {
        what: "Windows line endings",
        source: "name = \"x\"\r\n\r\n[[step]]\r\ntemplate = \"nope\"\r\ndelay = \"1h\"\r\n",
        line: 4,
        column: 12,
        message: "nope",
    },
    Broken {
        what: "inline array of steps",
        source: "name = \"x\"\nstep = [\n  { template = \"reminder\", delay = \"1h\" },\n  { template = \"bogus\", delay = \"2h\" },\n]\n",
        line: 4,
        column: 16,
        message: "bogus",
    },
    Broken {
        what: "non-ASCII text on earlier lines",
        source: "# 既定のシーケンス ✓\nname = \"ösz\"\n[[step]]\ntemplate = \"réminder\"\ndelay = \"1h\"\n",
        line: 4,
        column: 12,
        message: "réminder",
    },
];

#[test]
fn broken_sequence_files_report_the_line_and_column_of_the_mistake() {
    let mut failures = Vec::new();
    for case in BROKEN {
        match Sequence::parse("shop.toml", case.source) {
            Ok(sequence) => failures.push(format!("{}: accepted as {sequence:?}", case.what)),
            Err(err) => {
                if (err.line, err.column) != (case.line, case.column) {
                    failures.push(format!(
                        "{}: reported {}:{}, expected {}:{} ({})",
                        case.what, err.line, err.column, case.line, case.column, err.message
                    ));
                }
                if !err.message.contains(case.message) {
                    failures.push(format!(
                        "{}: message {:?} does not mention {:?}",
                        case.what, err.message, case.message
                    ));
                }
                if err.fix.trim().is_empty() {
                    failures.push(format!("{}: no fix given", case.what));
                }
                let shown = err.to_string();
                let prefix = format!("shop.toml:{}:{}: ", case.line, case.column);
                if !shown.starts_with(&prefix) || !shown.contains("fix: ") {
                    failures.push(format!("{}: displayed as {shown:?}", case.what));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn errors_name_the_file_they_were_given() {
    let err = Sequence::parse("shop demo CONFIG sequence_toml", "name = \n").expect_err("broken");
    assert_eq!(err.file, "shop demo CONFIG sequence_toml");
    assert!(
        err.to_string()
            .starts_with("shop demo CONFIG sequence_toml:1:")
    );
}

#[test]
fn the_default_sequence_file_parses_to_three_steps() {
    let sequence = Sequence::parse(DEFAULT_SEQUENCE_FILE, DEFAULT_SEQUENCE).expect("valid");
    assert_eq!(sequence, Sequence::default_sequence());
    assert_eq!(sequence.name, "default");
    assert_eq!(sequence.steps.len(), 3);
}

#[test]
fn valid_edge_cases_are_accepted() {
    // Exactly the minimum first delay, five steps, ISO and friendly durations, previous_step.
    let source = "name = \"edge\"\ndescription = \"all the edges\"\n\
        [[step]]\ntemplate = \"reminder\"\ndelay = \"10m\"\n\
        [[step]]\ntemplate = \"reassure\"\ndelay = \"PT2H\"\n\
        [[step]]\ntemplate = \"reassure\"\ndelay = \"1 day\"\n\
        [[step]]\ntemplate = \"offer\"\ndelay = \"6h\"\nfrom = \"previous_step\"\n\
        [[step]]\nchannel = \"email\"\ntemplate = \"offer\"\ndelay = \"1 week\"\nfrom = \"previous_step\"\n";
    let sequence = Sequence::parse("edge.toml", source).expect("valid");
    assert_eq!(sequence.steps.len(), MAX_STEPS);
    let delays: Vec<SignedDuration> = sequence.steps.iter().map(|s| s.delay).collect();
    assert_eq!(
        delays,
        vec![
            SignedDuration::from_mins(10),
            SignedDuration::from_hours(2),
            SignedDuration::from_hours(24),
            SignedDuration::from_hours(6),
            SignedDuration::from_hours(168),
        ]
    );
    assert_eq!(sequence.steps[3].from, DelayFrom::PreviousStep);
}

#[test]
fn a_last_activity_step_due_before_the_previous_step_is_refused() {
    // Step 2 goes out at least 1 h + 24 h after the last activity; step 3 is due 2 h after it,
    // i.e. long before step 2. Once step 2 is sent, step 3 is overdue and goes out at once.
    let source = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\
        [[step]]\ntemplate = \"reassure\"\ndelay = \"24h\"\nfrom = \"previous_step\"\n\
        [[step]]\ntemplate = \"offer\"\ndelay = \"2h\"\n";
    let err = Sequence::parse("shop.toml", source).expect_err("step 3 is due before step 2");
    assert_eq!(err.line, 11, "{err}");
}

#[test]
fn columns_count_characters_not_bytes() {
    // `name = "✓" ✓`: the stray ✓ is the 12th character (byte 14).
    let err = Sequence::parse("shop.toml", "name = \"✓\" ✓\n").expect_err("stray character");
    assert_eq!((err.line, err.column), (1, 12), "{err}");
}
