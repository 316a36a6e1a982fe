//! Accounts and sessions: register, log in, refresh (rotating, with reuse detection), log out,
//! change the password (`change.rs`).
//! Crypto lives here, not in the domain; persistence goes through the `AccountStore` port.

mod change;
mod password;
mod sessions;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use natter_domain::events::Event;
use natter_domain::model::{NewSession, NewUser, RefreshOutcome, Session, SessionCutoff, User};
use natter_domain::ports::{AccountStore, EventBus};
use natter_domain::values::{DeviceName, DisplayName, Password, Username};
use natter_domain::{Clock, DomainError, SessionId, UserId};

pub use password::PasswordHashing;
#[cfg(test)]
mod tests;
pub use tokens::{AccessClaims, TokenKeys};

/// Tokens handed to a client after register, login or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub user: User,
    pub session_id: SessionId,
    pub access_token: String,
    pub expires_in_s: u64,
    pub refresh_token: String,
}

#[derive(Clone)]
pub struct Auth {
    accounts: Arc<dyn AccountStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    hashing: PasswordHashing,
    keys: TokenKeys,
    lifetime: SessionLifetime,
    sessions: Arc<sessions::SessionCache>,
}

/// How long a session lives: at most `max_age_ms` after login, and only while it is refreshed at
/// least every `idle_ms`. Checked at refresh and at every access-token check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    pub max_age_ms: i64,
    pub idle_ms: i64,
}

impl SessionLifetime {
    /// The first millisecond at which a session created at `created_at_ms` and last refreshed
    /// at `last_used_at_ms` is no longer admitted (one past its last valid millisecond).
    pub fn expires_at_ms(&self, created_at_ms: i64, last_used_at_ms: i64) -> i64 {
        created_at_ms
            .saturating_add(self.max_age_ms)
            .min(last_used_at_ms.saturating_add(self.idle_ms))
            .saturating_add(1)
    }

    /// From the configuration's seconds.
    pub fn from_secs(max_age_s: u64, idle_s: u64) -> Self {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            max_age_ms: ms(max_age_s),
            idle_ms: ms(idle_s),
        }
    }
}

/// A registration request, validated.
pub struct Registration {
    pub username: Username,
    pub password: Password,
    pub display_name: Option<DisplayName>,
    pub device_name: Option<DeviceName>,
}

impl Auth {
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        hashing: PasswordHashing,
        keys: TokenKeys,
    ) -> Self {
        Self {
            accounts,
            bus,
            clock,
            hashing,
            keys,
            lifetime: SessionLifetime::from_secs(u64::MAX, u64::MAX),
            sessions: Arc::new(sessions::SessionCache::new(0)),
        }
    }

    /// Keep up to `max` sessions in memory (`sessions.rs`). Only for a process that alone
    /// writes the accounts' store.
    pub fn with_session_cache(mut self, max: usize) -> Self {
        self.sessions = Arc::new(sessions::SessionCache::new(max));
        self
    }

    /// Sessions expire after `lifetime` (without this, never).
    pub fn with_session_lifetime(mut self, lifetime: SessionLifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    fn cutoff(&self, now_ms: i64) -> SessionCutoff {
        SessionCutoff::at(now_ms, self.lifetime.max_age_ms, self.lifetime.idle_ms)
    }

    pub async fn register(&self, registration: Registration) -> Result<IssuedTokens, DomainError> {
        let password_hash = self.hashing.hash(&registration.password).await?;
        let display_name = match registration.display_name {
            Some(name) => name,
            None => DisplayName::parse(registration.username.as_str())?,
        };
        let user = self
            .accounts
            .create_user(NewUser {
                id: UserId::new(),
                username: registration.username,
                display_name,
                password_hash,
                created_at_ms: self.clock.now_ms(),
            })
            .await
            .map_err(|err| match err {
                natter_domain::StoreError::Conflict(_) => {
                    DomainError::Conflict("username taken".into())
                }
                other => other.into(),
            })?;
        self.open_session(user, registration.device_name).await
    }

    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device: Option<DeviceName>,
    ) -> Result<IssuedTokens, DomainError> {
        let found = match Username::parse(username) {
            Ok(username) => self.accounts.credentials(&username).await?,
            Err(_) => None,
        };
        match found {
            Some((user, hash)) => {
                if self.hashing.verify(password, hash).await? {
                    self.open_session(user, device).await
                } else {
                    Err(DomainError::BadCredentials)
                }
            }
            None => {
                // Spend the same time as a real check so usernames cannot be probed by timing.
                let decoy = self.hashing.decoy_hash().await?;
                let _ = self.hashing.verify(password, decoy).await?;
                Err(DomainError::BadCredentials)
            }
        }
    }

    async fn open_session(
        &self,
        user: User,
        device: Option<DeviceName>,
    ) -> Result<IssuedTokens, DomainError> {
        let now = self.clock.now_ms();
        let (refresh_token, refresh_hash) = tokens::new_refresh_token();
        let device_name = match device {
            Some(name) => name,
            None => DeviceName::parse("unnamed device")?,
        };
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            device_name,
            created_at_ms: now,
            last_used_at_ms: now,
        };
        let ticket = self.sessions.ticket();
        let session = self
            .accounts
            .create_session(NewSession {
                session,
                refresh_hash,
            })
            .await?;
        self.sessions.remember(ticket, &session);
        let access_token = self.keys.issue(user.id, session.id, now)?;
        Ok(IssuedTokens {
            user,
            session_id: session.id,
            access_token,
            expires_in_s: self.keys.access_ttl_s,
            refresh_token,
        })
    }

    /// Spend a refresh token for a new pair. A spent token presented again means it was stolen
    /// or replayed: the store revokes the whole session and its live connections are closed.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, DomainError> {
        let presented = tokens::hash_refresh_token(refresh_token);
        let (next_token, next_hash) = tokens::new_refresh_token();
        let now = self.clock.now_ms();
        let ticket = self.sessions.ticket();
        match self
            .accounts
            .rotate_refresh(presented, next_hash, now, self.cutoff(now))
            .await
            .inspect_err(|_| self.sessions.forget_all())?
        {
            RefreshOutcome::Rotated(session) => {
                self.sessions.remember(ticket, &session);
                let user = self
                    .accounts
                    .user(session.user_id)
                    .await?
                    .ok_or(DomainError::Unauthenticated)?;
                let access_token = self.keys.issue(user.id, session.id, now)?;
                Ok(IssuedTokens {
                    user,
                    session_id: session.id,
                    access_token,
                    expires_in_s: self.keys.access_ttl_s,
                    refresh_token: next_token,
                })
            }
            RefreshOutcome::Reused {
                session_id,
                user_id,
            } => {
                self.sessions.forget(session_id);
                tracing::warn!(%session_id, "refresh token reused; session revoked");
                self.announce_revoked(user_id, session_id).await;
                Err(DomainError::Unauthenticated)
            }
            RefreshOutcome::Invalid => Err(DomainError::Unauthenticated),
        }
    }

    /// Verify an access token and that its session is still active and not expired.
    pub async fn authenticate(&self, token: &str) -> Result<AccessClaims, DomainError> {
        self.authenticate_with_time_left(token)
            .await
            .map(|(claims, _)| claims)
    }

    /// [`Auth::authenticate`], also answering how long the session has left (for a WebSocket,
    /// which stays open until then).
    pub async fn authenticate_with_time_left(
        &self,
        token: &str,
    ) -> Result<(AccessClaims, Duration), DomainError> {
        let claims = self.keys.verify(token)?;
        let left = self
            .session_time_left(claims)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        Ok((claims, left))
    }

    /// How long the session of `claims` has left before it expires (by the store's current
    /// record, so a refresh made anywhere since counts); `None` when it is revoked or expired.
    pub async fn session_time_left(
        &self,
        claims: AccessClaims,
    ) -> Result<Option<Duration>, DomainError> {
        let now = self.clock.now_ms();
        let left = match self
            .sessions
            .session(&*self.accounts, claims.session_id, self.cutoff(now))
            .await?
        {
            Some(session)
                if session.user_id == claims.user_id
                    && self
                        .cutoff(now)
                        .admits(session.created_at_ms, session.last_used_at_ms) =>
            {
                self.lifetime
                    .expires_at_ms(session.created_at_ms, session.last_used_at_ms)
                    .saturating_sub(now)
            }
            _ => return Ok(None),
        };
        Ok(Some(Duration::from_millis(
            u64::try_from(left).unwrap_or(0).max(1),
        )))
    }

    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>, DomainError> {
        Ok(self.accounts.sessions(user).await?)
    }

    /// Log out `session` (one of `user`'s). Its refresh token stops working and its open
    /// WebSocket connections close with 4002.
    pub async fn revoke(&self, user: UserId, session: SessionId) -> Result<(), DomainError> {
        let owned = self
            .accounts
            .sessions(user)
            .await?
            .iter()
            .any(|s| s.id == session);
        if !owned {
            return Err(DomainError::NotFound);
        }
        let revoked = self.accounts.revoke_session(session).await;
        self.sessions.forget(session);
        revoked?;
        self.announce_revoked(user, session).await;
        Ok(())
    }

    async fn announce_revoked(&self, user_id: UserId, session_id: SessionId) {
        if let Err(err) = self
            .bus
            .publish(Event::SessionRevoked {
                user_id,
                session_id,
            })
            .await
        {
            tracing::warn!(%err, "session revocation not broadcast");
        }
    }
}
