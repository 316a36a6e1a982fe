//! Uploads refused at completion (422 `media_too_large` / `invalid_media`) are forgotten at
//! once, bytes and row. This remembers why, for a while, so that a client that missed the
//! refusal (the answer to its last `PATCH` was lost, or a `HEAD` completed the upload) learns it
//! from its next request about the upload instead of a bare 404. Node-local and bounded:
//! scaled out, every request of an upload reaches the same node (deploy/nginx); after a
//! restart, past [`KEEP_FOR`] or past [`KEEP_AT_MOST`] newer refusals the answer is 404 again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_domain::UserId;
use natter_domain::files::FileId;

use crate::error::ApiError;

/// How long a refusal is remembered.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Refusals remembered at most (the oldest go first): a few hundred bytes each.
pub const KEEP_AT_MOST: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TooLarge,
    Invalid,
}

struct Entry {
    id: FileId,
    owner: UserId,
    at: Instant,
    kind: Kind,
    message: String,
}

/// The recent refusals of this node, oldest first.
#[derive(Default)]
pub struct Refused {
    entries: Mutex<VecDeque<Entry>>,
}

impl Refused {
    /// Remembers `error` as the end of `owner`'s upload `id`, if it is a refusal of the content.
    pub fn remember(&self, id: FileId, owner: UserId, error: &ApiError) {
        let (kind, message) = match error {
            ApiError::MediaTooLarge(message) => (Kind::TooLarge, message),
            ApiError::InvalidMedia(message) => (Kind::Invalid, message),
            _ => return,
        };
        let mut entries = self.entries.lock().expect("refusals");
        if entries.len() >= KEEP_AT_MOST {
            entries.pop_front();
        }
        entries.push_back(Entry {
            id,
            owner,
            at: Instant::now(),
            kind,
            message: message.clone(),
        });
    }

    /// The refusal that ended `owner`'s upload `id`, if remembered (another user's is not).
    pub fn recall(&self, id: FileId, owner: UserId) -> Option<ApiError> {
        let mut entries = self.entries.lock().expect("refusals");
        while entries.front().is_some_and(|e| e.at.elapsed() > KEEP_FOR) {
            entries.pop_front();
        }
        let entry = entries.iter().find(|e| e.id == id && e.owner == owner)?;
        Some(match entry.kind {
            Kind::TooLarge => ApiError::MediaTooLarge(entry.message.clone()),
            Kind::Invalid => ApiError::InvalidMedia(entry.message.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_refusals_are_recalled_and_only_by_their_owner() {
        let refused = Refused::default();
        let (owner, other) = (UserId::new(), UserId::new());
        let (bad, bomb, busy) = (FileId::new(), FileId::new(), FileId::new());
        refused.remember(bad, owner, &ApiError::InvalidMedia("not a PNG".into()));
        refused.remember(bomb, owner, &ApiError::MediaTooLarge("20000x20000".into()));
        refused.remember(busy, owner, &ApiError::PayloadTooLarge);
        let code = |e: Option<ApiError>| e.map(|e| (e.body().code, e.to_string()));
        assert_eq!(
            code(refused.recall(bad, owner)),
            Some(("invalid_media".into(), "not a PNG".into()))
        );
        assert_eq!(
            code(refused.recall(bomb, owner)),
            Some(("media_too_large".into(), "20000x20000".into()))
        );
        assert_eq!(code(refused.recall(busy, owner)), None);
        assert_eq!(code(refused.recall(bad, other)), None);
    }

    #[test]
    fn the_oldest_go_first_past_the_bound() {
        let refused = Refused::default();
        let owner = UserId::new();
        let ids: Vec<FileId> = (0..=KEEP_AT_MOST).map(|_| FileId::new()).collect();
        for id in &ids {
            refused.remember(*id, owner, &ApiError::InvalidMedia("x".into()));
        }
        assert!(refused.recall(ids[0], owner).is_none());
        assert!(refused.recall(ids[1], owner).is_some());
        assert!(refused.recall(ids[KEEP_AT_MOST], owner).is_some());
    }
}
