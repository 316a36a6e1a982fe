//! Push devices and notification settings: what a user registers and chooses. Who gets which
//! push for a message is the notifier's (natter-server's push module).

use crate::error::DomainError;
use crate::ids::{DeviceId, SessionId, UserId};
use crate::limits::PUSH_DEVICES_MAX;
use crate::push::{NotificationSettings, PushDevice, PushTarget};

use super::Chat;

impl Chat {
    /// Register `target` for the actor's `session`. The same address registered again (an app
    /// restarted, or another account signed in on that phone) is the same device, moved here.
    pub async fn register_device(
        &self,
        actor: UserId,
        session: SessionId,
        target: PushTarget,
    ) -> Result<PushDevice, DomainError> {
        let target = target.validate()?;
        let device = PushDevice {
            id: DeviceId::new(),
            user: actor,
            session,
            target,
            created_at_ms: self.now(),
        };
        Ok(self
            .ports()
            .push
            .register_device(device, PUSH_DEVICES_MAX)
            .await?)
    }

    /// The actor's devices whose session is live, oldest first.
    pub async fn devices(&self, actor: UserId) -> Result<Vec<PushDevice>, DomainError> {
        Ok(self.ports().push.devices(actor).await?)
    }

    /// Unregister one of the actor's devices; `NotFound` for anyone else's.
    pub async fn remove_device(&self, actor: UserId, id: DeviceId) -> Result<(), DomainError> {
        Ok(self.ports().push.remove_device(actor, id).await?)
    }

    pub async fn notification_settings(
        &self,
        actor: UserId,
    ) -> Result<NotificationSettings, DomainError> {
        let mut all = self.ports().push.notification_settings(&[actor]).await?;
        Ok(all.pop().map(|(_, settings)| settings).unwrap_or_default())
    }

    pub async fn set_notification_settings(
        &self,
        actor: UserId,
        mut settings: NotificationSettings,
    ) -> Result<NotificationSettings, DomainError> {
        settings.quiet_hours = settings.quiet_hours.map(|q| q.validate()).transpose()?;
        self.ports()
            .push
            .set_notification_settings(actor, &settings)
            .await?;
        Ok(settings)
    }
}
