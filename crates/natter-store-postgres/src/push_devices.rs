//! [`PushDevices`]: devices registered for push notifications, and notification settings. A
//! device counts only while its session is live: every read joins `sessions`, so logging out or
//! revoking a session unregisters its devices without the account code knowing about them; the
//! rows of dead sessions are deleted the next time their user registers a device. The same
//! queries as SQLite's, with arrays where SQLite needs `json_each`.

use std::collections::HashSet;

use async_trait::async_trait;
use natter_domain::ports::StoreResult;
use natter_domain::push::{
    DeviceId, NotificationSettings, PushDevice, PushDevices, PushKind, PushTarget,
};
use natter_domain::{ConversationId, SessionId, StoreError, UserId};

use uuid::Uuid;

use crate::PgStore;
use crate::errors::{corrupt, db};

pub(crate) type DeviceRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    i64,
);

/// Columns of `push_devices` as [`DeviceRow`], prefixed `d.` (a macro so it can be `concat!`ed).
macro_rules! device_columns {
    () => {
        "d.id, d.user_id, d.session_id, d.kind, d.address, d.apns_topic, d.apns_sandbox, \
         d.p256dh, d.auth, d.created_at_ms"
    };
}

pub(crate) fn device(row: DeviceRow) -> StoreResult<PushDevice> {
    let (id, user, session, kind, address, topic, sandbox, p256dh, auth, created_at_ms) = row;
    let target = PushTarget::from_columns(&kind, address, topic, sandbox, p256dh, auth)
        .ok_or_else(|| corrupt(format!("push device of kind {kind:?}")))?;
    Ok(PushDevice {
        id: DeviceId(id),
        user: UserId(user),
        session: SessionId(session),
        target,
        created_at_ms,
    })
}

type SettingsRow = (
    Uuid,
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<String>,
);

fn settings(row: SettingsRow) -> StoreResult<(UserId, NotificationSettings)> {
    let (user, level, preview, start, end, zone) = row;
    let quiet = (start.map(i64::from), end.map(i64::from), zone);
    let settings = NotificationSettings::from_columns(&level, &preview, quiet)
        .ok_or_else(|| corrupt(format!("notification settings {level:?}, {preview:?}")))?;
    Ok((UserId(user), settings))
}

#[async_trait]
impl PushDevices for PgStore {
    async fn register_device(
        &self,
        device: PushDevice,
        max_per_user: u32,
    ) -> StoreResult<PushDevice> {
        let user = device.user.0;
        let (topic, sandbox, p256dh, auth) = device.target.columns();
        let mut tx = self.begin().await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO push_devices (id, user_id, session_id, kind, address, apns_topic, \
             apns_sandbox, p256dh, auth, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (kind, address) DO UPDATE SET user_id = excluded.user_id, \
             session_id = excluded.session_id, apns_topic = excluded.apns_topic, \
             apns_sandbox = excluded.apns_sandbox, p256dh = excluded.p256dh, \
             auth = excluded.auth, created_at_ms = excluded.created_at_ms RETURNING id",
        )
        .bind(device.id.0)
        .bind(user)
        .bind(device.session.0)
        .bind(device.target.kind().as_str())
        .bind(device.target.address())
        .bind(topic)
        .bind(sandbox)
        .bind(p256dh)
        .bind(auth)
        .bind(device.created_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        // Housekeeping: the user's devices of dead sessions, then the oldest past the maximum.
        sqlx::query(
            "DELETE FROM push_devices WHERE user_id = $1 AND session_id NOT IN \
             (SELECT id FROM sessions WHERE revoked_at_ms IS NULL)",
        )
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "DELETE FROM push_devices WHERE id IN (SELECT id FROM push_devices \
             WHERE user_id = $1 ORDER BY created_at_ms DESC, id DESC OFFSET $2)",
        )
        .bind(user)
        .bind(i64::from(max_per_user.max(1)))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(PushDevice {
            id: DeviceId(id),
            ..device
        })
    }

    async fn devices(&self, user: UserId) -> StoreResult<Vec<PushDevice>> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM push_devices AS d JOIN sessions AS s ON s.id = d.session_id \
             WHERE d.user_id = $1 AND s.revoked_at_ms IS NULL ORDER BY d.created_at_ms, d.id"
        ))
        .bind(user.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(device).collect()
    }

    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<PushDevice>> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM push_devices AS d JOIN sessions AS s ON s.id = d.session_id \
             WHERE d.user_id = ANY($1) \
             AND s.revoked_at_ms IS NULL ORDER BY d.user_id, d.created_at_ms, d.id"
        ))
        .bind(users.iter().map(|u| u.0).collect::<Vec<Uuid>>())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(device).collect()
    }

    async fn member_devices(&self, conversation: ConversationId) -> StoreResult<Vec<PushDevice>> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM members AS m \
             JOIN push_devices AS d ON d.user_id = m.user_id \
             JOIN sessions AS s ON s.id = d.session_id \
             WHERE m.conversation_id = $1 AND m.left_at_ms IS NULL \
             AND s.revoked_at_ms IS NULL ORDER BY d.user_id, d.created_at_ms, d.id"
        ))
        .bind(conversation.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(device).collect()
    }

    async fn with_member_devices(
        &self,
        conversations: &[ConversationId],
    ) -> StoreResult<HashSet<ConversationId>> {
        let ids: Vec<Uuid> = conversations.iter().map(|c| c.0).collect();
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT m.conversation_id FROM members AS m \
             JOIN push_devices AS d ON d.user_id = m.user_id \
             JOIN sessions AS s ON s.id = d.session_id \
             WHERE m.conversation_id = ANY($1) AND m.left_at_ms IS NULL \
             AND s.revoked_at_ms IS NULL",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|(id,)| ConversationId(id)).collect())
    }

    async fn remove_device(&self, user: UserId, id: DeviceId) -> StoreResult<()> {
        let removed = sqlx::query("DELETE FROM push_devices WHERE id = $1 AND user_id = $2")
            .bind(id.0)
            .bind(user.0)
            .execute(self.pool())
            .await
            .map_err(db)?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn forget_address(&self, kind: PushKind, address: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM push_devices WHERE kind = $1 AND address = $2")
            .bind(kind.as_str())
            .bind(address)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn notification_settings(
        &self,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, NotificationSettings)>> {
        let rows: Vec<SettingsRow> = sqlx::query_as(
            "SELECT user_id, level, preview, quiet_start_min, quiet_end_min, quiet_time_zone \
             FROM notification_settings WHERE user_id = ANY($1)",
        )
        .bind(users.iter().map(|u| u.0).collect::<Vec<Uuid>>())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let stored = rows
            .into_iter()
            .map(settings)
            .collect::<StoreResult<Vec<_>>>()?;
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
        let quiet = settings.quiet_hours.as_ref();
        sqlx::query(
            "INSERT INTO notification_settings (user_id, level, preview, quiet_start_min, \
             quiet_end_min, quiet_time_zone) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET level = excluded.level, \
             preview = excluded.preview, quiet_start_min = excluded.quiet_start_min, \
             quiet_end_min = excluded.quiet_end_min, quiet_time_zone = excluded.quiet_time_zone",
        )
        .bind(user.0)
        .bind(settings.level.as_str())
        .bind(settings.preview.as_str())
        .bind(quiet.map(|q| i32::from(q.start_min)))
        .bind(quiet.map(|q| i32::from(q.end_min)))
        .bind(quiet.map(|q| q.time_zone.as_str()))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }
}
