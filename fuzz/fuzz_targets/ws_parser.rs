//! Raw bytes from an untrusted WebSocket client through the gateway's frame parser
//! (`crates/natter-server/src/gateway/ws/parser.rs`, a pure file included as is). The first
//! byte picks how the rest is split into reads, as TCP may split it. Properties: nothing
//! panics; the same bytes give the same messages however they are split; nothing is parsed
//! after a protocol error; the parser never keeps more than a frame of at most twice the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/natter-server/src/gateway/ws/parser.rs"]
#[allow(dead_code)]
mod parser;

use parser::{Incoming, Parser};

const LIMIT: usize = 4096;

fn parse(bytes: &[u8], step: usize) -> Vec<Incoming> {
    let mut parser = Parser::new(LIMIT);
    let mut out = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    for chunk in bytes.chunks(step.max(1)) {
        partial.extend_from_slice(chunk);
        let used = parser.feed(&partial, &mut out);
        assert!(used <= partial.len());
        partial.drain(..used);
        // A header is at most 14 bytes; a frame that is kept is within twice the limit.
        assert!(partial.len() <= 14 + 2 * LIMIT, "kept {} bytes", partial.len());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((step, bytes)) = data.split_first() else {
        return;
    };
    let whole = parse(bytes, bytes.len());
    let split = parse(bytes, usize::from(*step % 32) + 1);
    assert_eq!(whole, split);
    if let Some(at) = whole.iter().position(|m| matches!(m, Incoming::Fail(..))) {
        assert_eq!(at, whole.len() - 1, "nothing after an error");
    }
});
