//! [`ConversationStore`]: conversations, membership and per-member cursors. Writes run on the
//! writer thread (each in its own savepoint of the batch's transaction), reads on a read
//! connection inside one read transaction.
//!
//! Every write that a member's sync must see stamps rows with a fresh value of the global change
//! counter: `conversations.changed_at` for what all members see (creation, metadata, messages,
//! joins and leaves, which change `member_count`), `members.changed_at` for what only that member
//! sees (own cursors, role, mute, leaving). Former members keep their row with `left_at_ms` set,
//! so sync can report the removal; a rejoin reuses the row.
//!
//! A member added after creation (new or rejoining) starts with both cursors at the current last
//! seq: history from before they joined is readable but not unread.

use std::collections::HashSet;

use async_trait::async_trait;
use natter_domain::model::*;
use natter_domain::names::ConversationTitle;
use natter_domain::ports::{ConversationStore, StoreResult};
use natter_domain::rules;
use natter_domain::values::{GroupName, Topic};
use natter_domain::{ConversationId, StoreError, UserId};
use rusqlite::{Connection, params};

use crate::counters::Counters;
use crate::errors::sql;
use crate::query::{all, exec, one};
use crate::rosters::{ROSTER_MAX, Roster};
use crate::rows::{
    ConversationRow, MemberRow, blob, conversation_columns, direct_key, member_columns, user_id,
    uuid_of,
};
use crate::{SqliteStore, summaries};

fn fetch_conversation(conn: &Connection, id: ConversationId) -> StoreResult<Option<Conversation>> {
    one(
        conn,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c WHERE c.id = ?"
        ),
        params![id.0.as_bytes().as_slice()],
        ConversationRow::from_row,
    )?
    .map(ConversationRow::into_conversation)
    .transpose()
}

pub(crate) fn current_member(
    conn: &Connection,
    conversation: ConversationId,
    user: UserId,
) -> StoreResult<Option<Member>> {
    one(
        conn,
        concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m WHERE m.conversation_id = ? AND m.user_id = ? AND m.left_at_ms IS NULL"
        ),
        params![
            conversation.0.as_bytes().as_slice(),
            user.0.as_bytes().as_slice()
        ],
        MemberRow::from_row,
    )?
    .map(MemberRow::into_member)
    .transpose()
}

/// The conversation's last seq, `None` if there is no such conversation.
fn last_seq(conn: &Connection, conversation: ConversationId) -> StoreResult<Option<i64>> {
    one(
        conn,
        "SELECT last_seq FROM conversations WHERE id = ?",
        params![conversation.0.as_bytes().as_slice()],
        |row| row.get(0),
    )
}

/// Stamp the conversation as changed for all its members.
fn touch_conversation(conn: &Connection, id: ConversationId, change: i64) -> StoreResult<()> {
    exec(
        conn,
        "UPDATE conversations SET changed_at = ? WHERE id = ?",
        params![change, id.0.as_bytes().as_slice()],
    )?;
    Ok(())
}

/// Write a member's mutable fields and stamp the row as changed for that member.
fn save_member(conn: &Connection, counters: &mut Counters, member: &Member) -> StoreResult<()> {
    let change = counters.next_change(conn)?;
    exec(
        conn,
        "UPDATE members SET role = ?, muted = ?, read_seq = ?, delivered_seq = ?, changed_at = ? \
         WHERE conversation_id = ? AND user_id = ?",
        params![
            member.role.as_str(),
            member.muted,
            member.read_seq,
            member.delivered_seq,
            change,
            member.conversation_id.0.as_bytes().as_slice(),
            member.user_id.0.as_bytes().as_slice()
        ],
    )?;
    Ok(())
}

fn create_in(
    conn: &Connection,
    counters: &mut Counters,
    new: NewConversation,
    key: Option<String>,
) -> StoreResult<Conversation> {
    if let Some(key) = &key {
        let exists = one(
            conn,
            "SELECT 1 FROM conversations WHERE direct_key = ?",
            params![key],
            |row| row.get::<_, i64>(0),
        )?;
        if exists.is_some() {
            return Err(StoreError::Conflict(
                "direct conversation already exists".into(),
            ));
        }
    }
    let change = counters.next_change(conn)?;
    let id = new.id.0.as_bytes().as_slice();
    exec(
        conn,
        "INSERT INTO conversations (id, kind, name, topic, created_by, created_at_ms, direct_key, \
         last_activity_ms, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            id,
            new.kind.as_str(),
            new.name.as_ref().map(|n| n.as_str()),
            new.topic.as_ref().map(|t| t.as_str()),
            new.created_by.0.as_bytes().as_slice(),
            new.created_at_ms,
            key,
            new.created_at_ms,
            change
        ],
    )?;
    for (position, (user, role)) in new.members.iter().enumerate() {
        exec(
            conn,
            "INSERT INTO members (conversation_id, user_id, role, joined_at_ms, join_order, changed_at, \
             replied) VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                id,
                user.0.as_bytes().as_slice(),
                role.as_str(),
                new.created_at_ms,
                position as i64 + 1,
                change,
                *user == new.created_by
            ],
        )?;
    }
    fetch_conversation(conn, new.id)?.ok_or(StoreError::NotFound)
}

fn add_member_in(
    conn: &Connection,
    counters: &mut Counters,
    conversation: ConversationId,
    user: UserId,
    role: Role,
    now_ms: i64,
) -> StoreResult<Member> {
    let last_seq = last_seq(conn, conversation)?.ok_or(StoreError::NotFound)?;
    if current_member(conn, conversation, user)?.is_some() {
        return Err(StoreError::Conflict("already a member".into()));
    }
    let change = counters.next_change(conn)?;
    // Insert, or reactivate a former member's row with fresh cursors and a new position.
    exec(
        conn,
        "INSERT INTO members (conversation_id, user_id, role, muted, read_seq, delivered_seq, joined_at_ms, \
         join_order, left_at_ms, changed_at) \
         VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5, \
           (SELECT COALESCE(MAX(join_order), 0) + 1 FROM members WHERE conversation_id = ?1), NULL, ?6) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = excluded.role, muted = 0, \
           read_seq = excluded.read_seq, delivered_seq = excluded.delivered_seq, \
           joined_at_ms = excluded.joined_at_ms, join_order = excluded.join_order, left_at_ms = NULL, \
           changed_at = excluded.changed_at",
        params![
            conversation.0.as_bytes().as_slice(),
            user.0.as_bytes().as_slice(),
            role.as_str(),
            last_seq,
            now_ms,
            change
        ],
    )?;
    touch_conversation(conn, conversation, change)?;
    current_member(conn, conversation, user)?.ok_or(StoreError::NotFound)
}

impl SqliteStore {
    /// Load a current member, let `edit` change it, and save it only if something changed; on
    /// the writer thread.
    async fn update_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        edit: impl FnOnce(&mut Member, i64) + Send + 'static,
    ) -> StoreResult<Member> {
        self.write_counted(move |conn, counters| {
            let mut member =
                current_member(conn, conversation, user)?.ok_or(StoreError::NotFound)?;
            let last_seq = last_seq(conn, conversation)?.ok_or(StoreError::NotFound)?;
            let before = member.clone();
            edit(&mut member, last_seq);
            if member == before {
                return Ok(member);
            }
            save_member(conn, counters, &member)?;
            if member.read_seq > before.read_seq {
                crate::push_queue::read_moved(conn, conversation, user, member.read_seq)?;
            }
            Ok(member)
        })
        .await
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
        let id = new.id;
        let created = self
            .write_counted(move |conn, counters| create_in(conn, counters, new, key))
            .await;
        self.rosters().forget(id);
        created
    }

    async fn direct_between(&self, a: UserId, b: UserId) -> StoreResult<Option<ConversationId>> {
        let key = direct_key(a, b);
        self.read(move |conn| {
            one(
                conn,
                "SELECT id FROM conversations WHERE direct_key = ?",
                params![key],
                |row| row.get::<_, Vec<u8>>(0),
            )?
            .map(|id| uuid_of(&id).map(ConversationId))
            .transpose()
        })
        .await
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        self.read(move |conn| fetch_conversation(conn, id)).await
    }

    async fn update_conversation(
        &self,
        id: ConversationId,
        name: Option<GroupName>,
        topic: Option<Topic>,
        _now_ms: i64,
    ) -> StoreResult<Conversation> {
        self.write_counted(move |conn, counters| {
            let change = counters.next_change(conn)?;
            let done = exec(
                conn,
                "UPDATE conversations SET name = COALESCE(?, name), topic = COALESCE(?, topic), changed_at = ? WHERE id = ?",
                params![
                    name.as_ref().map(|n| n.as_str()),
                    topic.as_ref().map(|t| t.as_str()),
                    change,
                    id.0.as_bytes().as_slice()
                ],
            )?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            fetch_conversation(conn, id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<Member>> {
        self.read(move |conn| current_member(conn, conversation, user))
            .await
    }

    async fn members(&self, conversation: ConversationId) -> StoreResult<Vec<Member>> {
        self.read(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    member_columns!(),
                    " FROM members m WHERE m.conversation_id = ? AND m.left_at_ms IS NULL ORDER BY m.join_order"
                ),
                params![conversation.0.as_bytes().as_slice()],
                MemberRow::from_row,
            )?
            .into_iter()
            .map(MemberRow::into_member)
            .collect()
        })
        .await
    }

    async fn add_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        now_ms: i64,
    ) -> StoreResult<Member> {
        let added = self
            .write_counted(move |conn, counters| {
                add_member_in(conn, counters, conversation, user, role, now_ms)
            })
            .await;
        self.rosters().forget(conversation);
        added
    }

    async fn remove_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        now_ms: i64,
    ) -> StoreResult<()> {
        let removed = self.write_counted(move |conn, counters| {
            let change = counters.next_change(conn)?;
            let done = exec(
                conn,
                "UPDATE members SET left_at_ms = ?, changed_at = ? \
                 WHERE conversation_id = ? AND user_id = ? AND left_at_ms IS NULL",
                params![
                    now_ms,
                    change,
                    conversation.0.as_bytes().as_slice(),
                    user.0.as_bytes().as_slice()
                ],
            )?;
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            touch_conversation(conn, conversation, change)
        });
        let removed = removed.await;
        self.rosters().forget(conversation);
        removed
    }

    async fn set_role(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, move |m, _| m.role = role)
            .await
    }

    async fn set_muted(
        &self,
        conversation: ConversationId,
        user: UserId,
        muted: bool,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, move |m, _| m.muted = muted)
            .await
    }

    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        _now_ms: i64,
    ) -> StoreResult<Member> {
        self.update_member(conversation, user, move |m, last_seq| {
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
        self.update_member(conversation, user, move |m, last_seq| {
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
        self.read(move |conn| summaries::page(conn, user, before_activity_ms, limit))
            .await
    }

    async fn summary(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<ConversationSummary>> {
        self.read(move |conn| summaries::one(conn, conversation, user))
            .await
    }

    async fn summaries(
        &self,
        user: UserId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|id| id.0.simple().to_string()).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.read(move |conn| summaries::of(conn, user, &ids)).await
    }

    async fn conversation_titles(&self, user: UserId) -> StoreResult<Vec<ConversationTitle>> {
        self.read(move |conn| {
            // The user's memberships by the members_by_user index; a direct conversation's
            // peer as summaries name it (the other member, first to join).
            all(
                conn,
                "SELECT c.id, c.last_activity_ms, c.name, u.display_name, u.username \
                 FROM members m JOIN conversations c ON c.id = m.conversation_id \
                 LEFT JOIN users u ON c.kind = 'direct' AND u.id = ( \
                   SELECT p.user_id FROM members p WHERE p.conversation_id = c.id \
                   AND p.user_id != m.user_id ORDER BY p.join_order LIMIT 1) \
                 WHERE m.user_id = ? AND m.left_at_ms IS NULL",
                params![user.0.as_bytes().as_slice()],
                |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                    ))
                },
            )?
            .into_iter()
            .map(
                |(id, last_activity_ms, name, peer_display_name, peer_username)| {
                    Ok(ConversationTitle {
                        id: ConversationId(uuid_of(&id)?),
                        last_activity_ms,
                        name,
                        peer_display_name,
                        peer_username,
                    })
                },
            )
            .collect()
        })
        .await
    }

    async fn conversation_ids_of(&self, user: UserId) -> StoreResult<Vec<ConversationId>> {
        self.read(move |conn| {
            all(
                conn,
                "SELECT conversation_id FROM members WHERE user_id = ? AND left_at_ms IS NULL",
                params![user.0.as_bytes().as_slice()],
                |row| row.get::<_, Vec<u8>>(0),
            )?
            .iter()
            .map(|id| uuid_of(id).map(ConversationId))
            .collect()
        })
        .await
    }

    async fn contacts_of(
        &self,
        user: UserId,
        max_members: Option<i64>,
    ) -> StoreResult<Vec<UserId>> {
        match max_members {
            Some(max) if max <= ROSTER_MAX => self.contacts_in_small_conversations(user, max).await,
            _ => self.contacts_read_whole(user, max_members).await,
        }
    }

    async fn mark_replied(&self, conversation: ConversationId, user: UserId) -> StoreResult<()> {
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE members SET replied = 1 WHERE conversation_id = ? AND user_id = ? AND NOT replied",
                params![
                    conversation.0.as_bytes().as_slice(),
                    user.0.as_bytes().as_slice()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// From memory: the last change this handle committed.
    async fn change_cursor(&self) -> StoreResult<i64> {
        Ok(self.committed_change())
    }

    async fn changed_since(&self, user: UserId, since: i64) -> StoreResult<SyncPage> {
        // One read transaction: the cursor and the pages come from the same snapshot, so a change
        // committed meanwhile is either in this page or after the returned cursor.
        self.read(move |conn| {
            let cursor: i64 = one(conn, "SELECT change_seq FROM meta WHERE id = 1", [], |row| {
                row.get(0)
            })?
            .ok_or_else(|| StoreError::Internal("no meta row".into()))?;
            let changed = summaries::changed(conn, user, since)?;
            let removed = all(
                conn,
                "SELECT conversation_id FROM members WHERE user_id = ? AND left_at_ms IS NOT NULL AND changed_at > ?",
                params![user.0.as_bytes().as_slice(), since],
                |row| row.get::<_, Vec<u8>>(0),
            )?
            .iter()
            .map(|id| uuid_of(id).map(ConversationId))
            .collect::<StoreResult<_>>()?;
            Ok(SyncPage {
                changed,
                removed,
                cursor,
            })
        })
        .await
    }
}

impl SqliteStore {
    /// [`ConversationStore::contacts_of`] up to a size the rosters keep: the user's own
    /// memberships from the store, each conversation's members from [`Rosters`].
    async fn contacts_in_small_conversations(
        &self,
        user: UserId,
        max_members: i64,
    ) -> StoreResult<Vec<UserId>> {
        let rosters = self.rosters().clone();
        let ticket = rosters.ticket();
        self.read(move |conn| {
            let conversations = all(
                conn,
                "SELECT m.conversation_id FROM members m \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.user_id = ?1 AND m.left_at_ms IS NULL \
                   AND (c.kind <> 'direct' OR m.replied)",
                params![user.0.as_bytes().as_slice()],
                |row| row.get::<_, Vec<u8>>(0),
            )?;
            let mut contacts = HashSet::new();
            for conversation in conversations {
                let conversation = ConversationId(uuid_of(&conversation)?);
                if let Roster::Members(members) = rosters.roster(conn, ticket, conversation)?
                    && members.len() as i64 <= max_members
                {
                    contacts.extend(members.iter().copied());
                }
            }
            contacts.remove(&user);
            Ok(contacts.into_iter().collect())
        })
        .await
    }

    /// [`ConversationStore::contacts_of`] read from the store alone.
    async fn contacts_read_whole(
        &self,
        user: UserId,
        max_members: Option<i64>,
    ) -> StoreResult<Vec<UserId>> {
        self.read(move |conn| {
            // One pass over the current members of the user's qualifying conversations, each
            // contact kept once here (no temporary table for a DISTINCT, no allocation per
            // row). A conversation over `max_members` is left out before its members are read:
            // its count stops at one past the limit (a room of 10,000 read all its members for
            // each member connecting, and took 14.4 s to connect).
            let mut statement = conn
                .prepare_cached(
                    "SELECT other.user_id FROM members m \
                     JOIN conversations c ON c.id = m.conversation_id \
                     JOIN members other ON other.conversation_id = m.conversation_id \
                     WHERE m.user_id = ?1 AND m.left_at_ms IS NULL \
                       AND (c.kind <> 'direct' OR m.replied) \
                       AND (SELECT count(*) FROM (SELECT 1 FROM members x \
                            WHERE x.conversation_id = m.conversation_id \
                            AND x.left_at_ms IS NULL LIMIT ?2)) < ?2 \
                       AND other.left_at_ms IS NULL",
                )
                .map_err(sql)?;
            let over_the_limit = max_members.map_or(i64::MAX, |max| max.saturating_add(1));
            let mut rows = statement
                .query(params![user.0.as_bytes().as_slice(), over_the_limit])
                .map_err(sql)?;
            let mut contacts = HashSet::new();
            while let Some(row) = rows.next().map_err(sql)? {
                contacts.insert(user_id(blob(row, 0)?)?);
            }
            contacts.remove(&user);
            Ok(contacts.into_iter().collect())
        })
        .await
    }
}
