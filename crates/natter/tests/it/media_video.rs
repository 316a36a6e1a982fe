//! Sounds and videos end to end with ffmpeg, through the real binary: test media is made by
//! ffmpeg itself (a test pattern, a sine), tagged with a location and a title, uploaded with tus.
//! A video gets a poster (thumbnails, ThumbHash) and its displayed size (a 90° rotation swaps
//! width and height), and what is served has lost its location and title (searched in the bytes
//! and asked of ffprobe) but still plays; a sound loses its ID3 or Vorbis title; a "video" ffmpeg
//! cannot read is still accepted, stored as it is without a poster; a `kill -9` after ffmpeg ran
//! serves nothing half-made and the next `HEAD` completes the upload. With `files.ffmpeg = ""` a
//! portrait MOV is stored as it is, and still reports its displayed size (its track header's
//! matrix).
//!
//! Needs `ffmpeg` and `ffprobe` on `PATH` (scripts/test installs them): without them each test
//! says so and passes, except in CI (`CI=true`), where they must be there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::media_images::{CHUNK_TYPE, Uploader, contains, count_files, sha256_hex};
use crate::server::TestServer;

/// What `-metadata location=+48.85+002.35/` becomes: in a MOV as text (`©xyz`), in an MP4 as a
/// 3GPP `loci` box.
const LOCATION_TEXT: &[u8] = b"+48.85+002.35";
const LOCI_BOX: &[u8] = b"loci";
const TITLE: &str = "natter-secret-title";

fn embedded_only() -> bool {
    !crate::cluster::enabled()
}

/// Whether ffmpeg and ffprobe are installed; outside CI a test without them is skipped (with a
/// message), in CI it fails.
fn ffmpeg_here() -> bool {
    let runs = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if runs("ffmpeg") && runs("ffprobe") {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "ffmpeg and ffprobe must be installed in CI (scripts/test installs them)"
    );
    eprintln!(
        "SKIPPED: ffmpeg/ffprobe not installed (apt-get install --no-install-recommends ffmpeg)"
    );
    false
}

/// Runs ffmpeg with `args` (quiet, overwriting) and returns the bytes of `out` in `dir`.
fn make(dir: &Path, out: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(out);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(&path).unwrap()
}

/// A 2 s, 320x240 test pattern with a sine, tagged with a location and a title, in `out`
/// (its extension names the container), turned by `rotate` degrees when not 0.
fn video(dir: &Path, out: &str, rotate: u32) -> Vec<u8> {
    let plain = format!("plain-{out}");
    make(
        dir,
        &plain,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-metadata",
            "location=+48.85+002.35/",
            "-metadata",
            &format!("title={TITLE}"),
        ],
    );
    if rotate == 0 {
        return std::fs::read(dir.join(plain)).unwrap();
    }
    // ffmpeg 5 writes the rotation matrix when copying, not when encoding.
    let input = dir.join(plain).display().to_string();
    make(
        dir,
        out,
        &[
            "-i",
            &input,
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={rotate}"),
        ],
    )
}

/// What ffprobe says of `bytes` (written to `dir`): tags, streams and their side data.
fn ffprobe(dir: &Path, bytes: &[u8]) -> Value {
    let path: PathBuf = dir.join("probed");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every tag of the file and of its streams, lower-cased `key=value`.
fn tags(probed: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut collect = |tags: &Value| {
        if let Some(tags) = tags.as_object() {
            found.extend(tags.iter().map(|(k, v)| format!("{k}={v}").to_lowercase()));
        }
    };
    collect(&probed["format"]["tags"]);
    for stream in probed["streams"].as_array().into_iter().flatten() {
        collect(&stream["tags"]);
    }
    found
}

/// Uploads `bytes` in two `PATCH`es; the file's view once complete.
async fn upload(files: &Uploader, bytes: &[u8]) -> Value {
    let (url, id) = files.create(bytes.len()).await;
    let half = bytes.len() / 2;
    for (offset, part) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        assert_eq!(
            files.patch(&url, offset, part).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let response = files.file(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The file's bytes through its signed URL.
async fn download(files: &Uploader, view: &Value) -> Vec<u8> {
    let response = files.get(view["url"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

/// Checks the view of the 2 s test video shown at `width` x `height` (its only thumbnail, the
/// small one, is that size too) and fetches its thumbnail.
async fn check_video_view(files: &Uploader, view: &Value, width: u64, height: u64) {
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(width), Some(height))
    );
    let duration = view["duration_ms"].as_u64().expect("duration");
    assert!((1900..=2100).contains(&duration), "{duration} ms");
    let thumbhash = view["thumbhash"].as_str().expect("a ThumbHash");
    assert!(!thumbhash.is_empty());
    let thumbnails = view["thumbnails"].as_array().expect("thumbnails");
    assert_eq!(thumbnails.len(), 1, "{thumbnails:?}");
    let small = &thumbnails[0];
    assert_eq!(small["size"], "small");
    assert_eq!(
        (small["width"].as_u64(), small["height"].as_u64()),
        (Some(width), Some(height))
    );
    let response = files.get(small["url"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let bytes = response.bytes().await.unwrap();
    let decoded = image::load_from_memory(&bytes).expect("a JPEG");
    assert_eq!(
        (u64::from(decoded.width()), u64::from(decoded.height())),
        (width, height)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_an_mp4_gets_a_poster_and_loses_its_location_and_title() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = video(dir.path(), "clip.mp4", 0);
    assert!(contains(&mp4, LOCI_BOX) && contains(&mp4, TITLE.as_bytes()));
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    let view = upload(&files, &mp4).await;
    assert_eq!(view["mime"], "video/mp4");
    check_video_view(&files, &view, 320, 240).await;

    let served = download(&files, &view).await;
    assert_ne!(served, mp4, "remuxed");
    assert_eq!(view["sha256"].as_str().unwrap(), sha256_hex(&served));
    assert_eq!(view["size"].as_u64(), Some(served.len() as u64));
    assert!(!contains(&served, LOCI_BOX), "location served");
    assert!(!contains(&served, TITLE.as_bytes()), "title served");
    let probed = ffprobe(dir.path(), &served);
    let tags = tags(&probed);
    assert!(
        !tags
            .iter()
            .any(|t| t.contains("location") || t.contains(TITLE)),
        "{tags:?}"
    );
    let kinds: Vec<_> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["video", "audio"],
        "still plays: nothing re-encoded away"
    );
    let moov = served.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = served.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "faststart: the index first, so it streams");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_a_portrait_mov_reports_its_displayed_size() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mov = video(dir.path(), "portrait.mov", 90);
    assert!(
        contains(&mov, LOCATION_TEXT),
        "a MOV keeps the location as text"
    );
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    let view = upload(&files, &mov).await;
    assert_eq!(view["mime"], "video/quicktime");
    // Coded 320x240, shown turned by 90°.
    check_video_view(&files, &view, 240, 320).await;
    let served = download(&files, &view).await;
    assert!(!contains(&served, LOCATION_TEXT), "location served");
    assert!(!contains(&served, TITLE.as_bytes()), "title served");
    let probed = ffprobe(dir.path(), &served);
    let rotation = probed["streams"][0]["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|d| d["rotation"].as_i64()));
    assert_eq!(
        rotation.map(i64::abs),
        Some(90),
        "the matrix is kept: {probed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_sounds_lose_their_id3_and_vorbis_titles() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let title = format!("title={TITLE}");
    let sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"];
    let mp3 = make(
        dir.path(),
        "note.mp3",
        &[&sine[..], &["-c:a", "libmp3lame", "-metadata", &title]].concat(),
    );
    let ogg = make(
        dir.path(),
        "note.ogg",
        &[&sine[..], &["-c:a", "libvorbis", "-metadata", &title]].concat(),
    );
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    for (sound, mime) in [(mp3, "audio/mpeg"), (ogg, "audio/ogg")] {
        assert!(contains(&sound, TITLE.as_bytes()), "{mime} tagged");
        let view = upload(&files, &sound).await;
        assert_eq!(view["mime"], mime);
        let duration = view["duration_ms"].as_u64();
        assert!(
            duration.is_some_and(|d| (900..=1100).contains(&d)),
            "{mime}: {duration:?}"
        );
        assert!(view.get("thumbnails").is_none() && view.get("width").is_none());
        let served = download(&files, &view).await;
        assert_eq!(view["sha256"].as_str().unwrap(), sha256_hex(&served));
        assert!(!contains(&served, TITLE.as_bytes()), "{mime}: title served");
        let probed = ffprobe(dir.path(), &served);
        assert!(
            !tags(&probed).iter().any(|t| t.contains(TITLE)),
            "{mime}: {probed}"
        );
        assert_eq!(
            probed["streams"][0]["codec_type"], "audio",
            "{mime} still plays"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_a_corrupt_video_is_accepted_as_it_is_without_a_poster() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = video(dir.path(), "clip.mp4", 0);
    // The MP4's `ftyp` header, then bytes no demuxer makes sense of.
    let mut corrupt = mp4[..32].to_vec();
    corrupt.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let server = TestServer::spawn();
    let files = Uploader::new(&server).await;
    let view = upload(&files, &corrupt).await;
    assert_eq!(view["mime"], "video/mp4");
    assert!(view.get("thumbnails").is_none() && view.get("thumbhash").is_none());
    assert_eq!(
        view["sha256"].as_str().unwrap(),
        sha256_hex(&corrupt),
        "stored as uploaded"
    );
    assert_eq!(download(&files, &view).await, corrupt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_kill_9_after_ffmpeg_serves_nothing_then_head_completes() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = video(dir.path(), "clip.mp4", 0);
    let release = dir.path().join("release");
    let waiting = dir.path().join("release.waiting");
    let release_env = release.display().to_string();
    let mut server = TestServer::spawn_with_env(
        &[],
        &[("NATTER__FILES__PROCESSING_PAUSE_FILE", release_env.as_str())],
    );
    let files = Uploader::new(&server).await;
    let (url, id) = files.create(mp4.len()).await;
    // The last byte starts processing, which stops once ffmpeg made the poster's thumbnails
    // and the stripped copy, before that copy is stored.
    let patch = {
        let request = files
            .request(reqwest::Method::PATCH, &url)
            .header("content-type", CHUNK_TYPE)
            .header("upload-offset", "0")
            .body(mp4.clone());
        tokio::spawn(async move { request.send().await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiting.exists() {
        assert!(Instant::now() < deadline, "processing never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let root = server.data_dir.path().join("files");
    assert_eq!(
        count_files(&root.join("objects")),
        1,
        "the poster's thumbnail only"
    );
    assert_eq!(
        count_files(&root.join("uploads")),
        2,
        "upload and stripped copy"
    );
    server.kill();
    let _ = patch.await;
    std::fs::write(&release, b"").unwrap();
    server.restart();
    assert_eq!(files.file(&id).await.status(), StatusCode::NOT_FOUND);
    let head = files.head(&url).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["upload-offset"],
        mp4.len().to_string().as_str()
    );
    let response = files.file(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    check_video_view(&files, &view, 320, 240).await;
    let served = download(&files, &view).await;
    assert!(!contains(&served, LOCI_BOX), "location served");
    assert_eq!(view["sha256"].as_str().unwrap(), sha256_hex(&served));
    assert_eq!(count_files(&root.join("uploads")), 0, "staging cleared");
    assert_eq!(
        count_files(&root.join("objects")),
        2,
        "the thumbnail written before the kill was written again to the same object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_video_without_ffmpeg_a_portrait_video_is_stored_as_is_with_its_displayed_size() {
    if !embedded_only() || !ffmpeg_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mov = video(dir.path(), "portrait.mov", 90);
    // ffmpeg made the test media; the server runs as on a machine without it.
    let server = TestServer::spawn_with_env(&[], &[("NATTER__FILES__FFMPEG", "")]);
    let files = Uploader::new(&server).await;
    let view = upload(&files, &mov).await;
    assert_eq!(view["mime"], "video/quicktime");
    // The track header's matrix, read without ffmpeg.
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(240), Some(320))
    );
    assert!(view.get("thumbnails").is_none() && view.get("thumbhash").is_none());
    assert_eq!(
        view["sha256"].as_str().unwrap(),
        sha256_hex(&mov),
        "stored as uploaded"
    );
}
