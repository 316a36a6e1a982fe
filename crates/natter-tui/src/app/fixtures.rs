//! Test data: wire values built from their documented JSON (so fields the protocol adds later,
//! all optional, need no change here), and an app with two conversations.

use natter_sdk::protocol::{ConversationSummaryView, MessageView, ServerFrame, UserView};
use serde_json::json;
use uuid::Uuid;

use super::{App, Event, Me};

pub const ME: Uuid = Uuid::from_u128(1);
pub const BOB: Uuid = Uuid::from_u128(2);
pub const CAROL: Uuid = Uuid::from_u128(3);
pub const DIRECT: Uuid = Uuid::from_u128(100);
pub const TEAM: Uuid = Uuid::from_u128(200);
/// 2026-01-02 10:00:00 UTC.
pub const NOW_MS: i64 = 1_767_348_000_000;

pub fn user(id: Uuid, username: &str, online: bool) -> UserView {
    serde_json::from_value(json!({
        "id": id, "username": username, "display_name": capitalised(username),
        "created_at_ms": 0, "online": online, "last_seen_ms": NOW_MS - 300_000,
    }))
    .expect("user")
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
pub fn summary(
    id: Uuid,
    name: Option<&str>,
    peer: Option<Uuid>,
    last_seq: i64,
    read_seq: i64,
    unread: i64,
    mentions: i64,
    activity_ms: i64,
) -> ConversationSummaryView {
    serde_json::from_value(json!({
        "conversation": {
            "id": id, "kind": if peer.is_some() { "direct" } else { "group" }, "name": name,
            "created_by": ME, "created_at_ms": 0, "last_seq": last_seq, "last_mod": last_seq,
            "last_activity_ms": activity_ms, "member_count": if peer.is_some() { 2 } else { 3 },
        },
        "me": {
            "conversation_id": id, "user_id": ME, "role": "member", "muted": false,
            "read_seq": read_seq, "delivered_seq": read_seq, "joined_at_ms": 0,
        },
        "unread_count": unread, "mention_count": mentions, "peer": peer,
    }))
    .expect("summary")
}

pub fn message(conversation: Uuid, seq: i64, sender: Uuid, text: &str) -> MessageView {
    serde_json::from_value(json!({
        "id": format!("{seq}"), "conversation_id": conversation, "seq": seq, "mod_seq": seq,
        "sender_id": sender, "client_msg_id": format!("c{seq}-{sender}"), "text": text,
        "created_at_ms": NOW_MS - 60_000 * (100 - seq), "deleted": false,
    }))
    .expect("message")
}

pub fn new(message: MessageView) -> Event {
    Event::Frame(ServerFrame::MessageNew { message })
}

/// Signed in as `me`, with a direct conversation with Bob (online, 2 unread) and a group
/// "Team" (5 unread, 1 mention), the list loaded, nothing open.
pub fn app() -> App {
    let me = Me {
        id: ME,
        username: "me".into(),
        server: "http://127.0.0.1:8080".into(),
    };
    let mut app = App::new(me, NOW_MS, jiff::tz::TimeZone::UTC);
    app.update(Event::Users(vec![
        user(ME, "me", true),
        user(BOB, "bob", true),
        user(CAROL, "carol", false),
    ]));
    app.update(Event::Conversations(vec![
        summary(DIRECT, None, Some(BOB), 3, 1, 2, 0, NOW_MS - 1_000),
        summary(TEAM, Some("Team"), None, 120, 115, 5, 1, NOW_MS - 2_000),
    ]));
    app
}

/// A page of `DIRECT`'s history from `from` to `to`, alternating senders.
pub fn page(from: i64, to: i64) -> Vec<MessageView> {
    (from..=to)
        .map(|seq| {
            let sender = if seq % 2 == 0 { ME } else { BOB };
            message(DIRECT, seq, sender, &format!("message number {seq}"))
        })
        .collect()
}
