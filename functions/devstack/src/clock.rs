//! A clock that runs N times faster than the wall clock, from the moment it starts.

use std::time::Instant;

use cartback_core::model::time::Clock;
use jiff::{SignedDuration, Timestamp};

/// Real elapsed time × `speed`, from `start`: with speed 60 an hour of reminders passes in a
/// minute, with 3600 in a second. Speed 1 is the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    started: Instant,
    start: Timestamp,
    speed: u32,
}

impl ScaledClock {
    /// Starts now, at the wall clock's time.
    pub fn start(speed: u32) -> Self {
        Self::starting_at(Timestamp::now(), speed)
    }

    pub fn starting_at(start: Timestamp, speed: u32) -> Self {
        Self {
            started: Instant::now(),
            start,
            speed: speed.max(1),
        }
    }

    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// How much virtual time `real` of wall-clock time is.
    pub fn scaled(&self, real: std::time::Duration) -> SignedDuration {
        SignedDuration::try_from(real)
            .ok()
            .and_then(|d| d.checked_mul(i32::try_from(self.speed).unwrap_or(i32::MAX)))
            .unwrap_or(SignedDuration::MAX)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        self.start
            .checked_add(self.scaled(self.started.elapsed()))
            .unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_per_second_at_speed_3600() {
        let clock = ScaledClock::starting_at(Timestamp::UNIX_EPOCH, 3600);
        assert_eq!(
            clock.scaled(std::time::Duration::from_millis(1500)),
            SignedDuration::from_mins(90)
        );
        assert!(clock.now() >= Timestamp::UNIX_EPOCH);
    }

    #[test]
    fn speed_zero_counts_as_the_wall_clock() {
        let clock = ScaledClock::starting_at(Timestamp::UNIX_EPOCH, 0);
        assert_eq!(clock.speed(), 1);
    }
}
