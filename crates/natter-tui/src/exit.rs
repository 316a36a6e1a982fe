//! Exit codes that tell a script what failed, and the error that carries one.

use std::fmt;

/// The exit status of the client commands. `natter send --help` and the README list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// Anything else (a local file that cannot be written, a bug).
    Failed = 1,
    /// Bad arguments (clap's own code for usage errors).
    Usage = 2,
    /// Not signed in, wrong username or password, or the session ended (signed out elsewhere,
    /// expired, revoked).
    Auth = 3,
    /// No such user or conversation, or not a member of it (the server does not tell which).
    NotFound = 4,
    /// The server cannot be reached, timed out or is unavailable (503).
    Unreachable = 5,
    /// The server refused the request: invalid (too long, empty), forbidden, or rate limited.
    Refused = 6,
}

/// The exit codes as `--help` prints them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done
  1  another failure (a local file, a bug)
  2  usage: bad arguments
  3  authentication: not signed in, wrong password, or the session ended
  4  not found: no such user or conversation, or not a member
  5  server unreachable, timed out or unavailable
  6  refused: invalid message, forbidden, or rate limited

Credentials: the session `natter login` saved ($XDG_CONFIG_HOME/natter/session.toml,
or NATTER_SESSION_FILE), or NATTER_USERNAME and NATTER_PASSWORD (with --server or
NATTER_SERVER) for scripts.";

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What an SDK error means for the caller.
    pub fn of(error: &natter_sdk::Error) -> Self {
        use natter_sdk::Error;
        if error.is_unauthenticated() || error.status() == Some(401) {
            return Self::Auth;
        }
        match error.code() {
            Some("not_found") => return Self::NotFound,
            Some("unavailable") => return Self::Unreachable,
            Some(
                "invalid" | "forbidden" | "conflict" | "rate_limited" | "payload_too_large"
                | "weak_password",
            ) => return Self::Refused,
            Some("bad_credentials") => return Self::Auth,
            _ => {}
        }
        match error {
            Error::Http(_) | Error::WebSocket(_) | Error::Timeout => Self::Unreachable,
            Error::Closed {
                code: Some(4002), ..
            } => Self::Auth,
            Error::Closed { .. } => Self::Unreachable,
            Error::Api { status, .. } => match status {
                404 => Self::NotFound,
                400 | 403 | 409 | 413 | 422 | 429 => Self::Refused,
                502..=504 => Self::Unreachable,
                _ => Self::Failed,
            },
            _ => Self::Failed,
        }
    }
}

/// A failure of a client command: what to print, and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// An SDK error, said in words a user can act on.
    pub fn sdk(context: &str, error: natter_sdk::Error) -> Self {
        let exit = Exit::of(&error);
        let hint = match exit {
            Exit::Auth => ": sign in with `natter login`",
            Exit::Unreachable => ": is the server running, and is the URL right?",
            _ => "",
        };
        Self::new(exit, format!("{context}: {error}{hint}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::new(Exit::Failed, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use natter_sdk::Error;
    use natter_sdk::protocol::ErrorBody;

    use super::*;

    fn api(status: u16, code: &str) -> Error {
        Error::Api {
            status,
            body: ErrorBody {
                code: code.into(),
                message: String::new(),
                retry_after_ms: None,
            },
        }
    }

    #[test]
    fn errors_map_to_the_documented_codes() {
        assert_eq!(Exit::of(&api(401, "unauthenticated")), Exit::Auth);
        assert_eq!(Exit::of(&api(401, "bad_credentials")), Exit::Auth);
        assert_eq!(Exit::of(&api(404, "not_found")), Exit::NotFound);
        assert_eq!(Exit::of(&api(404, "")), Exit::NotFound);
        assert_eq!(Exit::of(&api(429, "rate_limited")), Exit::Refused);
        assert_eq!(Exit::of(&api(400, "invalid")), Exit::Refused);
        assert_eq!(Exit::of(&api(403, "forbidden")), Exit::Refused);
        assert_eq!(Exit::of(&api(503, "unavailable")), Exit::Unreachable);
        assert_eq!(Exit::of(&Error::Timeout), Exit::Unreachable);
        assert_eq!(
            Exit::of(&Error::WebSocket("refused".into())),
            Exit::Unreachable
        );
        let ended = Error::Closed {
            code: Some(4002),
            reason: "logged out".into(),
        };
        assert_eq!(Exit::of(&ended), Exit::Auth);
        assert_eq!(Exit::of(&api(500, "internal")), Exit::Failed);
        assert_eq!(
            [Exit::Ok, Exit::Usage, Exit::Auth, Exit::Refused].map(Exit::code),
            [0, 2, 3, 6]
        );
    }
}
