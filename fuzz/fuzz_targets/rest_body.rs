//! A REST request body or query from an untrusted client: the first byte picks the type, the
//! rest is the JSON. Properties: nothing panics; whatever parses survives a round trip; its
//! string fields go through the same validation the handlers run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[path = "../src/checks.rs"]
mod checks;

/// Parse `json` as `T`; on success, check the round trip and hand the value on.
fn parsed<T>(json: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let value: T = serde_json::from_slice(json).ok()?;
    let again = serde_json::to_vec(&value).expect("a parsed body serialises");
    let back: T = serde_json::from_slice(&again).expect("its own JSON parses");
    assert_eq!(back, value);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, json)) = data.split_first() else {
        return;
    };
    match kind % 12 {
        0 => {
            if let Some(body) = parsed::<RegisterRequest>(json) {
                checks::username(&body.username);
                checks::password(&body.password);
                body.display_name.as_deref().map(checks::display_name);
                body.device_name.as_deref().map(checks::device_name);
            }
        }
        1 => {
            if let Some(body) = parsed::<LoginRequest>(json) {
                checks::username(&body.username);
                body.device_name.as_deref().map(checks::device_name);
            }
        }
        2 => drop(parsed::<RefreshRequest>(json)),
        3 => {
            if let Some(body) = parsed::<UpdateProfileRequest>(json) {
                body.display_name.as_deref().map(checks::display_name);
            }
        }
        4 => drop(parsed::<CreateDirectRequest>(json)),
        5 => {
            if let Some(body) = parsed::<CreateGroupRequest>(json) {
                checks::group_name(&body.name);
                body.topic.as_deref().map(checks::topic);
            }
        }
        6 => {
            if let Some(body) = parsed::<UpdateConversationRequest>(json) {
                body.name.as_deref().map(checks::group_name);
                body.topic.as_deref().map(checks::topic);
            }
        }
        7 => drop(parsed::<AddMemberRequest>(json)),
        8 => drop(parsed::<UpdateMemberRequest>(json)),
        9 => drop(parsed::<MuteRequest>(json)),
        10 => {
            if let Some(body) = parsed::<SendMessageRequest>(json) {
                checks::client_msg_id(&body.client_msg_id);
                checks::message_text(&body.text);
            }
        }
        _ => {
            if let Some(body) = parsed::<EditMessageRequest>(json) {
                checks::message_text(&body.text);
            }
        }
    }
});
