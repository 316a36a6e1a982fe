//! The parser against RFC 6455 sections 5 and 7, frame by frame and byte by byte.

use super::parser::{Incoming, Parser, client_frame};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const LIMIT: usize = 1000;

const FIN_TEXT: u8 = 0x81;
const TEXT: u8 = 0x01;
const FIN_BINARY: u8 = 0x82;
const CONTINUATION: u8 = 0x00;
const FIN_CONTINUATION: u8 = 0x80;
const CLOSE: u8 = 0x88;
const PING: u8 = 0x89;
const PONG: u8 = 0x8A;

fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(first, payload, MASK)
}

/// What the parser makes of `bytes` given in pieces of `step` bytes, keeping the unused tail
/// as the socket does.
fn parse_in_steps(bytes: &[u8], step: usize) -> Vec<Incoming> {
    let mut parser = Parser::new(LIMIT);
    let mut out = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    for chunk in bytes.chunks(step) {
        partial.extend_from_slice(chunk);
        let used = parser.feed(&partial, &mut out);
        partial.drain(..used);
    }
    out
}

fn parse(bytes: &[u8]) -> Vec<Incoming> {
    let all = parse_in_steps(bytes, bytes.len().max(1));
    for step in [1, 2, 3, 7] {
        assert_eq!(parse_in_steps(bytes, step), all, "in steps of {step}");
    }
    all
}

fn fail(code: u16) -> impl Fn(&[Incoming]) -> bool {
    move |out| matches!(out.last(), Some(Incoming::Fail(c, _)) if *c == code)
}

fn text(s: &str) -> Incoming {
    Incoming::Text(s.to_owned())
}

#[test]
fn a_masked_text_frame_in_one_piece_or_byte_by_byte() {
    let bytes = [frame(FIN_TEXT, b"hello"), frame(FIN_TEXT, b"")].concat();
    assert_eq!(parse(&bytes), vec![text("hello"), text("")]);
}

#[test]
fn lengths_of_16_and_64_bits() {
    let medium = "m".repeat(300);
    let mut long = vec![FIN_TEXT, 0x80 | 127];
    long.extend_from_slice(&5u64.to_be_bytes());
    long.extend_from_slice(&MASK);
    long.extend(b"hello".iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    let bytes = [frame(FIN_TEXT, medium.as_bytes()), long].concat();
    assert_eq!(parse(&bytes), vec![text(&medium), text("hello")]);
    let mut huge = vec![FIN_TEXT, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
    huge.extend_from_slice(&MASK);
    assert!(fail(1002)(&parse(&huge)));
}

#[test]
fn a_text_message_over_continuations_with_a_ping_between() {
    let bytes = [
        frame(TEXT, b"hel"),
        frame(PING, b"are you there"),
        frame(CONTINUATION, b"lo "),
        frame(PONG, b""),
        frame(FIN_CONTINUATION, b"world"),
    ]
    .concat();
    assert_eq!(
        parse(&bytes),
        vec![
            Incoming::Ping(b"are you there".to_vec()),
            Incoming::Pong,
            text("hello world")
        ]
    );
}

#[test]
fn binary_messages_are_recognised_whole_or_fragmented() {
    let bytes = [
        frame(FIN_BINARY, &[0, 1, 2]),
        frame(0x02, &[0]),
        frame(FIN_CONTINUATION, &[1]),
    ]
    .concat();
    assert_eq!(parse(&bytes), vec![Incoming::Binary, Incoming::Binary]);
}

#[test]
fn sequencing_errors_are_1002() {
    assert!(fail(1002)(&parse(&frame(FIN_CONTINUATION, b"x"))));
    assert!(fail(1002)(&parse(&frame(CONTINUATION, b"x"))));
    let nested = [frame(TEXT, b"a"), frame(FIN_TEXT, b"b")].concat();
    assert!(fail(1002)(&parse(&nested)));
    let nested = [frame(TEXT, b"a"), frame(FIN_BINARY, b"b")].concat();
    assert!(fail(1002)(&parse(&nested)));
}

#[test]
fn control_frames_are_short_and_whole() {
    let ping = vec![b'p'; 125];
    assert_eq!(
        parse(&frame(PING, &ping)),
        vec![Incoming::Ping(ping.clone())]
    );
    assert!(fail(1002)(&parse(&frame(PING, &[b'p'; 126]))));
    assert!(fail(1002)(&parse(&frame(0x09, b"ping")))); // no FIN
    assert!(fail(1002)(&parse(&frame(0x0A, b"")))); // pong without FIN
    assert!(fail(1002)(&parse(&frame(0x08, b"")))); // close without FIN
}

#[test]
fn reserved_bits_unknown_opcodes_and_unmasked_frames_are_1002() {
    for first in [FIN_TEXT | 0x40, FIN_TEXT | 0x20, FIN_TEXT | 0x10] {
        assert!(fail(1002)(&parse(&frame(first, b"x"))), "{first:#x}");
    }
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        assert!(
            fail(1002)(&parse(&frame(0x80 | opcode, b""))),
            "{opcode:#x}"
        );
    }
    assert!(fail(1002)(&parse(b"\x81\x02hi")));
}

#[test]
fn nothing_is_parsed_after_an_error() {
    let bytes = [frame(0x83, b""), frame(FIN_TEXT, b"after")].concat();
    let mut parser = Parser::new(LIMIT);
    let mut out = Vec::new();
    assert_eq!(parser.feed(&bytes, &mut out), bytes.len());
    assert_eq!(out.len(), 1);
    assert_eq!(parser.feed(&frame(FIN_TEXT, b"more"), &mut out), 10);
    assert_eq!(out.len(), 1);
}

#[test]
fn text_is_utf8_over_the_whole_message() {
    assert!(fail(1007)(&parse(&frame(FIN_TEXT, b"\xff\xfe"))));
    // "é" is C3 A9: split over two fragments it is valid.
    let split = [frame(TEXT, b"caf\xc3"), frame(FIN_CONTINUATION, b"\xa9")].concat();
    assert_eq!(parse(&split), vec![text("café")]);
    // A lead byte whose continuation never comes, across fragments.
    let broken = [frame(TEXT, b"caf\xc3"), frame(FIN_CONTINUATION, b"e")].concat();
    assert!(fail(1007)(&parse(&broken)));
}

#[test]
fn close_frames_are_checked() {
    assert_eq!(parse(&frame(CLOSE, b"")), vec![Incoming::Close(None)]);
    assert_eq!(
        parse(&frame(CLOSE, b"\x03\xe8bye")),
        vec![Incoming::Close(Some(1000))]
    );
    for code in [1001u16, 1003, 1007, 1011, 3000, 4999] {
        assert_eq!(
            parse(&frame(CLOSE, &code.to_be_bytes())),
            vec![Incoming::Close(Some(code))]
        );
    }
    assert!(fail(1002)(&parse(&frame(CLOSE, b"\x03"))));
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000] {
        assert!(
            fail(1002)(&parse(&frame(CLOSE, &code.to_be_bytes()))),
            "{code}"
        );
    }
    assert!(fail(1007)(&parse(&frame(CLOSE, b"\x03\xe8\xff"))));
}

#[test]
fn a_message_over_the_limit_is_1009() {
    let over = vec![b'a'; LIMIT + 1];
    let bytes = frame(FIN_TEXT, &over);
    // Read to its end first: no verdict while its payload is still coming.
    let mut parser = Parser::new(LIMIT);
    let mut out = Vec::new();
    assert_eq!(
        parser.feed(&bytes[..bytes.len() - 1], &mut out),
        bytes.len() - 1
    );
    assert!(out.is_empty());
    assert_eq!(parser.feed(&bytes[bytes.len() - 1..], &mut out), 1);
    assert!(fail(1009)(&out));
    assert!(fail(1009)(&parse(&bytes)));
    // Over the limit in fragments that each fit.
    let half = vec![b'a'; LIMIT / 2 + 1];
    let fragments = [frame(TEXT, &half), frame(FIN_CONTINUATION, &half)].concat();
    assert!(fail(1009)(&parse(&fragments)));
    // Just at the limit: fine.
    let exact = "a".repeat(LIMIT);
    assert_eq!(
        parse(&frame(FIN_TEXT, exact.as_bytes())),
        vec![text(&exact)]
    );
    // More than twice the limit: refused from the header alone.
    let header_only = &frame(FIN_TEXT, &vec![b'a'; 2 * LIMIT + 1])[..8];
    let mut out = Vec::new();
    Parser::new(LIMIT).feed(header_only, &mut out);
    assert!(fail(1009)(&out));
}
