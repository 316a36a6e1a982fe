//! [`PushQueue`]: the durable push pipeline of embedded mode. A created message adds its
//! `push_queue` row in the group-commit transaction that commits it (messages.rs), so a commit
//! without its pending notifications cannot exist; the notifier turns each row into
//! `push_deliveries` (one per device) and removes it in one write; the drain claims due
//! deliveries (marking them in flight) and removes or reschedules each after the provider's
//! answer. Every write runs on the writer thread ([`crate::writer`]), one at a time, so a claim
//! is exclusive and sees every claim before it. Claims are leases (`Claim`), as in PostgreSQL
//! where several notifiers share the pipeline; one process here, so only its own restart
//! recovers them.
//!
//! Entries are read in commit order and removed by id; nothing indexes them by message (an index
//! keyed by conversation cost every append a page), so the lookups by message that only
//! scaled-out mode's Kafka planner makes ([`PushQueue::queued_before`],
//! [`PushQueue::fan_out_message`]) scan the queue here.

use async_trait::async_trait;
use natter_domain::notify::{
    Claim, Delivery, NewDelivery, Payload, PlannedEntry, PushContent, PushQueue, Queued,
    QueuedMessage,
};
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, MessageId, UserId};
use rusqlite::{Connection, params};

use crate::SqliteStore;
use crate::errors::corrupt;
use crate::push_devices::{DeviceRow, device, ids_json};
use crate::query::{all, exec, one};
use crate::rows::{from_row, user_id, uuid_of};

/// Deliveries of devices that no longer count (removed, or their session revoked).
const DEAD_DELIVERIES: &str = "DELETE FROM push_deliveries WHERE in_flight = 0 AND device_id NOT IN \
     (SELECT d.id FROM push_devices d JOIN sessions s ON s.id = d.session_id \
      WHERE s.revoked_at_ms IS NULL)";

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
    revision: i64,
    withdraw: bool,
    attempts: i64,
    created_at_ms: i64,
}

from_row!(DeliveryRow {
    id,
    user_id,
    conversation_id,
    message_id,
    seq,
    title,
    body,
    badge,
    quiet,
    revision,
    withdraw,
    attempts,
    created_at_ms
});

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
            revision: row.revision,
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
    tx: &Connection,
    conversation: ConversationId,
    user: UserId,
    read_seq: i64,
) -> StoreResult<()> {
    let user = user.0.as_bytes().as_slice();
    let conversation = conversation.0.as_bytes().as_slice();
    let shown = exec(
        tx,
        "DELETE FROM push_shown WHERE user_id = ? AND conversation_id = ? AND seq <= ?",
        params![user, conversation, read_seq],
    )?;
    if shown > 0 {
        exec(
            tx,
            "INSERT INTO push_queue (conversation_id, seq, reader) VALUES (?, ?, ?)",
            params![conversation, read_seq, user],
        )?;
    }
    Ok(())
}

/// Add `deliveries` (due at `now_ms`; a (device, message, revision) already there is not added
/// again)
/// and remember each alerted user's newest pushed message per conversation.
fn add_deliveries(conn: &Connection, deliveries: &[NewDelivery], now_ms: i64) -> StoreResult<()> {
    for delivery in deliveries {
        let (conversation, message_id, seq, title, body, badge, quiet, revision, withdraw) =
            match &delivery.payload {
                Payload::Alert(c) => (
                    c.conversation_id,
                    Some(c.message_id.0),
                    c.seq,
                    c.title.as_str(),
                    c.body.as_str(),
                    c.badge,
                    c.quiet,
                    c.revision,
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
                    0,
                    true,
                ),
            };
        let user = delivery.user.0.as_bytes().as_slice();
        let conversation = conversation.0.as_bytes().as_slice();
        exec(
            conn,
            "INSERT OR IGNORE INTO push_deliveries (user_id, device_id, conversation_id, \
             message_id, seq, title, body, badge, quiet, revision, withdraw, due_at_ms, \
             created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                user,
                delivery.device.0.as_bytes().as_slice(),
                conversation,
                message_id,
                seq,
                title,
                body,
                badge.map(i64::from),
                quiet,
                revision,
                withdraw,
                now_ms,
                now_ms
            ],
        )?;
        if withdraw {
            exec(
                conn,
                "DELETE FROM push_shown WHERE user_id = ? AND conversation_id = ? AND seq <= ?",
                params![user, conversation, seq],
            )?;
        } else {
            exec(
                conn,
                "INSERT INTO push_shown (user_id, conversation_id, seq, pushed_at_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, conversation_id) DO UPDATE \
                 SET pushed_at_ms = CASE WHEN excluded.seq >= seq THEN excluded.pushed_at_ms \
                   ELSE pushed_at_ms END, seq = MAX(seq, excluded.seq)",
                params![user, conversation, seq, now_ms],
            )?;
        }
    }
    Ok(())
}

/// The message `seq` changed: if it is someone's newest push in its conversation, queue its
/// update (in the change's transaction).
pub(crate) fn message_changed(
    tx: &Connection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<()> {
    exec(
        tx,
        "INSERT INTO push_queue (conversation_id, seq, changed) SELECT ?1, ?2, 1 \
         WHERE EXISTS (SELECT 1 FROM push_shown WHERE conversation_id = ?1 AND seq = ?2)",
        params![conversation.0.as_bytes().as_slice(), seq],
    )?;
    Ok(())
}

/// Claim the due deliveries `claim` allows (marking them in flight until its lease ends), in
/// the writer's transaction: the one writer makes claims exclusive.
fn claim_in(conn: &Connection, claim: &Claim) -> StoreResult<Vec<Delivery>> {
    exec(conn, DEAD_DELIVERIES, [])?;
    // Oldest first, but no user more than `per_user` of the batch (one user's flood does
    // not hold back everyone else's notifications), and only a device's oldest delivery
    // (a device gets its notifications in commit order, so the newest of a conversation
    // is the one its collapse key leaves shown).
    let ids: Vec<i64> = all(
        conn,
        "SELECT id FROM (SELECT q.id, q.due_at_ms, ROW_NUMBER() OVER \
         (PARTITION BY q.user_id ORDER BY q.due_at_ms, q.id) AS n FROM push_deliveries q \
         WHERE ((q.in_flight = 0 AND q.due_at_ms <= ?1) \
           OR (q.in_flight = 1 AND q.lease_until_ms < ?1)) \
         AND NOT EXISTS (SELECT 1 FROM push_deliveries o \
           WHERE o.device_id = q.device_id AND o.id < q.id)) \
         WHERE n <= ?2 ORDER BY due_at_ms, id LIMIT ?3",
        params![claim.now_ms, claim.per_user, claim.limit],
        |row| row.get(0),
    )?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        let row = one(
            conn,
            "UPDATE push_deliveries SET in_flight = 1, claimed_by = ?, lease_until_ms = ? \
             WHERE id = ? RETURNING id, user_id, conversation_id, message_id, seq, title, \
             body, badge, quiet, revision, withdraw, attempts, created_at_ms",
            params![claim.owner, claim.lease_until_ms, id],
            DeliveryRow::from_row,
        )?
        .ok_or_else(|| corrupt(format!("push delivery {id} vanished while claimed")))?;
        let target = one(
            conn,
            concat!(
                "SELECT ",
                device_columns!(),
                " FROM push_devices d JOIN push_deliveries q ON q.device_id = d.id WHERE q.id = ?"
            ),
            params![id],
            DeviceRow::from_row,
        )?
        .ok_or_else(|| corrupt(format!("push delivery {id} without its device")))?;
        claimed.push(Delivery {
            id: row.id,
            user: user_id(&row.user_id)?,
            target: device(target)?.target,
            payload: payload(&row)?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            created_at_ms: row.created_at_ms,
        });
    }
    Ok(claimed)
}

#[async_trait]
impl PushQueue for SqliteStore {
    async fn queued(&self, limit: u32, messages_before_ms: i64) -> StoreResult<Vec<QueuedMessage>> {
        type Row = (i64, Vec<u8>, i64, Option<Vec<u8>>, bool);
        let rows: Vec<Row> = self
            .read(move |conn| {
                all(
                    conn,
                    "SELECT id, conversation_id, seq, reader, changed FROM push_queue \
                     WHERE reader IS NOT NULL OR changed = 1 OR created_at_ms < ? \
                     ORDER BY id LIMIT ?",
                    params![messages_before_ms, limit],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )
            })
            .await?;
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
        bounds: &[(ConversationId, i64)],
        limit_each: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        let bounds = bounds.to_vec();
        self.read(move |conn| {
            let mut queued = Vec::new();
            for (conversation, before) in bounds {
                let rows = all(
                    conn,
                    "SELECT id, seq FROM push_queue WHERE conversation_id = ? AND seq < ? \
                     AND reader IS NULL AND changed = 0 ORDER BY seq LIMIT ?",
                    params![conversation.0.as_bytes().as_slice(), before, limit_each],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                queued.extend(rows.into_iter().map(|(queue_id, seq)| QueuedMessage {
                    queue_id,
                    conversation_id: conversation,
                    seq,
                    kind: Queued::Message,
                }));
            }
            Ok(queued)
        })
        .await
    }

    async fn fan_out(&self, planned: &[PlannedEntry], now_ms: i64) -> StoreResult<()> {
        if planned.is_empty() {
            return Ok(());
        }
        let planned = planned.to_vec();
        self.write(move |conn| {
            for entry in &planned {
                let removed = exec(
                    conn,
                    "DELETE FROM push_queue WHERE id = ?",
                    params![entry.queue_id],
                )?;
                // Planned already: nothing to add.
                if removed > 0 {
                    add_deliveries(conn, &entry.deliveries, now_ms)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn claim_due(&self, claim: &Claim) -> StoreResult<Vec<Delivery>> {
        let claim = claim.clone();
        self.write(move |conn| claim_in(conn, &claim)).await
    }

    async fn finish(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = serde_json::to_string(ids).expect("numbers serialise");
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM push_deliveries WHERE id IN (SELECT value FROM json_each(?))",
                params![ids],
            )?;
            Ok(())
        })
        .await
    }

    async fn retry_at(&self, id: i64, due_at_ms: i64) -> StoreResult<()> {
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE push_deliveries SET in_flight = 0, claimed_by = NULL, \
                 lease_until_ms = NULL, attempts = attempts + 1, due_at_ms = ? WHERE id = ?",
                params![due_at_ms, id],
            )?;
            Ok(())
        })
        .await
    }

    async fn recover_in_flight(&self, owner: &str) -> StoreResult<u64> {
        let owner = owner.to_owned();
        let recovered = self
            .write(move |conn| {
                exec(
                    conn,
                    "UPDATE push_deliveries SET in_flight = 0, claimed_by = NULL, \
                     lease_until_ms = NULL \
                     WHERE in_flight = 1 AND (claimed_by = ? OR claimed_by IS NULL)",
                    params![owner],
                )
            })
            .await?;
        Ok(u64::try_from(recovered).unwrap_or(u64::MAX))
    }

    async fn shown_to(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let rows: Vec<(Vec<u8>, i64)> = self
            .read(move |conn| {
                all(
                    conn,
                    "SELECT user_id, pushed_at_ms FROM push_shown \
                     WHERE conversation_id = ? AND seq = ?",
                    params![conversation.0.as_bytes().as_slice(), seq],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .await?;
        rows.into_iter()
            .map(|(user, at)| Ok((user_id(&user)?, at)))
            .collect()
    }

    async fn unread_totals(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, i64)>> {
        let ids = ids_json(users);
        let rows: Vec<(Vec<u8>, i64)> = self
            .read(move |conn| {
                all(
                    conn,
                    "SELECT m.user_id, (SELECT COUNT(*) FROM messages x WHERE \
                     x.conversation_id = m.conversation_id AND x.seq > m.read_seq \
                     AND x.sender_id != m.user_id AND x.deleted = 0) FROM members m \
                     WHERE m.user_id IN (SELECT unhex(value) FROM json_each(?)) \
                     AND m.left_at_ms IS NULL",
                    params![ids],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .await?;
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
