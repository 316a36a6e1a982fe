//! [`ConversationStore`]: conversations, membership and per-member cursors.
//!
//! Every write that a member's sync must see stamps rows with a fresh value of the global change
//! counter: `conversations.changed_at` for what all members see (creation, metadata, messages,
//! joins and leaves, which change `member_count`), `members.changed_at` for what only that member
//! sees (own cursors, role, mute, leaving). Former members keep their row with `left_at_ms` set,
//! so sync can report the removal; a rejoin reuses the row.
//!
//! A member added after creation (new or rejoining) starts with both cursors at the current last
//! seq: history from before they joined is readable but not unread.

use async_trait::async_trait;
use natter_domain::model::*;
use natter_domain::ports::{ConversationStore, StoreResult};
use natter_domain::values::{GroupName, Topic};
use natter_domain::{ConversationId, StoreError, UserId};
use sqlx::SqliteConnection;

use crate::errors::db;
use crate::rows::{
    ConversationRow, MemberRow, conversation_columns, direct_key, member_columns, user_id, uuid_of,
};
use crate::{SqliteStore, commit, next_change_sqlx, summaries};

async fn fetch_conversation(
    conn: &mut SqliteConnection,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations c WHERE c.id = ?"
    ))
    .bind(id.0.as_bytes().as_slice())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(ConversationRow::into_conversation).transpose()
}

async fn current_member(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
) -> StoreResult<Option<Member>> {
    let row: Option<MemberRow> = sqlx::query_as(concat!(
        "SELECT ",
        member_columns!(),
        " FROM members m WHERE m.conversation_id = ? AND m.user_id = ? AND m.left_at_ms IS NULL"
    ))
    .bind(conversation.0.as_bytes().as_slice())
    .bind(user.0.as_bytes().as_slice())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(MemberRow::into_member).transpose()
}

/// Stamp the conversation as changed for all its members.
async fn touch_conversation(
    conn: &mut SqliteConnection,
    id: ConversationId,
    change: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE conversations SET changed_at = ? WHERE id = ?")
        .bind(change)
        .bind(id.0.as_bytes().as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Write a member's mutable fields and stamp the row as changed for that member.
async fn save_member(conn: &mut SqliteConnection, member: &Member) -> StoreResult<()> {
    let change = next_change_sqlx(conn).await?;
    sqlx::query(
        "UPDATE members SET role = ?, muted = ?, read_seq = ?, delivered_seq = ?, changed_at = ? \
         WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(member.role.as_str())
    .bind(member.muted)
    .bind(member.read_seq)
    .bind(member.delivered_seq)
    .bind(change)
    .bind(member.conversation_id.0.as_bytes().as_slice())
    .bind(member.user_id.0.as_bytes().as_slice())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

impl SqliteStore {
    /// Load a current member, let `edit` change it, and save it only if something changed.
    async fn update_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        edit: impl FnOnce(&mut Member, i64) + Send,
    ) -> StoreResult<Member> {
        let mut tx = self.sqlx_write().await?;
        let mut member = current_member(&mut tx, conversation, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
            .bind(conversation.0.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let before = member.clone();
        edit(&mut member, last_seq);
        if member == before {
            tx.rollback().await.map_err(db)?;
            return Ok(member);
        }
        save_member(&mut tx, &member).await?;
        if member.read_seq > before.read_seq {
            crate::push_queue::read_moved_sqlx(&mut tx, conversation, user, member.read_seq)
                .await?;
        }
        commit(tx).await?;
        Ok(member)
    }
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation> {
        let key = match new.kind {
            ConversationKind::Group => None,
            ConversationKind::Direct => match new.members.as_slice() {
                [(a, _), (b, _)] if a != b => Some(direct_key(*a, *b)),
                _ => {
                    return Err(StoreError::Internal(
                        "a direct conversation needs two distinct members".into(),
                    ));
                }
            },
        };
        let mut tx = self.sqlx_write().await?;
        if let Some(key) = &key {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM conversations WHERE direct_key = ?")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if exists.is_some() {
                return Err(StoreError::Conflict(
                    "direct conversation already exists".into(),
                ));
            }
        }
        let change = next_change_sqlx(&mut tx).await?;
        let id = new.id.0.as_bytes().as_slice();
        sqlx::query(
            "INSERT INTO conversations (id, kind, name, topic, created_by, created_at_ms, direct_key, \
             last_activity_ms, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(new.kind.as_str())
        .bind(new.name.as_ref().map(|n| n.as_str()))
        .bind(new.topic.as_ref().map(|t| t.as_str()))
        .bind(new.created_by.0.as_bytes().as_slice())
        .bind(new.created_at_ms)
        .bind(key)
        .bind(new.created_at_ms)
        .bind(change)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for (position, (user, role)) in new.members.iter().enumerate() {
            sqlx::query(
                "INSERT INTO members (conversation_id, user_id, role, joined_at_ms, join_order, changed_at, \
                 replied) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(user.0.as_bytes().as_slice())
            .bind(role.as_str())
            .bind(new.created_at_ms)
            .bind(position as i64 + 1)
            .bind(change)
            .bind(*user == new.created_by)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let conversation = fetch_conversation(&mut tx, new.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit(tx).await?;
        Ok(conversation)
    }

    async fn direct_between(&self, a: UserId, b: UserId) -> StoreResult<Option<ConversationId>> {
        let id: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = ?")
                .bind(direct_key(a, b))
                .fetch_optional(&self.inner.reader)
                .await
                .map_err(db)?;
        id.map(|id| uuid_of(&id).map(ConversationId)).transpose()
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.read_one().await?;
        fetch_conversation(&mut conn, id).await
    }

    async fn update_conversation(
        &self,
        id: ConversationId,
        name: Option<GroupName>,
        topic: Option<Topic>,
        _now_ms: i64,
    ) -> StoreResult<Conversation> {
        let mut tx = self.sqlx_write().await?;
        let change = next_change_sqlx(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE conversations SET name = COALESCE(?, name), topic = COALESCE(?, topic), changed_at = ? WHERE id = ?",
        )
        .bind(name.as_ref().map(|n| n.as_str()))
        .bind(topic.as_ref().map(|t| t.as_str()))
        .bind(change)
        .bind(id.0.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let conversation = fetch_conversation(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit(tx).await?;
        Ok(conversation)
    }

    async fn member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<Member>> {
        let mut conn = self.read_one().await?;
        current_member(&mut conn, conversation, user).await
    }

    async fn members(&self, conversation: ConversationId) -> StoreResult<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m WHERE m.conversation_id = ? AND m.left_at_ms IS NULL ORDER BY m.join_order"
        ))
        .bind(conversation.0.as_bytes().as_slice())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(MemberRow::into_member).collect()
    }

    async fn add_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        now_ms: i64,
    ) -> StoreResult<Member> {
        let mut tx = self.sqlx_write().await?;
        let conv = conversation.0.as_bytes().as_slice();
        let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
            .bind(conv)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        if current_member(&mut tx, conversation, user).await?.is_some() {
            return Err(StoreError::Conflict("already a member".into()));
        }
        let change = next_change_sqlx(&mut tx).await?;
        // Insert, or reactivate a former member's row with fresh cursors and a new position.
        sqlx::query(
            "INSERT INTO members (conversation_id, user_id, role, muted, read_seq, delivered_seq, joined_at_ms, \
             join_order, left_at_ms, changed_at) \
             VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5, \
               (SELECT COALESCE(MAX(join_order), 0) + 1 FROM members WHERE conversation_id = ?1), NULL, ?6) \
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = excluded.role, muted = 0, \
               read_seq = excluded.read_seq, delivered_seq = excluded.delivered_seq, \
               joined_at_ms = excluded.joined_at_ms, join_order = excluded.join_order, left_at_ms = NULL, \
               changed_at = excluded.changed_at",
        )
        .bind(conv)
        .bind(user.0.as_bytes().as_slice())
        .bind(role.as_str())
        .bind(last_seq)
        .bind(now_ms)
        .bind(change)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        touch_conversation(&mut tx, conversation, change).await?;
        let member = current_member(&mut tx, conversation, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit(tx).await?;
        Ok(member)
    }

    async fn remove_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        let change = next_change_sqlx(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE members SET left_at_ms = ?, changed_at = ? \
             WHERE conversation_id = ? AND user_id = ? AND left_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(change)
        .bind(conversation.0.as_bytes().as_slice())
        .bind(user.0.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        touch_conversation(&mut tx, conversation, change).await?;
        commit(tx).await
    }

    async fn set_role(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, |m, _| m.role = role)
            .await
    }

    async fn set_muted(
        &self,
        conversation: ConversationId,
        user: UserId,
        muted: bool,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, |m, _| m.muted = muted)
            .await
    }

    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, |m, last_seq| {
            m.read_seq = m.read_seq.max(seq.min(last_seq));
            m.delivered_seq = m.delivered_seq.max(m.read_seq);
        })
        .await
    }

    async fn mark_delivered(
        &self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, |m, last_seq| {
            m.delivered_seq = m.delivered_seq.max(seq.min(last_seq));
        })
        .await
    }

    async fn conversations_of(
        &self,
        user: UserId,
        before_activity_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let mut tx = self.sqlx_read().await?;
        summaries::page(&mut tx, user, before_activity_ms, limit).await
    }

    async fn summary(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<ConversationSummary>> {
        let mut tx = self.sqlx_read().await?;
        summaries::one(&mut tx, conversation, user).await
    }

    async fn conversation_ids_of(&self, user: UserId) -> StoreResult<Vec<ConversationId>> {
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT conversation_id FROM members WHERE user_id = ? AND left_at_ms IS NULL",
        )
        .bind(user.0.as_bytes().as_slice())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        ids.iter()
            .map(|id| uuid_of(id).map(ConversationId))
            .collect()
    }

    async fn contacts_of(
        &self,
        user: UserId,
        max_members: Option<i64>,
    ) -> StoreResult<Vec<UserId>> {
        // Pick the qualifying conversations first, so a large group is counted once rather than
        // once per member row.
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(
            "WITH mine AS ( \
               SELECT m.conversation_id FROM members m \
               JOIN conversations c ON c.id = m.conversation_id \
               WHERE m.user_id = ?1 AND m.left_at_ms IS NULL \
                 AND (c.kind <> 'direct' OR m.replied) \
                 AND (?2 IS NULL OR (SELECT COUNT(*) FROM members n \
                      WHERE n.conversation_id = m.conversation_id AND n.left_at_ms IS NULL) <= ?2)) \
             SELECT DISTINCT other.user_id FROM mine \
             JOIN members other ON other.conversation_id = mine.conversation_id \
             WHERE other.left_at_ms IS NULL AND other.user_id != ?1",
        )
        .bind(user.0.as_bytes().as_slice())
        .bind(max_members)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        ids.iter().map(|id| user_id(id)).collect()
    }

    async fn mark_replied(&self, conversation: ConversationId, user: UserId) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        sqlx::query(
            "UPDATE members SET replied = 1 WHERE conversation_id = ? AND user_id = ? AND NOT replied",
        )
        .bind(conversation.0.as_bytes().as_slice())
        .bind(user.0.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await
    }

    async fn changed_since(&self, user: UserId, since: i64) -> StoreResult<SyncPage> {
        // One read transaction: the cursor and the pages come from the same snapshot, so a change
        // committed meanwhile is either in this page or after the returned cursor.
        let mut tx = self.sqlx_read().await?;
        let cursor: i64 = sqlx::query_scalar("SELECT change_seq FROM meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let changed = summaries::changed(&mut tx, user, since).await?;
        let removed: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT conversation_id FROM members WHERE user_id = ? AND left_at_ms IS NOT NULL AND changed_at > ?",
        )
        .bind(user.0.as_bytes().as_slice())
        .bind(since)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let removed = removed
            .iter()
            .map(|id| uuid_of(id).map(ConversationId))
            .collect::<StoreResult<_>>()?;
        Ok(SyncPage {
            changed,
            removed,
            cursor,
        })
    }
}
