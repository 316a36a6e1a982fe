//! Server frames (RFC 6455 section 5.2): unmasked, so a frame's bytes are the same for every
//! recipient. An event is framed once and the same [`Bytes`] are queued to every connection.

use bytes::Bytes;

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PONG: u8 = 0xA;
/// The longest header a server frame has (no mask): 2 bytes and a 64-bit length.
const MAX_HEADER: usize = 10;

/// A buffer to write a text payload into, with room for the header in front
/// ([`text_frame`] fills it in, so the payload is never copied).
pub fn payload_buffer(capacity: usize) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(MAX_HEADER + capacity);
    buffer.resize(MAX_HEADER, 0);
    buffer
}

/// The text frame of the payload written after the first [`MAX_HEADER`] bytes of `buffer`
/// (from [`payload_buffer`]).
pub fn text_frame(buffer: Vec<u8>) -> Bytes {
    finish(FIN | TEXT, buffer)
}

/// A text frame of `payload`.
pub fn text(payload: &[u8]) -> Bytes {
    let mut buffer = payload_buffer(payload.len());
    buffer.extend_from_slice(payload);
    text_frame(buffer)
}

/// A pong answering a ping with `payload` (at most 125 bytes, as the parser checked).
pub fn pong(payload: &[u8]) -> Bytes {
    let mut buffer = payload_buffer(payload.len());
    buffer.extend_from_slice(payload);
    finish(FIN | PONG, buffer)
}

/// A close frame: with `code` and `reason`, or empty for `None` (the answer to a close that
/// had no code).
pub fn close(code: Option<u16>, reason: &str) -> Bytes {
    let mut buffer = payload_buffer(2 + reason.len());
    if let Some(code) = code {
        buffer.extend_from_slice(&code.to_be_bytes());
        // Control payloads are at most 125 bytes; natter's reasons are short ASCII.
        let end = reason.len().min(123);
        buffer.extend_from_slice(&reason.as_bytes()[..end]);
    }
    finish(FIN | CLOSE, buffer)
}

/// The payload of a server frame.
#[cfg(test)]
pub fn payload(frame: &[u8]) -> &[u8] {
    let header = match frame.get(1).map(|b| b & 0x7F) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.get(header..).unwrap_or_default()
}

fn finish(first: u8, buffer: Vec<u8>) -> Bytes {
    let len = buffer.len() - MAX_HEADER;
    let mut header = [0u8; MAX_HEADER];
    header[0] = first;
    let size = match len {
        0..=125 => {
            header[1] = len as u8;
            2
        }
        126..=65535 => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    let start = MAX_HEADER - size;
    let mut buffer = buffer;
    buffer[start..MAX_HEADER].copy_from_slice(&header[..size]);
    Bytes::from(buffer).slice(start..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_header() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let frame = text(&vec![b'a'; len]);
            assert_eq!(frame.len(), header + len, "length {len}");
            assert_eq!(frame[0], 0x81);
            assert_eq!(payload(&frame).len(), len);
        }
        assert_eq!(&text(b"hi")[..], b"\x81\x02hi");
    }

    #[test]
    fn close_and_pong() {
        assert_eq!(&close(Some(1000), "bye")[..], b"\x88\x05\x03\xe8bye");
        assert_eq!(&close(None, "ignored")[..], b"\x88\x00");
        assert_eq!(&pong(b"p")[..], b"\x8a\x01p");
    }
}
