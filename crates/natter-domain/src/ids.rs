//! Identifiers. Users, conversations and sessions use UUIDv7 (time-sortable, unguessable);
//! messages use a 64-bit Snowflake-layout id so they sort by time and fit an index cheaply.
//! 64-bit ids travel to clients as strings (JavaScript numbers lose precision past 2^53).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-sortable id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A registered account.
    UserId
);
uuid_id!(
    /// A direct or group conversation.
    ConversationId
);
uuid_id!(
    /// One logged-in device of a user; refresh tokens and access tokens belong to one session.
    SessionId
);
uuid_id!(
    /// One device registered for push notifications (it belongs to a session).
    DeviceId
);

/// A message's global id: milliseconds since [`MessageIdGenerator::EPOCH_MS`] in the top 41 bits,
/// then 10 bits of node id, then a 12-bit per-millisecond counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Hands out [`MessageId`]s that are unique per node and increase monotonically, even when the
/// wall clock steps backwards (the last issued id is the floor).
#[derive(Debug)]
pub struct MessageIdGenerator {
    node: u64,
    /// The last id handed out; a lock-free CAS loop keeps ids strictly increasing.
    last: AtomicU64,
}

impl MessageIdGenerator {
    /// 2024-01-01T00:00:00Z: gives the 41-bit timestamp about 69 years of range.
    pub const EPOCH_MS: u64 = 1_704_067_200_000;
    const NODE_BITS: u32 = 10;
    const COUNTER_BITS: u32 = 12;

    /// `node` must be unique among the processes writing to the same store (0..1024).
    pub fn new(node: u16) -> Self {
        Self {
            node: u64::from(node) & ((1 << Self::NODE_BITS) - 1),
            last: AtomicU64::new(0),
        }
    }

    pub fn next(&self, now_ms: i64) -> MessageId {
        let millis = (now_ms.max(0) as u64).saturating_sub(Self::EPOCH_MS);
        let candidate =
            (millis << (Self::NODE_BITS + Self::COUNTER_BITS)) | (self.node << Self::COUNTER_BITS);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = if candidate > last {
                candidate
            } else {
                last + 1
            };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return MessageId(next as i64),
                Err(actual) => last = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_even_when_the_clock_stands_still_or_steps_back() {
        let generator = MessageIdGenerator::new(3);
        let a = generator.next(1_800_000_000_000);
        let b = generator.next(1_800_000_000_000);
        let c = generator.next(1_700_000_000_000);
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn node_id_is_encoded() {
        let generator = MessageIdGenerator::new(5);
        let id = generator.next(1_800_000_000_000).0 as u64;
        assert_eq!((id >> 12) & 0x3ff, 5);
    }
}
