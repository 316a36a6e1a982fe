//! A complete file as clients see it: its facts and signed URLs for it and its thumbnails. The
//! one place a [`FileView`] is made, for `GET /files/{id}` and for the attachments of every
//! message view, so both always agree; and a user's picture ([`AvatarView`]), signed the same way.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_domain::files::{Attachment, FileId, ThumbnailSize};
use natter_protocol::{AvatarView, FileView, ThumbnailView};

use super::{FileService, hex, now_ms, sniff};

impl FileService {
    /// The view of `file`, with URLs valid for `files.url_ttl_s` from now.
    pub fn view(&self, file: &Attachment) -> FileView {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let expires_s = now_s.saturating_add(self.inner.config.url_ttl_s);
        let content = &file.content;
        let media = content.media.clone().unwrap_or_default();
        FileView {
            id: file.file_id.0,
            name: file.name.as_str().to_owned(),
            size: content.size,
            sha256: hex(&content.sha256),
            inline: sniff::is_inline(&content.mime),
            mime: content.mime.clone(),
            created_at_ms: file.created_at_ms,
            width: media.width,
            height: media.height,
            duration_ms: media.duration_ms,
            thumbhash: media.thumbhash.map(|hash| STANDARD.encode(hash)),
            thumbnails: media
                .thumbnails
                .iter()
                .map(|thumbnail| ThumbnailView {
                    size: thumbnail.size.as_str().to_owned(),
                    width: thumbnail.width,
                    height: thumbnail.height,
                    mime: thumbnail.mime.clone(),
                    url: self.signed_url(file.file_id, &thumbnail.sha256, expires_s),
                })
                .collect(),
            url: self.signed_url(file.file_id, &content.sha256, expires_s),
            url_expires_at_ms: i64::try_from(expires_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// A user's picture, with URLs valid for `files.url_ttl_s` from now: its small thumbnail,
    /// and its large one or, when the picture fits in that box already (no large one was made),
    /// the picture itself. `None` for a file without a small thumbnail, which the service never
    /// accepts as an avatar.
    pub fn avatar(&self, picture: &Attachment) -> Option<AvatarView> {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let expires_s = now_s.saturating_add(self.inner.config.url_ttl_s);
        let content = &picture.content;
        let small = content.thumbnail(ThumbnailSize::Small)?;
        let large = content
            .thumbnail(ThumbnailSize::Large)
            .map_or(&content.sha256, |large| &large.sha256);
        Some(AvatarView {
            file_id: picture.file_id.0,
            thumbhash: content
                .media
                .as_ref()
                .and_then(|media| media.thumbhash.as_ref())
                .map(|hash| STANDARD.encode(hash)),
            url_small: self.signed_url(picture.file_id, &small.sha256, expires_s),
            url_large: self.signed_url(picture.file_id, large, expires_s),
            url_expires_at_ms: i64::try_from(expires_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        })
    }

    /// The download URL of the object `sha256` of file `id` (the file itself or a thumbnail),
    /// relative to the server's origin.
    fn signed_url(&self, id: FileId, sha256: &[u8; 32], expires_s: u64) -> String {
        let sha256_hex = hex(sha256);
        let signature = self.inner.signer.sign(id, &sha256_hex, expires_s);
        format!("/api/v1/files/{id}/content/{sha256_hex}?expires={expires_s}&signature={signature}")
    }
}
