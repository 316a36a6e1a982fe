//! The saved session: `$XDG_CONFIG_HOME/natter/session.toml` (else `~/.config/natter/...`;
//! `NATTER_SESSION_FILE` names another file), readable by its owner alone (0600, in a 0700
//! directory), replaced atomically (a temporary file, fsync, rename), so a crash never leaves half
//! a token.
//!
//! It holds the refresh token and the current access token. Refresh tokens are single-use and the
//! server treats a spent one as stolen (it revokes the session), so every process that uses the
//! file (a `natter chat` left open, a `natter send` from cron) refreshes only while holding an
//! exclusive lock on `session.lock` beside it, after reading the file again: whoever comes second
//! finds the new tokens there and adopts them instead of presenting the spent one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub server: String,
    pub username: String,
    pub user_id: Uuid,
    pub display_name: String,
    /// The server's session (what `GET /auth/sessions` lists).
    pub session_id: Uuid,
    pub refresh_token: String,
    pub access_token: String,
    /// When the access token expires (Unix ms).
    pub access_expires_at_ms: i64,
}

/// The saved session's file and its lock file.
#[derive(Debug, Clone)]
pub struct SessionFile {
    path: PathBuf,
}

impl SessionFile {
    /// The default place, from the environment.
    pub fn from_env() -> io::Result<Self> {
        if let Some(path) = std::env::var_os("NATTER_SESSION_FILE").filter(|p| !p.is_empty()) {
            return Ok(Self::at(PathBuf::from(path)));
        }
        let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
                Some(home) => PathBuf::from(home).join(".config"),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "neither XDG_CONFIG_HOME nor HOME is set",
                    ));
                }
            },
        };
        Ok(Self::at(config.join("natter").join("session.toml")))
    }

    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// The saved session, `None` if there is none.
    pub fn load(&self) -> io::Result<Option<SavedSession>> {
        match fs::read_to_string(&self.path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `session` atomically, readable by the owner alone.
    pub fn save(&self, session: &SavedSession) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let text = toml::to_string(session).map_err(io::Error::other)?;
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("session.toml");
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temporary, &self.path)?;
            // The rename is durable once the directory is.
            File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Forgets the saved session. True if there was one.
    pub fn remove(&self) -> io::Result<bool> {
        let removed = match fs::remove_file(&self.path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        match fs::remove_file(self.lock_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(removed)
    }

    /// An exclusive lock across processes, held until the guard is dropped.
    pub fn lock(&self) -> io::Result<File> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.lock_path())?;
        file.lock()?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn session(token: &str) -> SavedSession {
        SavedSession {
            server: "http://127.0.0.1:8080".into(),
            username: "alice".into(),
            user_id: Uuid::nil(),
            display_name: "Alice".into(),
            session_id: Uuid::nil(),
            refresh_token: token.into(),
            access_token: "access".into(),
            access_expires_at_ms: 42,
        }
    }

    #[test]
    fn saved_sessions_are_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile::at(dir.path().join("natter").join("session.toml"));
        assert_eq!(file.load().unwrap(), None);
        file.save(&session("one")).unwrap();
        file.save(&session("two")).unwrap();
        assert_eq!(file.load().unwrap(), Some(session("two")));
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(file.path().parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let leftovers: Vec<_> = fs::read_dir(file.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("session.toml")]);
        drop(file.lock().unwrap());
        assert!(file.remove().unwrap());
        assert!(!file.remove().unwrap());
        assert_eq!(file.load().unwrap(), None);
    }
}
