//! [`PushQueue`]: the durable push pipeline of embedded mode. A created message adds its
//! `push_queue` row in the group-commit transaction that commits it (messages.rs), so a commit
//! without its pending notifications cannot exist; the notifier turns each row into
//! `push_deliveries` (one per device) and removes it in one transaction; the drain claims due
//! deliveries (marking them in flight) and removes or reschedules each after the provider's
//! answer. Claims are leases (`Claim`), as in PostgreSQL where several notifiers share the
//! pipeline; one process here, so only its own restart recovers them.

use async_trait::async_trait;
use natter_domain::notify::{
    Claim, Delivery, NewDelivery, Payload, PushContent, PushQueue, Queued, QueuedMessage,
};
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, MessageId, UserId};

use sqlx::SqliteConnection;

use crate::errors::{db, sql};
use crate::push_devices::{DeviceRow, device, ids_json};
use crate::rows::{user_id, uuid_of};
use crate::{SqliteStore, commit};

/// Deliveries of devices that no longer count (removed, or their session revoked).
const DEAD_DELIVERIES: &str = "DELETE FROM push_deliveries WHERE in_flight = 0 AND device_id NOT IN \
     (SELECT d.id FROM push_devices d JOIN sessions s ON s.id = d.session_id \
      WHERE s.revoked_at_ms IS NULL)";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    user_id: Vec<u8>,
    conversation_id: Vec<u8>,
    message_id: Option<i64>,
    seq: i64,
    title: String,
    body: String,
    badge: Option<i64>,
    quiet: bool,
    withdraw: bool,
    attempts: i64,
    created_at_ms: i64,
}

fn payload(row: &DeliveryRow) -> StoreResult<Payload> {
    let conversation_id = ConversationId(uuid_of(&row.conversation_id)?);
    let badge = row.badge.and_then(|b| u32::try_from(b).ok());
    Ok(match row.message_id {
        Some(message_id) if !row.withdraw => Payload::Alert(PushContent {
            conversation_id,
            message_id: MessageId(message_id),
            seq: row.seq,
            title: row.title.clone(),
            body: row.body.clone(),
            badge,
            quiet: row.quiet,
        }),
        _ => Payload::Withdraw {
            conversation_id,
            read_seq: row.seq,
            badge,
        },
    })
}

/// `user`'s read cursor in `conversation` moved to `read_seq`: when that passes the newest
/// message pushed to them there, queue a withdraw for their devices (in the cursor's
/// transaction, like a message's push).
pub(crate) fn read_moved(
    tx: &rusqlite::Connection,
    conversation: ConversationId,
    user: UserId,
    read_seq: i64,
) -> StoreResult<()> {
    let user = user.0.as_bytes().as_slice();
    let conversation = conversation.0.as_bytes().as_slice();
    let shown = tx
        .prepare_cached(
            "DELETE FROM push_shown WHERE user_id = ? AND conversation_id = ? AND seq <= ?",
        )
        .and_then(|mut s| s.execute(rusqlite::params![user, conversation, read_seq]))
        .map_err(sql)?;
    if shown > 0 {
        tx.prepare_cached("INSERT INTO push_queue (conversation_id, seq, reader) VALUES (?, ?, ?)")
            .and_then(|mut s| s.execute(rusqlite::params![conversation, read_seq, user]))
            .map_err(sql)?;
    }
    Ok(())
}

/// [`read_moved`] on a sqlx connection, until conversations.rs is on the storage threads.
pub(crate) async fn read_moved_sqlx(
    tx: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
    read_seq: i64,
) -> StoreResult<()> {
    let user = user.0.as_bytes().as_slice();
    let conversation = conversation.0.as_bytes().as_slice();
    let shown = sqlx::query(
        "DELETE FROM push_shown WHERE user_id = ? AND conversation_id = ? AND seq <= ?",
    )
    .bind(user)
    .bind(conversation)
    .bind(read_seq)
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if shown > 0 {
        sqlx::query("INSERT INTO push_queue (conversation_id, seq, reader) VALUES (?, ?, ?)")
            .bind(conversation)
            .bind(read_seq)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Add `deliveries` (due at `now_ms`; a (device, message) already there is not added again)
/// and remember each alerted user's newest pushed message per conversation.
async fn add_deliveries(
    tx: &mut SqliteConnection,
    deliveries: &[NewDelivery],
    now_ms: i64,
) -> StoreResult<()> {
    for delivery in deliveries {
        let (conversation, message_id, seq, title, body, badge, quiet, withdraw) =
            match &delivery.payload {
                Payload::Alert(c) => (
                    c.conversation_id,
                    Some(c.message_id.0),
                    c.seq,
                    c.title.as_str(),
                    c.body.as_str(),
                    c.badge,
                    c.quiet,
                    false,
                ),
                Payload::Withdraw {
                    conversation_id,
                    read_seq,
                    badge,
                } => (
                    *conversation_id,
                    None,
                    *read_seq,
                    "",
                    "",
                    *badge,
                    false,
                    true,
                ),
            };
        let user = delivery.user.0.as_bytes().as_slice();
        let conversation = conversation.0.as_bytes().as_slice();
        sqlx::query(
            "INSERT OR IGNORE INTO push_deliveries (user_id, device_id, conversation_id, \
             message_id, seq, title, body, badge, quiet, withdraw, due_at_ms, created_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user)
        .bind(delivery.device.0.as_bytes().as_slice())
        .bind(conversation)
        .bind(message_id)
        .bind(seq)
        .bind(title)
        .bind(body)
        .bind(badge.map(i64::from))
        .bind(quiet)
        .bind(withdraw)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let shown = if withdraw {
            sqlx::query(
                "DELETE FROM push_shown WHERE user_id = ? AND conversation_id = ? AND seq <= ?",
            )
        } else {
            sqlx::query(
                "INSERT INTO push_shown (user_id, conversation_id, seq, pushed_at_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, conversation_id) DO UPDATE \
                 SET pushed_at_ms = CASE WHEN excluded.seq >= seq THEN excluded.pushed_at_ms \
                   ELSE pushed_at_ms END, seq = MAX(seq, excluded.seq)",
            )
        };
        let shown = shown.bind(user).bind(conversation).bind(seq);
        let shown = if withdraw { shown } else { shown.bind(now_ms) };
        shown.execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

/// The message `seq` changed: if it is someone's newest push in its conversation, queue its
/// update (in the change's transaction).
pub(crate) fn message_changed(
    tx: &rusqlite::Connection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO push_queue (conversation_id, seq, changed) SELECT ?1, ?2, 1 \
         WHERE EXISTS (SELECT 1 FROM push_shown WHERE conversation_id = ?1 AND seq = ?2)",
    )
    .and_then(|mut s| s.execute(rusqlite::params![conversation.0.as_bytes().as_slice(), seq]))
    .map_err(sql)?;
    Ok(())
}

#[async_trait]
impl PushQueue for SqliteStore {
    async fn queued(&self, limit: u32, messages_before_ms: i64) -> StoreResult<Vec<QueuedMessage>> {
        let rows: Vec<(i64, Vec<u8>, i64, Option<Vec<u8>>, bool)> = sqlx::query_as(
            "SELECT id, conversation_id, seq, reader, changed FROM push_queue \
             WHERE reader IS NOT NULL OR changed = 1 OR created_at_ms < ? ORDER BY id LIMIT ?",
        )
        .bind(messages_before_ms)
        .bind(limit)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(queue_id, conversation, seq, reader, changed)| {
                let kind = match reader {
                    Some(reader) => Queued::Read(user_id(&reader)?),
                    None if changed => Queued::Changed,
                    None => Queued::Message,
                };
                Ok(QueuedMessage {
                    queue_id,
                    conversation_id: ConversationId(uuid_of(&conversation)?),
                    seq,
                    kind,
                })
            })
            .collect()
    }

    async fn queued_before(
        &self,
        conversation: ConversationId,
        seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, seq FROM push_queue WHERE conversation_id = ? AND seq < ? \
             AND reader IS NULL AND changed = 0 ORDER BY seq LIMIT ?",
        )
        .bind(conversation.0.as_bytes().as_slice())
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(queue_id, seq)| QueuedMessage {
                queue_id,
                conversation_id: conversation,
                seq,
                kind: Queued::Message,
            })
            .collect())
    }

    async fn fan_out(
        &self,
        queue_id: i64,
        deliveries: &[NewDelivery],
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        let removed = sqlx::query("DELETE FROM push_queue WHERE id = ?")
            .bind(queue_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if removed == 0 {
            // Planned already (dropping the transaction rolls it back).
            return Ok(());
        }
        add_deliveries(&mut tx, deliveries, now_ms).await?;
        commit(tx).await
    }

    async fn fan_out_message(
        &self,
        conversation: ConversationId,
        seq: i64,
        deliveries: &[NewDelivery],
        now_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.sqlx_write().await?;
        let removed = sqlx::query(
            "DELETE FROM push_queue WHERE conversation_id = ? AND seq = ? AND reader IS NULL \
             AND changed = 0",
        )
        .bind(conversation.0.as_bytes().as_slice())
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        add_deliveries(&mut tx, deliveries, now_ms).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn claim_due(&self, claim: &Claim) -> StoreResult<Vec<Delivery>> {
        let mut tx = self.sqlx_write().await?;
        sqlx::query(DEAD_DELIVERIES)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Oldest first, but no user more than `per_user` of the batch (one user's flood does
        // not hold back everyone else's notifications), and only a device's oldest delivery
        // (a device gets its notifications in commit order, so the newest of a conversation
        // is the one its collapse key leaves shown).
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM (SELECT q.id, q.due_at_ms, ROW_NUMBER() OVER \
             (PARTITION BY q.user_id ORDER BY q.due_at_ms, q.id) AS n FROM push_deliveries q \
             WHERE ((q.in_flight = 0 AND q.due_at_ms <= ?1) \
               OR (q.in_flight = 1 AND q.lease_until_ms < ?1)) \
             AND NOT EXISTS (SELECT 1 FROM push_deliveries o \
               WHERE o.device_id = q.device_id AND o.id < q.id)) \
             WHERE n <= ?2 ORDER BY due_at_ms, id LIMIT ?3",
        )
        .bind(claim.now_ms)
        .bind(claim.per_user)
        .bind(claim.limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (id,) in rows {
            let row: DeliveryRow = sqlx::query_as(
                "UPDATE push_deliveries SET in_flight = 1, claimed_by = ?, lease_until_ms = ? \
                 WHERE id = ? RETURNING id, user_id, conversation_id, message_id, seq, title, \
                 body, badge, quiet, withdraw, attempts, created_at_ms",
            )
            .bind(&claim.owner)
            .bind(claim.lease_until_ms)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            let target: DeviceRow = sqlx::query_as(concat!(
                "SELECT ",
                device_columns!(),
                " FROM push_devices d JOIN push_deliveries q ON q.device_id = d.id WHERE q.id = ?"
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            claimed.push(Delivery {
                id: row.id,
                user: user_id(&row.user_id)?,
                target: device(target)?.target,
                payload: payload(&row)?,
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                created_at_ms: row.created_at_ms,
            });
        }
        commit(tx).await?;
        Ok(claimed)
    }

    async fn finish(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = serde_json::to_string(ids).expect("numbers serialise");
        sqlx::query("DELETE FROM push_deliveries WHERE id IN (SELECT value FROM json_each(?))")
            .bind(ids)
            .execute(&self.inner.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn retry_at(&self, id: i64, due_at_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE push_deliveries SET in_flight = 0, claimed_by = NULL, lease_until_ms = NULL, \
             attempts = attempts + 1, due_at_ms = ? WHERE id = ?",
        )
        .bind(due_at_ms)
        .bind(id)
        .execute(&self.inner.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn recover_in_flight(&self, owner: &str) -> StoreResult<u64> {
        let recovered = sqlx::query(
            "UPDATE push_deliveries SET in_flight = 0, claimed_by = NULL, lease_until_ms = NULL \
             WHERE in_flight = 1 AND (claimed_by = ? OR claimed_by IS NULL)",
        )
        .bind(owner)
        .execute(&self.inner.writer)
        .await
        .map_err(db)?;
        Ok(recovered.rows_affected())
    }

    async fn shown_to(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT user_id, pushed_at_ms FROM push_shown WHERE conversation_id = ? AND seq = ?",
        )
        .bind(conversation.0.as_bytes().as_slice())
        .bind(seq)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(user, at)| Ok((user_id(&user)?, at)))
            .collect()
    }

    async fn unread_totals(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, i64)>> {
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT m.user_id, (SELECT COUNT(*) FROM messages x WHERE \
             x.conversation_id = m.conversation_id AND x.seq > m.read_seq \
             AND x.sender_id != m.user_id AND x.deleted = 0) FROM members m \
             WHERE m.user_id IN (SELECT unhex(value) FROM json_each(?)) AND m.left_at_ms IS NULL",
        )
        .bind(ids_json(users))
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        let mut totals: Vec<(UserId, i64)> = Vec::new();
        for (user, count) in rows {
            let user = user_id(&user)?;
            match totals.iter_mut().find(|(u, _)| *u == user) {
                Some((_, total)) => *total += count,
                None => totals.push((user, count)),
            }
        }
        Ok(totals)
    }
}
