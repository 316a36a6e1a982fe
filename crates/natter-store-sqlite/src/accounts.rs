//! [`AccountStore`]: users, credentials, sessions and refresh-token rotation. Reads run on the
//! read connections, writes on the writer thread (each in its own savepoint of the writer's batch).
//!
//! Refresh tokens are stored only as hashes. A spent hash is kept (flagged) rather than deleted,
//! because presenting it again is the signal that a token was stolen: the session is revoked.

use async_trait::async_trait;
use natter_domain::files::Attachment;
use natter_domain::model::*;
use natter_domain::names::{UserQuery, name_words};
use natter_domain::ports::{AccountStore, StoreResult};
use natter_domain::values::{DisplayName, Username};
use natter_domain::{SessionId, StoreError, UserId};
use rusqlite::{Connection, params};

use crate::SqliteStore;
use crate::query::{all, exec, one};
use crate::rows::{SessionRow, UserRow, session_columns, user_columns, uuid_of};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A JSON array of the ids as hex strings, for `json_each` (SQLite has no array binding).
fn ids_json(ids: &[UserId]) -> String {
    let ids: Vec<String> = ids
        .iter()
        .map(|id| format!("\"{}\"", id.0.simple()))
        .collect();
    format!("[{}]", ids.join(","))
}

/// Replace the indexed words of `user`'s display name (inside the caller's transaction).
fn index_name(
    conn: &Connection,
    user: &[u8],
    username: &str,
    display_name: &str,
) -> StoreResult<()> {
    exec(
        conn,
        "DELETE FROM user_words WHERE user_id = ?",
        params![user],
    )?;
    let words = name_words(display_name);
    let all = words.join(" ");
    for word in &words {
        exec(
            conn,
            "INSERT INTO user_words (word, user_id, username, words) VALUES (?, ?, ?, ?)",
            params![word, user, username, all],
        )?;
    }
    Ok(())
}

/// Index the display name of every user (migration 0012's step, in its transaction).
pub(crate) fn index_existing_users(conn: &Connection) -> StoreResult<()> {
    let users = all(
        conn,
        "SELECT id, username, display_name FROM users",
        [],
        |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        },
    )?;
    for (id, username, display_name) in users {
        index_name(conn, &id, &username, &display_name)?;
    }
    Ok(())
}

/// Users whose username starts with ?1, then users with a display-name word beginning with ?2
/// and one beginning with each word of the JSON array ?3, each part by username; at most ?4.
/// Range scans rather than LIKE: no wildcard escaping, and they use the indexes; char(0x10FFFF)
/// sorts after every character a username or a word may contain. The first (longest) query
/// word drives a range scan of the word table, whose rows carry what the rest needs: the
/// username to order by, and the user's words (` `-separated, each only letters and digits),
/// where ` word` is found exactly when a word begins with `word`. Of a user's words that
/// begin with ?2 only the first counts, so each user comes once; users the first part has are
/// left out of the second.
const SEARCH_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM ( \
       SELECT * FROM (SELECT p.id AS found_id FROM users p \
         WHERE p.username >= ?1 AND p.username < ?1 || char(1114111) \
         ORDER BY p.username LIMIT ?4) \
       UNION ALL \
       SELECT * FROM (SELECT w.user_id FROM user_words w \
         WHERE w.word >= ?2 AND w.word < ?2 || char(1114111) \
           AND instr(' ' || w.words || ' ', ' ' || w.word || ' ') = instr(' ' || w.words, ' ' || ?2) \
           AND NOT (w.username >= ?1 AND w.username < ?1 || char(1114111)) \
           AND NOT EXISTS (SELECT 1 FROM json_each(?3) q \
             WHERE instr(' ' || w.words, ' ' || q.value) = 0) \
         ORDER BY w.username LIMIT ?4) \
     ) found JOIN users ON users.id = found.found_id \
     ORDER BY users.username = ?1 DESC, \
       (users.username >= ?1 AND users.username < ?1 || char(1114111)) DESC, users.username \
     LIMIT ?4"
);

/// What rotation needs to know about the presented token and its session.
struct Presented {
    session_id: Vec<u8>,
    spent: bool,
    revoked: Option<i64>,
    user_id: Vec<u8>,
    created_at_ms: i64,
    last_used_at_ms: i64,
}

/// Rotate `presented` for `replacement` inside the writer's transaction (see
/// [`AccountStore::rotate_refresh`]).
fn rotate_in(
    conn: &Connection,
    presented: [u8; 32],
    replacement: [u8; 32],
    now_ms: i64,
    cutoff: SessionCutoff,
) -> StoreResult<RefreshOutcome> {
    let found = one(
        conn,
        "SELECT t.session_id, t.spent, s.revoked_at_ms, s.user_id, s.created_at_ms, \
         s.last_used_at_ms FROM refresh_tokens t \
         JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?",
        params![presented.as_slice()],
        |row| {
            Ok(Presented {
                session_id: row.get(0)?,
                spent: row.get(1)?,
                revoked: row.get(2)?,
                user_id: row.get(3)?,
                created_at_ms: row.get(4)?,
                last_used_at_ms: row.get(5)?,
            })
        },
    )?;
    let Some(found) = found else {
        return Ok(RefreshOutcome::Invalid);
    };
    if found.revoked.is_some() {
        return Ok(RefreshOutcome::Invalid);
    }
    let session_id = found.session_id.as_slice();
    // An expired session, or a spent token presented again (reuse), ends the session.
    let expired = !cutoff.admits(found.created_at_ms, found.last_used_at_ms);
    if expired || found.spent {
        exec(
            conn,
            "UPDATE sessions SET revoked_at_ms = ? WHERE id = ?",
            params![now_ms, session_id],
        )?;
        return Ok(if expired {
            RefreshOutcome::Invalid
        } else {
            RefreshOutcome::Reused {
                session_id: SessionId(uuid_of(session_id)?),
                user_id: UserId(uuid_of(&found.user_id)?),
            }
        });
    }
    exec(
        conn,
        "UPDATE refresh_tokens SET spent = 1 WHERE hash = ?",
        params![presented.as_slice()],
    )?;
    exec(
        conn,
        "INSERT INTO refresh_tokens (hash, session_id) VALUES (?, ?)",
        params![replacement.as_slice(), session_id],
    )?;
    exec(
        conn,
        "UPDATE sessions SET last_used_at_ms = ? WHERE id = ?",
        params![now_ms, session_id],
    )?;
    let session = one(
        conn,
        concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = ?"
        ),
        params![session_id],
        SessionRow::from_row,
    )?
    .ok_or(StoreError::NotFound)?
    .into_session()?;
    Ok(RefreshOutcome::Rotated(session))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |conn| {
            let taken = one(
                conn,
                "SELECT 1 FROM users WHERE username = ?",
                params![user.username.as_str()],
                |row| row.get::<_, i64>(0),
            )?;
            if taken.is_some() {
                return Err(StoreError::Conflict("username taken".into()));
            }
            exec(
                conn,
                "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    user.id.0.as_bytes().as_slice(),
                    user.username.as_str(),
                    user.display_name.as_str(),
                    user.password_hash.as_str(),
                    user.created_at_ms
                ],
            )?;
            index_name(
                conn,
                user.id.0.as_bytes(),
                user.username.as_str(),
                user.display_name.as_str(),
            )?;
            Ok(User {
                id: user.id,
                username: user.username,
                display_name: user.display_name,
                created_at_ms: user.created_at_ms,
                last_seen_ms: None,
                avatar: None,
            })
        })
        .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.read(move |conn| {
            one(
                conn,
                concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?"),
                params![id.0.as_bytes().as_slice()],
                UserRow::from_row,
            )?
            .map(UserRow::into_user)
            .transpose()
        })
        .await
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(ids);
        self.read(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE id IN (SELECT unhex(value) FROM json_each(?))"
                ),
                params![ids],
                UserRow::from_row,
            )?
            .into_iter()
            .map(UserRow::into_user)
            .collect()
        })
        .await
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let username = username.clone();
        self.read(move |conn| {
            let row = one(
                conn,
                concat!("SELECT ", user_columns!(), " FROM users WHERE username = ?"),
                params![username.as_str()],
                UserRow::from_row,
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            let user = row.into_user()?;
            let hash: String = one(
                conn,
                "SELECT password_hash FROM users WHERE id = ?",
                params![user.id.0.as_bytes().as_slice()],
                |row| row.get(0),
            )?
            .ok_or(StoreError::NotFound)?;
            Ok(Some((user, hash)))
        })
        .await
    }

    async fn search_users(&self, query: &UserQuery, limit: u32) -> StoreResult<Vec<User>> {
        let prefix = query.username_prefix.clone();
        let words = query.name.as_ref().map(|name| name.words());
        let first = words.and_then(|w| w.first()).cloned();
        let others = serde_json::to_string(words.map_or(&[][..], |w| &w[1..]))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.read(move |conn| {
            all(
                conn,
                SEARCH_USERS,
                params![prefix, first, others, i64::from(limit)],
                UserRow::from_row,
            )?
            .into_iter()
            .map(UserRow::into_user)
            .collect()
        })
        .await
    }

    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> StoreResult<User> {
        let name = name.clone();
        self.write(move |conn| {
            let user = one(
                conn,
                concat!(
                    "UPDATE users SET display_name = ? WHERE id = ? RETURNING ",
                    user_columns!()
                ),
                params![name.as_str(), id.0.as_bytes().as_slice()],
                UserRow::from_row,
            )?
            .ok_or(StoreError::NotFound)?
            .into_user()?;
            index_name(conn, id.0.as_bytes(), user.username.as_str(), name.as_str())?;
            Ok(user)
        })
        .await
    }

    async fn set_avatar(&self, id: UserId, avatar: Option<&Attachment>) -> StoreResult<User> {
        let avatar = avatar.cloned();
        let json = avatar
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| StoreError::Internal(format!("avatar of a user: {err}")))?;
        let file = avatar.map(|avatar| avatar.file_id.0.as_bytes().to_vec());
        // On the writer, like the collector: the file cannot go between the check and the update.
        self.write(move |conn| {
            if let Some(file) = &file {
                one(
                    conn,
                    "SELECT 1 FROM files WHERE id = ? AND completed_at_ms IS NOT NULL",
                    params![file],
                    |row| row.get::<_, i64>(0),
                )?
                .ok_or(StoreError::NotFound)?;
            }
            one(
                conn,
                concat!(
                    "UPDATE users SET avatar_file_id = ?, avatar = ? WHERE id = ? RETURNING ",
                    user_columns!()
                ),
                params![file, json, id.0.as_bytes().as_slice()],
                UserRow::from_row,
            )?
            .ok_or(StoreError::NotFound)?
            .into_user()
        })
        .await
    }

    async fn record_last_seen(&self, seen: &[(UserId, i64)]) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let seen = seen.to_vec();
        self.write(move |conn| {
            for (id, at_ms) in seen {
                // Never move last-seen backwards (an older batch retried after a newer one).
                exec(
                    conn,
                    "UPDATE users SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?) WHERE id = ?",
                    params![at_ms, id.0.as_bytes().as_slice()],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        self.write(move |conn| {
            let session = new.session;
            exec(
                conn,
                "INSERT INTO sessions (id, user_id, device_name, created_at_ms, last_used_at_ms) \
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    session.id.0.as_bytes().as_slice(),
                    session.user_id.0.as_bytes().as_slice(),
                    session.device_name.as_str(),
                    session.created_at_ms,
                    session.last_used_at_ms
                ],
            )?;
            exec(
                conn,
                "INSERT INTO refresh_tokens (hash, session_id) VALUES (?, ?)",
                params![
                    new.refresh_hash.as_slice(),
                    session.id.0.as_bytes().as_slice()
                ],
            )?;
            Ok(session)
        })
        .await
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.read(move |conn| {
            one(
                conn,
                concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions s WHERE s.id = ? AND s.revoked_at_ms IS NULL"
                ),
                params![id.0.as_bytes().as_slice()],
                SessionRow::from_row,
            )?
            .map(SessionRow::into_session)
            .transpose()
        })
        .await
    }

    async fn sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        self.read(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions s WHERE s.user_id = ? AND s.revoked_at_ms IS NULL \
                     ORDER BY s.created_at_ms, s.id"
                ),
                params![user.0.as_bytes().as_slice()],
                SessionRow::from_row,
            )?
            .into_iter()
            .map(SessionRow::into_session)
            .collect()
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        replacement: [u8; 32],
        now_ms: i64,
        cutoff: SessionCutoff,
    ) -> StoreResult<RefreshOutcome> {
        self.write(move |conn| rotate_in(conn, presented, replacement, now_ms, cutoff))
            .await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: SessionId,
        now_ms: i64,
    ) -> StoreResult<Vec<SessionId>> {
        let password_hash = password_hash.to_owned();
        self.write(move |conn| {
            let user = id.0.as_bytes().as_slice();
            let updated = exec(
                conn,
                "UPDATE users SET password_hash = ? WHERE id = ?",
                params![password_hash, user],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            let revoked: Vec<Vec<u8>> = all(
                conn,
                "UPDATE sessions SET revoked_at_ms = ? \
                 WHERE user_id = ? AND id <> ? AND revoked_at_ms IS NULL RETURNING id",
                params![now_ms, user, keep.0.as_bytes().as_slice()],
                |row| row.get(0),
            )?;
            revoked
                .iter()
                .map(|id| uuid_of(id).map(SessionId))
                .collect()
        })
        .await
    }

    async fn revoke_session(&self, id: SessionId) -> StoreResult<()> {
        let now_ms = now_ms();
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE sessions SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
                params![now_ms, id.0.as_bytes().as_slice()],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// People search reads ranges of the indexes, never every user or every word.
    #[test]
    fn the_search_scans_no_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::connections::open_writer(&dir.path().join("plan.db")).unwrap();
        crate::migrate::run(&mut conn).unwrap();
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {SEARCH_USERS}"))
            .unwrap();
        let plan: Vec<String> = statement
            .query_map(params!["ann", "ann", r#"["smi"]"#, 50], |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Scans only of what the ranges found and of the query's words (json_each).
        for table in ["users", "p", "w"] {
            let scan = format!("SCAN {table}");
            assert!(
                !plan
                    .iter()
                    .any(|step| step == &scan || step.starts_with(&format!("{scan} "))),
                "{plan:#?}"
            );
        }
        for range in [
            "SEARCH p USING INDEX sqlite_autoindex_users_2 (username>? AND username<?)",
            "SEARCH w USING PRIMARY KEY (word>? AND word<?)",
            "SEARCH users USING INDEX sqlite_autoindex_users_1 (id=?)",
        ] {
            assert!(plan.iter().any(|step| step == range), "{range}: {plan:#?}");
        }
    }

    /// How long searches take over many users (measured, not asserted): `cargo test -p
    /// natter-store-sqlite --lib -- --ignored --nocapture people_at_scale`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: 200,000 users"]
    async fn people_at_scale() {
        const USERS: usize = 200_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("people.db");
        let first = [
            "Ann", "Bob", "Chloé", "David", "Éloïse", "Farid", "Grace", "Hiro", "Ines",
        ];
        let last = [
            "Smith", "Martin", "Nguyen", "Okafor", "Schmidt", "Rossi", "Tanaka", "Silva",
        ];
        {
            let mut conn = crate::connections::open_writer(&path).unwrap();
            crate::migrate::run(&mut conn).unwrap();
            let tx = conn.transaction().unwrap();
            for i in 0..USERS {
                let id = uuid::Uuid::now_v7();
                let username = format!("user{i:06}");
                // A made-up third word per user, so that prefixes spread like real names.
                let tail: String = format!("{:x}", i.wrapping_mul(2_654_435_761) % 0xffffff)
                    .chars()
                    .map(|c| (b'a' + c.to_digit(16).unwrap() as u8) as char)
                    .collect();
                let display = format!("{} {} {tail}", first[i % 9], last[i / 7 % 8]);
                exec(
                    &tx,
                    "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) \
                     VALUES (?, ?, ?, 'x', 1)",
                    params![id.as_bytes().as_slice(), username, display],
                )
                .unwrap();
                index_name(&tx, id.as_bytes(), &username, &display).unwrap();
            }
            tx.commit().unwrap();
            conn.execute_batch("ANALYZE").unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        for text in [
            "a",
            "ann",
            "élo mar",
            "ann smi",
            "bob okafor bc",
            "user01234",
            "zzz",
        ] {
            let query = UserQuery::parse(text).unwrap();
            let mut times = Vec::new();
            let mut found = 0;
            for _ in 0..20 {
                let started = std::time::Instant::now();
                found = store.search_users(&query, 50).await.unwrap().len();
                times.push(started.elapsed());
            }
            times.sort();
            println!(
                "{text:>14}: {found:>2} found, median {:?}, max {:?}",
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
        store.close().await;
    }
}
