//! An uploaded picture (PNG, JPEG, GIF, WebP), made safe to store and to show: refused if it
//! would decode to more than `files.max_image_pixels` pixels or `files.max_frames` frames (a
//! decompression bomb: a few KiB that decode to gigabytes), decoded under `image::Limits`, turned
//! upright (EXIF orientation), its metadata removed (`strip.rs`; re-encoded when it had to be
//! turned), and rendered as thumbnails with a ThumbHash (`thumbnail.rs`).
//!
//! Pure CPU work on bytes in memory: the caller runs it on a blocking thread.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use super::{strip, thumbnail};

/// JPEG quality when a JPEG must be re-encoded to turn it upright.
const REENCODE_JPEG_QUALITY: u8 = 90;
/// Decoder memory per pixel allowed: the decoded RGBA (4 bytes) and the decoder's own buffers.
const ALLOC_BYTES_PER_PIXEL: u64 = 8;

/// How large a picture may be once decoded.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_pixels: u64,
    pub max_frames: u64,
}

/// Why a picture is not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too many pixels or frames once decoded.
    TooLarge(String),
    /// The bytes start like this type of image but do not decode as one.
    Invalid(String),
}

/// A picture as stored, and what was learned from it.
pub struct Processed {
    /// The bytes to store: metadata removed.
    pub stored: Bytes,
    /// As displayed (after orientation).
    pub width: u32,
    pub height: u32,
    /// Fitting in each of `thumbnail_sides` with that side, smallest first; a side the picture
    /// already fits in (but the smallest) has none, the picture itself serves.
    pub thumbnails: Vec<(u32, thumbnail::Rendered)>,
    pub thumbhash: Vec<u8>,
}

/// The format of the types this module processes.
pub fn format_of(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn refused(err: ImageError) -> Refused {
    match err {
        ImageError::Limits(limit) => Refused::TooLarge(format!("the image is too large: {limit}")),
        other => Refused::Invalid(format!("the image does not decode: {other}")),
    }
}

/// Process `bytes` of type `mime` (one [`format_of`] knows); thumbnails fit in each of
/// `thumbnail_sides` (ascending).
pub fn process(
    mime: &str,
    bytes: Bytes,
    limits: ImageLimits,
    thumbnail_sides: &[u32],
) -> Result<Processed, Refused> {
    let format = format_of(mime)
        .ok_or_else(|| Refused::Invalid(format!("{mime} is not a processed image type")))?;
    let frames = frame_count(format, &bytes)?;
    if frames > limits.max_frames {
        return Err(Refused::TooLarge(format!(
            "the animation has {frames} frames, more than {}",
            limits.max_frames
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(&bytes[..]), format);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(ALLOC_BYTES_PER_PIXEL));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Refused::TooLarge(format!(
            "the image is {width}x{height}, more than {} pixels",
            limits.max_pixels
        )));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    let stored = if orientation == Orientation::NoTransforms {
        upright_stored(mime, bytes)?
    } else {
        image.apply_orientation(orientation);
        reencode(format, &image)?
    };
    let pixels = thumbnail::Pixels::of(&image);
    let thumbnails = thumbnail_sides
        .iter()
        .enumerate()
        .filter(|&(i, &side)| i == 0 || image.width().max(image.height()) > side)
        .map(|(_, &side)| (side, thumbnail::render(&pixels, side)))
        .collect();
    Ok(Processed {
        stored,
        width: image.width(),
        height: image.height(),
        thumbnails,
        thumbhash: thumbnail::thumbhash(&pixels),
    })
}

/// The bytes to store of a picture that needs no turning: GIF as it is (it has no EXIF), the
/// others without their metadata.
fn upright_stored(mime: &str, bytes: Bytes) -> Result<Bytes, Refused> {
    if mime == "image/gif" {
        return Ok(bytes);
    }
    strip::strip(mime, bytes)
        .ok_or_else(|| Refused::Invalid("the image's container does not parse".into()))
}

/// A turned picture encoded again in its own format (no metadata is written). JPEG loses a
/// little quality; WebP is lossless (the only WebP `image` encodes); an animation keeps its
/// first frame.
fn reencode(format: ImageFormat, image: &DynamicImage) -> Result<Bytes, Refused> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        ImageFormat::Jpeg => image
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(
                &mut out,
                REENCODE_JPEG_QUALITY,
            )),
        ImageFormat::WebP => image
            .to_rgba8()
            .write_with_encoder(WebPEncoder::new_lossless(&mut out)),
        _ => image.write_with_encoder(PngEncoder::new(&mut out)),
    };
    result.map_err(refused)?;
    Ok(Bytes::from(out.into_inner()))
}

/// How many frames the container declares, read without decoding pixels: a GIF's image
/// descriptors (LZW data skipped), an APNG's `acTL`, an animated WebP's `ANMF` chunks; 1 for
/// a still image.
fn frame_count(format: ImageFormat, bytes: &Bytes) -> Result<u64, Refused> {
    let unreadable = |what: &str| Refused::Invalid(format!("the image does not decode: {what}"));
    match format {
        ImageFormat::Gif => {
            let mut options = gif::DecodeOptions::new();
            options.skip_frame_decoding(true);
            let mut decoder = options
                .read_info(Cursor::new(&bytes[..]))
                .map_err(|e| unreadable(&e.to_string()))?;
            let mut frames = 0u64;
            while decoder
                .read_next_frame()
                .map_err(|e| unreadable(&e.to_string()))?
                .is_some()
            {
                frames += 1;
            }
            Ok(frames.max(1))
        }
        ImageFormat::Png => {
            let png = img_parts::png::Png::from_bytes(bytes.clone())
                .map_err(|e| unreadable(&e.to_string()))?;
            Ok(png
                .chunk_by_type(*b"acTL")
                .and_then(|chunk| chunk.contents().get(..4).map(<[u8]>::to_vec))
                .map_or(1, |n| {
                    u64::from(u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
                }))
        }
        ImageFormat::WebP => {
            let webp = img_parts::webp::WebP::from_bytes(bytes.clone())
                .map_err(|e| unreadable(&e.to_string()))?;
            Ok((webp.chunks_by_id(*b"ANMF").count() as u64).max(1))
        }
        _ => Ok(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 50_000_000,
        max_frames: 1000,
    };
    const SIDES: [u32; 2] = [320, 1280];

    fn run(mime: &str, bytes: Vec<u8>) -> Result<Processed, Refused> {
        process(mime, Bytes::from(bytes), LIMITS, &SIDES)
    }

    #[test]
    fn orientation_6_turns_the_picture_and_swaps_width_and_height() {
        let jpeg = testdata::with_exif_gps(&testdata::jpeg(400, 200), 6);
        let done = run("image/jpeg", jpeg).expect("processed");
        assert_eq!((done.width, done.height), (200, 400));
        let stored = image::load_from_memory(&done.stored).expect("a JPEG");
        assert_eq!((stored.width(), stored.height()), (200, 400));
        // Rotated 90 degrees clockwise: the red left half is now on top.
        let top = stored.to_rgb8().get_pixel(100, 20).0;
        assert!(top[0] > 200 && top[2] < 60, "red on top: {top:?}");
        assert!(!testdata::contains(&done.stored, testdata::GPS_MARK));
        assert!(!testdata::contains(&done.stored, b"Exif\0\0"));
        let thumb = &done.thumbnails[0].1;
        assert_eq!((thumb.width, thumb.height), (160, 320));
    }

    #[test]
    fn gps_is_gone_from_an_upright_jpeg_whose_pixels_are_kept() {
        let clean = testdata::jpeg(300, 200);
        let done = run("image/jpeg", testdata::with_exif_gps(&clean, 1)).expect("processed");
        assert!(!testdata::contains(&done.stored, testdata::GPS_MARK));
        assert!(!testdata::contains(&done.stored, b"Exif\0\0"));
        assert_eq!(&done.stored[..], &clean[..], "only the EXIF segment went");
        assert_eq!((done.width, done.height), (300, 200));
    }

    #[test]
    fn a_png_bomb_is_refused_before_it_is_decoded() {
        let bomb = testdata::png_declaring(20_000, 20_000);
        assert!(bomb.len() < 200, "{} bytes", bomb.len());
        match run("image/png", bomb) {
            Err(Refused::TooLarge(message)) => assert!(message.contains("20000x20000")),
            other => panic!("{:?}", other.map(|p| (p.width, p.height))),
        }
    }

    #[test]
    fn the_pixel_limit_is_configurable() {
        let limits = ImageLimits {
            max_pixels: 10_000,
            max_frames: 10,
        };
        let big = Bytes::from(testdata::png(200, 200));
        assert!(matches!(
            process("image/png", big, limits, &SIDES),
            Err(Refused::TooLarge(_))
        ));
        let fits = Bytes::from(testdata::png(100, 100));
        assert!(process("image/png", fits, limits, &SIDES).is_ok());
    }

    #[test]
    fn too_many_frames_are_refused() {
        let limits = ImageLimits {
            max_pixels: 1_000_000,
            max_frames: 1,
        };
        let frames: Vec<image::Frame> = (0..3)
            .map(|_| image::Frame::new(testdata::picture(8, 8).to_rgba8()))
            .collect();
        let mut gif = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
            encoder.encode_frames(frames).expect("GIF");
        }
        match process("image/gif", Bytes::from(gif.clone()), limits, &SIDES) {
            Err(Refused::TooLarge(message)) => assert!(message.contains("3 frames")),
            other => panic!("{:?}", other.map(|p| p.width)),
        }
        let allowed = ImageLimits {
            max_frames: 3,
            ..limits
        };
        let done = process("image/gif", Bytes::from(gif.clone()), allowed, &SIDES).unwrap();
        assert_eq!(&done.stored[..], &gif[..], "a GIF is stored as it is");
    }

    #[test]
    fn a_polyglot_png_with_html_loses_the_html_and_magic_alone_is_refused() {
        let mut polyglot =
            testdata::png_with_text(8, 8, b"Comment\0<html><script>alert(1)</script>");
        polyglot.extend_from_slice(b"<html><script>alert(2)</script></html>");
        let done = run("image/png", polyglot).expect("a real PNG");
        assert!(!testdata::contains(&done.stored, b"<script>"));
        let mut magic_only = b"\x89PNG\r\n\x1a\n".to_vec();
        magic_only.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert!(matches!(
            run("image/png", magic_only),
            Err(Refused::Invalid(_))
        ));
    }

    #[test]
    fn thumbnails_fit_their_boxes_and_a_small_picture_gets_only_the_small_one() {
        let done = run("image/png", testdata::png(2000, 1000)).unwrap();
        let sizes: Vec<_> = done
            .thumbnails
            .iter()
            .map(|(side, t)| (*side, t.width, t.height))
            .collect();
        assert_eq!(sizes, [(320, 320, 160), (1280, 1280, 640)]);
        let done = run("image/png", testdata::png(800, 600)).unwrap();
        let sizes: Vec<_> = done
            .thumbnails
            .iter()
            .map(|(side, t)| (*side, t.width, t.height))
            .collect();
        assert_eq!(sizes, [(320, 320, 240)]);
        let done = run("image/png", testdata::png(100, 50)).unwrap();
        let sizes: Vec<_> = done
            .thumbnails
            .iter()
            .map(|(side, t)| (*side, t.width, t.height))
            .collect();
        assert_eq!(sizes, [(320, 100, 50)], "never upscaled");
        assert!(!done.thumbhash.is_empty() && done.thumbhash.len() <= 25);
    }

    #[test]
    fn gif_and_transparent_png_are_processed() {
        let done = run("image/gif", testdata::gif(50, 40)).unwrap();
        assert_eq!((done.width, done.height), (50, 40));
        let done = run("image/png", testdata::png_rgba(400, 400)).unwrap();
        assert_eq!(done.thumbnails[0].1.mime, "image/webp");
    }
}
