//! Files end to end, through the real binary with plain HTTP (reqwest and, where a connection
//! must break mid-body, a raw socket): tus uploads and every refusal, signed downloads with
//! Range and ETag, the headers that keep uploaded bytes from running as a page, resuming after
//! a dropped connection and after `kill -9`, and the collector of abandoned uploads.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_protocol::{ErrorBody, FileView, UploadView};
use natter_sdk::Client;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::io::AsyncWriteExt;

use crate::server::TestServer;
use crate::support::user;

#[path = "media_scaled.rs"]
pub(crate) mod scaled;

const CHUNK_TYPE: &str = "application/offset+octet-stream";
pub(crate) const PNG_MAGIC: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
/// A real 8x8 PNG as the `image` crate writes it (no metadata chunk): processing stores it byte
/// for byte, with a thumbnail.
pub(crate) fn png() -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG");
    out.into_inner()
}

/// An ID3 tag header: the bytes of an MP3 to `infer`, served inline, stored as they are.
pub(crate) const MP3_MAGIC: &[u8] = b"ID3\x04\0\0\0\0\0\0";

/// A user's HTTP view of the file routes.
pub(crate) struct Files {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn metadata(name: &str) -> String {
    format!("filename {},filetype aW1hZ2UvcG5n", STANDARD.encode(name))
}

impl Files {
    pub(crate) async fn new(server: &TestServer) -> (Self, Client) {
        let (client, _) = user(server, "filer").await;
        let files = Self {
            http: reqwest::Client::new(),
            base: server.base_url.trim_end_matches('/').to_owned(),
            token: client.access_token().expect("token"),
        };
        (files, client)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
    }

    async fn create_raw(&self, size: &str, name: Option<&str>) -> reqwest::Response {
        let mut request = self
            .authed(reqwest::Method::POST, "/api/v1/files/uploads")
            .header("upload-length", size);
        if let Some(name) = name {
            request = request.header("upload-metadata", metadata(name));
        }
        request.send().await.expect("create")
    }

    pub(crate) async fn create(&self, size: usize, name: &str) -> UploadView {
        let response = self.create_raw(&size.to_string(), Some(name)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = header(response.headers(), "location");
        let view: UploadView = response.json().await.expect("upload view");
        assert_eq!(location, view.upload_url);
        view
    }

    async fn patch(&self, upload: &UploadView, offset: u64, bytes: &[u8]) -> reqwest::Response {
        self.authed(reqwest::Method::PATCH, &upload.upload_url)
            .header("content-type", CHUNK_TYPE)
            .header("upload-offset", offset.to_string())
            .body(bytes.to_vec())
            .send()
            .await
            .expect("patch")
    }

    /// `Upload-Offset` from `HEAD`, or the status when it is not 200.
    async fn offset(&self, upload: &UploadView) -> Result<u64, StatusCode> {
        let response = self
            .authed(reqwest::Method::HEAD, &upload.upload_url)
            .send()
            .await
            .expect("head");
        if response.status() != StatusCode::OK {
            return Err(response.status());
        }
        Ok(header(response.headers(), "upload-offset")
            .parse()
            .expect("offset"))
    }

    /// Upload `bytes` in chunks of `chunk`; the file's id.
    pub(crate) async fn upload(&self, name: &str, bytes: &[u8], chunk: usize) -> UploadView {
        let upload = self.create(bytes.len(), name).await;
        let mut offset = 0;
        for piece in bytes.chunks(chunk) {
            let response = self.patch(&upload, offset, piece).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            offset += piece.len() as u64;
            assert_eq!(
                header(response.headers(), "upload-offset"),
                offset.to_string()
            );
        }
        upload
    }

    pub(crate) async fn file(&self, id: uuid::Uuid) -> reqwest::Response {
        self.authed(reqwest::Method::GET, &format!("/api/v1/files/{id}"))
            .send()
            .await
            .expect("file")
    }

    pub(crate) async fn view(&self, id: uuid::Uuid) -> FileView {
        let response = self.file(id).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(response.headers(), "cache-control"), "no-store");
        response.json().await.expect("file view")
    }

    /// A download without credentials: the signed URL is all it needs.
    pub(crate) async fn get(&self, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("download")
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("ascii")
        .to_owned()
}

pub(crate) async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.expect("error body");
    (status, body.code)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

pub(crate) fn embedded_only() -> bool {
    !crate::cluster::enabled()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_upload_in_chunks_then_download_with_range_and_etag() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn();
    let (files, _) = Files::new(&server).await;
    let mut bytes = MP3_MAGIC.to_vec();
    bytes.extend(pattern(300_000));
    let upload = files.upload("holiday.mp3", &bytes, 70_000).await;
    let view = files.view(upload.id).await;
    assert_eq!(view.size, bytes.len() as u64);
    assert_eq!(view.sha256, sha256_hex(&bytes));
    assert_eq!(view.mime, "audio/mpeg");
    assert!(view.inline);
    assert_eq!(view.name, "holiday.mp3");
    assert!(
        view.url.contains(&view.sha256),
        "content-addressed: {}",
        view.url
    );

    let whole = files.get(&view.url, &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let h = whole.headers().clone();
    assert_eq!(header(&h, "content-type"), "audio/mpeg");
    assert_eq!(header(&h, "etag"), format!("\"{}\"", view.sha256));
    assert!(header(&h, "cache-control").starts_with("private, max-age="));
    assert!(header(&h, "cache-control").ends_with(", immutable"));
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&h, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert!(header(&h, "content-disposition").starts_with("inline;"));
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let part = files.get(&view.url, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(part.headers(), "content-range"),
        format!("bytes 100-199/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..200]);
    let tail = files.get(&view.url, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 10..]
    );

    let beyond = format!("bytes={}-", bytes.len());
    let outside = files.get(&view.url, &[("range", beyond.as_str())]).await;
    assert_eq!(
        header(outside.headers(), "content-range"),
        format!("bytes */{}", bytes.len())
    );
    assert_eq!(
        error_code(outside).await,
        (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable".into()
        )
    );

    let etag = format!("\"{}\"", view.sha256);
    let cached = files
        .get(&view.url, &[("if-none-match", etag.as_str())])
        .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.bytes().await.unwrap().is_empty());
    let stale = files
        .get(&view.url, &[("if-none-match", "\"other\"")])
        .await;
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_tus_discovery_status_and_cancel() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn_with_env(&[], &[("NATTER__FILES__MAX_BYTES", "5000")]);
    let (files, _) = Files::new(&server).await;
    let options = files
        .http
        .request(reqwest::Method::OPTIONS, files.url("/api/v1/files/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(options.headers(), "tus-version"), "1.0.0");
    assert_eq!(header(options.headers(), "tus-max-size"), "5000");
    assert!(header(options.headers(), "tus-extension").contains("termination"));

    let upload = files.create(100, "notes.txt").await;
    assert_eq!(files.offset(&upload).await, Ok(0));
    files.patch(&upload, 0, &pattern(40)).await;
    assert_eq!(files.offset(&upload).await, Ok(40));
    // Incomplete: no metadata, no download.
    assert_eq!(files.file(upload.id).await.status(), StatusCode::NOT_FOUND);
    let cancel = files
        .authed(reqwest::Method::DELETE, &upload.upload_url)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::NO_CONTENT);
    assert_eq!(files.offset(&upload).await, Err(StatusCode::NOT_FOUND));
    let staged = server.data_dir.path().join("files/uploads");
    assert_eq!(
        std::fs::read_dir(staged).unwrap().count(),
        0,
        "bytes removed"
    );
    // A complete file cannot be cancelled.
    let done = files.upload("done.bin", &pattern(10), 10).await;
    let refused = files
        .authed(reqwest::Method::DELETE, &done.upload_url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(refused).await,
        (StatusCode::CONFLICT, "conflict".into())
    );
    assert_eq!(files.offset(&done).await, Ok(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_bad_uploads_are_refused_and_change_nothing() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn_with_env(
        &[],
        &[
            ("NATTER__FILES__MAX_BYTES", "1000"),
            ("NATTER__FILES__QUOTA_BYTES", "1500"),
        ],
    );
    let (files, _) = Files::new(&server).await;
    // Zero bytes, over the limit, malformed sizes.
    assert_eq!(
        error_code(files.create_raw("0", Some("a.txt")).await).await,
        (StatusCode::BAD_REQUEST, "invalid".into())
    );
    assert_eq!(
        error_code(files.create_raw("1001", Some("a.txt")).await).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    for bad in ["-1", "abc", "1e3"] {
        let (status, _) = error_code(files.create_raw(bad, Some("a.txt")).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Path traversal and control characters in names.
    for name in [
        "../../etc/passwd",
        "a\\b.txt",
        "bell\u{7}.txt",
        "new\nline",
        "evil\u{202E}gpj.exe",
    ] {
        assert_eq!(
            error_code(files.create_raw("10", Some(name)).await).await,
            (StatusCode::BAD_REQUEST, "invalid".into()),
            "{name:?}"
        );
    }
    let not_base64 = files
        .authed(reqwest::Method::POST, "/api/v1/files/uploads")
        .header("upload-length", "10")
        .header("upload-metadata", "filename %%%")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_base64).await.0, StatusCode::BAD_REQUEST);
    // Nothing was stored: the whole quota is still free.
    let first = files.create(1000, "first.bin").await;
    assert_eq!(
        error_code(files.create_raw("501", Some("b.bin")).await).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded".into())
    );
    let second = files.create(500, "second.bin").await;

    // Wrong offset: 409 with the current one; nothing written.
    files.patch(&first, 0, &pattern(100)).await;
    let wrong = files.patch(&first, 50, &pattern(10)).await;
    assert_eq!(header(wrong.headers(), "upload-offset"), "100");
    assert_eq!(
        error_code(wrong).await,
        (StatusCode::CONFLICT, "offset_mismatch".into())
    );
    // More than declared: 413, the chunk leaves no trace.
    let too_much = files.patch(&first, 100, &pattern(901)).await;
    assert_eq!(
        error_code(too_much).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    assert_eq!(files.offset(&first).await, Ok(100));
    // Not a tus chunk.
    let json = files
        .authed(reqwest::Method::PATCH, &first.upload_url)
        .header("content-type", "application/json")
        .header("upload-offset", "100")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(json).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    assert_eq!(files.offset(&first).await, Ok(100));
    // Truncated: all chunks sent but fewer bytes than declared stays incomplete and resumable.
    files.patch(&second, 0, &pattern(499)).await;
    assert_eq!(files.offset(&second).await, Ok(499));
    assert_eq!(files.file(second.id).await.status(), StatusCode::NOT_FOUND);
    let last = files.patch(&second, 499, &[7]).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(files.view(second.id).await.size, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_bytes_never_run_as_a_page() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn();
    let (files, _) = Files::new(&server).await;
    // HTML claiming to be a PNG (name and tus `filetype`): the bytes say otherwise.
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let fake = files.upload("cat.png", html, 1000).await;
    let view = files.view(fake.id).await;
    assert_ne!(view.mime, "image/png");
    assert!(!view.inline);
    let served = files.get(&view.url, &[]).await;
    assert_eq!(
        header(served.headers(), "content-type"),
        "application/octet-stream"
    );
    assert!(header(served.headers(), "content-disposition").starts_with("attachment;"));
    assert_eq!(
        header(served.headers(), "x-content-type-options"),
        "nosniff"
    );
    // PNG magic, then HTML: typed a PNG by its bytes, but no image decoder reads it, so it is
    // refused (422 `invalid_media`) and nothing is kept. A real PNG carrying HTML loses it
    // with its metadata (media_images.rs).
    let mut polyglot = PNG_MAGIC.to_vec();
    polyglot.extend_from_slice(html);
    let poly = files.create(polyglot.len(), "poly.html").await;
    let refused = files.patch(&poly, 0, &polyglot).await;
    assert_eq!(
        error_code(refused).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_media".into())
    );
    // Its owner's later requests about the upload get the refusal again (docs/media.md).
    assert_eq!(
        files.offset(&poly).await,
        Err(StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(files.file(poly.id).await.status(), StatusCode::NOT_FOUND);
    // SVG is never inline (it is a document that runs scripts).
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let svg = files.upload("logo.svg", svg, 1000).await;
    let view = files.view(svg.id).await;
    assert!(!view.inline);
    let served = files.get(&view.url, &[]).await;
    assert!(header(served.headers(), "content-disposition").starts_with("attachment;"));
    // A name with quotes and non-ASCII reaches Content-Disposition escaped.
    let odd = files.upload("ré\"sumé.pdf", b"%PDF-1.4 tiny", 100).await;
    let view = files.view(odd.id).await;
    let served = files.get(&view.url, &[]).await;
    assert_eq!(
        header(served.headers(), "content-disposition"),
        "attachment; filename=\"r__sum_.pdf\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.pdf"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_only_the_owner_and_valid_urls_reach_a_file() {
    // Also in cluster mode, where the URLs are checked at the edge (NGINX) too.
    let server = TestServer::spawn_with_env(&[], &[("NATTER__FILES__URL_TTL_S", "1")]);
    let (alice, _) = Files::new(&server).await;
    let (bob, _) = Files::new(&server).await;
    let upload = alice.upload("private.bin", &pattern(64), 64).await;
    let pending = alice.create(10, "pending.bin").await;
    // A stranger, a missing file and an incomplete upload: the same 404.
    for (who, id) in [
        (&bob, upload.id),
        (&alice, uuid::Uuid::now_v7()),
        (&alice, pending.id),
    ] {
        assert_eq!(
            error_code(who.file(id).await).await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
    }
    assert_eq!(bob.offset(&pending).await, Err(StatusCode::NOT_FOUND));
    assert_eq!(
        error_code(bob.patch(&pending, 0, &[1]).await).await.0,
        StatusCode::NOT_FOUND
    );
    // Without a token: 401.
    let anonymous = alice
        .http
        .get(alice.url(&format!("/api/v1/files/{}", upload.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let view = alice.view(upload.id).await;
    // Tampered: another expiry, another file, a flipped signature byte.
    let later = view.url.replace("expires=", "expires=9");
    let other_file = view
        .url
        .replace(&upload.id.to_string(), &pending.id.to_string());
    let mut flipped = view.url.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for url in [&later, &other_file, &flipped] {
        assert_eq!(
            error_code(alice.get(url, &[]).await).await,
            (StatusCode::FORBIDDEN, "forbidden".into()),
            "{url}"
        );
    }
    // Expired: the URL lives one second; poll (bounded) until it stops working.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = alice.get(&view.url, &[]).await;
        if response.status() == StatusCode::FORBIDDEN {
            let body: ErrorBody = response.json().await.unwrap();
            assert!(body.message.contains("expired"), "{}", body.message);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        assert!(Instant::now() < deadline, "the URL never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends the head of a `PATCH` that declares `declared` bytes and then only `sent`, over a raw
/// socket the caller drops (a connection lost mid-upload).
async fn start_patch(
    files: &Files,
    upload: &UploadView,
    offset: u64,
    declared: usize,
    sent: &[u8],
) -> tokio::net::TcpStream {
    let authority = files.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: {CHUNK_TYPE}\r\nUpload-Offset: {offset}\r\n\
         Content-Length: {declared}\r\n\r\n",
        upload.upload_url, files.token
    );
    socket.write_all(head.as_bytes()).await.expect("head");
    socket.write_all(sent).await.expect("body");
    socket.flush().await.expect("flush");
    socket
}

/// Polls `HEAD` until the offset is `want` (bounded).
async fn wait_for_offset(files: &Files, upload: &UploadView, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if files.offset(upload).await == Ok(want) {
            return;
        }
        assert!(Instant::now() < deadline, "offset never reached {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PATCH the rest, retrying (bounded) while the server still holds the dropped request.
async fn finish_upload(files: &Files, upload: &UploadView, bytes: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let offset = files.offset(upload).await.expect("offset");
        let response = files.patch(upload, offset, &bytes[offset as usize..]).await;
        if response.status() == StatusCode::NO_CONTENT {
            assert_eq!(
                header(response.headers(), "upload-offset"),
                bytes.len().to_string()
            );
            return;
        }
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(Instant::now() < deadline, "the upload stayed busy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_an_upload_resumes_after_a_dropped_connection() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn();
    let (files, _) = Files::new(&server).await;
    let bytes = pattern(200_000);
    let upload = files.create(bytes.len(), "big.bin").await;
    let socket = start_patch(&files, &upload, 0, bytes.len(), &bytes[..80_000]).await;
    wait_for_offset(&files, &upload, 80_000).await;
    drop(socket);
    finish_upload(&files, &upload, &bytes).await;
    let view = files.view(upload.id).await;
    assert_eq!(view.sha256, sha256_hex(&bytes));
    let served = files.get(&view.url, &[]).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_kill_9_during_an_upload_serves_nothing_half_written_and_resumes() {
    if !embedded_only() {
        return;
    }
    let mut server = TestServer::spawn();
    let (files, client) = Files::new(&server).await;
    let bytes = pattern(150_000);
    let upload = files.create(bytes.len(), "crash.bin").await;
    let socket = start_patch(&files, &upload, 0, bytes.len(), &bytes[..60_000]).await;
    wait_for_offset(&files, &upload, 60_000).await;
    server.kill();
    drop(socket);
    server.restart();
    // The same port, the same data: the session is still valid.
    let _ = client;
    assert_eq!(files.offset(&upload).await, Ok(60_000));
    assert_eq!(files.file(upload.id).await.status(), StatusCode::NOT_FOUND);
    finish_upload(&files, &upload, &bytes).await;
    let view = files.view(upload.id).await;
    assert_eq!(view.sha256, sha256_hex(&bytes));
    let served = files.get(&view.url, &[]).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_abandoned_uploads_are_collected() {
    if !embedded_only() {
        return;
    }
    let server = TestServer::spawn_with_env(
        &[],
        &[
            ("NATTER__FILES__INCOMPLETE_MAX_AGE_S", "1"),
            ("NATTER__FILES__COLLECT_INTERVAL_S", "1"),
        ],
    );
    let (files, _) = Files::new(&server).await;
    let complete = files.upload("kept.bin", &pattern(20), 20).await;
    let abandoned = files.create(100, "abandoned.bin").await;
    files.patch(&abandoned, 0, &pattern(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while files.offset(&abandoned).await != Err(StatusCode::NOT_FOUND) {
        assert!(Instant::now() < deadline, "the upload was never collected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let staged = server.data_dir.path().join("files/uploads");
    assert_eq!(
        std::fs::read_dir(staged).unwrap().count(),
        0,
        "its bytes are gone"
    );
    assert_eq!(
        files.view(complete.id).await.size,
        20,
        "complete files stay"
    );
}

/// tus 1.0: a request naming another protocol version is refused with 412 and the versions the
/// server speaks, and changes nothing; one without `Tus-Resumable` is served (natter does not
/// require it). Through NGINX too in cluster mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_another_tus_version_is_412_with_tus_version() {
    let server = TestServer::spawn();
    let (files, _) = Files::new(&server).await;
    let upload = files.create(100, "v.bin").await;
    files.patch(&upload, 0, &pattern(10)).await;
    let other = |method: reqwest::Method, path: &str| {
        files
            .http
            .request(method, files.url(path))
            .bearer_auth(&files.token)
            .header("tus-resumable", "0.2.2")
    };
    let refused = [
        (
            "POST",
            other(reqwest::Method::POST, "/api/v1/files/uploads").header("upload-length", "10"),
        ),
        ("HEAD", other(reqwest::Method::HEAD, &upload.upload_url)),
        (
            "PATCH",
            other(reqwest::Method::PATCH, &upload.upload_url)
                .header("content-type", CHUNK_TYPE)
                .header("upload-offset", "10")
                .body(pattern(5)),
        ),
        ("DELETE", other(reqwest::Method::DELETE, &upload.upload_url)),
    ];
    for (what, request) in refused {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED, "{what}");
        assert_eq!(header(response.headers(), "tus-version"), "1.0.0", "{what}");
        if what != "HEAD" {
            let body: ErrorBody = response.json().await.expect("error body");
            assert_eq!(body.code, "unsupported_version", "{what}");
        }
    }
    // Nothing changed: the upload is where it was and still there.
    assert_eq!(files.offset(&upload).await, Ok(10));
    // Without the header: served.
    let unversioned = files
        .http
        .patch(files.url(&upload.upload_url))
        .bearer_auth(&files.token)
        .header("content-type", CHUNK_TYPE)
        .header("upload-offset", "10")
        .body(pattern(90))
        .send()
        .await
        .expect("patch");
    assert_eq!(unversioned.status(), StatusCode::NO_CONTENT);
    assert_eq!(files.view(upload.id).await.size, 100);
}

/// A small JPEG with a comment segment of `comment_len` bytes: stored smaller than uploaded,
/// since processing strips comments (docs/media.md "Images").
fn jpeg_with_comment(comment_len: usize) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, 90, y as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("JPEG");
    let jpeg = out.into_inner();
    let segment_len = u16::try_from(comment_len + 2).expect("a JPEG segment");
    [
        &jpeg[..2],
        &[0xff, 0xfe],
        &segment_len.to_be_bytes(),
        &vec![b'c'; comment_len],
        &jpeg[2..],
    ]
    .concat()
}

/// What the quota charges (docs/media.md "Quota"): the declared `Upload-Length` of every upload
/// from its creation, so a complete file counts the bytes uploaded even when processing stored
/// fewer; a cancelled upload and one refused at completion stop counting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_the_quota_charges_declared_lengths_until_an_upload_is_gone() {
    const QUOTA: usize = 20_000;
    let server =
        TestServer::spawn_with_env(&[], &[("NATTER__FILES__QUOTA_BYTES", &QUOTA.to_string())]);
    let (files, _) = Files::new(&server).await;
    let over_quota = |used: usize| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("over the storage quota: {used} of {QUOTA} bytes used"),
        )
    };
    let refusal = |response: reqwest::Response| async move {
        let status = response.status();
        let body: ErrorBody = response.json().await.expect("error body");
        assert_eq!(body.code, "quota_exceeded");
        (status, body.message)
    };

    // A photo stored smaller than uploaded: the upload's length counts.
    let photo = jpeg_with_comment(6_000);
    let uploaded = photo.len();
    let view = files
        .view(files.upload("p.jpg", &photo, 4096).await.id)
        .await;
    assert!(
        (view.size as usize) < uploaded - 5_000,
        "stored {} of {uploaded}",
        view.size
    );
    let left = QUOTA - uploaded;
    let one_more = (left + 1).to_string();
    assert_eq!(
        refusal(files.create_raw(&one_more, Some("x")).await).await,
        over_quota(uploaded)
    );

    // An incomplete upload counts its declared length from its creation.
    let pending = files.create(left - 100, "pending.bin").await;
    files.patch(&pending, 0, &pattern(10)).await;
    assert_eq!(
        refusal(files.create_raw("101", Some("x")).await).await,
        over_quota(QUOTA - 100)
    );
    // Cancelled: it no longer counts.
    let cancel = files
        .authed(reqwest::Method::DELETE, &pending.upload_url)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::NO_CONTENT);

    // Refused at completion (not a picture after all): it no longer counts either.
    let mut fake = PNG_MAGIC.to_vec();
    fake.extend_from_slice(&[b'<'; 2_000]);
    let fake_upload = files.create(fake.len(), "fake.png").await;
    let refused = files.patch(&fake_upload, 0, &fake).await;
    assert_eq!(
        error_code(refused).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_media".into())
    );
    let rest = files.create(left, "rest.bin").await;
    assert_eq!(rest.size, left as u64);
    assert_eq!(
        refusal(files.create_raw("1", Some("x")).await).await,
        over_quota(QUOTA)
    );
}
