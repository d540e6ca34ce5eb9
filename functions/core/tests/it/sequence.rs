//! Sequence files a shop owner might get wrong, and where the error points.

use cartback_core::model::sequence::{
    BUILTIN_SEQUENCES, ChannelChoice, Condition, Delay, DelayFrom, Engagement, MAX_STEPS, Sequence,
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
        what: "negative delay",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"-2h\"\nfrom = \"previous_step\"\n",
        line: 7,
        column: 9,
        message: "-2h",
    },
    Broken {
        what: "first reminder too early",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"5m\"\n",
        line: 4,
        column: 9,
        message: "5m",
    },
    Broken {
        what: "second step earlier than the first (both from the last activity)",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\nfrom = \"last_activity\"\n",
        line: 7,
        column: 9,
        message: "step 2",
    },
    Broken {
        what: "second step at the same time as the first (both from the last activity)",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"60m\"\nfrom = \"last_activity\"\n",
        line: 7,
        column: 9,
        message: "step 2",
    },
    Broken {
        what: "first step counting from a previous step",
        source: "name = \"x\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nfrom = \"previous_step\"\n",
        // Points at the `from` value itself.
        line: 6,
        column: 8,
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
        source: "name = \"x\"\n[[step]]\nchannel = \"fax\"\ntemplate = \"reminder\"\ndelay = \"1h\"\n",
        line: 3,
        column: 11,
        message: "fax",
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
    Broken {
        what: "engagement delays on the first step",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = { clicked = \"1h\", opened = \"1h\", none = \"2h\" }\n",
        line: 4,
        column: 9,
        message: "first step",
    },
    Broken {
        what: "engagement delays counted from the last activity",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\nfrom = \"last_activity\"\ndelay = { clicked = \"8h\", opened = \"6h\", none = \"10h\" }\n",
        line: 8,
        column: 9,
        message: "previous step",
    },
    Broken {
        what: "an engagement delay that is not a duration",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = { clicked = \"8h\", opened = \"later\", none = \"10h\" }\n",
        line: 7,
        column: 9,
        message: "later",
    },
    Broken {
        what: "prefer_sms_when on an email step",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"reassure\"\nchannel = \"email\"\nprefer_sms_when = \"not_opened\"\ndelay = \"10h\"\n",
        line: 8,
        column: 19,
        message: "sms_or_email",
    },
    Broken {
        what: "unknown condition",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\nsend_when = \"bought\"\ndelay = \"1h\"\n",
        line: 7,
        column: 13,
        message: "bought",
    },
    Broken {
        what: "offer without a description",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\noffer = { description = \" \", valid_for = \"24h\" }\n",
        line: 8,
        column: 9,
        message: "description",
    },
    Broken {
        what: "offer validity that is not a duration",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\noffer = { description = \"10 % off\", valid_for = \"a while\" }\n",
        line: 8,
        column: 9,
        message: "a while",
    },
    Broken {
        what: "offer with both a code for everyone and a pool of single-use codes",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\noffer = { description = \"10 % off\", code = \"COMEBACK10\", pool = \"winter10\", valid_for = \"24h\" }\n",
        line: 8,
        column: 65,
        message: "pool",
    },
    Broken {
        what: "offer pool name with a space",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\noffer = { description = \"10 % off\", pool = \"winter 10\", valid_for = \"24h\" }\n",
        line: 8,
        column: 44,
        message: "winter 10",
    },
];

/// What is wrong with how `case` is reported, if anything.
fn misreported(case: &Broken) -> Vec<String> {
    let mut failures = Vec::new();
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
    failures
}

#[test]
fn broken_sequence_files_report_the_line_and_column_of_the_mistake() {
    let failures: Vec<String> = BROKEN.iter().flat_map(misreported).collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_delay_given_as_a_number_is_reported_as_such() {
    let case = Broken {
        what: "delay as a number",
        source: "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = 60\n",
        line: 4,
        column: 9,
        message: "60",
    };
    let failures = misreported(&case);
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

fn builtin_source(file: &str) -> &'static str {
    BUILTIN_SEQUENCES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, source)| *source)
        .unwrap_or_else(|| panic!("{file} is not embedded"))
}

#[test]
fn the_default_sequence_file_parses_to_three_steps() {
    let file = "templates/sequences/default.toml";
    let sequence = Sequence::parse(file, builtin_source(file)).expect("valid");
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
    let delays: Vec<Delay> = sequence.steps.iter().map(|s| s.delay).collect();
    assert_eq!(
        delays,
        vec![
            Delay::Fixed(SignedDuration::from_mins(10)),
            Delay::Fixed(SignedDuration::from_hours(2)),
            Delay::Fixed(SignedDuration::from_hours(24)),
            Delay::Fixed(SignedDuration::from_hours(6)),
            Delay::Fixed(SignedDuration::from_hours(168)),
        ]
    );
    // After step 1, a step counts from the previous one unless it says otherwise.
    assert_eq!(sequence.steps[0].from, DelayFrom::LastActivity);
    assert!(
        sequence.steps[1..]
            .iter()
            .all(|s| s.from == DelayFrom::PreviousStep)
    );
}

#[test]
fn a_last_activity_step_due_before_the_previous_step_is_refused() {
    // Step 2 goes out at least 1 h + 24 h after the last activity; step 3 counts 2 h from the
    // last activity, i.e. long before step 2. Once step 2 is sent, step 3 would be overdue.
    let source = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\
        [[step]]\ntemplate = \"reassure\"\ndelay = \"24h\"\nfrom = \"previous_step\"\n\
        [[step]]\ntemplate = \"offer\"\ndelay = \"2h\"\nfrom = \"last_activity\"\n";
    let err = Sequence::parse("shop.toml", source).expect_err("step 3 is due before step 2");
    assert_eq!(err.line, 12, "{err}");
}

#[test]
fn columns_count_characters_not_bytes() {
    // `name = "✓" ✓`: the stray ✓ is the 12th character (byte 14).
    let err = Sequence::parse("shop.toml", "name = \"✓\" ✓\n").expect_err("stray character");
    assert_eq!((err.line, err.column), (1, 12), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Version 2: channels, engagement delays, conditions, offers, and the shipped sequences

#[test]
fn every_shipped_sequence_parses_and_is_found_by_name() {
    assert_eq!(BUILTIN_SEQUENCES.len(), 3);
    for (file, source) in BUILTIN_SEQUENCES {
        let sequence = Sequence::parse(file, source).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            file.ends_with(&format!("/{}.toml", sequence.name)),
            "{file}"
        );
        assert_eq!(Sequence::builtin(&sequence.name), Some(sequence));
    }
    assert_eq!(Sequence::builtin("no-such-sequence"), None);
}

#[test]
fn new_visitor_branches_on_engagement_and_prefers_sms_for_the_unopened() {
    let sequence = Sequence::builtin("new-visitor").expect("shipped");
    assert_eq!(sequence.name, "new-visitor");
    let [reminder, reassure, offer] = sequence.steps.as_slice() else {
        panic!("three steps: {sequence:?}");
    };
    assert_eq!(
        (reminder.template.as_str(), reminder.channel, reminder.from),
        ("reminder", ChannelChoice::Email, DelayFrom::LastActivity)
    );
    assert_eq!(reminder.delay, Delay::Fixed(SignedDuration::from_hours(1)));
    assert_eq!(reminder.offer, None);

    assert_eq!(
        (reassure.template.as_str(), reassure.channel, reassure.from),
        (
            "reassure",
            ChannelChoice::SmsOrEmail,
            DelayFrom::PreviousStep
        )
    );
    assert_eq!(reassure.prefer_sms_when, Condition::NotOpened);
    assert_eq!(reassure.send_when, Condition::Always);
    assert_eq!(
        reassure.delay,
        Delay::ByEngagement {
            clicked: SignedDuration::from_hours(8),
            opened: SignedDuration::from_hours(6),
            none: SignedDuration::from_hours(10),
        }
    );

    assert_eq!(
        (offer.template.as_str(), offer.channel, offer.from),
        ("offer", ChannelChoice::Email, DelayFrom::PreviousStep)
    );
    assert_eq!(
        offer.delay,
        Delay::ByEngagement {
            clicked: SignedDuration::from_hours(24),
            opened: SignedDuration::from_hours(24),
            none: SignedDuration::from_hours(48),
        }
    );
    let time_limited = offer.offer.as_ref().expect("step 3 carries the offer");
    assert_eq!(time_limited.valid_for, SignedDuration::from_hours(24));
    assert_eq!(time_limited.code.as_deref(), Some("COMEBACK10"));
}

#[test]
fn returning_customer_is_three_emails_one_day_then_two_days_apart() {
    let sequence = Sequence::builtin("returning-customer").expect("shipped");
    let shape: Vec<_> = sequence
        .steps
        .iter()
        .map(|s| (s.template.as_str(), s.channel, s.from, s.delay))
        .collect();
    let fixed = |h| Delay::Fixed(SignedDuration::from_hours(h));
    assert_eq!(
        shape,
        vec![
            (
                "reminder",
                ChannelChoice::Email,
                DelayFrom::LastActivity,
                fixed(1)
            ),
            (
                "reassure",
                ChannelChoice::Email,
                DelayFrom::PreviousStep,
                fixed(24)
            ),
            (
                "offer",
                ChannelChoice::Email,
                DelayFrom::PreviousStep,
                fixed(48)
            ),
        ]
    );
    assert!(sequence.steps[2].offer.is_some());
    assert!(sequence.steps[..2].iter().all(|s| s.offer.is_none()));
}

#[test]
fn channels_conditions_and_offers_parse() {
    let source = "name = \"mixed\"\n\
        [[step]]\ntemplate = \"reminder\"\nchannel = \"sms\"\ndelay = \"15m\"\n\
        [[step]]\ntemplate = \"reassure\"\nchannel = \"sms_or_email\"\ndelay = \"4h\"\n\
        [[step]]\ntemplate = \"offer\"\nsend_when = \"opened\"\ndelay = \"1 day\"\n\
        offer = { description = \"free shipping\", valid_for = \"5h\" }\n";
    let sequence = Sequence::parse("mixed.toml", source).expect("valid");
    let channels: Vec<ChannelChoice> = sequence.steps.iter().map(|s| s.channel).collect();
    assert_eq!(
        channels,
        vec![
            ChannelChoice::Sms,
            ChannelChoice::SmsOrEmail,
            ChannelChoice::Email
        ]
    );
    // `sms_or_email` without `prefer_sms_when`: SMS whenever it is allowed.
    assert_eq!(sequence.steps[1].prefer_sms_when, Condition::Always);
    assert_eq!(sequence.steps[2].send_when, Condition::Opened);
    let offer = sequence.steps[2].offer.as_ref().expect("offer");
    assert_eq!(offer.code, None);
    assert_eq!(offer.valid_for, SignedDuration::from_hours(5));
}

#[test]
fn conditions_hold_for_the_engagement_they_name() {
    use Engagement::{Clicked, None as Nothing, Opened};
    let table = [
        (Condition::Always, [true, true, true]),
        (Condition::Opened, [false, true, true]),
        (Condition::NotOpened, [true, false, false]),
        (Condition::Clicked, [false, false, true]),
        (Condition::NotClicked, [true, true, false]),
    ];
    for (condition, expected) in table {
        let got = [Nothing, Opened, Clicked].map(|e| condition.holds(e));
        assert_eq!(got, expected, "{condition:?}");
    }
}

#[test]
fn engagement_delays_pick_a_branch() {
    let h = SignedDuration::from_hours;
    let delay = Delay::ByEngagement {
        clicked: h(8),
        opened: h(6),
        none: h(10),
    };
    assert_eq!(delay.for_engagement(Engagement::Clicked), h(8));
    assert_eq!(delay.for_engagement(Engagement::Opened), h(6));
    assert_eq!(delay.for_engagement(Engagement::None), h(10));
    let fixed = Delay::Fixed(h(24));
    for e in [Engagement::None, Engagement::Opened, Engagement::Clicked] {
        assert_eq!(fixed.for_engagement(e), h(24));
    }
}

/// A step-1 subject test (the control keeps the template's subject) and a step 3 whose
/// variant `later` waits longer and shows no offer.
const SPLIT: &str = r#"name = "split"

[[step]]
template = "reminder"
delay = "1h"
name = "template-subject"
weight = 1

[[step.variant]]
name = "question"
weight = 3
subject = { en = "{{ customer.first_name }}, still deciding?", fi = "Vieläkö mietit?" }

[[step]]
template = "reassure"
delay = "24h"
from = "last_activity"

[[step]]
template = "offer"
delay = "2 days"
offer = { description = "10 % off", code = "COMEBACK10", valid_for = "24h" }

[[step.variant]]
name = "later"
delay = "3 days"
without_offer = true

[[step.variant]]
name = "reminder-template"
template = "reminder"
"#;

#[test]
fn a_step_splits_into_named_weighted_variants_that_override_its_fields() {
    use cartback_core::model::sequence::LocalizedText;
    let sequence = Sequence::parse("split.toml", SPLIT).expect("valid");
    let first = &sequence.steps[0];
    assert_eq!(first.variant_names(), ["template-subject", "question"]);
    let split = first.split.as_ref().expect("split");
    assert_eq!((split.control_weight, split.variants[0].weight), (1, 3));
    let control = first.version(Some("template-subject"));
    assert_eq!(control.name, Some("template-subject"));
    assert_eq!(
        control.subject, None,
        "the control keeps the template's subject"
    );
    let question = first.version(Some("question"));
    assert_eq!(question.template, "reminder");
    assert_eq!(question.delay, first.delay);
    let subject = question.subject.expect("a subject");
    assert_eq!(subject.get("fi"), "Vieläkö mietit?");
    assert!(
        !subject.has("pl"),
        "Polish carts get the template's subject"
    );
    assert!(matches!(subject, LocalizedText::PerLanguage(_)));
    // An unsplit step has no variants and sends its own fields.
    assert!(sequence.steps[1].variant_names().is_empty());
    assert_eq!(sequence.steps[1].version(None).name, None);
    let third = &sequence.steps[2];
    assert_eq!(third.variant_names(), ["a", "later", "reminder-template"]);
    let later = third.version(Some("later"));
    assert_eq!(later.delay, Delay::Fixed(SignedDuration::from_hours(72)));
    assert_eq!(
        later.offer, None,
        "`without_offer` drops the control's offer"
    );
    assert_eq!(later.template, "offer");
    let other = third.version(Some("reminder-template"));
    assert_eq!(other.template, "reminder");
    assert_eq!(
        other.offer.and_then(|o| o.code.as_deref()),
        Some("COMEBACK10"),
        "a variant keeps what it does not override"
    );
    // An unknown name is the control.
    assert_eq!(third.version(Some("zzz")).template, "offer");
    assert_eq!(third.version(Some("zzz")).name, Some("a"));
}

#[test]
fn broken_variants_are_refused_with_their_line() {
    let step1 = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n";
    let cases: &[(&str, String, usize, &str)] = &[
        (
            "unknown template in a variant",
            format!("{step1}[[step.variant]]\nname = \"b\"\ntemplate = \"welcome\"\n"),
            7,
            "unknown template `welcome`",
        ),
        (
            "two variants of one name",
            format!(
                "{step1}[[step.variant]]\nname = \"b\"\nsubject = \"Hi\"\n[[step.variant]]\nname = \"b\"\nsubject = \"Hello\"\n"
            ),
            9,
            "two variants named `b`",
        ),
        (
            "a variant named like the control",
            format!("{step1}[[step.variant]]\nname = \"a\"\nsubject = \"Hi\"\n"),
            6,
            "two variants named `a`",
        ),
        (
            "a zero weight",
            format!("{step1}[[step.variant]]\nname = \"b\"\nweight = 0\n"),
            7,
            "weight 0",
        ),
        (
            "a zero weight on the control",
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nweight = 0\n[[step.variant]]\nname = \"b\"\n".to_owned(),
            5,
            "weight 0",
        ),
        (
            "a negative weight",
            format!("{step1}[[step.variant]]\nname = \"b\"\nweight = -2\n"),
            7,
            "weight -2",
        ),
        (
            "a variant name with a space",
            format!("{step1}[[step.variant]]\nname = \"short subject\"\n"),
            6,
            "not a variant name",
        ),
        (
            "a first-step variant too early",
            format!("{step1}[[step.variant]]\nname = \"b\"\ndelay = \"5m\"\n"),
            7,
            "first reminder",
        ),
        (
            "a subject on an SMS step",
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\nchannel = \"sms\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\nsubject = \"Hi\"\n".to_owned(),
            8,
            "an SMS has no subject",
        ),
        (
            "a subject that is not a template",
            format!("{step1}[[step.variant]]\nname = \"b\"\nsubject = {{ en = \"Hi {{{{ name\" }}\n"),
            7,
            "not a valid template",
        ),
        (
            "a control name without variants",
            format!("{step1}name = \"a\"\n"),
            5,
            "has none",
        ),
        (
            "a field a variant cannot change",
            format!("{step1}[[step.variant]]\nname = \"b\"\nchannel = \"sms\"\n"),
            7,
            "unknown field `channel`",
        ),
        (
            "an offer and without_offer",
            "name = \"x\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\noffer = { description = \"5 %\", code = \"C5\", valid_for = \"24h\" }\nwithout_offer = true\n".to_owned(),
            8,
            "both an `offer` and `without_offer",
        ),
        (
            "a later step's variant due before the step before it",
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"slow\"\ndelay = \"30h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"24h\"\nfrom = \"last_activity\"\n".to_owned(),
            10,
            "step 2 is due no later",
        ),
    ];
    for (what, source, line, message) in cases {
        let error = Sequence::parse("shop.toml", source)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted\n{source}"));
        assert_eq!(
            (error.file.as_str(), error.line),
            ("shop.toml", *line),
            "{what}: {error}"
        );
        assert!(error.message.contains(message), "{what}: {error}");
        assert!(!error.fix.is_empty(), "{what}");
    }
}
