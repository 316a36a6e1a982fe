//! What a file is, decided from its first bytes (magic numbers, the `infer` crate), never from
//! the client's claim or the file's name. And which types a browser may show in place: raster
//! images, video and audio that browsers decode as media only. Everything else (HTML, SVG, PDF,
//! unknown bytes) is served as `application/octet-stream` with `Content-Disposition: attachment`,
//! so an upload can never run as a page on natter's origin.

/// Bytes read from the start of a file to decide its type (every `infer` matcher needs fewer).
pub const SNIFF_BYTES: usize = 8192;

/// The type the bytes show, or `application/octet-stream`.
pub fn mime_of(head: &[u8]) -> String {
    infer::get(head)
        .map(|kind| kind.mime_type())
        .unwrap_or(OCTET_STREAM)
        .to_owned()
}

pub const OCTET_STREAM: &str = "application/octet-stream";

/// Types served inline with their own `Content-Type`.
const INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/x-wav",
    "audio/x-flac",
    "audio/aac",
    "audio/m4a",
];

pub fn is_inline(mime: &str) -> bool {
    INLINE.contains(&mime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn the_bytes_decide_not_the_claim() {
        assert_eq!(mime_of(PNG_MAGIC), "image/png");
        assert!(is_inline(&mime_of(PNG_MAGIC)));
        let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
        assert!(!is_inline(&mime_of(html)));
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        assert!(!is_inline(&mime_of(svg)));
        assert_eq!(mime_of(b"just some text"), OCTET_STREAM);
        assert!(!is_inline(OCTET_STREAM));
    }
}
