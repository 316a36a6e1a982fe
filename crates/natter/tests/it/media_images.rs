//! Images end to end, through the real binary: a JPEG with EXIF GPS and orientation 6 uploaded
//! with tus is stored upright without its metadata, with two thumbnails downloadable through
//! their signed URLs; a PNG bomb is refused with nothing stored; a `kill -9` while thumbnails
//! are being written serves nothing half-made, and the next `HEAD` completes the upload. Without
//! ffmpeg a voice note (WAV) is stored as it is, with its duration from its header. (Sounds and
//! videos with ffmpeg: `media_video.rs`.)

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::Value;

use crate::server::TestServer;
use crate::support::user;

pub(crate) const CHUNK_TYPE: &str = "application/offset+octet-stream";
/// Bytes of the GPS IFD's `GPSAreaInformation`, to look for in what is served.
const GPS_MARK: &[u8] = b"natter-e2e-gps-52.5200N-13.4050E";

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `width` x `height` JPEG, red left half, blue right half.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, ImageFormat::Jpeg)
        .expect("JPEG");
    out.into_inner()
}

/// `jpeg` with an EXIF `APP1` segment: `Orientation` and a GPS IFD holding [`GPS_MARK`].
fn with_exif_gps(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        [
            &tag.to_le_bytes()[..],
            &kind.to_le_bytes(),
            &count.to_le_bytes(),
            &value,
        ]
        .concat()
    };
    let gps_ifd: u32 = 8 + 2 + 2 * 12 + 4;
    let gps_data: u32 = gps_ifd + 2 + 12 + 4;
    let o = orientation.to_le_bytes();
    let mark_len = u32::try_from(GPS_MARK.len()).unwrap();
    let tiff = [
        &b"II*\0"[..],
        &8u32.to_le_bytes(),
        &2u16.to_le_bytes(),
        &entry(0x0112, 3, 1, [o[0], o[1], 0, 0]),
        &entry(0x8825, 4, 1, gps_ifd.to_le_bytes()),
        &0u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &entry(0x001C, 7, mark_len, gps_data.to_le_bytes()),
        &0u32.to_le_bytes(),
        GPS_MARK,
    ]
    .concat();
    let payload = [&b"Exif\0\0"[..], &tiff].concat();
    let length = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
    [&jpeg[..2], &[0xFF, 0xE1], &length, &payload, &jpeg[2..]].concat()
}

/// A tiny PNG declaring 20000x20000 pixels (1.6 GB once decoded).
fn png_bomb() -> Vec<u8> {
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(image::RgbaImage::new(1, 1))
        .write_to(&mut png, ImageFormat::Png)
        .unwrap();
    let mut png = png.into_inner();
    // IHDR data starts at 16: width, height (big-endian), then its CRC at 29..33.
    png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub(crate) struct Uploader {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Uploader {
    pub(crate) async fn new(server: &TestServer) -> Self {
        let (client, _) = user(server, "imager").await;
        Self {
            http: reqwest::Client::new(),
            base: server.base_url.trim_end_matches('/').to_owned(),
            token: client.access_token().expect("token"),
        }
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
    }

    /// Creates an upload of `len` bytes; its URL and file id.
    pub(crate) async fn create(&self, len: usize) -> (String, String) {
        let response = self
            .request(reqwest::Method::POST, "/api/v1/files/uploads")
            .header("upload-length", len.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let view: Value = response.json().await.unwrap();
        (
            view["upload_url"].as_str().unwrap().to_owned(),
            view["id"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn patch(&self, url: &str, offset: usize, bytes: &[u8]) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, url)
            .header("content-type", CHUNK_TYPE)
            .header("upload-offset", offset.to_string())
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn head(&self, url: &str) -> reqwest::Response {
        self.request(reqwest::Method::HEAD, url)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn file(&self, id: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, &format!("/api/v1/files/{id}"))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{url}", self.base))
            .send()
            .await
            .unwrap()
    }
}

fn embedded_only() -> bool {
    !crate::cluster::enabled()
}

/// Files under `dir`, recursively.
pub(crate) fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
            .sum()
    })
}

/// Checks a `FileView` of the 1600x1200 picture turned by orientation 6, and fetches its
/// thumbnails through their URLs.
async fn check_upright_view(files: &Uploader, view: &Value) {
    assert_eq!(view["mime"], "image/jpeg");
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(1200), Some(1600))
    );
    assert!(view["thumbhash"].as_str().is_some_and(|h| !h.is_empty()));
    let thumbnails = view["thumbnails"].as_array().expect("thumbnails");
    let sizes: Vec<_> = thumbnails
        .iter()
        .map(|t| {
            (
                t["size"].as_str().unwrap(),
                t["width"].as_u64().unwrap(),
                t["height"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sizes, [("small", 240, 320), ("large", 960, 1280)]);
    for thumbnail in thumbnails {
        let response = files.get(thumbnail["url"].as_str().unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let header = |name: &str| headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), thumbnail["mime"].as_str().unwrap());
        assert!(["image/jpeg", "image/webp"].contains(&header("content-type").as_str()));
        assert!(header("cache-control").ends_with(", immutable"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(
            header("content-security-policy"),
            "default-src 'none'; sandbox"
        );
        let bytes = response.bytes().await.unwrap();
        assert_eq!(header("etag"), format!("\"{}\"", sha256_hex(&bytes)));
        let decoded = image::load_from_memory(&bytes).expect("an image");
        assert_eq!(
            (u64::from(decoded.width()), u64::from(decoded.height())),
            (
                thumbnail["width"].as_u64().unwrap(),
                thumbnail["height"].as_u64().unwrap()
            )
        );
    }
    let original = files.get(view["url"].as_str().unwrap()).await;
    assert_eq!(original.status(), StatusCode::OK);
    let bytes = original.bytes().await.unwrap();
    assert!(!contains(&bytes, GPS_MARK), "GPS served");
    assert!(!contains(&bytes, b"Exif\0\0"), "EXIF served");
    let decoded = image::load_from_memory(&bytes).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (1200, 1600));
    assert_eq!(view["sha256"].as_str().unwrap(), sha256_hex(&bytes));
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_images_a_photo_is_stored_upright_without_gps_with_thumbnails() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    let photo = with_exif_gps(&jpeg(1600, 1200), 6);
    assert!(contains(&photo, GPS_MARK));
    let (url, id) = files.create(photo.len()).await;
    let half = photo.len() / 2;
    assert_eq!(
        files.patch(&url, 0, &photo[..half]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        files.patch(&url, half, &photo[half..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = files.file(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    check_upright_view(&files, &view).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_images_a_png_bomb_is_refused_and_nothing_is_stored() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    let bomb = png_bomb();
    assert!(bomb.len() < 100);
    let (url, id) = files.create(bomb.len()).await;
    let refused = files.patch(&url, 0, &bomb).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "media_too_large");
    assert!(body["message"].as_str().unwrap().contains("20000x20000"));
    // Forgotten; only its refusal is remembered for its owner (docs/media.md).
    assert_eq!(
        files.head(&url).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(files.file(&id).await.status(), StatusCode::NOT_FOUND);
    let root = server.data_dir.path().join("files");
    assert_eq!(count_files(&root.join("objects")), 0, "no object");
    assert_eq!(count_files(&root.join("uploads")), 0, "no staged bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_images_kill_9_while_thumbnailing_serves_nothing_then_head_completes() {
    if !embedded_only() {
        return;
    }
    let pause_dir = tempfile::tempdir().unwrap();
    let release = pause_dir.path().join("release");
    let waiting = pause_dir.path().join("release.waiting");
    let release_env = release.display().to_string();
    let mut server = TestServer::spawn_with_env(
        &[],
        &[("NATTER__FILES__PROCESSING_PAUSE_FILE", release_env.as_str())],
    );
    let files = Uploader::new(&server).await;
    let photo = with_exif_gps(&jpeg(1600, 1200), 6);
    let (url, id) = files.create(photo.len()).await;
    // The last byte starts processing, which stops after writing the thumbnails.
    let patch = {
        let request = files
            .request(reqwest::Method::PATCH, &url)
            .header("content-type", CHUNK_TYPE)
            .header("upload-offset", "0")
            .body(photo.clone());
        tokio::spawn(async move { request.send().await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiting.exists() {
        assert!(Instant::now() < deadline, "processing never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let objects = server.data_dir.path().join("files/objects");
    assert!(
        count_files(&objects) >= 1,
        "thumbnails written before the pause"
    );
    server.kill();
    let _ = patch.await;
    std::fs::write(&release, b"").unwrap();
    server.restart();
    // Not recorded complete: nothing served.
    assert_eq!(files.file(&id).await.status(), StatusCode::NOT_FOUND);
    // HEAD finds every byte staged and completes the upload, processing it again.
    let head = files.head(&url).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["upload-offset"],
        photo.len().to_string().as_str()
    );
    let response = files.file(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    check_upright_view(&files, &view).await;
}

/// A mono 16-bit PCM WAV of `samples` at `rate` Hz (silence).
fn wav(rate: u32, samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    [
        &b"RIFF"[..],
        &(36 + data_len).to_le_bytes(),
        b"WAVEfmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &1u16.to_le_bytes(),
        &rate.to_le_bytes(),
        &(rate * 2).to_le_bytes(),
        &2u16.to_le_bytes(),
        &16u16.to_le_bytes(),
        b"data",
        &data_len.to_le_bytes(),
        &vec![0u8; data_len as usize],
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_images_without_ffmpeg_a_voice_note_is_stored_as_is_with_its_duration() {
    if !embedded_only() {
        return;
    }
    // Without ffmpeg (files.ffmpeg empty: as on a machine without it), a sound is stored as
    // it is, with what its header says.
    let server = TestServer::spawn_with_env(&[], &[("NATTER__FILES__FFMPEG", "")]);
    let files = Uploader::new(&server).await;
    let note = wav(16_000, 40_000);
    let (url, id) = files.create(note.len()).await;
    assert_eq!(
        files.patch(&url, 0, &note).await.status(),
        StatusCode::NO_CONTENT
    );
    let view: Value = files.file(&id).await.json().await.unwrap();
    assert_eq!(view["mime"], "audio/x-wav");
    assert_eq!(view["duration_ms"].as_u64(), Some(2500));
    assert!(view.get("width").is_none() && view.get("thumbnails").is_none());
    assert_eq!(
        view["sha256"].as_str().unwrap(),
        sha256_hex(&note),
        "stored as it is"
    );
}
