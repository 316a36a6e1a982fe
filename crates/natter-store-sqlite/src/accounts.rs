//! [`AccountStore`]: users, credentials, sessions and refresh-token rotation.
//!
//! Refresh tokens are stored only as hashes. A spent hash is kept (flagged) rather than deleted,
//! because presenting it again is the signal that a token was stolen: the session is revoked.

use async_trait::async_trait;
use natter_domain::model::*;
use natter_domain::ports::{AccountStore, StoreResult};
use natter_domain::values::{DisplayName, Username};
use natter_domain::{SessionId, StoreError, UserId};
use sqlx::{QueryBuilder, Sqlite};

use crate::errors::db;
use crate::rows::{SessionRow, UserRow, session_columns, user_columns, uuid_of};
use crate::{SqliteStore, commit};

/// Ids per `IN (...)` query: far below SQLite's bound-parameter limit.
const IDS_PER_QUERY: usize = 500;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut tx = self.sqlx_write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE username = ?")
            .bind(user.username.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("username taken".into()));
        }
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.0.as_bytes().as_slice())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
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
            " FROM users WHERE id = ?"
        ))
        .bind(id.0.as_bytes().as_slice())
        .fetch_optional(&self.inner.reader)
        .await
        .map_err(db)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id IN ("
            ));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id.0.as_bytes().to_vec());
            }
            query.push(")");
            let rows: Vec<UserRow> = query
                .build_query_as()
                .fetch_all(&self.inner.reader)
                .await
                .map_err(db)?;
            for row in rows {
                users.push(row.into_user()?);
            }
        }
        Ok(users)
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let mut tx = self.sqlx_read().await?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = ?"
        ))
        .bind(username.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = row.into_user()?;
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
            .bind(user.id.0.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        Ok(Some((user, hash)))
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>> {
        // A range scan rather than LIKE: no wildcard escaping, and it uses the username index.
        // char(0x10FFFF) sorts after every character a username may contain.
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username >= ?1 AND username < ?1 || char(1114111) ORDER BY username LIMIT ?2"
        ))
        .bind(prefix)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> StoreResult<User> {
        let mut tx = self.sqlx_write().await?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET display_name = ? WHERE id = ? RETURNING ",
            user_columns!()
        ))
        .bind(name.as_str())
        .bind(id.0.as_bytes().as_slice())
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
        let mut tx = self.sqlx_write().await?;
        for (id, at_ms) in seen {
            // Never move last-seen backwards (an older batch retried after a newer one).
            sqlx::query(
                "UPDATE users SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?) WHERE id = ?",
            )
            .bind(at_ms)
            .bind(id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        commit(tx).await
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        let session = new.session;
        let mut tx = self.sqlx_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_name, created_at_ms, last_used_at_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(session.id.0.as_bytes().as_slice())
        .bind(session.user_id.0.as_bytes().as_slice())
        .bind(session.device_name.as_str())
        .bind(session.created_at_ms)
        .bind(session.last_used_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id) VALUES (?, ?)")
            .bind(new.refresh_hash.as_slice())
            .bind(session.id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await?;
        Ok(session)
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = ? AND s.revoked_at_ms IS NULL"
        ))
        .bind(id.0.as_bytes().as_slice())
        .fetch_optional(&self.inner.reader)
        .await
        .map_err(db)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let rows: Vec<SessionRow> = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.user_id = ? AND s.revoked_at_ms IS NULL ORDER BY s.created_at_ms, s.id"
        ))
        .bind(user.0.as_bytes().as_slice())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        replacement: [u8; 32],
        now_ms: i64,
        cutoff: SessionCutoff,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.sqlx_write().await?;
        type Found = (Vec<u8>, bool, Option<i64>, Vec<u8>, i64, i64);
        let found: Option<Found> = sqlx::query_as(
            "SELECT t.session_id, t.spent, s.revoked_at_ms, s.user_id, s.created_at_ms, \
             s.last_used_at_ms FROM refresh_tokens t \
             JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?",
        )
        .bind(presented.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((session_id, spent, revoked, user_id, created_at, last_used)) = found else {
            return Ok(RefreshOutcome::Invalid);
        };
        if revoked.is_some() {
            return Ok(RefreshOutcome::Invalid);
        }
        // An expired session, or a spent token presented again (reuse), ends the session.
        let expired = !cutoff.admits(created_at, last_used);
        if expired || spent {
            sqlx::query("UPDATE sessions SET revoked_at_ms = ? WHERE id = ?")
                .bind(now_ms)
                .bind(&session_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            commit(tx).await?;
            return Ok(if expired {
                RefreshOutcome::Invalid
            } else {
                RefreshOutcome::Reused {
                    session_id: SessionId(uuid_of(&session_id)?),
                    user_id: UserId(uuid_of(&user_id)?),
                }
            });
        }
        sqlx::query("UPDATE refresh_tokens SET spent = 1 WHERE hash = ?")
            .bind(presented.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id) VALUES (?, ?)")
            .bind(replacement.as_slice())
            .bind(&session_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE sessions SET last_used_at_ms = ? WHERE id = ?")
            .bind(now_ms)
            .bind(&session_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let row: SessionRow = sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = ?"
        ))
        .bind(&session_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let session = row.into_session()?;
        commit(tx).await?;
        Ok(RefreshOutcome::Rotated(session))
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: SessionId,
        now_ms: i64,
    ) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.sqlx_write().await?;
        let user = id.0.as_bytes().as_slice();
        let updated = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked: Vec<Vec<u8>> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at_ms = ? \
             WHERE user_id = ? AND id <> ? AND revoked_at_ms IS NULL RETURNING id",
        )
        .bind(now_ms)
        .bind(user)
        .bind(keep.0.as_bytes().as_slice())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        revoked
            .iter()
            .map(|id| uuid_of(id).map(SessionId))
            .collect()
    }

    async fn revoke_session(&self, id: SessionId) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        sqlx::query("UPDATE sessions SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL")
            .bind(now_ms())
            .bind(id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await
    }
}
