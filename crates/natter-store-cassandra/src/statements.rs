//! Every statement the store runs, prepared once per store (lazily, because the tables may not
//! exist before `migrate`). All writes carry `USING TIMESTAMP` (the sequencer's write stamp)
//! and are idempotent, so the driver may retry them: the same cells at the same stamp.

use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use crate::errors;
use crate::rows::MESSAGE_COLUMNS;
use crate::schema::message_columns;
use natter_domain::ports::StoreResult;

pub(crate) struct Statements {
    /// `(conversation_id, sender_id, client_msg_id) -> seq`.
    pub select_client_id: PreparedStatement,
    /// `(conversation_id, bucket, seq)` -> one row.
    pub select_message: PreparedStatement,
    /// `(conversation_id, bucket, seqs)` -> rows.
    pub select_messages_in: PreparedStatement,
    /// `(conversation_id, bucket, lo, hi, limit)` -> rows, newest first.
    pub select_message_range: PreparedStatement,
    /// `(conversation_id, mod_bucket, lo, hi, limit)` -> `(mod_seq, seq)` ascending.
    pub select_change_range: PreparedStatement,
    /// `(conversation_id, mod_bucket, mod_seqs)` -> `(mod_seq, seq)`.
    pub select_changes_in: PreparedStatement,
    /// The three inserts of an append as one unlogged batch (one round trip; atomicity is not
    /// needed: a partial write is an orphan like any uncommitted one): the whole-row insert of
    /// `messages` (markers named like the columns, plus `stamp`), the change entry
    /// `(conversation_id, mod_bucket, mod_seq, seq, stamp)` and the idempotency key
    /// `(conversation_id, sender_id, client_msg_id, seq, stamp)`.
    pub append_batch: Batch,
    /// The whole-row insert and the change entry of a change.
    pub change_batch: Batch,
}

impl Statements {
    pub async fn prepare(session: &Session, ks: &str) -> StoreResult<Self> {
        let columns = message_columns();
        let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        let markers: Vec<String> = names.iter().map(|name| format!(":{name}")).collect();
        let insert_message = format!(
            "INSERT INTO {ks}.messages ({}) VALUES ({}) USING TIMESTAMP :stamp",
            names.join(", "),
            markers.join(", ")
        );

        let prepare = async |cql: String| -> StoreResult<PreparedStatement> {
            let mut statement = session.prepare(cql).await.map_err(errors::prepare)?;
            // Reads are trivially idempotent; writes are, thanks to their explicit timestamp.
            statement.set_is_idempotent(true);
            Ok(statement)
        };
        let insert_message = prepare(insert_message).await?;
        let insert_change = prepare(format!(
            "INSERT INTO {ks}.changes (conversation_id, mod_bucket, mod_seq, seq) \
                 VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        ))
        .await?;
        let insert_client_id = prepare(format!(
            "INSERT INTO {ks}.client_ids (conversation_id, sender_id, client_msg_id, seq) \
                 VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        ))
        .await?;

        let mut append_batch = Batch::new(BatchType::Unlogged);
        append_batch.append_statement(insert_message.clone());
        append_batch.append_statement(insert_change.clone());
        append_batch.append_statement(insert_client_id.clone());
        append_batch.set_is_idempotent(true);
        let mut change_batch = Batch::new(BatchType::Unlogged);
        change_batch.append_statement(insert_message.clone());
        change_batch.append_statement(insert_change.clone());
        change_batch.set_is_idempotent(true);

        Ok(Self {
            select_client_id: prepare(
                format!(
                    "SELECT seq FROM {ks}.client_ids \
                     WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?"
                ))
.await?,
            select_message: prepare(
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM {ks}.messages \
                     WHERE conversation_id = ? AND bucket = ? AND seq = ?"
                ))
.await?,
            select_messages_in: prepare(
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM {ks}.messages \
                     WHERE conversation_id = ? AND bucket = ? AND seq IN ?"
                ))
.await?,
            select_message_range: prepare(
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM {ks}.messages \
                     WHERE conversation_id = ? AND bucket = ? AND seq >= ? AND seq <= ? LIMIT ?"
                ))
.await?,
            select_change_range: prepare(
                format!(
                    "SELECT mod_seq, seq FROM {ks}.changes \
                     WHERE conversation_id = ? AND mod_bucket = ? AND mod_seq >= ? AND mod_seq <= ? \
                     LIMIT ?"
                ))
.await?,
            select_changes_in: prepare(
                format!(
                    "SELECT mod_seq, seq FROM {ks}.changes \
                     WHERE conversation_id = ? AND mod_bucket = ? AND mod_seq IN ?"
                ))
.await?,
            append_batch,
            change_batch,
        })
    }
}
