//! Files: uploaded bytes a user owns, and the rules about them that need no I/O. Metadata lives
//! behind the [`FileStore`] port (SQLite embedded); the bytes themselves are the server's
//! business (an object store), so this crate never sees them, only what was learned from them
//! ([`FileContent`]).
//!
//! A file starts as an upload (declared size, no content yet) and becomes complete once every
//! byte has arrived and the server has hashed and typed them. Only complete files are ever
//! served; an incomplete one answers like a missing one.

use std::fmt;

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::DomainError;
use crate::ids::{ConversationId, UserId};
use crate::limits::FILE_NAME_MAX_BYTES;
use crate::ports::StoreResult;
use crate::values::ClientMsgId;

/// An upload and, once complete, the file it became (the same id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct FileId(pub Uuid);

impl FileId {
    /// A fresh, time-sortable, unguessable id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for FileId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A file's name as its owner gave it, safe to show and to put in `Content-Disposition`: no
/// path (no `/` or `\`, not `.` or `..`), no control or bidirectional-override characters
/// (U+202E makes `evil<U+202E>gpj.exe` display as `evilexe.jpg`), at most [`FILE_NAME_MAX_BYTES`] bytes
/// of UTF-8, surrounding whitespace trimmed. Bad names are refused, never silently rewritten, so
/// what the owner sees is what they sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct FileName(String);

/// The name of a file uploaded without one.
pub const UNNAMED_FILE: &str = "file";

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        let invalid = |reason: &str| DomainError::invalid("name", reason);
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(invalid("must be a file name, not a path"));
        }
        if name.chars().any(is_forbidden_char) {
            return Err(invalid("must not contain control characters"));
        }
        if name.len() > FILE_NAME_MAX_BYTES {
            return Err(invalid(&format!(
                "must be at most {FILE_NAME_MAX_BYTES} bytes of UTF-8"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For adapters reading values that were validated when written.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

/// Control characters, and the bidirectional overrides and isolates that reorder how a name
/// is displayed.
fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What the server learned from a complete upload's bytes, and what it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FileContent {
    /// SHA-256 of the stored bytes (after metadata was stripped from an image): the object's key
    /// in the object store, and the `ETag`.
    pub sha256: [u8; 32],
    /// Length of the stored bytes. [`FileRecord::size`] stays the size the owner uploaded (what
    /// counts against the quota); the two differ when metadata was stripped.
    pub size: u64,
    /// The media type decided from the bytes (never the client's claim or the name).
    pub mime: String,
    pub completed_at_ms: i64,
    /// Dimensions, duration and previews of an image, a video or a sound; `None` for other files
    /// and for media whose container could not be read.
    pub media: Option<MediaInfo>,
}

impl FileContent {
    /// Every object the content names (the bytes and the thumbnails), sorted, each once.
    pub fn objects(&self) -> Vec<ObjectHash> {
        let thumbnails = self.media.iter().flat_map(|m| &m.thumbnails);
        let mut objects: Vec<ObjectHash> = std::iter::once(self.sha256)
            .chain(thumbnails.map(|t| t.sha256))
            .collect();
        objects.sort_unstable();
        objects.dedup();
        objects
    }

    /// The thumbnail of `size`, if one was made.
    pub fn thumbnail(&self, size: ThumbnailSize) -> Option<&Thumbnail> {
        self.media
            .as_ref()
            .and_then(|m| m.thumbnails.iter().find(|t| t.size == size))
    }

    /// A picture the server decoded and thumbnailed (PNG, JPEG, GIF or WebP): what a user's
    /// avatar must be, since clients show its small thumbnail. Not a video (whose poster has
    /// thumbnails too), nor an AVIF or HEIC picture (stored without thumbnails).
    pub fn is_picture(&self) -> bool {
        self.mime.starts_with("image/") && self.thumbnail(ThumbnailSize::Small).is_some()
    }
}

/// What a client needs to lay out and preview a picture, a video or a sound before fetching it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MediaInfo {
    /// As displayed: after the EXIF orientation was applied.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// A ThumbHash (at most 25 bytes): a blurred placeholder small enough to travel in the
    /// message itself.
    pub thumbhash: Option<Vec<u8>>,
    /// Smaller renderings, at most one per [`ThumbnailSize`].
    pub thumbnails: Vec<Thumbnail>,
}

/// The bounding boxes thumbnails are made to fit (never upscaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum ThumbnailSize {
    /// Fits in 320x320: the preview in a conversation.
    Small,
    /// Fits in 1280x1280: the picture opened on a phone or in a lightbox.
    Large,
}

impl ThumbnailSize {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Large => "large",
        }
    }

    /// The longest side, in pixels.
    pub fn max_side(self) -> u32 {
        match self {
            Self::Small => 320,
            Self::Large => 1280,
        }
    }
}

/// One stored rendering of an image: an object of its own, addressed by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Thumbnail {
    pub size: ThumbnailSize,
    pub sha256: [u8; 32],
    pub mime: String,
    pub width: u32,
    pub height: u32,
    /// Length of the stored bytes.
    pub bytes: u64,
}

/// A complete file as a message carries it: a snapshot taken when the message was sent. Files
/// never change once complete, so the snapshot never goes stale, and reading a message needs
/// no lookup in the file store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Attachment {
    pub file_id: FileId,
    pub name: FileName,
    pub created_at_ms: i64,
    pub content: FileContent,
}

impl Attachment {
    /// The snapshot of a complete file (`content` is `record`'s).
    pub fn of(record: FileRecord, content: FileContent) -> Self {
        Self {
            file_id: record.id,
            name: record.name,
            created_at_ms: record.created_at_ms,
            content,
        }
    }
}

/// An upload about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub id: FileId,
    pub owner: UserId,
    pub name: FileName,
    /// The size the client declared; the upload is complete when this many bytes arrived.
    pub size: u64,
    pub created_at_ms: i64,
}

/// An upload or a complete file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub owner: UserId,
    pub name: FileName,
    pub size: u64,
    pub created_at_ms: i64,
    /// `None` while the upload is incomplete.
    pub content: Option<FileContent>,
}

impl FileRecord {
    /// The record as `caller` may know it: complete and their own, or nothing (a missing file, an
    /// incomplete upload and another user's file look the same, so ids cannot be probed).
    pub fn readable_by(self, caller: UserId) -> Option<(FileRecord, FileContent)> {
        if self.owner != caller {
            return None;
        }
        let content = self.content.clone()?;
        Some((self, content))
    }
}

/// The answer to [`FileStore::create_upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
// One value per upload created, never kept in bulk: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum CreateUpload {
    Created(FileRecord),
    /// The owner's files and uploads already take `used_bytes`; the new one would pass the quota.
    OverQuota {
        used_bytes: u64,
    },
}

/// A message's hold on a file: while it is not released, members of `conversation` may read the
/// file. Keyed by the message's idempotency key (sender and `client_msg_id`), which is known
/// before the message is stored, so the reference is recorded first and a retried send adds
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReference {
    pub file: FileId,
    pub conversation: ConversationId,
    pub sender: UserId,
    pub client_msg_id: ClientMsgId,
    pub at_ms: i64,
}

/// A content hash naming one object in the object store. Objects are shared: files with the same
/// bytes (and the same thumbnails) name the same object.
pub type ObjectHash = [u8; 32];

/// The answer to [`FileStore::pin_objects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// The objects stay until the file is deleted: the caller may now check whether they exist
    /// and write those that do not.
    Pinned,
    /// One of them is being deleted by the collector: pinned nothing. Its bytes may be gone at
    /// any moment; try again once the deletion is over (the object then has to be written anew).
    BeingDeleted,
}

/// Which complete files the collector removes: no user has them as their avatar, no message
/// shows them any more (no reference that is not released), and either no message ever did and
/// they were completed before `unattached_before_ms`, or the last message showing them was
/// deleted before `released_before_ms`. So a picture that stops being an avatar goes at the next
/// pass once its own time is up, unless a message shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collectable {
    pub unattached_before_ms: i64,
    pub released_before_ms: i64,
}

/// File metadata: who owns what, how large it is, what it turned out to be, and which
/// conversations show it.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Record an upload, unless the sizes of the owner's files and uploads plus this one would
    /// exceed `quota_bytes` (checked and recorded atomically, so concurrent uploads cannot
    /// together pass the quota).
    async fn create_upload(&self, upload: NewUpload, quota_bytes: u64)
    -> StoreResult<CreateUpload>;
    /// A file or upload, complete or not.
    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>>;
    /// Record what a finished upload's bytes are. `NotFound` if there is no such upload;
    /// completing an already complete file changes nothing and returns it as it is.
    async fn complete(&self, id: FileId, content: FileContent) -> StoreResult<FileRecord>;
    /// Forget an upload that is not complete. `NotFound` if there is none; `Conflict` if the
    /// file is complete (complete files are kept).
    async fn delete_upload(&self, id: FileId) -> StoreResult<()>;
    /// Incomplete uploads created before `before_ms`, oldest first, at most `limit`.
    async fn stale_uploads(&self, before_ms: i64, limit: u32) -> StoreResult<Vec<FileId>>;
    /// The files among `ids` that exist, complete or not, in no particular order.
    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>>;
    /// Record references; one already recorded (same file and message) is left as it is.
    /// `NotFound` (and nothing recorded) if one of the files does not exist: the collector may
    /// have removed it since the caller read it.
    async fn add_references(&self, references: &[FileReference]) -> StoreResult<()>;
    /// The message (`sender`, `client_msg_id`) of `conversation` was deleted: its references no
    /// longer let anyone read its files. Releasing what is released or absent changes nothing.
    async fn release_references(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
        at_ms: i64,
    ) -> StoreResult<()>;
    /// Conversations with a reference to `file` that is not released.
    async fn showing_conversations(&self, file: FileId) -> StoreResult<Vec<ConversationId>>;

    // Collection. Objects are content-addressed and shared, so the store keeps, per upload or
    // file, which objects it uses (its pins), and deletes an object only once nothing pins it,
    // under a protocol that cannot race with an upload reusing the same bytes: an upload pins
    // its objects *before* it checks whether they exist, and the collector marks an unpinned
    // object as being deleted (which makes pinning it fail) before it deletes the bytes.

    /// Pin `objects` for upload `file` (idempotent), unless one is being deleted. Pins go with
    /// the upload or file: deleting either unpins its objects.
    async fn pin_objects(&self, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin>;
    /// Complete files that `rule` says the collector may remove, at most `limit`.
    async fn collectable_files(&self, rule: Collectable, limit: u32) -> StoreResult<Vec<FileId>>;
    /// Delete complete file `id`, its references and its pins, if `rule` still says it is
    /// collectable (checked atomically with the delete: a file attached, or made an avatar,
    /// meanwhile stays).
    /// Whether it was deleted. Objects left without a pin become [`Self::orphaned_objects`].
    async fn delete_file(&self, id: FileId, rule: Collectable) -> StoreResult<bool>;
    /// Objects nothing pins any more (and those whose deletion was begun), at most `limit`.
    async fn orphaned_objects(&self, limit: u32) -> StoreResult<Vec<ObjectHash>>;
    /// Mark `object` as being deleted if nothing pins it (then the caller deletes its bytes and
    /// calls [`Self::end_object_deletion`]); whether it was marked. Marking one already marked
    /// says true again, so a collector that died mid-deletion is finished by the next.
    async fn begin_object_deletion(&self, object: ObjectHash) -> StoreResult<bool>;
    /// The bytes of `object` are gone: forget it, so it can be pinned (and written) again.
    async fn end_object_deletion(&self, object: ObjectHash) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_names_without_paths_or_controls() {
        assert_eq!(FileName::parse("  cat.png ").unwrap().as_str(), "cat.png");
        assert_eq!(
            FileName::parse("résumé 2026.pdf").unwrap().as_str(),
            "résumé 2026.pdf"
        );
        for bad in [
            "",
            "   ",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "..\\boot.ini",
            "a\nb",
            "nul\0byte",
            "evil\u{202E}gpj.exe",
            "tab\there",
        ] {
            assert!(FileName::parse(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(FILE_NAME_MAX_BYTES + 1);
        assert!(FileName::parse(&long).is_err());
        assert!(FileName::parse(&long[1..]).is_ok());
    }

    #[test]
    fn only_the_owner_reads_a_complete_file() {
        let owner = UserId::new();
        let mut record = FileRecord {
            id: FileId::new(),
            owner,
            name: FileName::parse("a.txt").unwrap(),
            size: 3,
            created_at_ms: 1,
            content: None,
        };
        assert!(record.clone().readable_by(owner).is_none(), "incomplete");
        record.content = Some(FileContent {
            sha256: [0; 32],
            size: 3,
            mime: "text/plain".into(),
            completed_at_ms: 2,
            media: None,
        });
        assert!(
            record.clone().readable_by(UserId::new()).is_none(),
            "stranger"
        );
        assert!(record.readable_by(owner).is_some());
    }

    #[test]
    fn a_picture_is_an_image_with_a_small_thumbnail() {
        let small = Thumbnail {
            size: ThumbnailSize::Small,
            sha256: [1; 32],
            mime: "image/jpeg".into(),
            width: 320,
            height: 240,
            bytes: 100,
        };
        let content = |mime: &str, thumbnails: Vec<Thumbnail>| FileContent {
            sha256: [0; 32],
            size: 3,
            mime: mime.into(),
            completed_at_ms: 2,
            media: Some(MediaInfo {
                thumbnails,
                ..MediaInfo::default()
            }),
        };
        assert!(content("image/png", vec![small.clone()]).is_picture());
        assert_eq!(
            content("image/png", vec![small.clone()]).thumbnail(ThumbnailSize::Small),
            Some(&small)
        );
        assert!(
            !content("video/mp4", vec![small.clone()]).is_picture(),
            "a poster"
        );
        assert!(
            !content("image/avif", Vec::new()).is_picture(),
            "no thumbnail"
        );
        let mut plain = content("image/png", Vec::new());
        plain.media = None;
        assert!(!plain.is_picture());
    }
}
