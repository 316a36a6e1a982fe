//! Smaller renderings of a decoded image, and its ThumbHash.
//!
//! Resizing is `fast_image_resize` (SIMD convolution, Lanczos3), several times faster than the
//! `image` crate's own resize on a 12 MP photo. A thumbnail is JPEG (quality 80) unless the image
//! has an alpha channel, then lossless WebP (the only WebP the `image` crate encodes): a JPEG
//! would paint transparent stickers and logos black. Both carry no metadata.

use std::borrow::Cow;
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

/// The pixels of a picture as 8-bit RGB, or RGBA when it has an alpha channel: borrowed when
/// the decoder produced that already (a JPEG decodes to RGB), so a 12 MP photo is not copied
/// again for every rendering.
pub struct Pixels<'a> {
    buffer: Cow<'a, [u8]>,
    width: u32,
    height: u32,
    alpha: bool,
}

impl<'a> Pixels<'a> {
    pub fn of(image: &'a DynamicImage) -> Self {
        let (buffer, alpha) = match image {
            DynamicImage::ImageRgb8(rgb) => (Cow::Borrowed(rgb.as_raw().as_slice()), false),
            DynamicImage::ImageRgba8(rgba) => (Cow::Borrowed(rgba.as_raw().as_slice()), true),
            other if other.color().has_alpha() => (Cow::Owned(other.to_rgba8().into_raw()), true),
            other => (Cow::Owned(other.to_rgb8().into_raw()), false),
        };
        Self {
            buffer,
            width: image.width(),
            height: image.height(),
            alpha,
        }
    }

    fn pixel_type(&self) -> PixelType {
        if self.alpha {
            PixelType::U8x4
        } else {
            PixelType::U8x3
        }
    }

    /// The pixels resized to exactly `width` x `height`.
    fn resized(&self, width: u32, height: u32) -> Cow<'_, [u8]> {
        if (width, height) == (self.width, self.height) {
            return Cow::Borrowed(&self.buffer);
        }
        let source = ImageRef::new(self.width, self.height, &self.buffer, self.pixel_type())
            .expect("buffer of the picture's own size");
        let mut target = Image::new(width, height, self.pixel_type());
        Resizer::new()
            .resize(&source, &mut target, &ResizeOptions::new())
            .expect("same pixel types, non-zero sizes");
        Cow::Owned(target.into_vec())
    }
}

/// `pixels` fitted in `max_side` x `max_side`, encoded.
pub fn render(pixels: &Pixels<'_>, max_side: u32) -> Rendered {
    let (width, height) = fit(pixels.width, pixels.height, max_side);
    let buffer = pixels.resized(width, height);
    let mut bytes = Cursor::new(Vec::new());
    let mime = if pixels.alpha {
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

/// The ThumbHash of `pixels` (at most 25 bytes), from a downscale that fits in 100x100.
pub fn thumbhash(pixels: &Pixels<'_>) -> Vec<u8> {
    let (width, height) = fit(pixels.width, pixels.height, THUMBHASH_MAX_SIDE);
    let small = pixels.resized(width, height);
    let rgba: Vec<u8> = if pixels.alpha {
        small.into_owned()
    } else {
        small
            .chunks_exact(3)
            .flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255])
            .collect()
    };
    thumbhash::rgba_to_thumb_hash(width as usize, height as usize, &rgba)
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
        let small = render(&Pixels::of(&photo), 320);
        assert_eq!(
            (small.mime, small.width, small.height),
            ("image/jpeg", 320, 160)
        );
        let decoded = image::load_from_memory(&small.bytes).expect("a JPEG");
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
        let left = decoded.to_rgb8().get_pixel(10, 80).0;
        assert!(left[0] > 200 && left[2] < 60, "red stays left: {left:?}");

        let sticker = image::load_from_memory(&testdata::png_rgba(600, 300)).unwrap();
        let small = render(&Pixels::of(&sticker), 320);
        assert_eq!(
            (small.mime, small.width, small.height),
            ("image/webp", 320, 160)
        );
        let decoded = image::load_from_memory(&small.bytes).expect("a WebP");
        assert!(decoded.color().has_alpha());
    }

    #[test]
    fn thumbhash_is_short_and_knows_the_aspect_ratio() {
        let hash = thumbhash(&Pixels::of(&testdata::picture(400, 200)));
        assert!(!hash.is_empty() && hash.len() <= 25, "{} bytes", hash.len());
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!((ratio - 2.0).abs() < 0.3, "{ratio}");
    }
}
