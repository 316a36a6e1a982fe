//! [`AccountStore`]: users, credentials, sessions and refresh-token rotation.
//!
//! Refresh tokens are stored only as hashes. A spent hash is kept (flagged) rather than deleted,
//! because presenting it again is the signal that a token was stolen: the session is revoked.
//! Rotation locks the presented token's row, so of two concurrent presentations one rotates and
//! the other sees it spent (and revokes the session: a race looks like theft, as it should).

use async_trait::async_trait;
use natter_domain::files::Attachment;
use natter_domain::model::*;
use natter_domain::names::{UserQuery, name_words};
use natter_domain::ports::{AccountStore, StoreResult};
use natter_domain::values::{DisplayName, Username};
use natter_domain::{SessionId, StoreError, UserId};
use uuid::Uuid;

use crate::errors::db;
use crate::rows::{SessionRow, UserRow, session_columns, user_columns};
use crate::{PgStore, commit};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Users indexed per transaction by [`index_unindexed_users`].
const INDEX_BATCH: i64 = 1_000;

/// Replace the indexed words of `user`'s display name, in the caller's transaction (which
/// holds the user's row: it updated it or selected it `FOR UPDATE`).
async fn index_name(
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    username: &str,
    display_name: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM user_words WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let words = name_words(display_name);
    let all = words.join(" ");
    sqlx::query(
        "INSERT INTO user_words (word, user_id, username, words) \
         SELECT unnest($1::text[]), $2, $3, $4",
    )
    .bind(words)
    .bind(user)
    .bind(username)
    .bind(all)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Index the display names of the users whose words are not indexed (those from before
/// migration 0011, or created by an older node since), a batch per transaction, in id order
/// (the order every multi-row lock of `users` takes). Run by [`PgStore::migrate`]; a store
/// migrating at the same time waits for a batch and then skips it.
pub(crate) async fn index_unindexed_users(store: &PgStore) -> StoreResult<u64> {
    let mut indexed = 0;
    loop {
        let mut tx = store.begin().await?;
        let batch: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT id, username, display_name FROM users WHERE NOT words_indexed \
             ORDER BY id LIMIT $1 FOR UPDATE",
        )
        .bind(INDEX_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if batch.is_empty() {
            commit(tx).await?;
            return Ok(indexed);
        }
        let ids: Vec<Uuid> = batch.iter().map(|(id, _, _)| *id).collect();
        let mut rows: (Vec<String>, Vec<Uuid>, Vec<String>, Vec<String>) = Default::default();
        for (id, username, display_name) in batch {
            let words = name_words(&display_name);
            let all = words.join(" ");
            for word in words {
                rows.0.push(word);
                rows.1.push(id);
                rows.2.push(username.clone());
                rows.3.push(all.clone());
            }
        }
        sqlx::query("DELETE FROM user_words WHERE user_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO user_words (word, user_id, username, words) \
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[])",
        )
        .bind(rows.0)
        .bind(rows.1)
        .bind(rows.2)
        .bind(rows.3)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE users SET words_indexed = true WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await?;
        indexed += ids.len() as u64;
    }
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        // The unique index on username (and the primary key) make a taken name a `Conflict`.
        // One statement: the user and the words of their display name.
        let words = name_words(user.display_name.as_str());
        sqlx::query(
            "WITH u AS (INSERT INTO users \
                 (id, username, display_name, password_hash, created_at_ms, words_indexed) \
                 VALUES ($1, $2, $3, $4, $5, true) RETURNING id) \
             INSERT INTO user_words (word, user_id, username, words) \
             SELECT w, u.id, $2, $7 FROM u, unnest($6::text[]) w",
        )
        .bind(user.id.0)
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at_ms)
        .bind(&words)
        .bind(words.join(" "))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(User {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            created_at_ms: user.created_at_ms,
            last_seen_ms: None,
            avatar: None,
        })
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash FROM users u WHERE u.username = $1"
        ))
        .bind(username.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| Ok((r.user.into_user()?, r.password_hash)))
            .transpose()
    }

    async fn search_users(&self, query: &UserQuery, limit: u32) -> StoreResult<Vec<User>> {
        // Users whose username starts with $1, then users with a display-name word beginning
        // with $2 and one beginning with each word of $3, each part by username. Range scans
        // rather than LIKE: no wildcard escaping, and they use the indexes (bytewise "C"
        // collation); chr(1114111) sorts after every character a username or a word may hold.
        // The first (longest) query word drives a range scan of the word index, whose entries
        // carry what the rest needs: the username to order by, and the user's words
        // (` `-separated, each only letters and digits), where ` word` is found exactly when
        // a word begins with `word`. Of a user's words that begin with $2 only the first
        // counts, so each user comes once; users the first part has are left out of the
        // second.
        let words = query.name.as_ref().map(|name| name.words());
        let first = words.and_then(|w| w.first());
        let others = words.map_or(&[][..], |w| &w[1..]);
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM ( \
               (SELECT p.id FROM users p \
                WHERE p.username >= $1 AND p.username < $1 || chr(1114111) \
                ORDER BY p.username LIMIT $4) \
               UNION ALL \
               (SELECT w.user_id FROM user_words w \
                WHERE w.word >= $2::text AND w.word < $2::text || chr(1114111) \
                  AND strpos(' ' || w.words || ' ', ' ' || w.word || ' ') \
                    = strpos(' ' || w.words, ' ' || $2::text) \
                  AND NOT (w.username >= $1 AND w.username < $1 || chr(1114111)) \
                  AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) q(word) \
                    WHERE strpos(' ' || w.words, ' ' || q.word) = 0) \
                ORDER BY w.username LIMIT $4) \
             ) found(id) JOIN users u ON u.id = found.id \
             ORDER BY u.username = $1 DESC, \
               (u.username >= $1 AND u.username < $1 || chr(1114111)) DESC, u.username \
             LIMIT $4"
        ))
        .bind(&query.username_prefix)
        .bind(first)
        .bind(others)
        .bind(i64::from(limit))
        // Planned for these values each time: a generic plan cannot tell how many users a
        // prefix picks, and chose to read every user (a hash join on a scan of `users`).
        .persistent(false)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> StoreResult<User> {
        // The update locks the row first, so of two renames the second replaces the words
        // the first wrote (each statement of the transaction reads what committed before it).
        let mut tx = self.begin().await?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users u SET display_name = $1, words_indexed = true WHERE u.id = $2 \
             RETURNING ",
            user_columns!()
        ))
        .bind(name.as_str())
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let user = row.ok_or(StoreError::NotFound)?.into_user()?;
        index_name(&mut tx, id.0, user.username.as_str(), name.as_str()).await?;
        commit(tx).await?;
        Ok(user)
    }

    async fn set_avatar(&self, id: UserId, avatar: Option<&Attachment>) -> StoreResult<User> {
        let json = avatar
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| StoreError::Internal(format!("avatar of a user: {err}")))?;
        let file = avatar.map(|avatar| avatar.file_id.0);
        let mut tx = self.begin().await?;
        if let Some(file) = file {
            // The file's row under `FOR SHARE`, as references are added: the collector deletes a
            // file under `FOR UPDATE` and then checks that no user has it as their avatar, so
            // either it waits for this commit and sees the avatar, or this waits for its delete
            // and finds no file.
            let exists: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM files WHERE id = $1 AND completed_at_ms IS NOT NULL FOR SHARE",
            )
            .bind(file)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            exists.ok_or(StoreError::NotFound)?;
        }
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users u SET avatar_file_id = $1, avatar = $2 WHERE u.id = $3 RETURNING ",
            user_columns!()
        ))
        .bind(file)
        .bind(json)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let user = row.ok_or(StoreError::NotFound)?.into_user()?;
        commit(tx).await?;
        Ok(user)
    }

    async fn record_last_seen(&self, seen: &[(UserId, i64)]) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<Uuid>, Vec<i64>) = seen.iter().map(|(id, at)| (id.0, *at)).unzip();
        // One statement. Rows are locked in id order (by `locked`, before the update touches
        // them), so two nodes flushing overlapping batches cannot deadlock; last-seen never moves backwards (an older batch retried after a newer).
        sqlx::query(
            "WITH v AS (SELECT id, max(at) AS at FROM unnest($1::uuid[], $2::bigint[]) AS t(id, at) \
                        GROUP BY id), \
                  locked AS MATERIALIZED (SELECT u.id FROM users u JOIN v ON v.id = u.id \
                                      ORDER BY u.id FOR UPDATE) \
             UPDATE users u SET last_seen_ms = GREATEST(COALESCE(u.last_seen_ms, 0), v.at) \
             FROM v, locked WHERE u.id = v.id AND locked.id = v.id",
        )
        .bind(ids)
        .bind(times)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        let session = new.session;
        sqlx::query(
            "WITH s AS (INSERT INTO sessions (id, user_id, device_name, created_at_ms, last_used_at_ms) \
                        VALUES ($1, $2, $3, $4, $5) RETURNING id) \
             INSERT INTO refresh_tokens (hash, session_id) SELECT $6, s.id FROM s",
        )
        .bind(session.id.0)
        .bind(session.user_id.0)
        .bind(session.device_name.as_str())
        .bind(session.created_at_ms)
        .bind(session.last_used_at_ms)
        .bind(new.refresh_hash.as_slice())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(session)
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = $1 AND s.revoked_at_ms IS NULL"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.map(SessionRow::into_session))
    }

    async fn sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let rows: Vec<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.user_id = $1 AND s.revoked_at_ms IS NULL \
             ORDER BY s.created_at_ms, s.id"
        ))
        .bind(user.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(SessionRow::into_session).collect())
    }

    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        replacement: [u8; 32],
        now_ms: i64,
        cutoff: SessionCutoff,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.begin().await?;
        // FOR UPDATE OF t: a concurrent rotation of the same token waits here, then sees it spent.
        type Found = (Uuid, bool, bool, Uuid, i64, i64);
        let found: Option<Found> = sqlx::query_as(
            "SELECT t.session_id, t.spent, s.revoked_at_ms IS NOT NULL, s.user_id, \
             s.created_at_ms, s.last_used_at_ms \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
             WHERE t.hash = $1 FOR UPDATE OF t",
        )
        .bind(presented.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((session_id, spent, revoked, user_id, created_at, last_used)) = found else {
            return Ok(RefreshOutcome::Invalid);
        };
        if revoked {
            return Ok(RefreshOutcome::Invalid);
        }
        // An expired session, or a spent token presented again (reuse), ends the session.
        let expired = !cutoff.admits(created_at, last_used);
        if expired || spent {
            sqlx::query(
                "UPDATE sessions SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(now_ms)
            .bind(session_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            commit(tx).await?;
            return Ok(if expired {
                RefreshOutcome::Invalid
            } else {
                RefreshOutcome::Reused {
                    session_id: SessionId(session_id),
                    user_id: UserId(user_id),
                }
            });
        }
        let row: SessionRow = sqlx::query_as(concat!(
            "WITH spend AS (UPDATE refresh_tokens SET spent = true WHERE hash = $1), \
                  fresh AS (INSERT INTO refresh_tokens (hash, session_id) VALUES ($2, $3)) \
             UPDATE sessions s SET last_used_at_ms = $4 WHERE s.id = $3 RETURNING ",
            session_columns!()
        ))
        .bind(presented.as_slice())
        .bind(replacement.as_slice())
        .bind(session_id)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        Ok(RefreshOutcome::Rotated(row.into_session()))
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: SessionId,
        now_ms: i64,
    ) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at_ms = $1 \
             WHERE user_id = $2 AND id <> $3 AND revoked_at_ms IS NULL RETURNING id",
        )
        .bind(now_ms)
        .bind(id.0)
        .bind(keep.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        Ok(revoked.into_iter().map(SessionId).collect())
    }

    async fn revoke_session(&self, id: SessionId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }
}
