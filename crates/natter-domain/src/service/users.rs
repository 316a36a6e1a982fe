//! Profiles, user search and presence.

use crate::error::DomainError;
use crate::events::Event;
use crate::ids::UserId;
use crate::limits::USER_SEARCH_MAX;
use crate::model::User;
use crate::values::DisplayName;

use super::Chat;

/// A user and, when the viewer may see it, whether they are online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserWithPresence {
    pub user: User,
    /// `None` when the viewer shares no conversation with the user.
    pub online: Option<bool>,
}

impl Chat {
    pub async fn user(&self, viewer: UserId, id: UserId) -> Result<UserWithPresence, DomainError> {
        let user = self.ports().accounts.user(id).await?.ok_or(DomainError::NotFound)?;
        let visible = viewer == id || self.ports().conversations.contacts_of(viewer).await?.contains(&id);
        let online = if visible { Some(!self.ports().presence.online(&[id]).await?.is_empty()) } else { None };
        Ok(UserWithPresence { user, online })
    }

    pub async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>, DomainError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.is_empty() {
            return Err(DomainError::invalid("prefix", "must not be empty"));
        }
        Ok(self.ports().accounts.search_users(&prefix, limit.clamp(1, USER_SEARCH_MAX)).await?)
    }

    pub async fn set_display_name(&self, actor: UserId, name: DisplayName) -> Result<User, DomainError> {
        let user = self.ports().accounts.set_display_name(actor, &name).await?;
        let mut audience = self.ports().conversations.contacts_of(actor).await?;
        audience.push(actor);
        self.publish(Event::UserUpdated { user: user.clone(), audience }).await;
        Ok(user)
    }

    /// A connection of `user` opened. Announces them online to their contacts on the first one.
    pub async fn connected(&self, user: UserId) -> Result<(), DomainError> {
        if self.ports().presence.connected(user).await? {
            let audience = self.ports().conversations.contacts_of(user).await?;
            self.publish(Event::Presence { user_id: user, online: true, last_seen_ms: None, audience }).await;
        }
        Ok(())
    }

    /// A connection of `user` closed. Records last-seen and announces them offline on the last one.
    pub async fn disconnected(&self, user: UserId) -> Result<(), DomainError> {
        if self.ports().presence.disconnected(user).await? {
            let now = self.now();
            self.ports().accounts.set_last_seen(user, now).await?;
            let audience = self.ports().conversations.contacts_of(user).await?;
            self.publish(Event::Presence { user_id: user, online: false, last_seen_ms: Some(now), audience }).await;
        }
        Ok(())
    }
}
