//! When to try a failed delivery again: exponential backoff with full jitter.
//!
//! Attempt `n` (0-based count of failures so far minus one) waits a uniformly random time in
//! `[0, min(cap, base × factor^n)]`. Full jitter spreads the retries of many deliveries that
//! failed together (a chat service outage) instead of sending them back in waves. A
//! `Retry-After` from the service is a floor for the wait (capped at `cap`, so a hostile
//! endpoint cannot park a delivery for days). After `max_attempts` attempts, or after an error
//! that retrying cannot fix, the delivery is dead-lettered.

use std::time::Duration;

use crate::deliver::DeliveryError;

/// Backoff parameters. The default: 5 s base, factor 2, 1 h cap, 8 attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub factor: u32,
    pub cap: Duration,
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(5), factor: 2, cap: Duration::from_secs(3600), max_attempts: 8 }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Give up: record the delivery as dead.
    DeadLetter { reason: String },
}

/// A source of uniform random numbers in `[0, 1)`; injected so tests are deterministic.
pub trait Jitter {
    fn unit(&mut self) -> f64;
}

/// SplitMix64: small, fast, good enough to spread retries (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that always produces the same sequence for `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the operating system, so replicas do not retry in lockstep.
    pub fn from_entropy() -> Self {
        // If the OS source fails, the clock still differs between processes.
        let seed = getrandom::u64().unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15)
        });
        Self::seeded(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Jitter for SplitMix64 {
    fn unit(&mut self) -> f64 {
        // The top 53 bits fill a double's mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl RetryPolicy {
    /// The most the wait after the `retry`-th retry (0-based) can be: `min(cap, base × factor^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let growth = (self.factor.max(1) as f64).powi(retry.min(64) as i32);
        let secs = (self.base.as_secs_f64() * growth).min(self.cap.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// A random wait in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32, jitter: &mut impl Jitter) -> Duration {
        self.ceiling(retry).mul_f64(jitter.unit().clamp(0.0, 1.0))
    }

    /// Decides after attempt number `attempts_made` (1 for the first attempt) failed with `error`.
    pub fn after_failure(&self, attempts_made: u32, error: &DeliveryError, jitter: &mut impl Jitter) -> RetryDecision {
        if !error.retryable {
            return RetryDecision::DeadLetter { reason: format!("permanent failure: {}", error.message) };
        }
        if attempts_made >= self.max_attempts {
            return RetryDecision::DeadLetter {
                reason: format!("gave up after {attempts_made} attempts; last error: {}", error.message),
            };
        }
        let backoff = self.delay(attempts_made.saturating_sub(1), jitter);
        let floor = error.retry_after.map(|after| after.min(self.cap)).unwrap_or_default();
        RetryDecision::RetryAfter(backoff.max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(retryable: bool, retry_after: Option<Duration>) -> DeliveryError {
        DeliveryError { retryable, retry_after, status: None, message: "boom".to_owned() }
    }

    /// Always the same fraction: makes the jitter visible in expected values.
    struct Fixed(f64);
    impl Jitter for Fixed {
        fn unit(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn ceilings_double_from_five_seconds_up_to_an_hour() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (0..12).map(|n| policy.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_spreads() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::seeded(42);
        let delays: Vec<Duration> = (0..1000).map(|_| policy.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(40)));
        let mean = delays.iter().map(Duration::as_secs_f64).sum::<f64>() / delays.len() as f64;
        assert!((17.0..23.0).contains(&mean), "mean {mean} should be near 20 s");
        assert!(
            delays.iter().any(|d| *d < Duration::from_secs(4)) && delays.iter().any(|d| *d > Duration::from_secs(36))
        );
    }

    #[test]
    fn a_seed_gives_the_same_schedule() {
        let policy = RetryPolicy::default();
        let run = |seed| {
            let mut rng = SplitMix64::seeded(seed);
            (0..8).map(|n| policy.delay(n, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn decisions() {
        let policy = RetryPolicy::default();
        let half = &mut Fixed(0.5);
        let cases = [
            // (attempts made, error, expected)
            (1, error(true, None), RetryDecision::RetryAfter(Duration::from_millis(2500))),
            (3, error(true, None), RetryDecision::RetryAfter(Duration::from_secs(10))),
            (7, error(true, None), RetryDecision::RetryAfter(Duration::from_secs(160))),
            // Retry-After above the jittered backoff wins...
            (1, error(true, Some(Duration::from_secs(30))), RetryDecision::RetryAfter(Duration::from_secs(30))),
            // ...below it, the backoff does...
            (7, error(true, Some(Duration::from_secs(1))), RetryDecision::RetryAfter(Duration::from_secs(160))),
            // ...and it is capped at an hour.
            (1, error(true, Some(Duration::from_secs(86_400))), RetryDecision::RetryAfter(Duration::from_secs(3600))),
        ];
        for (attempts, error, expected) in cases {
            assert_eq!(policy.after_failure(attempts, &error, half), expected, "after {attempts} attempts");
        }
        assert!(matches!(policy.after_failure(8, &error(true, None), half), RetryDecision::DeadLetter { .. }));
        assert!(matches!(policy.after_failure(1, &error(false, None), half), RetryDecision::DeadLetter { .. }));
    }
}
