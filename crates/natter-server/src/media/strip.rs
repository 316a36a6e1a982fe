//! Lossless metadata removal: the stored image keeps its compressed pixels bit for bit (no
//! generation loss, animations kept) and loses everything that says where, when and with what
//! it was taken. `img-parts` splits the container into its segments or chunks; only those a
//! decoder needs are kept.
//!
//! - JPEG: every `APPn` segment (EXIF with GPS, XMP, ICC, IPTC/Photoshop, MPF and its appended
//!   secondary images) and comments go, except `APP0` (JFIF) and `APP14` (Adobe: how to read
//!   the colour channels). Bytes after the end-of-image marker (a polyglot's payload, MPF
//!   images) are dropped by the parser.
//! - PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt`, `iCCP`, `tIME` go.
//! - WebP: `EXIF`, `XMP `, `ICCP` go, and the `VP8X` flags are updated.
//!
//! An image whose orientation must be applied is re-encoded instead (`image.rs`): rotating
//! compressed pixels losslessly is not something a well-kept Rust crate does.

use bytes::Bytes;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::{ImageEXIF, ImageICC};

/// PNG chunks that carry metadata, none of them needed to decode.
const PNG_METADATA: [[u8; 4]; 6] = [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"iCCP", *b"tIME"];

/// `bytes` without metadata, or `None` if the container does not parse.
pub fn strip(mime: &str, bytes: Bytes) -> Option<Bytes> {
    match mime {
        "image/jpeg" => {
            let mut jpeg = Jpeg::from_bytes(bytes).ok()?;
            jpeg.segments_mut().retain(|segment| {
                let marker = segment.marker();
                let app = (markers::APP0..=markers::APP15).contains(&marker);
                !(app && marker != markers::APP0 && marker != markers::APP14
                    || marker == markers::COM)
            });
            let scans_start = 2 + jpeg.segments().iter().map(|s| s.len()).sum::<usize>();
            let bytes = jpeg.encoder().bytes();
            let end = end_of_image(&bytes, scans_start);
            Some(bytes.slice(..end))
        }
        "image/png" => {
            let mut png = Png::from_bytes(bytes).ok()?;
            png.chunks_mut()
                .retain(|chunk| !PNG_METADATA.contains(&chunk.kind()));
            Some(png.encoder().bytes())
        }
        "image/webp" => {
            let mut webp = WebP::from_bytes(bytes).ok()?;
            webp.remove_chunks_by_id(*b"XMP ");
            webp.set_exif(None);
            webp.set_icc_profile(None);
            Some(webp.encoder().bytes())
        }
        _ => None,
    }
}

/// Where the JPEG in `bytes` ends: just past the end-of-image marker that follows the scans
/// starting at `from` (the parser keeps whatever follows it). Entropy-coded data never holds a
/// marker (a 0xFF data byte is followed by 0x00), restart markers have no length, and the
/// tables between the scans of a progressive JPEG are skipped by their length.
fn end_of_image(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            0x00 | 0xD0..=0xD7 => i += 2,
            0xFF => i += 1,
            markers::EOI => return i + 2,
            _ => {
                let Some(length) = bytes.get(i + 2..i + 4) else {
                    break;
                };
                i += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
            }
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    #[test]
    fn jpeg_loses_exif_and_comments_and_trailing_bytes_keeps_pixels() {
        let clean = testdata::jpeg(64, 48);
        let tagged = testdata::with_exif_gps(&clean, 1);
        let mut tagged = tagged;
        tagged.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert!(testdata::contains(&tagged, b"Exif\0\0"));
        let stripped = strip("image/jpeg", Bytes::from(tagged)).expect("parses");
        assert!(!testdata::contains(&stripped, b"Exif\0\0"));
        assert!(!testdata::contains(&stripped, testdata::GPS_MARK));
        assert!(!testdata::contains(&stripped, b"<html>"));
        let decoded = image::load_from_memory(&stripped).expect("still a JPEG");
        let original = image::load_from_memory(&clean).expect("JPEG");
        assert_eq!(decoded.to_rgb8(), original.to_rgb8(), "same pixels");
    }

    #[test]
    fn png_loses_text_and_exif_chunks() {
        let png = testdata::png_with_text(16, 16, b"Comment\0taken at 52.52N 13.40E");
        assert!(testdata::contains(&png, b"52.52N"));
        let stripped = strip("image/png", Bytes::from(png.clone())).expect("parses");
        assert!(!testdata::contains(&stripped, b"52.52N"));
        assert_eq!(
            image::load_from_memory(&stripped).unwrap().to_rgba8(),
            image::load_from_memory(&png).unwrap().to_rgba8()
        );
    }

    #[test]
    fn webp_loses_exif_xmp_and_icc() {
        let mut webp = WebP::from_bytes(Bytes::from(testdata::webp(16, 8))).expect("WebP");
        webp.set_exif(Some(Bytes::from_static(testdata::GPS_MARK)));
        webp.set_icc_profile(Some(Bytes::from_static(b"icc-profile-bytes")));
        let tagged = webp.encoder().bytes();
        assert!(testdata::contains(&tagged, testdata::GPS_MARK));
        assert!(testdata::contains(&tagged, b"VP8X"), "extended format");
        let stripped = strip("image/webp", tagged.clone()).expect("parses");
        assert!(!testdata::contains(&stripped, testdata::GPS_MARK));
        assert!(!testdata::contains(&stripped, b"icc-profile-bytes"));
        assert_eq!(
            image::load_from_memory(&stripped).unwrap().to_rgba8(),
            image::load_from_memory(&tagged).unwrap().to_rgba8()
        );
    }

    #[test]
    fn garbage_does_not_parse() {
        assert!(strip("image/jpeg", Bytes::from_static(b"\xff\xd8nothing")).is_none());
        assert!(strip("text/plain", Bytes::from_static(b"hello")).is_none());
    }
}
