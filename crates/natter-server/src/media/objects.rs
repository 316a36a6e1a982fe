//! The object store that holds complete files, picked by `files.store`: this node's disk
//! (`LocalFileSystem`, embedded), or S3 (`AmazonS3`, behind the `s3` cargo feature) when
//! several nodes serve the same files. Both are `object_store` implementations, so the upload
//! and download code is the same for either.
//!
//! The S3 client is tuned to fail fast: an S3 that is down must turn into a 503 on the request
//! that needed it within seconds, not after object_store's default three minutes of retries.
//! Downloads stream for as long as the client reads, so there is no whole-request timeout: a
//! connect timeout, and a limit on the wait for each read (an S3 that accepts and then hangs).

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;

use crate::config::{FilesConfig, ObjectStoreKind};

/// The store `config` names; local objects under `objects_dir`.
pub fn open(config: &FilesConfig, objects_dir: &Path) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match config.store {
        ObjectStoreKind::Local => {
            crate::secrets::create_private_dir(objects_dir)?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(objects_dir)?
                .with_automatic_cleanup(true);
            Ok(Arc::new(local))
        }
        ObjectStoreKind::S3 => s3(config),
    }
}

#[cfg(feature = "s3")]
fn s3(config: &FilesConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    use std::time::Duration;

    use object_store::aws::AmazonS3Builder;
    use object_store::{BackoffConfig, ClientOptions, RetryConfig};

    let client = ClientOptions::new()
        .with_allow_http(config.s3_allow_http)
        .with_connect_timeout(Duration::from_secs(2))
        .with_read_timeout(Duration::from_secs(30))
        .with_timeout_disabled();
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&config.s3_bucket)
        .with_region(&config.s3_region)
        .with_client_options(client)
        .with_retry(retry);
    if !config.s3_endpoint.is_empty() {
        builder = builder.with_endpoint(&config.s3_endpoint);
    }
    if !config.s3_access_key_id.is_empty() {
        builder = builder.with_access_key_id(&config.s3_access_key_id);
    }
    if !config.s3_secret_access_key.expose().is_empty() {
        builder = builder.with_secret_access_key(config.s3_secret_access_key.expose());
    }
    let store = builder
        .build()
        .map_err(|e| anyhow::anyhow!("files.store = \"s3\": {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
fn s3(_: &FilesConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    anyhow::bail!("files.store = \"s3\": this natter was built without the `s3` feature")
}
