//! Profiles, user search and presence.
//!
//! Last-seen times are buffered in memory and written in batches ([`Chat::flush_last_seen`]):
//! a reconnect storm of thousands of clients must not become thousands of durable writes in
//! front of message sends.

use std::collections::HashMap;

use crate::error::{DomainError, StoreError};
use crate::events::Event;
use crate::files::FileId;
use crate::ids::UserId;
use crate::limits::{PRESENCE_GROUP_MAX_MEMBERS, USER_SEARCH_MAX};
use crate::model::User;
use crate::names::UserQuery;
use crate::values::DisplayName;

use super::Chat;

/// A user and, when the viewer may see it, whether they are online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserWithPresence {
    pub user: User,
    /// `None` when the viewer may not see it: they share no conversation, or only a direct one
    /// in which the user has not replied.
    pub online: Option<bool>,
}

/// What a profile update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub display_name: Option<DisplayName>,
    /// `Some(None)` removes the picture; `Some(Some(file))` makes `file`, a complete picture of
    /// the actor's, their picture.
    pub avatar: Option<Option<FileId>>,
}

/// The refusal of a file that is not a complete upload of the actor's (unknown, another
/// user's, incomplete: the same answer, so ids cannot be probed).
pub(super) fn not_your_picture(file: Option<FileId>) -> DomainError {
    let file = file.map_or_else(|| "the file".to_owned(), |id| id.to_string());
    DomainError::invalid(
        "avatar_file_id",
        format!("{file} is not a complete upload of yours"),
    )
}

/// Last-seen times not yet written. A std Mutex: nothing awaits while holding it.
#[derive(Default)]
pub(super) struct LastSeenBuffer(std::sync::Mutex<HashMap<UserId, i64>>);

impl LastSeenBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, i64>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Chat {
    pub async fn user(&self, viewer: UserId, id: UserId) -> Result<UserWithPresence, DomainError> {
        let mut user = self
            .ports()
            .accounts
            .user(id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(&buffered) = self.inner.last_seen.lock().get(&id) {
            user.last_seen_ms = Some(
                user.last_seen_ms
                    .map_or(buffered, |stored| stored.max(buffered)),
            );
        }
        let visible = viewer == id
            || self
                .ports()
                .conversations
                .contacts_of(id, None)
                .await?
                .contains(&viewer);
        let online = if visible {
            Some(!self.ports().presence.online(&[id]).await?.is_empty())
        } else {
            None
        };
        Ok(UserWithPresence { user, online })
    }

    /// Users whose username starts with `query` or whose display name matches it
    /// ([`crate::names`]): the exact username first, then the other usernames it begins, then
    /// by username. `InvalidInput` for a blank query or one past the query limits.
    pub async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<User>, DomainError> {
        let query = UserQuery::parse(query)?;
        let found = self
            .ports()
            .accounts
            .search_users(&query, limit.clamp(1, USER_SEARCH_MAX))
            .await?;
        // The stores match characters one by one; written together, they must stand together.
        Ok(found
            .into_iter()
            .filter(|user| {
                user.username.as_str().starts_with(&query.username_prefix)
                    || query
                        .name
                        .as_ref()
                        .is_none_or(|name| name.in_order(user.display_name.as_str()))
            })
            .collect())
    }

    /// Who hears about `user`'s presence and profile changes.
    async fn presence_audience(&self, user: UserId) -> Result<Vec<UserId>, DomainError> {
        Ok(self
            .ports()
            .conversations
            .contacts_of(user, Some(PRESENCE_GROUP_MAX_MEMBERS))
            .await?)
    }

    /// Change the actor's display name, picture, or both, and tell their contacts (and their
    /// own devices) with one `UserUpdated`. The picture is checked before anything is written,
    /// so a refused one leaves the name as it was too. A change naming neither changes nothing
    /// and tells no one.
    pub async fn update_profile(
        &self,
        actor: UserId,
        change: ProfileChange,
    ) -> Result<User, DomainError> {
        let avatar = match change.avatar {
            Some(Some(file)) => Some(Some(self.avatar_picture(actor, file).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let accounts = &self.ports().accounts;
        let mut user = None;
        // The picture first: its file may have been collected since it was checked, and then
        // nothing is changed.
        if let Some(avatar) = avatar {
            user = Some(match accounts.set_avatar(actor, avatar.as_ref()).await {
                Ok(user) => user,
                // Collected since it was read above (it was never shown, for a day): gone now.
                Err(StoreError::NotFound) if avatar.is_some() => {
                    return Err(not_your_picture(change.avatar.flatten()));
                }
                Err(err) => return Err(err.into()),
            });
        }
        if let Some(name) = &change.display_name {
            user = Some(accounts.set_display_name(actor, name).await?);
        }
        // Nothing to change (like a PATCH of a conversation naming no field): the user as is.
        let Some(user) = user else {
            return accounts.user(actor).await?.ok_or(DomainError::NotFound);
        };
        let mut audience = self.presence_audience(actor).await?;
        audience.push(actor);
        self.publish(Event::UserUpdated {
            user: user.clone(),
            audience,
        })
        .await;
        Ok(user)
    }

    /// A connection of `user` opened. Announces them online to their contacts on the first one.
    pub async fn connected(&self, user: UserId) -> Result<(), DomainError> {
        if self.ports().presence.connected(user).await? {
            let audience = self.presence_audience(user).await?;
            self.publish(Event::Presence {
                user_id: user,
                online: true,
                last_seen_ms: None,
                audience,
            })
            .await;
        }
        Ok(())
    }

    /// A connection of `user` closed at `left_at_ms`. Records last-seen and announces them
    /// offline on the last one. The server calls this after its presence grace period, so a
    /// connection that came back meanwhile keeps the count up and nothing is announced.
    pub async fn disconnected(&self, user: UserId, left_at_ms: i64) -> Result<(), DomainError> {
        if self.ports().presence.disconnected(user).await? {
            let now = left_at_ms;
            self.inner.last_seen.lock().insert(user, now);
            let audience = self.presence_audience(user).await?;
            self.publish(Event::Presence {
                user_id: user,
                online: false,
                last_seen_ms: Some(now),
                audience,
            })
            .await;
        }
        Ok(())
    }

    /// Write buffered last-seen times in one batch. Called periodically and at shutdown; on
    /// failure the times are put back for the next attempt.
    pub async fn flush_last_seen(&self) -> Result<(), DomainError> {
        let pending: Vec<(UserId, i64)> = self.inner.last_seen.lock().drain().collect();
        if pending.is_empty() {
            return Ok(());
        }
        if let Err(err) = self.ports().accounts.record_last_seen(&pending).await {
            let mut buffer = self.inner.last_seen.lock();
            for (user, at) in pending {
                let entry = buffer.entry(user).or_insert(at);
                *entry = (*entry).max(at);
            }
            return Err(err.into());
        }
        Ok(())
    }
}
