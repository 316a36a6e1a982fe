//! Images built in the tests: real encodings from the `image` crate, EXIF with GPS assembled
//! byte by byte (so no fixture has to be trusted), a PNG that declares 20000x20000 pixels.

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use img_parts::png::{Png, PngChunk};

/// Bytes of the GPS IFD's `GPSAreaInformation`, to look for in stored bytes.
pub const GPS_MARK: &[u8] = b"natter-test-gps-52.5200N-13.4050E";

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `width` x `height` image whose left half is red and right half blue, so a rotation shows.
pub fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    }))
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Jpeg)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Png)
}

/// A PNG with an alpha channel (half transparent).
pub fn png_rgba(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, _| Rgba([0, 200, 0, (x % 256) as u8]));
    encode(&DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

/// A lossless WebP (the only kind the `image` crate encodes).
pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::WebP)
}

pub fn gif(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Gif)
}

/// `jpeg` with an EXIF `APP1` segment right after `SOI`: IFD0 with `Orientation` and a GPS IFD
/// pointer; the GPS IFD with `GPSLatitudeRef` and `GPSAreaInformation` ([`GPS_MARK`]).
pub fn with_exif_gps(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut e = Vec::with_capacity(12);
        e.extend_from_slice(&tag.to_le_bytes());
        e.extend_from_slice(&kind.to_le_bytes());
        e.extend_from_slice(&count.to_le_bytes());
        e.extend_from_slice(&value);
        e
    };
    let gps_ifd: u32 = 8 + 2 + 2 * 12 + 4;
    let gps_data: u32 = gps_ifd + 2 + 2 * 12 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    let o = orientation.to_le_bytes();
    tiff.extend(entry(0x0112, 3, 1, [o[0], o[1], 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, gps_ifd.to_le_bytes()));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    let mark_len = u32::try_from(GPS_MARK.len()).expect("short");
    tiff.extend(entry(0x001C, 7, mark_len, gps_data.to_le_bytes()));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(GPS_MARK);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let length = u16::try_from(payload.len() + 2).expect("short");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn edit_png(png: Vec<u8>, edit: impl FnOnce(&mut Vec<PngChunk>)) -> Vec<u8> {
    let mut png = Png::from_bytes(Bytes::from(png)).expect("PNG");
    edit(png.chunks_mut());
    png.encoder().bytes().to_vec()
}

/// A PNG with a `tEXt` chunk before `IEND`.
pub fn png_with_text(width: u32, height: u32, text: &[u8]) -> Vec<u8> {
    edit_png(png(width, height), |chunks| {
        let at = chunks.len() - 1;
        chunks.insert(at, PngChunk::new(*b"tEXt", Bytes::copy_from_slice(text)));
    })
}

/// A tiny PNG whose header declares `width` x `height` (a decompression bomb's shape: its
/// pixel data would take width x height x 4 bytes once decoded).
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    edit_png(png_rgba(1, 1), |chunks| {
        let mut ihdr = chunks[0].contents().to_vec();
        ihdr[..4].copy_from_slice(&width.to_be_bytes());
        ihdr[4..8].copy_from_slice(&height.to_be_bytes());
        chunks[0] = PngChunk::new(*b"IHDR", Bytes::from(ihdr));
    })
}
