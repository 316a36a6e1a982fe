//! Changing a password. The caller proves the current one (an access token alone, perhaps
//! stolen, is not enough); the new one replaces it and every *other* session of the user ends at
//! once, closing their sockets with 4002: whoever used the old password is out, the device that
//! changed it stays signed in.

use natter_domain::DomainError;
use natter_domain::values::Password;

use super::{AccessClaims, Auth};

impl Auth {
    /// `WeakPassword` or `Invalid` if `new` is not a good password (the username and display
    /// name count as known words), `BadCredentials` if `current` is wrong; nothing changes then.
    pub async fn change_password(
        &self,
        me: AccessClaims,
        current: &str,
        new: &str,
    ) -> Result<(), DomainError> {
        let user = self
            .accounts
            .user(me.user_id)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        let new = Password::parse_new(new, &[user.username.as_str(), user.display_name.as_str()])?;
        let (_, hash) = self
            .accounts
            .credentials(&user.username)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        if !self.hashing.verify(current, hash).await? {
            return Err(DomainError::BadCredentials);
        }
        let new_hash = self.hashing.hash(&new).await?;
        let revoked = self
            .accounts
            .set_password(me.user_id, &new_hash, me.session_id, self.clock.now_ms())
            .await
            .inspect_err(|_| self.sessions.forget_all())?;
        for &session in &revoked {
            self.sessions.forget(session);
        }
        for session in revoked {
            self.announce_revoked(me.user_id, session).await;
        }
        Ok(())
    }
}
