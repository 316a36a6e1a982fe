//! Files in conversations and avatars: which of the sender's files a message may carry, which
//! may be a user's picture, and who may read a file. A file is readable by its owner, by
//! everyone while it is its owner's avatar, and by the members of every conversation where a
//! message still shows it (a deleted message releases its hold); to anyone else it does not
//! exist (`NotFound`, the same as for an id that was never issued).

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{DomainError, StoreError};
use crate::files::{Attachment, FileContent, FileId, FileRecord, FileReference, FileStore};
use crate::ids::{ConversationId, UserId};
use crate::limits::ATTACHMENTS_MAX;
use crate::values::ClientMsgId;

use super::Chat;
use super::users::not_your_picture;

impl Chat {
    /// The file store, or `Unavailable` where this deployment keeps no files.
    fn file_store(&self) -> Result<&Arc<dyn FileStore>, DomainError> {
        self.ports().files.as_ref().ok_or(DomainError::Unavailable)
    }

    /// Snapshots of the files `ids` (in that order) for a message the actor sends to
    /// `conversation`, after recording that the message holds them. Each must be a complete
    /// file of the actor's; another user's file, an upload not yet complete and an unknown id
    /// get the same answer. Call with the conversation's lock held and membership checked.
    pub(super) async fn attach(
        &self,
        actor: UserId,
        conversation: ConversationId,
        client_msg_id: &ClientMsgId,
        ids: &[FileId],
    ) -> Result<Vec<Attachment>, DomainError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > ATTACHMENTS_MAX {
            return Err(DomainError::invalid(
                "attachments",
                format!("at most {ATTACHMENTS_MAX} files per message"),
            ));
        }
        let mut seen = HashSet::with_capacity(ids.len());
        if let Some(twice) = ids.iter().find(|&&id| !seen.insert(id)) {
            return Err(DomainError::invalid(
                "attachments",
                format!("file {twice} is attached twice"),
            ));
        }
        let store = self.file_store()?;
        let records = store.files(ids).await?;
        let mut attachments = Vec::with_capacity(ids.len());
        for &id in ids {
            let owned = records
                .iter()
                .find(|record| record.id == id)
                .and_then(|record| record.clone().readable_by(actor));
            let Some((record, content)) = owned else {
                return Err(DomainError::invalid(
                    "attachments",
                    format!("{id} is not a complete upload of yours"),
                ));
            };
            attachments.push(Attachment::of(record, content));
        }
        let now = self.now();
        let references: Vec<FileReference> = ids
            .iter()
            .map(|&file| FileReference {
                file,
                conversation,
                sender: actor,
                client_msg_id: client_msg_id.clone(),
                at_ms: now,
            })
            .collect();
        match store.add_references(&references).await {
            Ok(()) => Ok(attachments),
            // Collected since it was read above (it was never attached, for a day): gone now.
            Err(StoreError::NotFound) => Err(DomainError::invalid(
                "attachments",
                "a file is not a complete upload of yours",
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// After a message with attachments was deleted: its files are no longer readable through
    /// it. The message is already hidden; a failure here only leaves the files readable by the
    /// members a little longer, so it is logged, not reported.
    pub(super) async fn release_attachments(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
    ) {
        let Ok(store) = self.file_store() else {
            return;
        };
        let now = self.now();
        if let Err(err) = store
            .release_references(conversation, sender, client_msg_id, now)
            .await
        {
            tracing::warn!(%err, "attachments of a deleted message not released");
        }
    }

    /// The snapshot of file `id` for the actor's avatar: a complete picture of theirs
    /// ([`FileContent::is_picture`]). Anything else is refused (`Invalid`, field
    /// `avatar_file_id`): an unknown id, another user's file and an incomplete upload alike.
    pub(super) async fn avatar_picture(
        &self,
        actor: UserId,
        id: FileId,
    ) -> Result<Attachment, DomainError> {
        let store = self.file_store()?;
        let owned = store
            .file(id)
            .await?
            .and_then(|record| record.readable_by(actor));
        let Some((record, content)) = owned else {
            return Err(not_your_picture(Some(id)));
        };
        if !content.is_picture() {
            return Err(DomainError::invalid(
                "avatar_file_id",
                format!(
                    "{id} is not a picture: an avatar must be a PNG, JPEG, GIF or WebP image, \
                     and this file is {}",
                    content.mime
                ),
            ));
        }
        Ok(Attachment::of(record, content))
    }

    /// A complete file the actor may read: their own, someone's avatar (everyone's to see), or
    /// one a message shows in a conversation they are a member of. `NotFound` otherwise.
    pub async fn readable_file(
        &self,
        actor: UserId,
        id: FileId,
    ) -> Result<(FileRecord, FileContent), DomainError> {
        let store = self.file_store()?;
        let record = store.file(id).await?.ok_or(DomainError::NotFound)?;
        let content = record.content.clone().ok_or(DomainError::NotFound)?;
        if record.owner == actor {
            return Ok((record, content));
        }
        let owner = self.ports().accounts.user(record.owner).await?;
        if owner
            .and_then(|owner| owner.avatar)
            .is_some_and(|avatar| avatar.file_id == id)
        {
            return Ok((record, content));
        }
        for conversation in store.showing_conversations(id).await? {
            if self
                .ports()
                .conversations
                .member(conversation, actor)
                .await?
                .is_some()
            {
                return Ok((record, content));
            }
        }
        Err(DomainError::NotFound)
    }
}
