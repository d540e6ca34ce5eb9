//! The metrics of each conversion (which orders count as recovered: `rules::attribution`).

use jiff::Timestamp;

use crate::insight::metrics::{Emf, NAMESPACE, Unit};
use crate::model::cart::CartRecord;

/// The order's total in major units (24.90 for 2490 cents).
fn major_units(minor: i64, exponent: u32) -> f64 {
    minor as f64 / 10f64.powi(i32::try_from(exponent).unwrap_or(0))
}

/// The CloudWatch metrics of a cart just converted: `RecoveredOrders` and `RecoveredRevenue`
/// (major units; dimensions `Shop`, `Currency`) when it was recovered, and `Conversions`
/// (dimensions `Shop`, `Arm`) when it was in the experiment. Ids only, no person.
pub fn conversion_metrics(record: &CartRecord, at: Timestamp) -> Vec<Emf> {
    let mut out = Vec::new();
    if record.recovered
        && let Some(total) = record.order_total
    {
        out.push(
            Emf::new(NAMESPACE, at)
                .dimension("Shop", record.shop.as_str())
                .dimension("Currency", total.currency.code())
                .metric("RecoveredOrders", Unit::Count, 1.0)
                .metric(
                    "RecoveredRevenue",
                    Unit::None,
                    major_units(total.minor, total.currency.exponent()),
                ),
        );
    }
    if let Some(arm) = record.arm {
        out.push(
            Emf::new(NAMESPACE, at)
                .dimension("Shop", record.shop.as_str())
                .dimension("Arm", arm.as_str())
                .metric("Conversions", Unit::Count, 1.0),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revenue_is_written_in_major_units() {
        assert_eq!(major_units(2490, 2), 24.9);
        assert_eq!(major_units(1290, 0), 1290.0);
        assert_eq!(major_units(-5, 2), -0.05);
    }
}
