//! [`AccountStore`]: users, credentials, sessions and refresh-token rotation.
//!
//! Refresh tokens are stored only as hashes. A spent hash is kept (flagged) rather than deleted,
//! because presenting it again is the signal that a token was stolen: the session is revoked.
//! Rotation locks the presented token's row, so of two concurrent presentations one rotates and
//! the other sees it spent (and revokes the session: a race looks like theft, as it should).

use async_trait::async_trait;
use natter_domain::model::*;
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

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        // The unique index on username (and the primary key) make a taken name a `Conflict`.
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id.0)
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at_ms)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(User {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            created_at_ms: user.created_at_ms,
            last_seen_ms: None,
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
        Ok(row.map(UserRow::into_user))
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
        Ok(rows.into_iter().map(UserRow::into_user).collect())
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
        Ok(row.map(|r| (r.user.into_user(), r.password_hash)))
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>> {
        // A range scan rather than LIKE: no wildcard escaping, and it uses the username index
        // (bytewise "C" collation). chr(1114111) sorts after every character a username may hold.
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.username >= $1 AND u.username < $1 || chr(1114111) \
             ORDER BY u.username LIMIT $2"
        ))
        .bind(prefix)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(UserRow::into_user).collect())
    }

    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> StoreResult<User> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users u SET display_name = $1 WHERE u.id = $2 RETURNING ",
            user_columns!()
        ))
        .bind(name.as_str())
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.ok_or(StoreError::NotFound)?.into_user())
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
