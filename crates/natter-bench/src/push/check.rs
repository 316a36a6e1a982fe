//! Matching what the lab accepted against what was sent: every message owes exactly one push to
//! each device of its conversation's other members. A push is identified by its device (FCM
//! token or Web Push endpoint) and the `message_id` in its payload; the first one of a pair
//! gives the latency, a second is a duplicate, one that no message owes is unexpected, and a
//! pair never seen is lost.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natter_push_lab::{Pushed, Service};
use serde::Serialize;

use crate::stats::{Summary, new_histogram, summarize};

/// One message the server acknowledged, and the devices it owes a push to.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub message_id: String,
    /// `created_at_ms` of the acknowledgement: when the server stamped the message.
    pub created_at_ms: i64,
    /// When the acknowledgement reached the bench (the commit is done by then).
    pub acked_at: SystemTime,
    pub devices: Vec<String>,
}

/// One accepted push, reduced to what the check needs.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub device: String,
    pub message_id: Option<String>,
    pub accepted_at: SystemTime,
}

impl Accepted {
    pub fn of(push: &Pushed) -> Self {
        // FCM: the `message` object, with the ids under `data` (strings); Web Push and APNs:
        // the payload itself.
        let message_id = match push.service {
            Service::Fcm => &push.payload["data"]["message_id"],
            Service::WebPush | Service::Apns => &push.payload["message_id"],
        };
        Self {
            device: push.device.clone(),
            message_id: message_id.as_str().map(str::to_owned),
            accepted_at: push.accepted_at,
        }
    }
}

/// What a phase delivered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delivery {
    pub messages: usize,
    /// Pushes the messages owed: one per (message, device of another member).
    pub expected: usize,
    /// Pushes the lab accepted during the phase.
    pub accepted: usize,
    /// Owed pushes the lab never accepted.
    pub lost: usize,
    /// Second and later pushes of one (message, device).
    pub duplicates: usize,
    /// Pushes no message of the phase owed (another phase's, or a withdraw).
    pub unexpected: usize,
    /// From the message's `created_at_ms` to the lab accepting its push (first push of each
    /// pair; millisecond resolution on the server's side).
    pub from_created: Summary,
    /// From the acknowledgement reaching the bench to the lab accepting the push.
    pub from_ack: Summary,
}

pub fn check(sent: &[SentMessage], pushes: &[Accepted]) -> Delivery {
    let mut owed: HashMap<(&str, &str), (usize, &SentMessage)> = HashMap::new();
    for message in sent {
        for device in &message.devices {
            owed.insert((device.as_str(), message.message_id.as_str()), (0, message));
        }
    }
    let expected = owed.len();
    let (mut from_created, mut from_ack) = (new_histogram(), new_histogram());
    let (mut duplicates, mut unexpected) = (0, 0);
    for push in pushes {
        let key = (
            push.device.as_str(),
            push.message_id.as_deref().unwrap_or_default(),
        );
        let Some((seen, message)) = owed.get_mut(&key) else {
            unexpected += 1;
            continue;
        };
        *seen += 1;
        if *seen > 1 {
            duplicates += 1;
            continue;
        }
        let created = UNIX_EPOCH + Duration::from_millis(message.created_at_ms.max(0) as u64);
        from_created.saturating_record(micros_between(created, push.accepted_at));
        from_ack.saturating_record(micros_between(message.acked_at, push.accepted_at));
    }
    Delivery {
        messages: sent.len(),
        expected,
        accepted: pushes.len(),
        lost: owed.values().filter(|(seen, _)| *seen == 0).count(),
        duplicates,
        unexpected,
        from_created: summarize(&from_created),
        from_ack: summarize(&from_ack),
    }
}

/// Microseconds from `from` to `to`, at least 1 (a push accepted within the millisecond its
/// message was stamped in reads as earlier than the stamp).
fn micros_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map_or(1, |d| d.as_micros().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: &str, created_at_ms: i64, devices: &[&str]) -> SentMessage {
        SentMessage {
            message_id: id.into(),
            created_at_ms,
            acked_at: UNIX_EPOCH + Duration::from_millis(created_at_ms as u64 + 2),
            devices: devices.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn push(device: &str, id: &str, at_ms: u64) -> Accepted {
        Accepted {
            device: device.into(),
            message_id: Some(id.into()),
            accepted_at: UNIX_EPOCH + Duration::from_millis(at_ms),
        }
    }

    #[test]
    fn every_owed_push_once_is_clean() {
        let messages = [sent("1", 1000, &["a", "b"]), sent("2", 2000, &["a"])];
        let pushes = [
            push("a", "1", 1010),
            push("b", "1", 1030),
            push("a", "2", 2050),
        ];
        let d = check(&messages, &pushes);
        assert_eq!((d.expected, d.accepted), (3, 3));
        assert_eq!((d.lost, d.duplicates, d.unexpected), (0, 0, 0));
        assert_eq!(d.from_created.count, 3);
        assert!((d.from_created.max_ms - 50.0).abs() < 0.1, "{d:?}");
        assert!((d.from_ack.max_ms - 48.0).abs() < 0.1, "{d:?}");
    }

    #[test]
    fn missing_repeated_and_stray_pushes_are_counted() {
        let messages = [sent("1", 1000, &["a", "b"])];
        let mut stray = push("a", "9", 1100);
        stray.message_id = None;
        let pushes = [
            push("a", "1", 1010),
            push("a", "1", 1020),
            push("c", "1", 1030),
            stray,
        ];
        let d = check(&messages, &pushes);
        assert_eq!(d.lost, 1, "b never got it");
        assert_eq!(d.duplicates, 1);
        assert_eq!(d.unexpected, 2);
        assert_eq!(d.from_created.count, 1);
    }

    #[test]
    fn fcm_and_web_push_payloads_name_the_message() {
        let of = |service, payload| {
            Accepted::of(&Pushed {
                service,
                device: "d".into(),
                path: String::new(),
                headers: Default::default(),
                payload,
                http2: true,
                accepted_at: UNIX_EPOCH,
            })
            .message_id
        };
        let fcm = serde_json::json!({"data": {"message_id": "42", "seq": "1"}});
        assert_eq!(of(Service::Fcm, fcm), Some("42".into()));
        let web = serde_json::json!({"message_id": "43", "seq": 1});
        assert_eq!(of(Service::WebPush, web), Some("43".into()));
    }
}
