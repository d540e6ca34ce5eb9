//! Order statistics for small samples (cold starts).

use std::time::Duration;

/// The `q`-quantile (0.0..=1.0) by the nearest-rank method; `None` for no samples.
pub fn quantile(samples: &[Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

pub fn median(samples: &[Duration]) -> Option<Duration> {
    quantile(samples, 0.5)
}

pub fn p90(samples: &[Duration]) -> Option<Duration> {
    quantile(samples, 0.9)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let samples: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        assert_eq!(median(&samples), Some(Duration::from_millis(5)));
        assert_eq!(p90(&samples), Some(Duration::from_millis(9)));
        assert_eq!(quantile(&samples, 1.0), Some(Duration::from_millis(10)));
        assert_eq!(median(&[]), None);
    }
}
