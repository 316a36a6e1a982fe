//! Any string through every validated value of the domain (`checks.rs` says what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    checks::username(raw);
    checks::display_name(raw);
    checks::message_text(raw);
    checks::group_name(raw);
    checks::topic(raw);
    checks::reaction(raw);
    checks::client_msg_id(raw);
    checks::device_name(raw);
    checks::password(raw);
    checks::file_name(raw);
});
