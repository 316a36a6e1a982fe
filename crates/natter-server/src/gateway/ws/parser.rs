//! The client side of RFC 6455 framing (section 5), as a pure function of bytes: what the
//! socket read goes in, messages and the close code of the first protocol error come out.
//!
//! It keeps no read buffer: [`Parser::feed`] parses every complete frame of what it is given and
//! says how many bytes it used, and the caller keeps only the bytes of a frame not complete yet.
//! Its own state is the message being assembled from fragments (empty between messages) and
//! the count of bytes of an oversized frame still to discard.

/// What a client sent, one message or control frame at a time.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text message, UTF-8 checked over all its fragments.
    Text(String),
    /// A whole binary message (natter speaks text only; the content is not kept).
    Binary,
    /// A ping; the payload goes back in the pong.
    Ping(Vec<u8>),
    Pong,
    /// A valid close frame: its code, if it had one.
    Close(Option<u16>),
    /// A protocol error: the connection closes with this code; nothing after it is parsed.
    Fail(u16, &'static str),
}

/// RFC 6455 close codes the parser ends with.
pub mod code {
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

const FIN: u8 = 0x80;
const RSV: u8 = 0x70;
const MASKED: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
/// Control frames carry at most this many payload bytes (section 5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// A message being assembled from a first frame without FIN and its continuations.
#[derive(Debug)]
struct Fragmented {
    text: bool,
    /// The text so far (binary content is only counted).
    bytes: Vec<u8>,
    len: usize,
}

#[derive(Debug)]
pub struct Parser {
    message: Option<Box<Fragmented>>,
    /// Payload bytes of an oversized frame still to be read (and dropped) before the 1009.
    skipping: u64,
    /// 32 bits (a limit past 4 GiB is taken as 4 GiB): the parser is in every idle
    /// connection's memory.
    max_message: u32,
    failed: bool,
}

impl Parser {
    /// A message over `max_message` bytes closes with 1009. A frame up to twice that is read to
    /// its end first (a client still writing it then sees the close instead of a reset); a
    /// larger one is refused from its header.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message: u32::try_from(max_message).unwrap_or(u32::MAX),
            message: None,
            skipping: 0,
            failed: false,
        }
    }

    /// Parse every complete frame at the start of `bytes` into `out`; returns how many bytes
    /// were used (the rest is the beginning of a frame: give it again with what follows).
    /// After a [`Incoming::Fail`] everything is used and nothing more is parsed.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Incoming>) -> usize {
        let mut used = 0;
        while !self.failed && used < bytes.len() {
            if self.skipping > 0 {
                let left = &bytes[used..];
                let skip = usize::try_from(self.skipping).map_or(left.len(), |s| s.min(left.len()));
                used += skip;
                self.skipping -= skip as u64;
                if self.skipping == 0 {
                    self.fail(out, code::TOO_BIG, "message too large");
                }
                continue;
            }
            match self.frame(&bytes[used..], out) {
                Some(n) => used += n,
                None => break,
            }
        }
        if self.failed { bytes.len() } else { used }
    }

    fn fail(&mut self, out: &mut Vec<Incoming>, code: u16, reason: &'static str) {
        self.failed = true;
        self.message = None;
        out.push(Incoming::Fail(code, reason));
    }

    /// One frame from the start of `bytes`: the bytes it used, or `None` if it is incomplete.
    fn frame(&mut self, bytes: &[u8], out: &mut Vec<Incoming>) -> Option<usize> {
        let header = Header::parse(bytes)?;
        let Header {
            fin,
            opcode,
            len,
            mask,
            size,
        } = match header {
            Ok(header) => header,
            Err(reason) => {
                self.fail(out, code::PROTOCOL_ERROR, reason);
                return Some(0);
            }
        };
        if let Err(reason) = self.check(fin, opcode, len) {
            self.fail(out, code::PROTOCOL_ERROR, reason);
            return Some(0);
        }
        if opcode < CLOSE {
            let so_far = self.message.as_ref().map_or(0, |m| m.len) as u64;
            let limit = u64::from(self.max_message);
            if len > limit.saturating_mul(2) {
                self.fail(out, code::TOO_BIG, "message too large");
                return Some(0);
            }
            if so_far + len > limit {
                // Not empty: what was assembled so far is within the limit.
                self.skipping = len;
                return Some(size);
            }
        }
        // Fits in usize: data frames are at most twice the limit, control frames 125 bytes.
        let len = len as usize;
        let end = size.checked_add(len)?;
        let payload = bytes.get(size..end)?;
        self.payload(fin, opcode, payload, mask, out);
        Some(end)
    }

    /// The sequencing rules of section 5.4 and the control frame rules of section 5.5.
    fn check(&self, fin: bool, opcode: u8, len: u64) -> Result<(), &'static str> {
        match opcode {
            CONTINUATION if self.message.is_none() => Err("continuation without a message"),
            TEXT | BINARY if self.message.is_some() => Err("new message inside a fragmented one"),
            CONTINUATION | TEXT | BINARY => Ok(()),
            CLOSE | PING | PONG if !fin => Err("fragmented control frame"),
            CLOSE | PING | PONG if len > MAX_CONTROL_PAYLOAD => Err("control frame too long"),
            CLOSE | PING | PONG => Ok(()),
            _ => Err("unknown opcode"),
        }
    }

    fn payload(
        &mut self,
        fin: bool,
        opcode: u8,
        masked: &[u8],
        mask: [u8; 4],
        out: &mut Vec<Incoming>,
    ) {
        match opcode {
            PING => out.push(Incoming::Ping(unmask(masked, mask))),
            PONG => out.push(Incoming::Pong),
            CLOSE => match close(&unmask(masked, mask)) {
                Ok(code) => out.push(Incoming::Close(code)),
                Err((code, reason)) => self.fail(out, code, reason),
            },
            TEXT | BINARY if fin => {
                if opcode == BINARY {
                    out.push(Incoming::Binary);
                } else {
                    self.text(unmask(masked, mask), out);
                }
            }
            TEXT | BINARY => {
                let text = opcode == TEXT;
                self.message = Some(Box::new(Fragmented {
                    text,
                    bytes: if text {
                        unmask(masked, mask)
                    } else {
                        Vec::new()
                    },
                    len: masked.len(),
                }));
            }
            _ => {
                let Some(message) = self.message.as_mut() else {
                    return;
                };
                message.len += masked.len();
                if message.text {
                    let start = message.bytes.len();
                    message.bytes.extend_from_slice(masked);
                    unmask_in_place(&mut message.bytes[start..], mask);
                }
                if fin && let Some(message) = self.message.take() {
                    if message.text {
                        self.text(message.bytes, out);
                    } else {
                        out.push(Incoming::Binary);
                    }
                }
            }
        }
    }

    fn text(&mut self, bytes: Vec<u8>, out: &mut Vec<Incoming>) {
        match String::from_utf8(bytes) {
            Ok(text) => out.push(Incoming::Text(text)),
            Err(_) => self.fail(out, code::INVALID_DATA, "invalid UTF-8"),
        }
    }
}

/// A frame header (section 5.2).
struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
    mask: [u8; 4],
    /// Header bytes, up to the payload.
    size: usize,
}

impl Header {
    /// `None`: incomplete. `Err`: a header no client may send.
    fn parse(bytes: &[u8]) -> Option<Result<Self, &'static str>> {
        let [first, second, rest @ ..] = bytes else {
            return None;
        };
        if first & RSV != 0 {
            return Some(Err("reserved bits set"));
        }
        if second & MASKED == 0 {
            return Some(Err("client frames must be masked"));
        }
        let (len, rest, ext) = match second & 0x7F {
            126 => {
                let (len, rest) = rest.split_first_chunk::<2>()?;
                (u64::from(u16::from_be_bytes(*len)), rest, 2)
            }
            127 => {
                let (len, rest) = rest.split_first_chunk::<8>()?;
                let len = u64::from_be_bytes(*len);
                if len >> 63 != 0 {
                    return Some(Err("payload length with its high bit set"));
                }
                (len, rest, 8)
            }
            len => (u64::from(len), rest, 0),
        };
        let (mask, _) = rest.split_first_chunk::<4>()?;
        Some(Ok(Self {
            fin: first & FIN != 0,
            opcode: first & 0x0F,
            len,
            mask: *mask,
            size: 2 + ext + 4,
        }))
    }
}

/// A close frame's payload (section 5.5.1, 7.4): empty, or a code clients may send and a
/// UTF-8 reason.
fn close(payload: &[u8]) -> Result<Option<u16>, (u16, &'static str)> {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return if payload.is_empty() {
            Ok(None)
        } else {
            Err((code::PROTOCOL_ERROR, "close payload of one byte"))
        };
    };
    let code = u16::from_be_bytes(*code);
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err((code::PROTOCOL_ERROR, "invalid close code"));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err((code::INVALID_DATA, "invalid UTF-8 in the close reason"));
    }
    Ok(Some(code))
}

fn unmask(masked: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut bytes = masked.to_vec();
    unmask_in_place(&mut bytes, mask);
    bytes
}

fn unmask_in_place(bytes: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = bytes.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// A masked client frame, as a test or a fuzzer writes one.
#[cfg(test)]
pub fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        len @ 0..=125 => frame.push(MASKED | len as u8),
        len @ 126..=65535 => {
            frame.push(MASKED | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(MASKED | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}
