//! A WebSocket text frame from an untrusted client. The gateway parses it with
//! `ClientFrame::parse` and then validates its fields into domain values. Properties: nothing
//! panics; a frame that parses survives a round trip through its own JSON unchanged (what the
//! SDK sends is exactly what the server reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_protocol::ClientFrame;

#[path = "../src/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the WebSocket layer refuses invalid UTF-8 with 1007 before any parsing
    };
    let Ok(frame) = ClientFrame::parse(text) else {
        return;
    };
    let json = serde_json::to_string(&frame).expect("a parsed frame serialises");
    assert_eq!(ClientFrame::parse(&json).as_ref(), Ok(&frame), "round trip of {json}");
    match &frame {
        ClientFrame::Send { client_msg_id, text, .. } => {
            checks::client_msg_id(client_msg_id);
            checks::message_text(text);
        }
        ClientFrame::Edit { text, .. } => checks::message_text(text),
        ClientFrame::React { emoji, .. } | ClientFrame::Unreact { emoji, .. } => {
            checks::reaction(emoji)
        }
        _ => {}
    }
});
