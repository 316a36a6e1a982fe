use std::time::Duration;

use natter_redis::{RedisRateLimiter, RetryAfter};

use crate::{redis, within};

#[tokio::test]
async fn bursts_then_refuses_with_a_retry_after_then_recovers() {
    let limiter =
        RedisRateLimiter::new(&redis("limiter").await).with_timeout(Duration::from_secs(2));
    // One per second on average, five at once.
    for i in 0..5 {
        assert_eq!(
            limiter.check("user:1", 1.0, 5).await,
            Ok(()),
            "request {i} of the burst"
        );
    }
    let Err(RetryAfter { ms }) = limiter.check("user:1", 1.0, 5).await else {
        panic!("the sixth request must be refused");
    };
    assert!((1..=1_000).contains(&ms), "retry after {ms} ms");
    // Another key has its own allowance.
    assert_eq!(limiter.check("user:2", 1.0, 5).await, Ok(()));

    tokio::time::sleep(Duration::from_millis(ms + 50)).await;
    assert_eq!(limiter.check("user:1", 1.0, 5).await, Ok(()), "recovered");
    assert!(
        limiter.check("user:1", 1.0, 5).await.is_err(),
        "only one more so far"
    );
}

#[tokio::test]
async fn limits_are_shared_by_every_node() {
    let redis = redis("limiter-shared").await;
    let node_a = RedisRateLimiter::new(&redis).with_timeout(Duration::from_secs(2));
    let node_b = RedisRateLimiter::new(&redis).with_timeout(Duration::from_secs(2));
    assert_eq!(node_a.check("auth:1.2.3.4", 0.5, 2).await, Ok(()));
    assert_eq!(node_b.check("auth:1.2.3.4", 0.5, 2).await, Ok(()));
    let refused = within(
        Duration::from_secs(5),
        "a check",
        node_a.check("auth:1.2.3.4", 0.5, 2),
    )
    .await;
    assert!(
        matches!(refused, Err(RetryAfter { ms }) if ms <= 2_000),
        "{refused:?}"
    );
}
