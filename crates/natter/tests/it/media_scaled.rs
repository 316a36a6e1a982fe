//! Files scaled out (docs/media.md "Scaled out"): metadata in PostgreSQL, bytes in the real S3
//! (the SeaweedFS of `scripts/services`), NGINX in front routing each tus upload to one node and
//! caching downloads behind a check of the signed URL. Most cases need the cluster
//! (`NATTER_E2E_CLUSTER=1`); the one about S3 being down runs in both modes, against an S3
//! endpoint nothing listens on (a stopped S3, without stopping the shared one).

use std::time::{Duration, Instant};

use natter_protocol::ErrorBody;
use reqwest::StatusCode;

use super::{Files, MP3_MAGIC, error_code, header, pattern, sha256_hex};
use crate::server::TestServer;
use crate::support::user;

fn cluster() -> bool {
    crate::cluster::enabled()
}

/// The S3 the cluster uses (`scripts/services env`).
pub(crate) fn cluster_s3() -> object_store::aws::AmazonS3 {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(var("NATTER_TEST_S3_ENDPOINT", "http://127.0.0.1:58333"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(var("NATTER_TEST_S3_BUCKET", "natter"))
        .with_access_key_id(var("NATTER_TEST_S3_ACCESS_KEY_ID", "natter"))
        .with_secret_access_key(var(
            "NATTER_TEST_S3_SECRET_ACCESS_KEY",
            "natter-test-secret",
        ))
        .build()
        .expect("S3 client")
}

/// The key of an object (docs/media.md: `blobs/<2 hex>/<sha256 hex>`).
pub(crate) fn object_key(sha256_hex: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("blobs/{}/{sha256_hex}", &sha256_hex[..2]))
}

/// The object of these bytes in the S3 the cluster uses, if any.
pub(crate) async fn object_in_s3(sha256_hex: &str) -> Option<u64> {
    use object_store::ObjectStoreExt;

    let key = object_key(sha256_hex);
    cluster_s3().head(&key).await.ok().map(|meta| meta.size)
}

/// `PATCH`es of uploads each node answered, from its metrics.
async fn patches_per_node(server: &TestServer) -> Vec<u64> {
    let mut counts = Vec::new();
    for node in 0..server.node_count() {
        let url = server.metrics_url(node).expect("metrics listener");
        let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let count = page
            .lines()
            .filter(|l| l.starts_with("natter_http_requests_total{"))
            .filter(|l| l.contains("files/uploads/{") && l.contains("method=\"PATCH\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        counts.push(count as u64);
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_scaled_uploads_stick_to_a_node_bytes_go_to_s3_and_the_edge_caches_them() {
    if !cluster() {
        return;
    }
    let server = TestServer::spawn();
    let (files, _) = Files::new(&server).await;
    // Bytes `infer` types as MP3: served inline and stored as they are (a picture's would be
    // re-encoded or refused, and this test is about where bytes go, not what they are).
    let mut bytes = MP3_MAGIC.to_vec();
    bytes.extend(pattern(200_000));
    // Eight PATCHes through NGINX: round robin would spread them over the three nodes.
    let upload = files.upload("song.mp3", &bytes, 25_100).await;
    let patches = patches_per_node(&server).await;
    assert_eq!(patches.iter().sum::<u64>(), 8, "{patches:?}");
    assert!(
        patches.contains(&8),
        "one node got every PATCH: {patches:?}"
    );

    let sha256 = sha256_hex(&bytes);
    assert_eq!(
        object_in_s3(&sha256).await,
        Some(bytes.len() as u64),
        "the object is in S3"
    );
    // Any node serves it: the metadata is in PostgreSQL and the bytes in S3.
    let view = files.view(upload.id).await;
    assert_eq!(view.sha256, sha256);
    for node in 0..server.node_count() {
        let direct = reqwest::get(format!("{}{}", server.node_url(node), view.url))
            .await
            .unwrap();
        assert_eq!(direct.status(), StatusCode::OK, "node {node}");
        assert_eq!(direct.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }

    let first = files.get(&view.url, &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(first.headers(), "x-cache-status"), "MISS");
    assert_eq!(
        header(first.headers(), "cache-control"),
        "private, no-cache"
    );
    assert_eq!(header(first.headers(), "x-content-type-options"), "nosniff");
    assert_eq!(first.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let second = files.get(&view.url, &[]).await;
    assert_eq!(header(second.headers(), "x-cache-status"), "HIT");
    assert_eq!(header(second.headers(), "etag"), format!("\"{sha256}\""));
    assert_eq!(header(second.headers(), "content-type"), "audio/mpeg");
    assert_eq!(second.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Another signed URL of the same file (another expiry) is the same cache entry; ranges and
    // revalidation are answered from it.
    let again = files.view(upload.id).await;
    let part = files.get(&again.url, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(part.headers(), "x-cache-status"), "HIT");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let etag = format!("\"{sha256}\"");
    let revalidated = files
        .get(&again.url, &[("if-none-match", etag.as_str())])
        .await;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_scaled_a_bad_url_never_gets_cached_bytes() {
    if !cluster() {
        return;
    }
    // URLs live 3 s here, so one can expire while its bytes are cached.
    let server = TestServer::spawn_with_env(&[], &[("NATTER__FILES__URL_TTL_S", "3")]);
    let (alice, _) = Files::new(&server).await;
    let (bob, _) = Files::new(&server).await;
    let secret = pattern(5_000);
    let upload = alice.upload("secret.bin", &secret, 5_000).await;
    let view = alice.view(upload.id).await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let fetched = alice.get(&view.url, &[]).await;
        statuses.push((
            fetched.status(),
            header(fetched.headers(), "x-cache-status"),
        ));
    }
    assert_eq!(
        statuses,
        [
            (StatusCode::OK, "MISS".to_owned()),
            (StatusCode::OK, "HIT".to_owned())
        ],
        "the bytes are cached"
    );

    // Tampered: a flipped signature, another expiry, no signature at all.
    let mut flipped = view.url.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let later = view.url.replace("expires=", "expires=9");
    let bare = view.url.split('?').next().unwrap().to_owned();
    for url in [&flipped, &later, &bare] {
        let response = bob.get(url, &[]).await;
        assert!(response.headers().get("x-cache-status").is_none(), "{url}");
        assert_eq!(
            error_code(response).await,
            (StatusCode::FORBIDDEN, "forbidden".into()),
            "{url}"
        );
    }
    // Bob's own valid URL, pointed at Alice's file: refused, though her bytes are cached.
    let bobs = bob.upload("mine.bin", &pattern(10), 10).await;
    let bobs_view = bob.view(bobs.id).await;
    let query = bobs_view.url.split_once('?').unwrap().1;
    let path = view.url.split('?').next().unwrap();
    let crossed = format!("{path}?{query}");
    assert_eq!(
        error_code(bob.get(&crossed, &[]).await).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert_eq!(
        error_code(bob.file(upload.id).await).await,
        (StatusCode::NOT_FOUND, "not_found".into()),
        "nor is its signed URL handed to him"
    );

    // Expired: poll (bounded) until the URL stops working; its bytes stay cached meanwhile.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = alice.get(&view.url, &[]).await;
        if response.status() == StatusCode::FORBIDDEN {
            assert!(response.headers().get("x-cache-status").is_none());
            let body: ErrorBody = response.json().await.unwrap();
            assert_eq!(body.code, "forbidden");
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        assert!(Instant::now() < deadline, "the URL never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = alice.view(upload.id).await;
    let cached = alice.get(&fresh.url, &[]).await;
    assert_eq!(header(cached.headers(), "x-cache-status"), "HIT");
    assert_eq!(cached.bytes().await.unwrap().as_ref(), secret.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_s3_down_refuses_uploads_with_503_and_sends_still_work() {
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
    let (files, client) = Files::new(&server).await;
    let bytes = pattern(1_000);
    // Creating needs only the metadata store; the last byte needs S3.
    let upload = files.create(bytes.len(), "report.bin").await;
    let refused = files.patch(&upload, 0, &bytes).await;
    assert_eq!(header(refused.headers(), "retry-after"), "1");
    assert_eq!(
        error_code(refused).await,
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable".into())
    );
    // The bytes are kept: once S3 is back a HEAD completes the upload. Meanwhile it is not a file.
    assert_eq!(
        error_code(files.file(upload.id).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // Chat goes on.
    let (_, bob) = user(&server, "peer").await;
    let direct = client.create_direct(bob.id).await.expect("direct");
    let sent = client
        .send_text(direct.conversation.id, "no attachment")
        .await;
    assert!(sent.is_ok(), "{sent:?}");
}
