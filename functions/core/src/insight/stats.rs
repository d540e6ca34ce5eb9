//! Confidence intervals for conversion rates and their difference, for `cartback report`.
//!
//! The difference of two independent proportions uses Newcombe's hybrid score interval
//! (method 10 of R. G. Newcombe, "Interval estimation for the difference between
//! independent proportions: comparison of eleven methods", Statistics in Medicine 17
//! (1998) 873–890), built from the Wilson score interval of each proportion. Unlike the
//! Wald interval it stays inside [-1, 1], behaves with rates near 0 (conversion rates are
//! often a few percent) and with small groups (a young holdout), and never collapses to a
//! zero-width interval when a group has no conversions.

use serde::Serialize;

/// z for a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A closed interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether 0 lies outside the interval.
    pub fn excludes_zero(self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The Wilson score interval for `successes` out of `trials` at `z`; `None` without trials.
pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: ((centre - half) / denominator).max(0.0),
        high: ((centre + half) / denominator).min(1.0),
    })
}

/// Newcombe's hybrid score interval (95 %) for `x1/n1 - x2/n2`; `None` when a group is empty.
pub fn newcombe_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Interval> {
    let first = wilson(x1, n1, Z_95)?;
    let second = wilson(x2, n2, Z_95)?;
    let p1 = x1 as f64 / n1 as f64;
    let p2 = x2 as f64 / n2 as f64;
    let d = p1 - p2;
    let below = ((p1 - first.low).powi(2) + (second.high - p2).powi(2)).sqrt();
    let above = ((first.high - p1).powi(2) + (p2 - second.low).powi(2)).sqrt();
    Some(Interval {
        low: (d - below).max(-1.0),
        high: (d + above).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounded(interval: Option<Interval>) -> (f64, f64) {
        let i = interval.expect("an interval");
        (
            (i.low * 10_000.0).round() / 10_000.0,
            (i.high * 10_000.0).round() / 10_000.0,
        )
    }

    /// Newcombe (1998), Table II, method 10 (score, no continuity correction), to 4 places.
    #[test]
    fn the_difference_interval_matches_newcombes_worked_examples() {
        let examples = [
            // (a) 56/70 - 48/80
            ((56, 70, 48, 80), (0.0524, 0.3339)),
            // (b) 9/10 - 3/10
            ((9, 10, 3, 10), (0.1705, 0.8090)),
            // (d) 5/56 - 0/29
            ((5, 56, 0, 29), (-0.0381, 0.1926)),
            // (e) 0/10 - 0/20
            ((0, 10, 0, 20), (-0.1611, 0.2775)),
            // (f) 0/10 - 0/10
            ((0, 10, 0, 10), (-0.2775, 0.2775)),
            // (g) 10/10 - 0/20
            ((10, 10, 0, 20), (0.6791, 1.0)),
            // (h) 10/10 - 0/10
            ((10, 10, 0, 10), (0.6075, 1.0)),
        ];
        for ((x1, n1, x2, n2), expected) in examples {
            assert_eq!(
                rounded(newcombe_difference(x1, n1, x2, n2)),
                expected,
                "{x1}/{n1} - {x2}/{n2}"
            );
        }
    }

    #[test]
    fn wilson_intervals_match_the_closed_forms() {
        // 0 of n: [0, z²/(n+z²)]; n of n: [n/(n+z²), 1].
        let z2 = Z_95 * Z_95;
        let none = wilson(0, 10, Z_95).expect("an interval");
        assert_eq!(none.low, 0.0);
        assert!((none.high - z2 / (10.0 + z2)).abs() < 1e-12);
        let all = wilson(10, 10, Z_95).expect("an interval");
        assert!((all.low - 10.0 / (10.0 + z2)).abs() < 1e-12);
        assert!((all.high - 1.0).abs() < 1e-12);
        // 81/263 (Newcombe 1998b's example): 0.2553 to 0.3662.
        assert_eq!(rounded(wilson(81, 263, Z_95)), (0.2553, 0.3662));
    }

    #[test]
    fn an_empty_group_has_no_interval() {
        assert_eq!(wilson(0, 0, Z_95), None);
        assert_eq!(newcombe_difference(1, 10, 0, 0), None);
        assert_eq!(newcombe_difference(0, 0, 1, 10), None);
        assert_eq!(wilson(3, 2, Z_95), None, "more successes than trials");
    }

    #[test]
    fn excluding_zero_means_entirely_on_one_side() {
        assert!(
            Interval {
                low: 0.01,
                high: 0.2
            }
            .excludes_zero()
        );
        assert!(
            Interval {
                low: -0.2,
                high: -0.01
            }
            .excludes_zero()
        );
        assert!(
            !Interval {
                low: -0.01,
                high: 0.2
            }
            .excludes_zero()
        );
    }
}
