//! [`ConversationStore`]: conversations, membership and per-member cursors.
//!
//! Every write that a member's sync must see takes a stamp of the global change counter
//! (`natter_change_stamp()`, see `stamps`): `conversations.changed_at` for what all members see
//! (creation, metadata, messages, joins and leaves, which change `member_count`),
//! `members.changed_at` for what only that member sees (own cursors, role, mute, leaving).
//! Former members keep their row with `left_at_ms` set, so sync can report the removal; a rejoin
//! reuses the row, with both cursors at the current last seq (history from before is readable
//! but not unread) and a place at the end of the joining order.
//!
//! Membership changes lock the conversation row first (the crate's lock order) and keep
//! `member_count` up to date. A member's own settings and cursors are changed by
//! compare-and-set on their row, so "never lower a cursor" holds under concurrent calls without
//! holding a lock across round trips.

use async_trait::async_trait;
use natter_domain::model::*;
use natter_domain::names::ConversationTitle;
use natter_domain::ports::{ConversationStore, StoreResult};
use natter_domain::rules;
use natter_domain::values::{GroupName, Topic};
use natter_domain::{ConversationId, StoreError, UserId};
use uuid::Uuid;

use crate::errors::db;
use crate::rows::{ConversationRow, MemberRow, conversation_columns, direct_pair, member_columns};
use crate::{PgStore, commit, stamps, summaries};

/// Compare-and-set attempts of a member update before giving up with `Unavailable`. Only the
/// member's own devices write their row, so losing more than a few rounds means a storm.
const MEMBER_UPDATE_ATTEMPTS: usize = 32;

async fn fetch_conversation(
    store: &PgStore,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations c WHERE c.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(store.pool())
    .await
    .map_err(db)?;
    row.map(ConversationRow::into_conversation).transpose()
}

impl PgStore {
    /// Load a current member, let `edit` change it (given the conversation's last seq), and save
    /// it only if something changed, as a compare-and-set on the fields `edit` may change.
    async fn update_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        edit: impl Fn(&mut Member, i64) + Send + Sync,
    ) -> StoreResult<Member> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRow,
            last_seq: i64,
        }
        for _ in 0..MEMBER_UPDATE_ATTEMPTS {
            let row: Option<Row> = sqlx::query_as(concat!(
                "SELECT ",
                member_columns!(),
                ", c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.left_at_ms IS NULL"
            ))
            .bind(conversation.0)
            .bind(user.0)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
            let row = row.ok_or(StoreError::NotFound)?;
            let before = row.member.into_member()?;
            let mut after = before.clone();
            edit(&mut after, row.last_seq);
            if after == before {
                return Ok(after);
            }
            // One statement: the cursor passing the newest message pushed to this member
            // queues a withdraw for their devices (push_queue.rs) in the same commit.
            let saved: Option<MemberRow> = sqlx::query_as(concat!(
                "WITH saved AS (UPDATE members m SET role = $3, muted = $4, read_seq = $5, \
                   delivered_seq = $6, changed_at = natter_change_stamp() \
                   WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.left_at_ms IS NULL \
                   AND m.role = $7 AND m.muted = $8 AND m.read_seq = $9 AND m.delivered_seq = $10 \
                   RETURNING ",
                member_columns!(),
                "), read AS (DELETE FROM push_shown p USING saved \
                   WHERE $5 > $9 AND p.user_id = $2 AND p.conversation_id = $1 AND p.seq <= $5 \
                   RETURNING p.seq), \
                 queued AS (INSERT INTO push_queue (conversation_id, seq, reader) \
                   SELECT $1, $5, $2 WHERE EXISTS (SELECT 1 FROM read)) \
                 SELECT * FROM saved"
            ))
            .bind(conversation.0)
            .bind(user.0)
            .bind(after.role.as_str())
            .bind(after.muted)
            .bind(after.read_seq)
            .bind(after.delivered_seq)
            .bind(before.role.as_str())
            .bind(before.muted)
            .bind(before.read_seq)
            .bind(before.delivered_seq)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
            if let Some(saved) = saved {
                return saved.into_member();
            }
            // Someone changed the row in between (or the member left): read it again.
        }
        Err(StoreError::Unavailable(format!(
            "member {user} of {conversation}: too many concurrent updates"
        )))
    }
}

#[async_trait]
impl ConversationStore for PgStore {
    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation> {
        let pair = match new.kind {
            ConversationKind::Group => None,
            ConversationKind::Direct => match new.members.as_slice() {
                [(a, _), (b, _)] if a != b => Some(direct_pair(*a, *b)),
                _ => {
                    return Err(StoreError::Internal(
                        "a direct conversation needs two distinct members".into(),
                    ));
                }
            },
        };
        let (users, roles): (Vec<Uuid>, Vec<&str>) = new
            .members
            .iter()
            .map(|(user, role)| (user.0, role.as_str()))
            .unzip();
        // One statement, so one implicit transaction. The unique (direct_lo, direct_hi) index
        // turns a second direct conversation for the pair into a `Conflict`, also under races.
        let row: ConversationRow = sqlx::query_as(concat!(
            "WITH s AS (SELECT natter_change_stamp() AS stamp), \
             c AS (INSERT INTO conversations (id, kind, name, topic, created_by, created_at_ms, \
                     direct_lo, direct_hi, last_activity_ms, member_count, changed_at) \
                   SELECT $1, $2, $3, $4, $5, $6, $7, $8, $6, cardinality($9::uuid[]), s.stamp \
                   FROM s RETURNING *), \
             m AS (INSERT INTO members (conversation_id, user_id, role, joined_at_ms, join_order, \
                     changed_at, replied) \
                   SELECT c.id, u.user_id, u.role, c.created_at_ms, u.n, c.changed_at, \
                     u.user_id = c.created_by \
                   FROM c, unnest($9::uuid[], $10::text[]) WITH ORDINALITY AS u(user_id, role, n)) \
             SELECT ",
            conversation_columns!(),
            " FROM c"
        ))
        .bind(new.id.0)
        .bind(new.kind.as_str())
        .bind(new.name.as_ref().map(|n| n.as_str()))
        .bind(new.topic.as_ref().map(|t| t.as_str()))
        .bind(new.created_by.0)
        .bind(new.created_at_ms)
        .bind(pair.map(|(lo, _)| lo))
        .bind(pair.map(|(_, hi)| hi))
        .bind(users)
        .bind(roles)
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        row.into_conversation()
    }

    async fn direct_between(&self, a: UserId, b: UserId) -> StoreResult<Option<ConversationId>> {
        let (lo, hi) = direct_pair(a, b);
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE direct_lo = $1 AND direct_hi = $2",
        )
        .bind(lo)
        .bind(hi)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(id.map(ConversationId))
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        fetch_conversation(self, id).await
    }

    async fn update_conversation(
        &self,
        id: ConversationId,
        name: Option<GroupName>,
        topic: Option<Topic>,
        _now_ms: i64,
    ) -> StoreResult<Conversation> {
        let row: Option<ConversationRow> = sqlx::query_as(concat!(
            "UPDATE conversations c SET name = COALESCE($2, c.name), topic = COALESCE($3, c.topic), \
             changed_at = natter_change_stamp() WHERE c.id = $1 RETURNING ",
            conversation_columns!()
        ))
        .bind(id.0)
        .bind(name.as_ref().map(|n| n.as_str()))
        .bind(topic.as_ref().map(|t| t.as_str()))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.ok_or(StoreError::NotFound)?.into_conversation()
    }

    async fn member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<Member>> {
        let row: Option<MemberRow> = sqlx::query_as(concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m WHERE m.conversation_id = $1 AND m.user_id = $2 \
             AND m.left_at_ms IS NULL"
        ))
        .bind(conversation.0)
        .bind(user.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(MemberRow::into_member).transpose()
    }

    async fn members(&self, conversation: ConversationId) -> StoreResult<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m WHERE m.conversation_id = $1 AND m.left_at_ms IS NULL \
             ORDER BY m.join_order"
        ))
        .bind(conversation.0)
        .fetch_all(self.pool())
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
        let mut tx = self.begin().await?;
        // Locks the conversation row (lock order), so join_order below cannot race.
        let (last_seq, change): (i64, i64) = sqlx::query_as(
            "UPDATE conversations SET member_count = member_count + 1, \
             changed_at = natter_change_stamp() WHERE id = $1 RETURNING last_seq, changed_at",
        )
        .bind(conversation.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        // Insert, or reactivate a former member's row with fresh cursors and a new position; a
        // current member's row is left alone (no row returned: `Conflict`, and the count above
        // is rolled back with the transaction).
        let row: Option<MemberRow> = sqlx::query_as(concat!(
            "INSERT INTO members AS m (conversation_id, user_id, role, muted, read_seq, \
               delivered_seq, joined_at_ms, join_order, left_at_ms, changed_at) \
             VALUES ($1, $2, $3, false, $4, $4, $5, \
               (SELECT COALESCE(max(join_order), 0) + 1 FROM members WHERE conversation_id = $1), \
               NULL, $6) \
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = excluded.role, \
               muted = false, read_seq = excluded.read_seq, delivered_seq = excluded.delivered_seq, \
               joined_at_ms = excluded.joined_at_ms, join_order = excluded.join_order, \
               left_at_ms = NULL, changed_at = excluded.changed_at \
             WHERE m.left_at_ms IS NOT NULL \
             RETURNING ",
            member_columns!()
        ))
        .bind(conversation.0)
        .bind(user.0)
        .bind(role.as_str())
        .bind(last_seq)
        .bind(now_ms)
        .bind(change)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let member = row
            .ok_or_else(|| StoreError::Conflict("already a member".into()))?
            .into_member()?;
        commit(tx).await?;
        Ok(member)
    }

    async fn remove_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let change: i64 = sqlx::query_scalar(
            "UPDATE conversations SET member_count = member_count - 1, \
             changed_at = natter_change_stamp() WHERE id = $1 RETURNING changed_at",
        )
        .bind(conversation.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "UPDATE members SET left_at_ms = $3, changed_at = $4 \
             WHERE conversation_id = $1 AND user_id = $2 AND left_at_ms IS NULL",
        )
        .bind(conversation.0)
        .bind(user.0)
        .bind(now_ms)
        .bind(change)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            // Not a member: the count change above is rolled back with the transaction.
            return Err(StoreError::NotFound);
        }
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
            rules::read_up_to(m, seq, last_seq);
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
            rules::delivered_up_to(m, seq, last_seq);
        })
        .await
    }

    async fn conversations_of(
        &self,
        user: UserId,
        before_activity_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        summaries::page(self, user, before_activity_ms, limit).await
    }

    async fn summary(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<ConversationSummary>> {
        summaries::one(self, conversation, user).await
    }

    async fn summaries(
        &self,
        user: UserId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        summaries::of(self, user, ids).await
    }

    async fn conversation_titles(&self, user: UserId) -> StoreResult<Vec<ConversationTitle>> {
        // The user's memberships by the members_by_user index; a direct conversation's peer as
        // summaries name it (the other member, first to join).
        let rows: Vec<(Uuid, i64, Option<String>, Option<String>, Option<String>)> =
            sqlx::query_as(
                "SELECT c.id, c.last_activity_ms, c.name, u.display_name, u.username \
                 FROM members m JOIN conversations c ON c.id = m.conversation_id \
                 LEFT JOIN users u ON c.kind = 'direct' AND u.id = ( \
                   SELECT p.user_id FROM members p WHERE p.conversation_id = c.id \
                   AND p.user_id <> m.user_id ORDER BY p.join_order LIMIT 1) \
                 WHERE m.user_id = $1 AND m.left_at_ms IS NULL",
            )
            .bind(user.0)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, last_activity_ms, name, peer_display_name, peer_username)| {
                    ConversationTitle {
                        id: ConversationId(id),
                        last_activity_ms,
                        name,
                        peer_display_name,
                        peer_username,
                    }
                },
            )
            .collect())
    }

    async fn conversation_ids_of(&self, user: UserId) -> StoreResult<Vec<ConversationId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT conversation_id FROM members WHERE user_id = $1 AND left_at_ms IS NULL",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(ConversationId).collect())
    }

    async fn contacts_of(
        &self,
        user: UserId,
        max_members: Option<i64>,
    ) -> StoreResult<Vec<UserId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT other.user_id FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             JOIN members other ON other.conversation_id = m.conversation_id \
             WHERE m.user_id = $1 AND m.left_at_ms IS NULL \
               AND ($2::bigint IS NULL OR c.member_count <= $2) \
               AND (c.kind <> 'direct' OR m.replied) \
               AND other.left_at_ms IS NULL AND other.user_id <> $1",
        )
        .bind(user.0)
        .bind(max_members)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn mark_replied(&self, conversation: ConversationId, user: UserId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE members SET replied = true \
             WHERE conversation_id = $1 AND user_id = $2 AND NOT replied",
        )
        .bind(conversation.0)
        .bind(user.0)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn changed_since(&self, user: UserId, since: i64) -> StoreResult<SyncPage> {
        // The cursor first (waiting for stamps in flight to commit), then one snapshot for both
        // lists: a change committed meanwhile is either in this page or after the cursor.
        let cursor = stamps::horizon(self.pool()).await?;
        let (changed, removed) = summaries::changed(self, user, since).await?;
        Ok(SyncPage {
            changed,
            removed,
            cursor,
        })
    }
}
