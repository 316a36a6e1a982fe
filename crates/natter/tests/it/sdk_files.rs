//! Files through the SDK (`Client::create_upload`, `Upload::send`, `Client::download`): chunked
//! uploads with progress, resuming after a connection cut mid-`PATCH` (a proxy that cuts at an
//! exact byte), cancelling, downloads resumed with `Range`, a corrupted object caught by the
//! SHA-256 check, and every refusal as a typed error, including those of the upload's
//! completion when their answer was lost. The wire itself is tested raw in media.rs. Every
//! test runs in both modes: in cluster mode (`NATTER_E2E_CLUSTER=1`) through NGINX, with the
//! bytes in S3 and the nodes sharing the test's data directory (so its staging directory).

use std::io::Cursor;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use natter_sdk::{Client, Error, Upload, UploadOptions};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

use crate::cutter::Cutter;
use crate::server::TestServer;
use crate::support::username;

const MIB: usize = 1024 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn registered(base_url: &str) -> Client {
    let client = Client::new(base_url).expect("client");
    client
        .register(&username("sdkfile"), "correct horse battery staple")
        .await
        .expect("register");
    client
}

fn chunks_of(bytes: usize) -> UploadOptions {
    UploadOptions {
        chunk_size: bytes as u64,
        ..UploadOptions::default()
    }
}

/// Every progress value the upload publishes, until its last handle is dropped.
fn record_progress(upload: &Upload) -> tokio::task::JoinHandle<Vec<u64>> {
    let mut progress = upload.progress();
    tokio::spawn(async move {
        let mut seen = vec![*progress.borrow_and_update()];
        while progress.changed().await.is_ok() {
            seen.push(*progress.borrow_and_update());
        }
        seen
    })
}

fn assert_monotone_to(seen: &[u64], size: u64) {
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "progress went back or repeated: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&size), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_upload_in_chunks_with_progress_resumes_after_a_cut_mid_patch() {
    let server = TestServer::spawn();
    let proxy = Cutter::start(&server.base_url).await;
    let client = registered(&proxy.base_url).await;
    let bytes = pattern(5 * MIB + 12_345);
    let size = bytes.len() as u64;

    // Seekable: the cut lands in the third 1 MiB PATCH; the SDK asks HEAD and seeks.
    let upload = client
        .create_upload_with(size, Some("cut.bin"), chunks_of(MIB))
        .await
        .expect("create");
    let progress = record_progress(&upload);
    proxy.cut_upstream_after((2 * MIB + MIB / 2) as u64);
    let view = upload.send(Cursor::new(bytes.clone())).await.expect("send");
    drop(upload);
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    assert_eq!(view.size, size);
    assert_eq!(view.sha256, sha256_hex(&bytes));
    assert_eq!(view.name, "cut.bin");
    let seen = progress.await.unwrap();
    assert_monotone_to(&seen, size);
    assert!(seen.len() >= 4, "one step per chunk: {seen:?}");

    // Not seekable: the chunk in flight is re-sent from memory.
    let upload = client
        .create_upload_with(size, Some("piped.bin"), chunks_of(MIB))
        .await
        .expect("create");
    let progress = record_progress(&upload);
    proxy.cut_upstream_after((3 * MIB + MIB / 3) as u64);
    let view = upload.send_stream(&bytes[..]).await.expect("send_stream");
    drop(upload);
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(view.sha256, sha256_hex(&bytes));
    assert_monotone_to(&progress.await.unwrap(), size);

    // The bytes come back whole.
    let mut back = Vec::new();
    let written = client
        .download_to(&view, &mut back)
        .await
        .expect("download");
    assert_eq!(written, size);
    assert!(back == bytes, "downloaded bytes differ");
}

/// A seekable reader that stops producing (forever pending) at `stall_at`: an upload stuck in
/// the middle of a `PATCH` body.
struct Stall {
    inner: Cursor<Vec<u8>>,
    stall_at: u64,
}

impl AsyncRead for Stall {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let left = self.stall_at.saturating_sub(self.inner.position());
        if left == 0 {
            return Poll::Pending;
        }
        let mut limited = buf.take(left as usize);
        let result = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        let n = limited.filled().len();
        buf.advance(n);
        result
    }
}

impl AsyncSeek for Stall {
    fn start_seek(mut self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        Pin::new(&mut self.inner).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Pin::new(&mut self.inner).poll_complete(cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_cancel_stops_a_patch_in_flight_and_deletes_the_upload() {
    let server = TestServer::spawn();
    let client = registered(&server.base_url).await;
    let bytes = pattern(3 * MIB);
    let upload = client
        .create_upload_with(bytes.len() as u64, Some("cancelled.bin"), chunks_of(MIB))
        .await
        .expect("create");
    let source = Stall {
        inner: Cursor::new(bytes.clone()),
        stall_at: (MIB + 100_000) as u64,
    };
    let sending = tokio::spawn({
        let upload = upload.clone();
        async move { upload.send(source).await }
    });
    // The first chunk is confirmed; the second is stuck mid-body.
    let mut progress = upload.progress();
    tokio::time::timeout(
        Duration::from_secs(30),
        progress.wait_for(|sent| *sent >= MIB as u64),
    )
    .await
    .expect("first chunk within 30 s")
    .expect("progress");
    upload.cancel().await.expect("cancel");
    let outcome = tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("send returns")
        .unwrap();
    assert!(matches!(outcome, Err(Error::Cancelled)), "{outcome:?}");
    let gone = upload.offset().await.expect_err("deleted");
    assert_eq!((gone.status(), gone.code()), (Some(404), Some("not_found")));
    let staged = server.data_dir.path().join("files/uploads");
    assert_eq!(
        std::fs::read_dir(staged).unwrap().count(),
        0,
        "bytes removed"
    );

    // A complete upload cannot be cancelled.
    let done = client
        .create_upload(10, Some("done.bin"))
        .await
        .expect("create");
    done.send(Cursor::new(pattern(10))).await.expect("send");
    let refused = done.cancel().await.expect_err("complete");
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(409), Some("conflict"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_download_resumes_with_range_and_catches_corrupted_bytes() {
    let server = TestServer::spawn();
    let proxy = Cutter::start(&server.base_url).await;
    let client = registered(&proxy.base_url).await;
    let bytes = pattern(3 * MIB + 777);
    let view = client
        .upload(
            Cursor::new(bytes.clone()),
            bytes.len() as u64,
            Some("dl.bin"),
        )
        .await
        .expect("upload");

    // Cut after 1 MiB of the answer: the rest comes with Range and If-Range.
    proxy.cut_downstream_after(MIB as u64);
    let mut download = client.download(&view);
    assert_eq!(download.size(), bytes.len() as u64);
    let mut back = Vec::new();
    while let Some(piece) = download.next().await {
        back.extend_from_slice(&piece.expect("piece"));
    }
    assert_eq!(proxy.cuts(), 1, "the download was cut");
    assert!(back == bytes, "resumed bytes differ");

    // Bit rot in storage: same length, other bytes, in a file never downloaded before (in
    // cluster mode the edge keeps what it served once). The SHA-256 check catches it at the end.
    // Bytes of their own (S3 is shared by every run, and stores the same bytes once).
    let mut bytes = pattern(2 * MIB + 5);
    bytes[..16].copy_from_slice(uuid::Uuid::now_v7().as_bytes());
    let view = client
        .upload(
            Cursor::new(bytes.clone()),
            bytes.len() as u64,
            Some("rot.bin"),
        )
        .await
        .expect("upload");
    let mut rotten = bytes.clone();
    rotten[MIB] ^= 0xff;
    rot(&server, &view.sha256, &rotten).await;
    let mut sink = Vec::new();
    let error = client
        .download_to(&view, &mut sink)
        .await
        .expect_err("corrupted");
    match error {
        Error::HashMismatch { expected, actual } => {
            assert_eq!(expected, view.sha256);
            assert_eq!(actual, sha256_hex(&rotten));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}

/// Replaces the stored object of `sha256` with `bytes`: a file under the data directory, or in
/// cluster mode the object in S3.
async fn rot(server: &TestServer, sha256: &str, bytes: &[u8]) {
    if crate::cluster::enabled() {
        use object_store::ObjectStoreExt;
        crate::media::scaled::cluster_s3()
            .put(
                &crate::media::scaled::object_key(sha256),
                bytes.to_vec().into(),
            )
            .await
            .expect("overwrite the object in S3");
    } else {
        let object = find_file(&server.data_dir.path().join("files/objects"), sha256)
            .expect("the object file");
        std::fs::write(&object, bytes).unwrap();
    }
}

fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_file_refusals_are_typed_errors() {
    let server = TestServer::spawn_with_env(
        &[],
        &[
            ("NATTER__FILES__MAX_BYTES", "1000"),
            ("NATTER__FILES__QUOTA_BYTES", "1500"),
        ],
    );
    let alice = registered(&server.base_url).await;
    let bob = registered(&server.base_url).await;
    let code = |error: Error| (error.status(), error.code().map(str::to_owned));
    let refused = |status: u16, code: &str| (Some(status), Some(code.to_owned()));

    let too_big = alice
        .create_upload(1001, Some("big.bin"))
        .await
        .unwrap_err();
    assert_eq!(code(too_big), refused(413, "payload_too_large"));
    let empty = alice.create_upload(0, Some("empty.bin")).await.unwrap_err();
    assert_eq!(code(empty), refused(400, "invalid"));
    let path = alice.create_upload(10, Some("../x")).await.unwrap_err();
    assert_eq!(code(path), refused(400, "invalid"));

    let first = alice.create_upload(1000, None).await.expect("within quota");
    let over = alice
        .create_upload(600, Some("more.bin"))
        .await
        .unwrap_err();
    assert_eq!(code(over), refused(413, "quota_exceeded"));

    // A source shorter than declared: a source error, and the upload stays resumable.
    let short = first.send(Cursor::new(pattern(400))).await.unwrap_err();
    assert!(matches!(short, Error::Source(_)), "{short:?}");
    let view = first
        .send(Cursor::new(pattern(1000)))
        .await
        .expect("resumed");
    assert_eq!(view.name, "file");
    assert_eq!(view.sha256, sha256_hex(&pattern(1000)));

    // Someone else's file, a missing one: 404. Someone else's upload: 404.
    let strangers = bob.file(view.id).await.unwrap_err();
    assert_eq!(code(strangers), refused(404, "not_found"));
    let missing = alice.file(uuid::Uuid::now_v7()).await.unwrap_err();
    assert_eq!(code(missing), refused(404, "not_found"));
    let theirs = bob.resume_upload(first.view().clone(), UploadOptions::default());
    assert_eq!(
        code(theirs.offset().await.unwrap_err()),
        refused(404, "not_found")
    );

    // A tampered URL: 403, and a stranger cannot renew it.
    let mut tampered = view.clone();
    tampered.url = tampered.url.replace("expires=", "expires=9");
    let mut download = bob.download(&tampered);
    let forbidden = download.next().await.expect("an item").unwrap_err();
    assert_eq!(code(forbidden), refused(403, "forbidden"));
    assert!(download.next().await.is_none(), "the stream ends");
}

/// Bytes that start like a PNG and then are a web page: refused at completion (422
/// `invalid_media`, the upload forgotten). `uuid` keeps them apart from other runs'.
fn fake_png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    bytes.extend_from_slice(b"<html><script>alert(1)</script>");
    bytes.extend_from_slice(uuid::Uuid::now_v7().as_bytes());
    bytes.extend(pattern(3000));
    bytes
}

/// Few, quick retries: the failures below are not transient.
fn quick_retries() -> UploadOptions {
    UploadOptions {
        retries: natter_sdk::Retries {
            max: 3,
            initial: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..UploadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_a_refusal_at_completion_is_the_error_even_when_its_answer_is_lost() {
    let server = TestServer::spawn();
    let proxy = Cutter::start(&server.base_url).await;
    let client = registered(&proxy.base_url).await;
    let code = |error: Error| (error.status(), error.code().map(str::to_owned));
    let invalid = (Some(422), Some("invalid_media".to_owned()));

    // The answer arrives: the last PATCH's refusal is returned as it is.
    let bytes = fake_png();
    let refused = client
        .upload(
            Cursor::new(bytes.clone()),
            bytes.len() as u64,
            Some("a.png"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(refused), invalid);

    // The connection drops just before the answer to the last PATCH: the server refused and
    // forgot the upload meanwhile. The SDK's HEAD, then its empty PATCH at the end, learn the
    // refusal the server remembers; not a 404.
    let bytes = fake_png();
    let upload = client
        .create_upload_with(bytes.len() as u64, Some("b.png"), quick_retries())
        .await
        .expect("create");
    proxy.cut_downstream_after(0);
    let refused = upload.send(Cursor::new(bytes)).await.unwrap_err();
    assert_eq!(proxy.cuts(), 1, "the answer was cut");
    assert_eq!(code(refused), invalid);
    // And so does every later request of the owner about it (a stranger still gets 404).
    let again = upload.send(Cursor::new(fake_png())).await.unwrap_err();
    assert_eq!(code(again), invalid);
    let stranger = registered(&server.base_url).await;
    let theirs = stranger.resume_upload(upload.view().clone(), UploadOptions::default());
    assert_eq!(
        code(theirs.offset().await.unwrap_err()),
        (Some(404), Some("not_found".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_an_unreachable_object_store_is_503_not_a_later_404() {
    // A port nothing listens on: an S3 that is down refuses connections.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{dead}");
    let server = TestServer::spawn_with_env(
        &[],
        &[
            ("NATTER__FILES__STORE", "s3"),
            ("NATTER__FILES__S3_ENDPOINT", &endpoint),
            ("NATTER__FILES__S3_ACCESS_KEY_ID", "natter"),
            ("NATTER__FILES__S3_SECRET_ACCESS_KEY", "natter-test-secret"),
            ("NATTER__FILES__S3_ALLOW_HTTP", "true"),
        ],
    );
    let client = registered(&server.base_url).await;
    let bytes = pattern(100_000);
    let upload = client
        .create_upload_with(bytes.len() as u64, Some("report.bin"), quick_retries())
        .await
        .expect("create");
    // The last PATCH is 503; so is every retry (HEAD, then the empty PATCH at the end).
    let error = upload.send(Cursor::new(bytes.clone())).await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(503), Some("unavailable"))
    );
    // The bytes are kept: the upload is at its end, waiting for the store.
    assert_eq!(upload.offset().await.unwrap_err().status(), Some(503));
}
