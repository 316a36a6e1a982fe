//! [`PushQueue`]: the durable push pipeline, shared by every notifier process of a deployment.
//! A message is queued by the statement that commits it (messages.rs, or sequencer.rs when the
//! bodies are in Cassandra), a read cursor passing what was pushed by the statement that moves
//! it (conversations.rs). Notifiers plan a message as its Kafka record arrives
//! (`fan_out_message`, which removes its entry: a record delivered again adds nothing). Claims are leases,
//! made one claimer at a time under a transaction-level advisory lock: a device's next
//! delivery waits for the one in flight (its notifications stay in order) and no delivery is
//! claimed twice while its lease runs, however many notifiers share the table.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use natter_domain::notify::{
    Claim, Delivery, NewDelivery, Payload, PlannedEntry, PushContent, PushQueue, Queued,
    QueuedMessage,
};
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, MessageId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::PgStore;
use crate::errors::db;
use crate::push_devices::{DeviceRow, device};

/// The advisory lock key space of claims (`pg_advisory_xact_lock(PUSH_LOCK_SPACE, 0)`), apart
/// from the conversation and file locks' keys.
const PUSH_LOCK_SPACE: i32 = 0x7075_7368;

/// Deliveries of devices that no longer count (removed, or their session revoked).
const DEAD_DELIVERIES: &str = "DELETE FROM push_deliveries q WHERE q.claimed_by IS NULL \
     AND NOT EXISTS (SELECT 1 FROM push_devices d JOIN sessions s ON s.id = d.session_id \
       WHERE d.id = q.device_id AND s.revoked_at_ms IS NULL)";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    user_id: Uuid,
    conversation_id: Uuid,
    message_id: Option<i64>,
    seq: i64,
    title: String,
    body: String,
    badge: Option<i64>,
    quiet: bool,
    revision: i64,
    withdraw: bool,
    attempts: i32,
    created_at_ms: i64,
    due_at_ms: i64,
    #[sqlx(flatten)]
    device: DeviceColumns,
}

#[derive(sqlx::FromRow)]
struct DeviceColumns {
    device_id: Uuid,
    device_user: Uuid,
    device_session: Uuid,
    kind: String,
    address: String,
    apns_topic: Option<String>,
    apns_sandbox: Option<bool>,
    p256dh: Option<String>,
    auth: Option<String>,
    device_created_at_ms: i64,
}

impl DeliveryRow {
    fn into_delivery(self) -> StoreResult<Delivery> {
        let conversation_id = ConversationId(self.conversation_id);
        let badge = self.badge.and_then(|b| u32::try_from(b).ok());
        let payload = match self.message_id {
            Some(message_id) if !self.withdraw => Payload::Alert(PushContent {
                conversation_id,
                message_id: MessageId(message_id),
                seq: self.seq,
                title: self.title,
                body: self.body,
                badge,
                quiet: self.quiet,
                revision: self.revision,
            }),
            _ => Payload::Withdraw {
                conversation_id,
                read_seq: self.seq,
                badge,
            },
        };
        let d = self.device;
        let row: DeviceRow = (
            d.device_id,
            d.device_user,
            d.device_session,
            d.kind,
            d.address,
            d.apns_topic,
            d.apns_sandbox,
            d.p256dh,
            d.auth,
            d.device_created_at_ms,
        );
        Ok(Delivery {
            id: self.id,
            user: UserId(self.user_id),
            target: device(row)?.target,
            payload,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            created_at_ms: self.created_at_ms,
        })
    }
}

/// Add `deliveries` (due at `now_ms`; a (device, message, revision) already there is not added
/// again)
/// and remember each alerted user's newest pushed message per conversation, in two statements.
async fn add_deliveries(
    tx: &mut PgConnection,
    deliveries: &[NewDelivery],
    now_ms: i64,
) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut columns = Columns::default();
    let mut shown: HashMap<(Uuid, Uuid), i64> = HashMap::new();
    let mut withdrawn: HashMap<(Uuid, Uuid), i64> = HashMap::new();
    for delivery in deliveries {
        columns.push(delivery);
        let (key, seq, into) = match &delivery.payload {
            Payload::Alert(content) => (content.conversation_id, content.seq, &mut shown),
            Payload::Withdraw {
                conversation_id,
                read_seq,
                ..
            } => (*conversation_id, *read_seq, &mut withdrawn),
        };
        let newest = into.entry((delivery.user.0, key.0)).or_insert(seq);
        *newest = (*newest).max(seq);
    }
    sqlx::query(
        "INSERT INTO push_deliveries (user_id, device_id, conversation_id, message_id, seq, \
           title, body, badge, quiet, revision, withdraw, due_at_ms, created_at_ms) \
         SELECT u, d, c, m, s, t, b, g, q, r, w, $12, $12 FROM unnest($1::uuid[], $2::uuid[], \
           $3::uuid[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], \
           $9::boolean[], $10::bigint[], $11::boolean[]) AS x(u, d, c, m, s, t, b, g, q, r, w) \
         ON CONFLICT (device_id, message_id, revision) DO NOTHING",
    )
    .bind(&columns.user)
    .bind(&columns.device)
    .bind(&columns.conversation)
    .bind(&columns.message)
    .bind(&columns.seq)
    .bind(&columns.title)
    .bind(&columns.body)
    .bind(&columns.badge)
    .bind(&columns.quiet)
    .bind(&columns.revision)
    .bind(&columns.withdraw)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if !shown.is_empty() {
        let (keys, seqs): (Vec<_>, Vec<_>) = shown.into_iter().unzip();
        let (users, conversations): (Vec<_>, Vec<_>) = keys.into_iter().unzip();
        sqlx::query(
            "INSERT INTO push_shown AS p (user_id, conversation_id, seq, pushed_at_ms) \
             SELECT u, c, s, $4 FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS x(u, c, s) \
             ON CONFLICT (user_id, conversation_id) DO UPDATE \
             SET pushed_at_ms = CASE WHEN excluded.seq >= p.seq THEN excluded.pushed_at_ms \
               ELSE p.pushed_at_ms END, seq = GREATEST(p.seq, excluded.seq)",
        )
        .bind(users)
        .bind(conversations)
        .bind(seqs)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !withdrawn.is_empty() {
        let (keys, seqs): (Vec<_>, Vec<_>) = withdrawn.into_iter().unzip();
        let (users, conversations): (Vec<_>, Vec<_>) = keys.into_iter().unzip();
        sqlx::query(
            "DELETE FROM push_shown p USING unnest($1::uuid[], $2::uuid[], $3::bigint[]) \
               AS x(u, c, s) WHERE p.user_id = x.u AND p.conversation_id = x.c AND p.seq <= x.s",
        )
        .bind(users)
        .bind(conversations)
        .bind(seqs)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Deliveries as parallel arrays, for one `unnest` insert.
#[derive(Default)]
struct Columns {
    user: Vec<Uuid>,
    device: Vec<Uuid>,
    conversation: Vec<Uuid>,
    message: Vec<Option<i64>>,
    seq: Vec<i64>,
    title: Vec<String>,
    body: Vec<String>,
    badge: Vec<Option<i64>>,
    quiet: Vec<bool>,
    revision: Vec<i64>,
    withdraw: Vec<bool>,
}

impl Columns {
    fn push(&mut self, delivery: &NewDelivery) {
        self.user.push(delivery.user.0);
        self.device.push(delivery.device.0);
        match &delivery.payload {
            Payload::Alert(c) => {
                self.conversation.push(c.conversation_id.0);
                self.message.push(Some(c.message_id.0));
                self.seq.push(c.seq);
                self.title.push(c.title.clone());
                self.body.push(c.body.clone());
                self.badge.push(c.badge.map(i64::from));
                self.quiet.push(c.quiet);
                self.revision.push(c.revision);
                self.withdraw.push(false);
            }
            Payload::Withdraw {
                conversation_id,
                read_seq,
                badge,
            } => {
                self.conversation.push(conversation_id.0);
                self.message.push(None);
                self.seq.push(*read_seq);
                self.title.push(String::new());
                self.body.push(String::new());
                self.badge.push(badge.map(i64::from));
                self.quiet.push(false);
                self.revision.push(0);
                self.withdraw.push(true);
            }
        }
    }
}

#[async_trait]
impl PushQueue for PgStore {
    async fn queued(&self, limit: u32, messages_before_ms: i64) -> StoreResult<Vec<QueuedMessage>> {
        let rows: Vec<(i64, Uuid, i64, Option<Uuid>, bool)> = sqlx::query_as(
            "SELECT id, conversation_id, seq, reader, changed FROM push_queue \
             WHERE reader IS NOT NULL OR changed OR created_at_ms < $2 ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .bind(messages_before_ms)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(queue_id, conversation, seq, reader, changed)| QueuedMessage {
                    queue_id,
                    conversation_id: ConversationId(conversation),
                    seq,
                    kind: match reader {
                        Some(reader) => Queued::Read(UserId(reader)),
                        None if changed => Queued::Changed,
                        None => Queued::Message,
                    },
                },
            )
            .collect())
    }

    async fn queued_before(
        &self,
        bounds: &[(ConversationId, i64)],
        limit_each: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        if bounds.is_empty() {
            return Ok(Vec::new());
        }
        let (conversations, seqs): (Vec<Uuid>, Vec<i64>) = bounds
            .iter()
            .map(|(conversation, seq)| (conversation.0, *seq))
            .unzip();
        // One read for every bound, each an index range of `push_queue_by_message`.
        let rows: Vec<(i64, Uuid, i64)> = sqlx::query_as(
            "SELECT q.id, q.conversation_id, q.seq \
             FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS b(c, s, n) \
             CROSS JOIN LATERAL (SELECT id, conversation_id, seq FROM push_queue \
               WHERE conversation_id = b.c AND seq < b.s AND reader IS NULL AND NOT changed \
               ORDER BY seq LIMIT $3) AS q \
             ORDER BY b.n, q.seq",
        )
        .bind(conversations)
        .bind(seqs)
        .bind(i64::from(limit_each))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(queue_id, conversation, seq)| QueuedMessage {
                queue_id,
                conversation_id: ConversationId(conversation),
                seq,
                kind: Queued::Message,
            })
            .collect())
    }

    async fn fan_out(&self, planned: &[PlannedEntry], now_ms: i64) -> StoreResult<()> {
        if planned.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = planned.iter().map(|entry| entry.queue_id).collect();
        let mut tx = self.begin().await?;
        // One statement for every entry. A concurrent planner of the same entries waits here
        // for this one's commit, then removes none of them and adds nothing for them.
        let removed: HashSet<i64> =
            sqlx::query_scalar("DELETE FROM push_queue WHERE id = ANY($1) RETURNING id")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?
                .into_iter()
                .collect();
        let deliveries: Vec<NewDelivery> = planned
            .iter()
            .filter(|entry| removed.contains(&entry.queue_id))
            .flat_map(|entry| entry.deliveries.iter().cloned())
            .collect();
        add_deliveries(&mut tx, &deliveries, now_ms).await?;
        tx.commit().await.map_err(db)
    }

    async fn claim_due(&self, claim: &Claim) -> StoreResult<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(PUSH_LOCK_SPACE)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(DEAD_DELIVERIES)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Oldest first, no user more than `per_user` of the batch, only a device's oldest
        // delivery (see SQLite's); claimable: due and unclaimed, or claimed by a lease that ran
        // out.
        let mut rows: Vec<DeliveryRow> = sqlx::query_as(
            "WITH candidates AS (SELECT q.id, q.due_at_ms, ROW_NUMBER() OVER \
               (PARTITION BY q.user_id ORDER BY q.due_at_ms, q.id) AS n FROM push_deliveries q \
               WHERE ((q.claimed_by IS NULL AND q.due_at_ms <= $1) OR q.lease_until_ms < $1) \
               AND NOT EXISTS (SELECT 1 FROM push_deliveries o \
                 WHERE o.device_id = q.device_id AND o.id < q.id)), \
             picked AS (SELECT id FROM candidates WHERE n <= $2 ORDER BY due_at_ms, id LIMIT $3) \
             UPDATE push_deliveries q SET claimed_by = $4, lease_until_ms = $5 \
             FROM picked, push_devices d WHERE q.id = picked.id AND d.id = q.device_id \
             RETURNING q.id, q.user_id, q.conversation_id, q.message_id, q.seq, q.title, q.body, \
               q.badge, q.quiet, q.revision, q.withdraw, q.attempts, q.created_at_ms, q.due_at_ms, \
               d.id AS device_id, d.user_id AS device_user, d.session_id AS device_session, \
               d.kind, d.address, d.apns_topic, d.apns_sandbox, d.p256dh, d.auth, \
               d.created_at_ms AS device_created_at_ms",
        )
        .bind(claim.now_ms)
        .bind(i64::from(claim.per_user))
        .bind(i64::from(claim.limit))
        .bind(&claim.owner)
        .bind(claim.lease_until_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.sort_by_key(|row| (row.due_at_ms, row.id));
        rows.into_iter().map(DeliveryRow::into_delivery).collect()
    }

    async fn finish(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM push_deliveries WHERE id = ANY($1)")
            .bind(ids)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn retry_at(&self, id: i64, due_at_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE push_deliveries SET claimed_by = NULL, lease_until_ms = NULL, \
             attempts = attempts + 1, due_at_ms = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(due_at_ms)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn recover_in_flight(&self, owner: &str) -> StoreResult<u64> {
        let recovered = sqlx::query(
            "UPDATE push_deliveries SET claimed_by = NULL, lease_until_ms = NULL \
             WHERE claimed_by = $1",
        )
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(recovered.rows_affected())
    }

    async fn shown_to(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT user_id, pushed_at_ms FROM push_shown WHERE conversation_id = $1 AND seq = $2",
        )
        .bind(conversation.0)
        .bind(seq)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(user, at)| (UserId(user), at))
            .collect())
    }

    async fn unread_totals(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, i64)>> {
        let ids: Vec<Uuid> = users.iter().map(|user| user.0).collect();
        // Bodies here: counted as the conversation list counts them. Bodies elsewhere
        // (Cassandra): the messages past the read cursor, deleted and own ones too (a badge, not the
        // list's exact count, which would scan each conversation's bodies).
        let query = if self.inner.external_messages.is_some() {
            "SELECT m.user_id, SUM(GREATEST(c.last_seq - m.read_seq, 0))::bigint FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.user_id = ANY($1) AND m.left_at_ms IS NULL GROUP BY m.user_id"
        } else {
            "SELECT m.user_id, SUM((SELECT count(*) FROM messages x WHERE \
               x.conversation_id = m.conversation_id AND x.seq > m.read_seq \
               AND x.sender_id <> m.user_id AND NOT x.deleted))::bigint FROM members m \
             WHERE m.user_id = ANY($1) AND m.left_at_ms IS NULL GROUP BY m.user_id"
        };
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(query)
            .bind(ids)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(user, count)| (UserId(user), count))
            .collect())
    }
}
