//! Test support shared by cartback's crates: the one seed that every generated test case
//! draws from.
//!
//! Every property test and every seeded run in the test suite takes its seed from
//! [`seed`]: [`DEFAULT_SEED`] unless `CARTBACK_TEST_SEED` names another, so a run of the
//! suite gives the same answer every time, and other seeds can be explored by hand:
//!
//! ```text
//! CARTBACK_TEST_SEED=7 cargo test -p cartback-core properties
//! ```
//!
//! A failing test prints the seed it ran with (libtest shows a test's output when it fails).

use proptest::test_runner::{Config, RngSeed};

/// The seed of every run of the suite that does not name one.
pub const DEFAULT_SEED: u64 = 20_261_207;

/// The environment variable that names another seed.
pub const SEED_VARIABLE: &str = "CARTBACK_TEST_SEED";

/// The seed of this run: `CARTBACK_TEST_SEED` when set, else [`DEFAULT_SEED`].
///
/// # Panics
/// When `CARTBACK_TEST_SEED` is set to something that is not an unsigned 64-bit number: a
/// mistyped seed must not quietly run the default one.
#[must_use]
pub fn seed() -> u64 {
    seed_or(DEFAULT_SEED)
}

/// `CARTBACK_TEST_SEED` when set, else `default`: for a run with a seed of its own (the soak
/// keeps the seed its published figures came from) that still follows the suite's seed when
/// one is named.
///
/// # Panics
/// As [`seed`].
#[must_use]
pub fn seed_or(default: u64) -> u64 {
    match std::env::var(SEED_VARIABLE) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            panic!("{SEED_VARIABLE}={text:?} is not a seed: give an unsigned 64-bit number")
        }),
        Err(_) => default,
    }
}

/// The seed of a run, announced: the line appears in the output of a test that fails, so the
/// failure can be replayed with `CARTBACK_TEST_SEED`.
#[must_use]
pub fn announced_seed(what: &str) -> u64 {
    let seed = seed();
    eprintln!("{what}: seed {seed} (replay with {SEED_VARIABLE}={seed})");
    seed
}

/// proptest's settings for `cases` cases from this run's seed, with no regression files:
/// the same cases on every run, and the seed printed when one fails. `PROPTEST_CASES`, when
/// set, overrides `cases` for a longer run by hand.
#[must_use]
pub fn proptest_config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(announced_seed("proptest")),
        failure_persistence: None,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    fn draws(config: Config) -> Vec<u64> {
        let mut runner = TestRunner::new(config);
        (0..8)
            .map(|_| {
                (0..u64::MAX)
                    .new_tree(&mut runner)
                    .expect("a value")
                    .current()
            })
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_cases() {
        let config = || Config {
            rng_seed: RngSeed::Fixed(DEFAULT_SEED),
            ..Config::default()
        };
        assert_eq!(draws(config()), draws(config()));
        let other = Config {
            rng_seed: RngSeed::Fixed(DEFAULT_SEED + 1),
            ..Config::default()
        };
        assert_ne!(draws(config()), draws(other));
    }

    #[test]
    fn the_config_is_seeded_and_writes_no_files() {
        let config = proptest_config(12);
        if std::env::var_os("PROPTEST_CASES").is_none() {
            assert_eq!(config.cases, 12);
        }
        assert!(matches!(config.rng_seed, RngSeed::Fixed(_)));
        assert!(config.failure_persistence.is_none());
    }
}
