//! The download half of the file service: a file's owner gets a signed URL; the URL gets the bytes.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use natter_domain::DomainError;
use natter_domain::files::{FileId, FileName, FileRecord};
use object_store::{GetOptions, GetRange};

use super::{FileService, Refusal, hex, io_error, now_ms, object_key};
use crate::error::ApiResult;

/// What a download URL names: a complete file's bytes or one of its thumbnails'.
pub struct Download {
    /// The file's name (a thumbnail's too).
    pub name: FileName,
    pub sha256: [u8; 32],
    pub size: u64,
    pub mime: String,
}

impl FileService {
    /// The file's record, complete or not; 404 if there is none.
    async fn record(&self, id: FileId) -> ApiResult<FileRecord> {
        let record = self.inner.store.file(id).await.map_err(DomainError::from)?;
        Ok(record.ok_or(DomainError::NotFound)?)
    }

    /// Whether a download URL's signature holds and it has not expired (403 otherwise).
    fn verify_url(
        &self,
        id: FileId,
        sha256_hex: &str,
        expires_s: u64,
        signature: &str,
    ) -> ApiResult<()> {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        match self
            .inner
            .signer
            .verify(id, sha256_hex, expires_s, signature, now_s)
        {
            Ok(()) => Ok(()),
            Err(Refusal::Expired) => {
                Err(DomainError::Forbidden("the download URL has expired").into())
            }
            Err(Refusal::Invalid) => {
                Err(DomainError::Forbidden("the download URL is not valid").into())
            }
        }
    }

    /// The object a download URL names (the file or one of its thumbnails), if its signature
    /// holds and it has not expired (403 otherwise, checked first so nothing about the file is
    /// revealed without a valid URL); 404 once the file was deleted. A CDN's edge asks this
    /// (`.../check`) before serving bytes it has cached.
    pub async fn by_url(
        &self,
        id: FileId,
        sha256_hex: &str,
        expires_s: u64,
        signature: &str,
    ) -> ApiResult<Download> {
        self.verify_url(id, sha256_hex, expires_s, signature)?;
        let record = self.record(id).await?;
        let content = record.content.ok_or(DomainError::NotFound)?;
        let thumbnails = content.media.iter().flat_map(|media| &media.thumbnails);
        let (sha256, size, mime) = if hex(&content.sha256) == sha256_hex {
            (content.sha256, content.size, content.mime)
        } else {
            let thumbnail = thumbnails
                .into_iter()
                .find(|thumbnail| hex(&thumbnail.sha256) == sha256_hex)
                .ok_or(DomainError::NotFound)?;
            (thumbnail.sha256, thumbnail.bytes, thumbnail.mime.clone())
        };
        Ok(Download {
            name: record.name,
            sha256,
            size,
            mime,
        })
    }

    /// The bytes of `file`, all or `range`, as a stream.
    pub async fn bytes(
        &self,
        file: &Download,
        range: Option<std::ops::Range<u64>>,
    ) -> ApiResult<BoxStream<'static, std::io::Result<Bytes>>> {
        let key = object_key(&hex(&file.sha256));
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
