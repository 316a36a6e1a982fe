//! `append`: one message at the conversation's next seq, under the sequencer's ticket.
//!
//! The ticket makes this the only writer of the conversation until it commits or drops, so
//! "look up the idempotency key, then write" is race-free across nodes. The three inserts are
//! written at the ticket's stamp, and the message exists (and is acknowledged) only once
//! `commit_append` returns; if anything fails before that, the cells written are an orphan that
//! readers ignore and the next append of the same seq overwrites (see `visibility`).

use natter_domain::StoreError;
use natter_domain::model::{AppendOutcome, NewMessage};
use natter_domain::ports::StoreResult;
use natter_domain::rules;

use crate::Inner;
use crate::rows::{StoredMessage, Version, attachments_json};

impl Inner {
    pub(crate) async fn append(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        let reply_to_seq = match new.reply_to_seq {
            None => 0,
            Some(seq) if seq >= 1 => seq,
            Some(seq) => {
                return Err(StoreError::Internal(format!(
                    "reply_to_seq must be positive, got {seq}"
                )));
            }
        };
        let conversation = new.conversation_id;
        let ticket = self.sequencer.begin(conversation).await?;
        let head = ticket.head();

        // The key may point at an orphan (an append never committed, maybe since overwritten
        // by another message): only a committed row with this very key is the original.
        let existing = self
            .client_id_seq(conversation, new.sender_id.0, new.client_msg_id.as_str())
            .await?;
        if let Some(seq) = existing.filter(|seq| (1..=head.last_seq).contains(seq))
            && let Some(row) = self.load_row(conversation, seq).await?
            && row.sender_id == new.sender_id.0
            && row.client_msg_id == new.client_msg_id.as_str()
            && let Some(version) = self.visible_one(conversation, head, &row).await?
        {
            // Dropping the ticket rolls it back: nothing was written.
            return Ok(AppendOutcome::Duplicate(row.message(version)?));
        }

        let row = StoredMessage {
            conversation_id: conversation,
            seq: head.last_seq + 1,
            id: new.id.0,
            sender_id: new.sender_id.0,
            client_msg_id: new.client_msg_id.as_str().to_owned(),
            reply_to_seq,
            created_at_ms: new.created_at_ms,
            current: Version {
                mod_seq: head.last_mod + 1,
                text: new.text.as_str().to_owned(),
                mentions: rules::distinct(&new.mentions).iter().map(|u| u.0).collect(),
                edited_at_ms: 0,
                deleted: false,
                reactions: Vec::new(),
                attachments: attachments_json(&new.attachments)?,
            },
            prev: Version::none(),
        };
        self.write_append(&row, head.write_stamp).await?;
        ticket.commit_append(new.created_at_ms).await?;
        Ok(AppendOutcome::Created(row.message(&row.current)?))
    }
}
