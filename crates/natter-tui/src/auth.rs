//! Getting a signed-in [`Client`]: from `NATTER_USERNAME`/`NATTER_PASSWORD` (a session for this
//! run alone, logged out at the end), or from the saved session (see `saved.rs`), whose tokens
//! [`Signed::keep_fresh`] refreshes before they expire, under the file's lock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natter_sdk::Client;
use natter_sdk::protocol::AuthTokens;
use uuid::Uuid;

use crate::exit::{Exit, Failure};
use crate::saved::{SavedSession, SessionFile};

/// The server `natter login` offers when neither `--server` nor `NATTER_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Refresh the access token when it has less than this left (they last 15 minutes).
const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;

/// How often a long-running command looks at its tokens.
pub const KEEPER_INTERVAL: Duration = Duration::from_secs(30);

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where the credentials came from.
#[derive(Debug)]
enum Source {
    /// The saved session; `saved` is what the file held when we last read or wrote it.
    Saved {
        file: SessionFile,
        saved: SavedSession,
    },
    /// `NATTER_USERNAME`/`NATTER_PASSWORD`: logged out when done.
    Env,
}

/// A signed-in client.
#[derive(Debug)]
pub struct Signed {
    pub client: Client,
    pub user_id: Uuid,
    pub username: String,
    pub server: String,
    source: Source,
}

/// Credentials from the environment, if both are set.
pub fn env_credentials() -> Option<(String, String)> {
    let username = std::env::var("NATTER_USERNAME")
        .ok()
        .filter(|u| !u.is_empty())?;
    let password = std::env::var("NATTER_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())?;
    Some((username, password))
}

/// `http://host:port` without a trailing slash, `http://` added when no scheme is given.
pub fn normalise_server(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.starts_with("http://") || server.starts_with("https://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    }
}

fn client_for(server: &str) -> Result<Client, Failure> {
    Client::new(server).map_err(|e| Failure::new(Exit::Usage, format!("server {server:?}: {e}")))
}

/// Logs in with a password. The client holds the new session's tokens.
pub async fn log_in(
    server: &str,
    username: &str,
    password: &str,
) -> Result<(Client, AuthTokens), Failure> {
    let client = client_for(server)?;
    let tokens = client
        .login(username, password)
        .await
        .map_err(|e| Failure::sdk(&format!("signing in to {server}"), e))?;
    Ok((client, tokens))
}

/// What to save after a login.
pub fn saved_from(server: &str, tokens: &AuthTokens) -> SavedSession {
    SavedSession {
        server: server.to_owned(),
        username: tokens.user.username.clone(),
        user_id: tokens.user.id,
        session_id: tokens.session_id,
        display_name: tokens.user.display_name.clone(),
        refresh_token: tokens.refresh_token.clone(),
        access_token: tokens.access_token.clone(),
        access_expires_at_ms: now_ms() + tokens.expires_in_s as i64 * 1000,
    }
}

impl Signed {
    /// Signs in from the environment's credentials or the saved session; `server` (the flag)
    /// must match the saved session's.
    pub async fn from_env_or_saved(
        server: Option<&str>,
        file: &SessionFile,
    ) -> Result<Self, Failure> {
        if let Some((username, password)) = env_credentials() {
            let saved_server = file.load().ok().flatten().map(|s| s.server);
            let server = normalise_server(
                server
                    .map(str::to_owned)
                    .or(saved_server)
                    .as_deref()
                    .unwrap_or(DEFAULT_SERVER),
            );
            let (client, tokens) = log_in(&server, &username, &password).await?;
            return Ok(Self {
                client,
                user_id: tokens.user.id,
                username: tokens.user.username,
                server,
                source: Source::Env,
            });
        }
        let saved = file
            .load()
            .map_err(|e| {
                Failure::new(
                    Exit::Auth,
                    format!(
                        "the saved session {} cannot be read ({e}): sign in again with `natter login`",
                        file.path().display()
                    ),
                )
            })?
            .ok_or_else(|| {
                Failure::new(
                    Exit::Auth,
                    "not signed in: run `natter login`, or set NATTER_USERNAME and NATTER_PASSWORD",
                )
            })?;
        Self::from_saved(server, file.clone(), saved).await
    }

    /// Signs in with a saved session.
    pub async fn from_saved(
        server: Option<&str>,
        file: SessionFile,
        saved: SavedSession,
    ) -> Result<Self, Failure> {
        if let Some(server) = server
            && normalise_server(server) != saved.server
        {
            return Err(Failure::new(
                Exit::Auth,
                format!(
                    "the saved session is for {}, not {}: sign in there with `natter login --server {}`",
                    saved.server,
                    normalise_server(server),
                    normalise_server(server)
                ),
            ));
        }
        let client = client_for(&saved.server)?.with_tokens(&tokens_of(&saved));
        let mut signed = Self {
            client,
            user_id: saved.user_id,
            username: saved.username.clone(),
            server: saved.server.clone(),
            source: Source::Saved { file, saved },
        };
        signed.keep_fresh().await?;
        Ok(signed)
    }

    /// Refreshes the saved session's access token if it is about to expire, and saves tokens
    /// the SDK refreshed by itself. Call it now and then (every [`KEEPER_INTERVAL`]).
    pub async fn keep_fresh(&mut self) -> Result<(), Failure> {
        let Source::Saved { file, saved } = &mut self.source else {
            return Ok(());
        };
        let current = self.client.refresh_token();
        let due = saved.access_expires_at_ms - now_ms() < REFRESH_MARGIN_MS;
        let rotated = current.as_deref() != Some(saved.refresh_token.as_str());
        if !due && !rotated {
            return Ok(());
        }
        let lock_file = file.clone();
        let lock = tokio::task::spawn_blocking(move || lock_file.lock())
            .await
            .map_err(|e| Failure::new(Exit::Failed, e.to_string()))??;
        let on_disk = file.load()?.ok_or_else(|| {
            Failure::new(
                Exit::Auth,
                "signed out (the saved session was removed): sign in with `natter login`",
            )
        })?;
        if rotated {
            // The SDK refreshed by itself (a 401, or a reconnect after the token expired): keep
            // what it got. Its expiry is unknown: assume 10 of the usual 15 minutes, so the
            // next refresh comes early rather than late.
            let (Some(access_token), Some(refresh_token)) =
                (self.client.access_token(), self.client.refresh_token())
            else {
                return Ok(());
            };
            *saved = SavedSession {
                access_token,
                refresh_token,
                access_expires_at_ms: now_ms() + 2 * REFRESH_MARGIN_MS,
                ..saved.clone()
            };
            file.save(saved)?;
        } else if on_disk.refresh_token != saved.refresh_token {
            // Another process refreshed first: adopt its tokens.
            self.client.set_tokens(&tokens_of(&on_disk));
            *saved = on_disk;
        } else {
            let tokens = self
                .client
                .refresh()
                .await
                .map_err(|e| Failure::sdk("refreshing the saved session", e))?;
            *saved = SavedSession {
                refresh_token: tokens.refresh_token.clone(),
                access_token: tokens.access_token.clone(),
                access_expires_at_ms: now_ms() + tokens.expires_in_s as i64 * 1000,
                ..saved.clone()
            };
            file.save(saved)?;
        }
        drop(lock);
        Ok(())
    }

    /// Done with the client: a session from the environment is logged out; a saved one keeps
    /// its latest tokens.
    pub async fn finish(mut self) -> Result<(), Failure> {
        match self.source {
            Source::Env => {
                // Best effort: the session expires by itself anyway.
                let _ = self.client.logout().await;
                Ok(())
            }
            Source::Saved { .. } => self.keep_fresh().await,
        }
    }

    /// Signs out: the server's session ends and the saved one is forgotten.
    pub async fn sign_out(self) -> Result<(), Failure> {
        let result = self.client.logout().await;
        if let Source::Saved { file, .. } = &self.source {
            file.remove()?;
        }
        match result {
            Ok(()) => Ok(()),
            // Already over on the server: signed out all the same.
            Err(e) if Exit::of(&e) == Exit::Auth => Ok(()),
            Err(e) => Err(Failure::sdk("signing out on the server", e)),
        }
    }
}

/// The SDK's token set for a saved session. Built through JSON so that fields the protocol
/// adds to `UserView` (all optional) need no change here.
fn tokens_of(saved: &SavedSession) -> AuthTokens {
    let tokens = serde_json::json!({
        "user": {
            "id": saved.user_id,
            "username": saved.username,
            "display_name": saved.display_name,
            "created_at_ms": 0,
        },
        "session_id": saved.session_id,
        "access_token": saved.access_token,
        "expires_in_s": ((saved.access_expires_at_ms - now_ms()).max(0) / 1000),
        "refresh_token": saved.refresh_token,
    });
    serde_json::from_value(tokens).expect("AuthTokens from its documented fields")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_normalised() {
        assert_eq!(normalise_server("127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(
            normalise_server("https://chat.example"),
            "https://chat.example"
        );
    }
}
