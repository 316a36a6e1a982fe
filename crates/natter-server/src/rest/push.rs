//! `/push/devices` and `/users/me/notifications`: the devices a user registers for push
//! notifications, and what they want to be told.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use natter_domain::push::{
    DeviceId, NotificationSettings, NotifyLevel, PreviewLevel, PushDevice, PushTarget, QuietHours,
};
use natter_domain::{Chat, DomainError, SessionId};
use natter_protocol::*;
use natter_push::Pusher;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::extract::{AuthUser, JsonBody, PathParams};
use crate::rest::responses::*;

fn target(request: RegisterDeviceRequest) -> PushTarget {
    match request {
        RegisterDeviceRequest::Fcm { token } => PushTarget::Fcm { token },
        RegisterDeviceRequest::Apns {
            token,
            topic,
            environment,
        } => PushTarget::Apns {
            token,
            topic,
            sandbox: environment == ApnsEnvironment::Sandbox,
        },
        RegisterDeviceRequest::WebPush { subscription } => PushTarget::WebPush {
            endpoint: subscription.endpoint,
            p256dh: subscription.keys.p256dh,
            auth: subscription.keys.auth,
        },
    }
}

/// The end of a token, or a Web Push service's host: tells devices apart without handing the
/// address back.
fn hint(target: &PushTarget) -> String {
    match target {
        PushTarget::Fcm { token } | PushTarget::Apns { token, .. } => {
            let start = token.len().saturating_sub(8);
            token.get(start..).unwrap_or_default().to_owned()
        }
        PushTarget::WebPush { endpoint, .. } => endpoint
            .trim_start_matches("https://")
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn device_view(device: &PushDevice, current: SessionId) -> DeviceView {
    DeviceView {
        id: device.id.0,
        kind: device.target.kind().as_str().to_owned(),
        session_id: device.session.0,
        current: device.session == current,
        hint: hint(&device.target),
        created_at_ms: device.created_at_ms,
    }
}

#[utoipa::path(post, path = "/push/devices", tag = "push", request_body = RegisterDeviceRequest,
    responses((status = 201, description = "The device, registered for the calling session (logging out or revoking that session unregisters it). An address already registered (by this user or another) is the same device, moved to this session; a user's 21st device unregisters their oldest. A Web Push endpoint must be on a known push service (push.web_push.allowed_hosts): another is 400 invalid.", body = DeviceView)))]
pub async fn register_device(
    State(pusher): State<Arc<Pusher>>,
    State(chat): State<Chat>,
    me: AuthUser,
    JsonBody(body): JsonBody<RegisterDeviceRequest>,
) -> ApiResult<impl IntoResponse> {
    // The shape first (the same errors as without a list), then whether natter sends there.
    let target = target(body).validate()?;
    if let Some(reason) = pusher.refusal(&target) {
        return Err(DomainError::invalid("endpoint", reason).into());
    }
    let device = chat
        .register_device(me.user_id, me.session_id, target)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(device_view(&device, me.session_id)),
    ))
}

#[utoipa::path(get, path = "/push/devices", tag = "push",
    responses((status = 200, description = "The caller's devices whose session is live, oldest first.", body = DeviceList)))]
pub async fn devices(State(chat): State<Chat>, me: AuthUser) -> ApiResult<axum::Json<DeviceList>> {
    let devices = chat.devices(me.user_id).await?;
    Ok(axum::Json(DeviceList {
        devices: devices
            .iter()
            .map(|d| device_view(d, me.session_id))
            .collect(),
    }))
}

#[utoipa::path(get, path = "/push/vapid-public-key", tag = "push", security(()),
    responses((status = 200, description = "The VAPID public key browsers subscribe with (no authentication: it is public).", body = VapidPublicKey), (status = 404, response = NotFound)))]
pub async fn vapid_public_key(
    State(pusher): State<Arc<Pusher>>,
) -> ApiResult<axum::Json<VapidPublicKey>> {
    let key = pusher.vapid_public_key().ok_or(DomainError::NotFound)?;
    Ok(axum::Json(VapidPublicKey {
        public_key: key.to_owned(),
    }))
}

#[utoipa::path(delete, path = "/push/devices/{device_id}", tag = "push",
    params(("device_id" = Uuid, Path, description = "One of the caller's devices.")),
    responses((status = 204, description = "The device is unregistered."), (status = 404, response = NotFound)))]
pub async fn remove_device(
    State(chat): State<Chat>,
    me: AuthUser,
    PathParams(device_id): PathParams<Uuid>,
) -> ApiResult<StatusCode> {
    chat.remove_device(me.user_id, DeviceId(device_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn minutes(field: &'static str, time: &str) -> Result<u16, DomainError> {
    let invalid = || DomainError::invalid(field, "a time of day, HH:MM");
    let (hours, minutes) = time.split_once(':').ok_or_else(invalid)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(invalid());
    }
    let hours: u16 = hours.parse().map_err(|_| invalid())?;
    let minutes: u16 = minutes.parse().map_err(|_| invalid())?;
    if hours > 23 || minutes > 59 {
        return Err(invalid());
    }
    Ok(hours * 60 + minutes)
}

fn settings(body: NotificationSettingsBody) -> Result<NotificationSettings, DomainError> {
    let quiet_hours = match body.quiet_hours {
        Some(q) => Some(QuietHours {
            start_min: minutes("quiet_hours.start", &q.start)?,
            end_min: minutes("quiet_hours.end", &q.end)?,
            time_zone: q.time_zone,
        }),
        None => None,
    };
    Ok(NotificationSettings {
        level: match body.level {
            NotifyLevelView::All => NotifyLevel::All,
            NotifyLevelView::MentionsAndDirect => NotifyLevel::MentionsAndDirect,
            NotifyLevelView::Nothing => NotifyLevel::Nothing,
        },
        preview: match body.preview {
            PreviewView::Full => PreviewLevel::Full,
            PreviewView::SenderOnly => PreviewLevel::SenderOnly,
            PreviewView::Hidden => PreviewLevel::Hidden,
        },
        quiet_hours,
    })
}

fn settings_body(settings: &NotificationSettings) -> NotificationSettingsBody {
    let time = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    NotificationSettingsBody {
        level: match settings.level {
            NotifyLevel::All => NotifyLevelView::All,
            NotifyLevel::MentionsAndDirect => NotifyLevelView::MentionsAndDirect,
            NotifyLevel::Nothing => NotifyLevelView::Nothing,
        },
        preview: match settings.preview {
            PreviewLevel::Full => PreviewView::Full,
            PreviewLevel::SenderOnly => PreviewView::SenderOnly,
            PreviewLevel::Hidden => PreviewView::Hidden,
        },
        quiet_hours: settings.quiet_hours.as_ref().map(|q| QuietHoursView {
            start: time(q.start_min),
            end: time(q.end_min),
            time_zone: q.time_zone.clone(),
        }),
    }
}

#[utoipa::path(get, path = "/users/me/notifications", tag = "push",
    responses((status = 200, description = "The caller's notification settings (the defaults until set: `all`, `full`, no quiet hours).", body = NotificationSettingsBody)))]
pub async fn notification_settings(
    State(chat): State<Chat>,
    me: AuthUser,
) -> ApiResult<axum::Json<NotificationSettingsBody>> {
    let settings = chat.notification_settings(me.user_id).await?;
    Ok(axum::Json(settings_body(&settings)))
}

#[utoipa::path(put, path = "/users/me/notifications", tag = "push",
    request_body = NotificationSettingsBody,
    responses((status = 200, description = "The settings as stored, replacing the previous ones whole.", body = NotificationSettingsBody)))]
pub async fn set_notification_settings(
    State(chat): State<Chat>,
    me: AuthUser,
    JsonBody(body): JsonBody<NotificationSettingsBody>,
) -> ApiResult<axum::Json<NotificationSettingsBody>> {
    let stored = chat
        .set_notification_settings(me.user_id, settings(body)?)
        .await?;
    Ok(axum::Json(settings_body(&stored)))
}
