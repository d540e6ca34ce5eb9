//! `cartback demo` and `cartback check` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn cartback(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("cartback runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_exits_0_and_prints_a_timeline_with_sent_emails() {
    let dir = TempDir::new().expect("a temp dir");

    // No setup: the demo runs from any directory.
    let output = cartback(&["demo"], dir.path());

    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.lines().any(|line| line.contains('✉')),
        "no email in the timeline:\n{stdout}"
    );
    assert!(stdout.contains("purchased"), "{stdout}");
}

#[test]
fn demo_prints_the_same_timeline_every_time() {
    let dir = TempDir::new().expect("a temp dir");

    let first = cartback(&["demo"], dir.path());
    let second = cartback(&["demo"], dir.path());

    assert!(first.status.success());
    assert_eq!(text(&first.stdout), text(&second.stdout));
}

#[test]
fn check_from_the_repository_root_exits_0() {
    let output = cartback(&["check"], &workspace_root());

    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("templates/sequences/default.toml"),
        "{stdout}"
    );
}

#[test]
fn check_accepts_a_valid_sequence_file() {
    let dir = TempDir::new().expect("a temp dir");
    let file = dir.path().join("mine.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"30m\"\n",
    )
    .expect("writable");

    let output = cartback(
        &["check", file.to_str().expect("a UTF-8 path")],
        &workspace_root(),
    );

    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("mine.toml"));
}

#[test]
fn check_fails_on_a_broken_sequence_file_and_names_the_file_and_line() {
    let dir = TempDir::new().expect("a temp dir");
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "name = \"broken\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\n[[step]]\ntemplate = \"reassure\"\ndelay = \"whenever\"\n",
    )
    .expect("writable");

    let output = cartback(
        &["check", file.to_str().expect("a UTF-8 path")],
        &workspace_root(),
    );

    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:9:", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("whenever"), "{stderr}");
}

#[test]
fn check_fails_on_a_file_that_does_not_exist_and_names_it() {
    let dir = TempDir::new().expect("a temp dir");
    let missing = dir.path().join("missing.toml");

    let output = cartback(
        &["check", missing.to_str().expect("a UTF-8 path")],
        &workspace_root(),
    );

    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("missing.toml"));
}

#[test]
fn check_outside_the_repository_root_says_it_found_no_sequence_files() {
    let dir = TempDir::new().expect("a temp dir");

    let output = cartback(&["check"], dir.path());

    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    // Say where sequence files were looked for, instead of silently checking none.
    assert!(
        all.contains("templates/sequences"),
        "exit {} with:\n{all}",
        output.status
    );
}

#[test]
fn check_reports_an_offer_without_a_translation() {
    let dir = TempDir::new().expect("a temp dir");
    let file = dir.path().join("seq.toml");
    std::fs::write(
        &file,
        "name = \"x\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n\
         offer = { description = { en = \"5 off\", fi = \"5 pois\" }, code = \"X\", valid_for = \"2h\" }\n",
    )
    .expect("write");
    let output = cartback(&["check", file.to_str().expect("utf-8")], &workspace_root());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for lang in ["pl", "ja"] {
        assert!(
            stdout.contains(&format!("offer has no `{lang}` description")),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("no `fi` description"), "{stdout}");
    assert!(!stdout.contains("no `en` description"), "{stdout}");
}

#[test]
fn check_names_the_file_and_line_of_a_broken_shop_template() {
    let dir = TempDir::new().expect("a temp dir");
    let email = dir.path().join("email/fi");
    std::fs::create_dir_all(&email).expect("mkdir");
    std::fs::write(email.join("reminder.subject.txt"), "Hei\n{% if x %}\n").expect("write");
    let output = cartback(
        &["check", "--templates", dir.path().to_str().expect("utf-8")],
        &workspace_root(),
    );
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("email/fi/reminder.subject.txt:"),
        "{stderr}"
    );
    assert!(stderr.contains("fix:"), "{stderr}");
}

#[test]
fn check_renders_a_variants_subject_and_names_the_line_of_a_broken_variant() {
    let dir = TempDir::new().expect("a temp dir");
    let good = dir.path().join("split.toml");
    std::fs::write(
        &good,
        "name = \"split\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"question\"\nsubject = { en = \"{{ customer.first_name }}, still deciding?\", fi = \"Vieläkö mietit?\" }\n",
    )
    .expect("writable");

    let output = cartback(&["check", good.to_str().expect("UTF-8")], &workspace_root());

    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("(sequence `split`, 1 steps; step 1 split a/question)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("step 1 variant `question` subject in en: \"Ada, still deciding?\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "step 1 variant `question` has no `pl` subject; carts in `pl` get the template's"
        ),
        "{stdout}"
    );

    for (source, line, words) in [
        (
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\ntemplate = \"welcome\"\n",
            7,
            "unknown template `welcome`",
        ),
        (
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\n[[step.variant]]\nname = \"b\"\n",
            8,
            "two variants named `b`",
        ),
        (
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step.variant]]\nname = \"b\"\nweight = 0\n",
            7,
            "weight 0",
        ),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, source).expect("writable");
        let output = cartback(&["check", bad.to_str().expect("UTF-8")], &workspace_root());
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("{}:{line}:", bad.display())),
            "{stderr}"
        );
        assert!(stderr.contains(words), "{stderr}");
    }
}
