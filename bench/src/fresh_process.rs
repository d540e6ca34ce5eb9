//! The command line of a tool that measures itself in fresh processes (`first-request`,
//! `init-steps`): the parent takes `[--runs N] [--json FILE]` and spawns its own executable
//! with `--child MODE` for every run.

use std::process::ExitCode;

/// Runs `child` when started as `--child MODE`, else `parent` with the runs and the JSON path
/// from the command line; `name` prefixes the usage and error lines.
pub fn main(
    name: &str,
    default_runs: usize,
    child: fn(&str) -> ExitCode,
    parent: fn(usize, Option<&str>) -> Result<(), String>,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, mode] = args.as_slice()
        && flag == "--child"
    {
        return child(mode);
    }
    let Some((runs, json_out)) = parse(args, default_runs) else {
        eprintln!("usage: {name} [--runs N] [--json FILE]");
        return ExitCode::from(2);
    };
    match parent(runs, json_out.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `[--runs N] [--json FILE]`, in any order; `None` for anything else.
fn parse(args: Vec<String>, default_runs: usize) -> Option<(usize, Option<String>)> {
    let (mut runs, mut json_out) = (default_runs, None);
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--runs", Some(n)) => runs = n.parse().ok()?,
            ("--json", Some(path)) => json_out = Some(path),
            _ => return None,
        }
    }
    Some((runs, json_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn runs_and_json_in_any_order_else_the_default() {
        assert_eq!(parse(args(&[]), 20), Some((20, None)));
        assert_eq!(
            parse(args(&["--json", "out.json", "--runs", "5"]), 20),
            Some((5, Some("out.json".to_owned())))
        );
    }

    #[test]
    fn anything_else_is_a_usage_error() {
        assert_eq!(parse(args(&["--runs", "many"]), 20), None);
        assert_eq!(parse(args(&["--runs"]), 20), None);
        assert_eq!(parse(args(&["--verbose", "1"]), 20), None);
    }
}
