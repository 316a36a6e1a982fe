//! When a push the provider could not take now is tried again: exponential backoff from
//! [`BASE`] doubling per attempt up to [`CAP`], with "full jitter" over its upper half (so many
//! devices failing together do not come back together), never before the provider's
//! `Retry-After`.

use std::time::Duration;

/// The first retry waits about this long.
pub const BASE: Duration = Duration::from_millis(500);
/// No retry waits longer (unless the provider asks for it).
pub const CAP: Duration = Duration::from_secs(300);

/// The wait before attempt `attempts + 1`; `jitter` in `[0, 1)` picks a point in the upper half
/// of the exponential step.
pub fn delay(attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let step = BASE
        .saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX))
        .min(CAP);
    let jittered = step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    jittered.max(retry_after.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_honours_retry_after() {
        assert_eq!(delay(0, None, 1.0), BASE);
        assert_eq!(delay(0, None, 0.0), BASE / 2);
        assert_eq!(delay(3, None, 1.0), BASE * 8);
        assert_eq!(delay(40, None, 1.0), CAP);
        assert_eq!(delay(40, None, 0.0), CAP / 2);
        let told = Duration::from_secs(2);
        assert_eq!(delay(0, Some(told), 0.3), told, "never before Retry-After");
        assert_eq!(
            delay(10, Some(told), 1.0),
            CAP,
            "nor sooner than the backoff"
        );
    }
}
