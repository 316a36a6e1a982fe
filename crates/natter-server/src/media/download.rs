//! The download half of the file service: a file's owner gets a signed URL; the URL gets the bytes.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use natter_domain::files::{FileContent, FileId, FileRecord};
use natter_domain::{DomainError, UserId};
use object_store::{GetOptions, GetRange};

use super::{FileService, Refusal, hex, io_error, now_ms, object_key};
use crate::error::ApiResult;

/// A complete file its reader may fetch.
pub struct Readable {
    pub record: FileRecord,
    pub content: FileContent,
}

/// A signed URL and when it stops working.
pub struct SignedUrl {
    pub url: String,
    pub expires_at_ms: i64,
}

impl FileService {
    /// The owner's complete file.
    pub async fn readable(&self, caller: UserId, id: FileId) -> ApiResult<Readable> {
        let record = self.record(id).await?;
        let (record, content) = record.readable_by(caller).ok_or(DomainError::NotFound)?;
        Ok(Readable { record, content })
    }

    /// The file's record, complete or not; 404 if there is none.
    async fn record(&self, id: FileId) -> ApiResult<FileRecord> {
        let record = self.inner.store.file(id).await.map_err(DomainError::from)?;
        Ok(record.ok_or(DomainError::NotFound)?)
    }

    /// A download URL for a complete file, valid for `files.url_ttl_s`.
    pub fn signed_url(&self, file: &Readable) -> SignedUrl {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let expires_s = now_s.saturating_add(self.inner.config.url_ttl_s);
        let sha256_hex = hex(&file.content.sha256);
        let signature = self
            .inner
            .signer
            .sign(file.record.id, &sha256_hex, expires_s);
        SignedUrl {
            url: format!(
                "/api/v1/files/{}/content/{sha256_hex}?expires={expires_s}&signature={signature}",
                file.record.id
            ),
            expires_at_ms: i64::try_from(expires_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// The file a download URL names, if its signature holds and it has not expired (403
    /// otherwise, checked first so nothing about the file is revealed without a valid URL).
    pub async fn by_url(
        &self,
        id: FileId,
        sha256_hex: &str,
        expires_s: u64,
        signature: &str,
    ) -> ApiResult<Readable> {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        match self
            .inner
            .signer
            .verify(id, sha256_hex, expires_s, signature, now_s)
        {
            Ok(()) => {}
            Err(Refusal::Expired) => {
                return Err(DomainError::Forbidden("the download URL has expired").into());
            }
            Err(Refusal::Invalid) => {
                return Err(DomainError::Forbidden("the download URL is not valid").into());
            }
        }
        let record = self.record(id).await?;
        let content = record.content.clone().ok_or(DomainError::NotFound)?;
        if hex(&content.sha256) != sha256_hex {
            return Err(DomainError::NotFound.into());
        }
        Ok(Readable { record, content })
    }

    /// The bytes of `file`, all or `range`, as a stream.
    pub async fn bytes(
        &self,
        file: &Readable,
        range: Option<std::ops::Range<u64>>,
    ) -> ApiResult<BoxStream<'static, std::io::Result<Bytes>>> {
        let key = object_key(&hex(&file.content.sha256));
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .objects
            .get_opts(&key, options)
            .await
            .map_err(|e| io_error("read object", e))?;
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
    }
}
