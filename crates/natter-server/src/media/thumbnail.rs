//! Smaller renderings of a decoded image, and its ThumbHash.
//!
//! Resizing is `fast_image_resize` (SIMD convolution, Lanczos3), several times faster than the
//! `image` crate's own resize on a 12 MP photo. A thumbnail is JPEG (quality 80) unless the image
//! has an alpha channel, then lossless WebP (the only WebP the `image` crate encodes): a JPEG
//! would paint transparent stickers and logos black. Both carry no metadata.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder};

/// JPEG quality of thumbnails: small files, artefacts invisible at preview size.
const JPEG_QUALITY: u8 = 80;
/// ThumbHash wants at most 100x100 pixels.
const THUMBHASH_MAX_SIDE: u32 = 100;

/// One encoded rendering.
#[derive(Debug)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// `width` x `height` scaled to fit in `max_side` x `max_side`, keeping the aspect ratio, never
/// larger than it was, never 0.
pub fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled = u64::from(side) * u64::from(max_side) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).max(1)
    };
    (scale(width), scale(height))
}

/// The pixels of `image` as RGBA8 (alpha) or RGB8, and the matching pixel type.
fn pixels(image: &DynamicImage) -> (Vec<u8>, PixelType, bool) {
    if image.color().has_alpha() {
        (image.to_rgba8().into_raw(), PixelType::U8x4, true)
    } else {
        (image.to_rgb8().into_raw(), PixelType::U8x3, false)
    }
}

/// Resized pixels of `image`, to exactly `width` x `height`.
fn resize(image: &DynamicImage, width: u32, height: u32) -> (Vec<u8>, bool) {
    let (buffer, pixel_type, alpha) = pixels(image);
    if (width, height) == (image.width(), image.height()) {
        return (buffer, alpha);
    }
    let source = ImageRef::new(image.width(), image.height(), &buffer, pixel_type)
        .expect("buffer of the image's own size");
    let mut target = Image::new(width, height, pixel_type);
    Resizer::new()
        .resize(&source, &mut target, &ResizeOptions::new())
        .expect("same pixel types, non-zero sizes");
    (target.into_vec(), alpha)
}

/// `image` fitted in `max_side` x `max_side`, encoded.
pub fn render(image: &DynamicImage, max_side: u32) -> Rendered {
    let (width, height) = fit(image.width(), image.height(), max_side);
    let (buffer, alpha) = resize(image, width, height);
    let mut bytes = Cursor::new(Vec::new());
    let mime = if alpha {
        WebPEncoder::new_lossless(&mut bytes)
            .write_image(&buffer, width, height, ExtendedColorType::Rgba8)
            .expect("in-memory WebP");
        "image/webp"
    } else {
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
            .write_image(&buffer, width, height, ExtendedColorType::Rgb8)
            .expect("in-memory JPEG");
        "image/jpeg"
    };
    Rendered {
        bytes: bytes.into_inner(),
        mime,
        width,
        height,
    }
}

/// The ThumbHash of `image` (at most 25 bytes), from a downscale that fits in 100x100.
pub fn thumbhash(image: &DynamicImage) -> Vec<u8> {
    let (width, height) = fit(image.width(), image.height(), THUMBHASH_MAX_SIDE);
    let rgba = DynamicImage::ImageRgba8(image.to_rgba8());
    let (buffer, _) = resize(&rgba, width, height);
    thumbhash::rgba_to_thumb_hash(width as usize, height as usize, &buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    #[test]
    fn fitting_keeps_the_ratio_and_never_upscales() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 1280), (960, 1280));
        assert_eq!(fit(200, 100, 320), (200, 100));
        assert_eq!(fit(10000, 1, 320), (320, 1));
    }

    #[test]
    fn opaque_images_become_jpeg_and_transparent_ones_webp() {
        let photo = testdata::picture(1000, 500);
        let small = render(&photo, 320);
        assert_eq!(
            (small.mime, small.width, small.height),
            ("image/jpeg", 320, 160)
        );
        let decoded = image::load_from_memory(&small.bytes).expect("a JPEG");
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
        let left = decoded.to_rgb8().get_pixel(10, 80).0;
        assert!(left[0] > 200 && left[2] < 60, "red stays left: {left:?}");

        let sticker = image::load_from_memory(&testdata::png_rgba(600, 300)).unwrap();
        let small = render(&sticker, 320);
        assert_eq!(
            (small.mime, small.width, small.height),
            ("image/webp", 320, 160)
        );
        let decoded = image::load_from_memory(&small.bytes).expect("a WebP");
        assert!(decoded.color().has_alpha());
    }

    #[test]
    fn thumbhash_is_short_and_knows_the_aspect_ratio() {
        let hash = thumbhash(&testdata::picture(400, 200));
        assert!(!hash.is_empty() && hash.len() <= 25, "{} bytes", hash.len());
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!((ratio - 2.0).abs() < 0.3, "{ratio}");
    }
}
