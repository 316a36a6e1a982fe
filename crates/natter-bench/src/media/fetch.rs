//! Downloads for the CDN runs: a plain streamed `GET` of a file's signed URL joined to an
//! origin (the edge, or one node for comparison), with the SHA-256 checked at the end as the
//! SDK's download does, and the edge's `X-Cache-Status` kept. The SDK's `Download` does not
//! hand out response headers, and whether each request was a `MISS` or a `HIT` is the point of
//! these runs.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use natter_sdk::protocol::FileView;
use sha2::{Digest, Sha256};

/// What one pass of downloads saw of the edge's cache: `X-Cache-Status` value -> requests
/// (`none` when the answer had no such header: a node answered directly).
pub type CacheStatuses = BTreeMap<String, usize>;

/// `GET origin + view.url`, every byte read and hashed; adds the answer's cache status to
/// `statuses`. Fails on any status but 200, a short body or other bytes.
pub async fn fetch(
    http: &reqwest::Client,
    origin: &str,
    view: &FileView,
    statuses: &mut CacheStatuses,
) -> anyhow::Result<u64> {
    let url = format!("{}{}", origin.trim_end_matches('/'), view.url);
    let response = http.get(&url).send().await.context("GET the file")?;
    let status = response.status();
    ensure!(
        status == reqwest::StatusCode::OK,
        "GET {url} answered {status}"
    );
    let cache = response
        .headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    *statuses.entry(cache).or_default() += 1;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut response = response;
    while let Some(piece) = response.chunk().await.context("read the file")? {
        hasher.update(&piece);
        received += piece.len() as u64;
    }
    ensure!(
        received == view.size,
        "downloaded {received} of {} bytes",
        view.size
    );
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(
        actual == view.sha256,
        "the bytes hash to {actual}, not {}",
        view.sha256
    );
    Ok(received)
}
