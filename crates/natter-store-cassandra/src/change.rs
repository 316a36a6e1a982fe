//! `change`: edit, delete or react, under the sequencer's ticket.
//!
//! The base is the row's visible (committed) version, never an orphan's; the new row keeps that
//! base as `prev`, so until `commit_change` returns (and for ever, if it never does) readers
//! still see the base. A no-op (see `apply`) writes nothing, commits nothing and returns the
//! message as it is.

use natter_domain::model::{Message, MessageChange};
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, StoreError};

use crate::Inner;
use crate::apply::apply;
use crate::errors::corrupt;
use crate::rows::StoredMessage;

impl Inner {
    pub(crate) async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        let ticket = self.sequencer.begin(conversation).await?;
        let head = ticket.head();
        if seq < 1 || seq > head.last_seq {
            return Err(StoreError::NotFound);
        }
        let row = self
            .load_row(conversation, seq)
            .await?
            .ok_or_else(|| corrupt(format!("committed message {conversation}/{seq} missing")))?;
        let base = self
            .visible_one(conversation, head, &row)
            .await?
            .ok_or_else(|| {
                corrupt(format!(
                    "message {conversation}/{seq} has no visible version"
                ))
            })?;
        let Some(mut next) = apply(base, change, now_ms) else {
            return row.message(base);
        };
        next.mod_seq = head.last_mod + 1;
        let changed = StoredMessage {
            current: next,
            prev: base.clone(),
            ..row.clone()
        };
        self.write_change(&changed, head.write_stamp).await?;
        ticket.commit_change(seq).await?;
        changed.message(&changed.current)
    }
}
