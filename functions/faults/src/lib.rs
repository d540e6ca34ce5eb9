//! The one vocabulary of injected faults, for both worlds that inject them: the in-memory
//! runtime (`cartback simulate --faults RATE --seed N`, `cartback-local`) wraps its ports,
//! and the emulator's fault proxy (`cartback-devstack`, the soak) answers HTTP requests to
//! moto. Both take a [`FaultPlan`] (a seed, a rate, the classes, an optional limit) and
//! count what they injected under the names of [`FaultClass`].

/// The highest rate `simulate --faults` accepts: above it, retries rarely get through.
pub const MAX_SIMULATED_RATE: f64 = 0.5;

/// What can go wrong with one AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultClass {
    /// Refused by the service's throttling (HTTP 400 or 429 in its own shape): nothing
    /// happened.
    Throttled,
    /// A 500 or 503 from the service: nothing happened.
    ServerError,
    /// The request took effect but its answer never came (a timeout, a dropped connection).
    LostAnswer,
}

impl FaultClass {
    pub const ALL: [Self; 3] = [Self::Throttled, Self::ServerError, Self::LostAnswer];

    /// The name faults of the class are counted under (`simulate` prints
    /// `<service>_<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server_error",
            Self::LostAnswer => "lost_answer",
        }
    }
}

/// A fault rate outside what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "fault rate {rate} is not between 0 and {max}: give the share of calls that fail, e.g. 0.05"
)]
pub struct BadRate {
    rate: String,
    max: f64,
}

/// Which calls meet faults: a share of them (`rate`), with one of `classes`, drawn from
/// `seed`; at most `limit` in all, when set.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    seed: u64,
    rate: f64,
    classes: Vec<FaultClass>,
    limit: Option<u64>,
}

impl FaultPlan {
    /// Every class, evenly, at `rate` (the chance, 0 to 1, that one call meets a fault).
    pub fn new(seed: u64, rate: f64) -> Result<Self, BadRate> {
        Self::within(seed, rate, 1.0)
    }

    /// As [`FaultPlan::new`], with `rate` at most `max` (say [`MAX_SIMULATED_RATE`]).
    pub fn within(seed: u64, rate: f64, max: f64) -> Result<Self, BadRate> {
        if !(0.0..=max).contains(&rate) {
            return Err(BadRate {
                rate: rate.to_string(),
                max,
            });
        }
        Ok(Self {
            seed,
            rate,
            classes: FaultClass::ALL.to_vec(),
            limit: None,
        })
    }

    /// Only faults of `classes` (drawn evenly among them).
    pub fn only(mut self, classes: &[FaultClass]) -> Self {
        self.classes = classes.to_vec();
        self
    }

    /// No more than `faults` faults in all (say, one lost answer, then the SDK's retry
    /// gets through).
    pub fn limit(mut self, faults: u64) -> Self {
        self.limit = Some(faults);
        self
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn classes(&self) -> &[FaultClass] {
        &self.classes
    }

    pub fn max_faults(&self) -> Option<u64> {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_outside_the_range_is_refused_with_the_range_and_an_example() {
        let error = FaultPlan::within(7, 0.7, MAX_SIMULATED_RATE).expect_err("too high");
        assert_eq!(
            error.to_string(),
            "fault rate 0.7 is not between 0 and 0.5: give the share of calls that fail, e.g. 0.05"
        );
        assert!(FaultPlan::new(1, -0.1).is_err());
        assert!(FaultPlan::new(1, 1.0).is_ok());
    }

    #[test]
    fn a_plan_has_every_class_until_narrowed_and_no_limit_until_given() {
        let plan = FaultPlan::new(3, 0.2).expect("a rate");
        assert_eq!(plan.classes(), FaultClass::ALL);
        assert_eq!(plan.max_faults(), None);
        let narrowed = plan.only(&[FaultClass::LostAnswer]).limit(1);
        assert_eq!(narrowed.classes(), [FaultClass::LostAnswer]);
        assert_eq!(narrowed.max_faults(), Some(1));
        assert_eq!((narrowed.seed(), narrowed.rate()), (3, 0.2));
    }

    #[test]
    fn the_names_are_the_ones_simulate_prints() {
        let names: Vec<_> = FaultClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["throttled", "server_error", "lost_answer"]);
    }
}
