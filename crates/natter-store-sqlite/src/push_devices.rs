//! [`PushDevices`]: devices registered for push notifications, and notification settings. A
//! device counts only while its session is live: every read joins `sessions`, so logging out or
//! revoking a session unregisters its devices without the account code knowing about them; the
//! rows of dead sessions are deleted the next time their user registers a device. Writes run on
//! the writer thread ([`crate::writer`]), reads on the read connections ([`crate::readers`]).

use std::collections::HashSet;

use async_trait::async_trait;
use natter_domain::ports::StoreResult;
use natter_domain::push::{
    DeviceId, NotificationSettings, PushDevice, PushDevices, PushKind, PushTarget,
};
use natter_domain::{ConversationId, SessionId, StoreError, UserId};
use rusqlite::{Connection, Params, params};

use crate::SqliteStore;
use crate::errors::corrupt;
use crate::query::{all, exec, one};
use crate::rows::{from_row, uuid_of};

/// One row of `push_devices`, in [`device_columns`]' order.
pub(crate) struct DeviceRow {
    id: Vec<u8>,
    user_id: Vec<u8>,
    session_id: Vec<u8>,
    kind: String,
    address: String,
    apns_topic: Option<String>,
    apns_sandbox: Option<bool>,
    p256dh: Option<String>,
    auth: Option<String>,
    created_at_ms: i64,
}

from_row!(DeviceRow {
    id,
    user_id,
    session_id,
    kind,
    address,
    apns_topic,
    apns_sandbox,
    p256dh,
    auth,
    created_at_ms
});

/// Columns of `push_devices` as [`DeviceRow`], prefixed `d.` (a macro so it can be `concat!`ed).
macro_rules! device_columns {
    () => {
        "d.id, d.user_id, d.session_id, d.kind, d.address, d.apns_topic, d.apns_sandbox, \
         d.p256dh, d.auth, d.created_at_ms"
    };
}

pub(crate) fn device(row: DeviceRow) -> StoreResult<PushDevice> {
    let target = PushTarget::from_columns(
        &row.kind,
        row.address,
        row.apns_topic,
        row.apns_sandbox,
        row.p256dh,
        row.auth,
    )
    .ok_or_else(|| corrupt(format!("push device of kind {:?}", row.kind)))?;
    Ok(PushDevice {
        id: DeviceId(uuid_of(&row.id)?),
        user: UserId(uuid_of(&row.user_id)?),
        session: SessionId(uuid_of(&row.session_id)?),
        target,
        created_at_ms: row.created_at_ms,
    })
}

/// One row of `notification_settings`.
struct SettingsRow {
    user_id: Vec<u8>,
    level: String,
    preview: String,
    quiet_start_min: Option<i64>,
    quiet_end_min: Option<i64>,
    quiet_time_zone: Option<String>,
}

from_row!(SettingsRow {
    user_id,
    level,
    preview,
    quiet_start_min,
    quiet_end_min,
    quiet_time_zone
});

fn settings(row: SettingsRow) -> StoreResult<(UserId, NotificationSettings)> {
    let (level, preview) = (row.level, row.preview);
    let quiet = (row.quiet_start_min, row.quiet_end_min, row.quiet_time_zone);
    let settings = NotificationSettings::from_columns(&level, &preview, quiet)
        .ok_or_else(|| corrupt(format!("notification settings {level:?}, {preview:?}")))?;
    Ok((UserId(uuid_of(&row.user_id)?), settings))
}

/// A JSON array of the ids as hex strings, for `json_each` (SQLite has no array binding).
pub(crate) fn ids_json(users: &[UserId]) -> String {
    let ids: Vec<String> = users
        .iter()
        .map(|u| format!("\"{}\"", u.0.simple()))
        .collect();
    format!("[{}]", ids.join(","))
}

/// The devices a query over `push_devices AS d` (with `device_columns!`) finds.
fn live_devices(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<Vec<PushDevice>> {
    all(conn, sql, params, DeviceRow::from_row)?
        .into_iter()
        .map(device)
        .collect()
}

#[async_trait]
impl PushDevices for SqliteStore {
    async fn register_device(
        &self,
        device: PushDevice,
        max_per_user: u32,
    ) -> StoreResult<PushDevice> {
        self.write(move |conn| {
            let user = device.user.0.as_bytes().as_slice();
            let (topic, sandbox, p256dh, auth) = device.target.columns();
            let id: Vec<u8> = one(
                conn,
                "INSERT INTO push_devices (id, user_id, session_id, kind, address, apns_topic, \
                 apns_sandbox, p256dh, auth, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (kind, address) DO UPDATE SET user_id = excluded.user_id, \
                 session_id = excluded.session_id, apns_topic = excluded.apns_topic, \
                 apns_sandbox = excluded.apns_sandbox, p256dh = excluded.p256dh, \
                 auth = excluded.auth, created_at_ms = excluded.created_at_ms RETURNING id",
                params![
                    device.id.0.as_bytes().as_slice(),
                    user,
                    device.session.0.as_bytes().as_slice(),
                    device.target.kind().as_str(),
                    device.target.address(),
                    topic,
                    sandbox,
                    p256dh,
                    auth,
                    device.created_at_ms
                ],
                |row| row.get(0),
            )?
            .ok_or_else(|| corrupt("push device upsert returned no id"))?;
            // Housekeeping: the user's devices of dead sessions, then the oldest past the maximum.
            exec(
                conn,
                "DELETE FROM push_devices WHERE user_id = ? AND session_id NOT IN \
                 (SELECT id FROM sessions WHERE revoked_at_ms IS NULL)",
                params![user],
            )?;
            exec(
                conn,
                "DELETE FROM push_devices WHERE id IN (SELECT id FROM push_devices \
                 WHERE user_id = ? ORDER BY created_at_ms DESC, id DESC LIMIT -1 OFFSET ?)",
                params![user, i64::from(max_per_user.max(1))],
            )?;
            Ok(PushDevice {
                id: DeviceId(uuid_of(&id)?),
                ..device
            })
        })
        .await
    }

    async fn devices(&self, user: UserId) -> StoreResult<Vec<PushDevice>> {
        self.read(move |conn| {
            live_devices(
                conn,
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM push_devices AS d JOIN sessions AS s ON s.id = d.session_id \
                     WHERE d.user_id = ? AND s.revoked_at_ms IS NULL ORDER BY d.created_at_ms, d.id"
                ),
                params![user.0.as_bytes().as_slice()],
            )
        })
        .await
    }

    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<PushDevice>> {
        let ids = ids_json(users);
        self.read(move |conn| {
            live_devices(
                conn,
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM push_devices AS d JOIN sessions AS s ON s.id = d.session_id \
                     WHERE d.user_id IN (SELECT unhex(value) FROM json_each(?)) \
                     AND s.revoked_at_ms IS NULL ORDER BY d.user_id, d.created_at_ms, d.id"
                ),
                params![ids],
            )
        })
        .await
    }

    async fn member_devices(&self, conversation: ConversationId) -> StoreResult<Vec<PushDevice>> {
        self.read(move |conn| {
            live_devices(
                conn,
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM members AS m \
                     JOIN push_devices AS d ON d.user_id = m.user_id \
                     JOIN sessions AS s ON s.id = d.session_id \
                     WHERE m.conversation_id = ? AND m.left_at_ms IS NULL \
                     AND s.revoked_at_ms IS NULL ORDER BY d.user_id, d.created_at_ms, d.id"
                ),
                params![conversation.0.as_bytes().as_slice()],
            )
        })
        .await
    }

    async fn with_member_devices(
        &self,
        conversations: &[ConversationId],
    ) -> StoreResult<HashSet<ConversationId>> {
        let conversations = conversations.to_vec();
        self.read(move |conn| {
            let mut with = HashSet::new();
            for conversation in conversations {
                let found = one(
                    conn,
                    "SELECT 1 FROM members AS m \
                     JOIN push_devices AS d ON d.user_id = m.user_id \
                     JOIN sessions AS s ON s.id = d.session_id \
                     WHERE m.conversation_id = ? AND m.left_at_ms IS NULL \
                     AND s.revoked_at_ms IS NULL LIMIT 1",
                    [conversation.0.as_bytes().as_slice()],
                    |_| Ok(()),
                )?;
                if found.is_some() {
                    with.insert(conversation);
                }
            }
            Ok(with)
        })
        .await
    }

    async fn remove_device(&self, user: UserId, id: DeviceId) -> StoreResult<()> {
        self.write(move |conn| {
            let removed = exec(
                conn,
                "DELETE FROM push_devices WHERE id = ? AND user_id = ?",
                params![id.0.as_bytes().as_slice(), user.0.as_bytes().as_slice()],
            )?;
            if removed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn forget_address(&self, kind: PushKind, address: &str) -> StoreResult<()> {
        let address = address.to_owned();
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM push_devices WHERE kind = ? AND address = ?",
                params![kind.as_str(), address],
            )?;
            Ok(())
        })
        .await
    }

    async fn notification_settings(
        &self,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, NotificationSettings)>> {
        let ids = ids_json(users);
        let stored = self
            .read(move |conn| {
                all(
                    conn,
                    "SELECT user_id, level, preview, quiet_start_min, quiet_end_min, \
                     quiet_time_zone FROM notification_settings \
                     WHERE user_id IN (SELECT unhex(value) FROM json_each(?))",
                    params![ids],
                    SettingsRow::from_row,
                )?
                .into_iter()
                .map(settings)
                .collect::<StoreResult<Vec<_>>>()
            })
            .await?;
        Ok(users
            .iter()
            .map(|user| {
                let found = stored.iter().find(|(id, _)| id == user);
                (*user, found.map(|(_, s)| s.clone()).unwrap_or_default())
            })
            .collect())
    }

    async fn set_notification_settings(
        &self,
        user: UserId,
        settings: &NotificationSettings,
    ) -> StoreResult<()> {
        let level = settings.level.as_str();
        let preview = settings.preview.as_str();
        let quiet = settings.quiet_hours.as_ref().map(|q| {
            (
                i64::from(q.start_min),
                i64::from(q.end_min),
                q.time_zone.clone(),
            )
        });
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO notification_settings (user_id, level, preview, quiet_start_min, \
                 quiet_end_min, quiet_time_zone) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (user_id) DO UPDATE SET level = excluded.level, \
                 preview = excluded.preview, quiet_start_min = excluded.quiet_start_min, \
                 quiet_end_min = excluded.quiet_end_min, quiet_time_zone = excluded.quiet_time_zone",
                params![
                    user.0.as_bytes().as_slice(),
                    level,
                    preview,
                    quiet.as_ref().map(|q| q.0),
                    quiet.as_ref().map(|q| q.1),
                    quiet.as_ref().map(|q| q.2.as_str())
                ],
            )?;
            Ok(())
        })
        .await
    }
}
