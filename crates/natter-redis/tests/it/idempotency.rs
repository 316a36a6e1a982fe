use std::time::Duration;

use natter_redis::RedisIdempotency;

use crate::{eventually, redis};

#[tokio::test]
async fn the_first_value_wins_until_it_expires() {
    let keys = RedisIdempotency::new(&redis("idempotency").await);
    let ttl = Duration::from_millis(500);
    assert_eq!(keys.remember("req-1", b"first", ttl).await.unwrap(), None);
    assert_eq!(
        keys.remember("req-1", b"second", ttl).await.unwrap(),
        Some(b"first".to_vec())
    );
    assert_eq!(keys.remember("req-2", b"other", ttl).await.unwrap(), None);

    eventually(Duration::from_secs(5), "req-1 expired", || async {
        keys.remember("req-1", b"third", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert_eq!(
        keys.remember("req-1", b"fourth", ttl).await.unwrap(),
        Some(b"third".to_vec())
    );

    keys.forget("req-1").await.unwrap();
    assert_eq!(keys.remember("req-1", b"fifth", ttl).await.unwrap(), None);
}
