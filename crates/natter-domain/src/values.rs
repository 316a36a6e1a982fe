//! Validated values, parsed at the edge: once a [`Username`] or [`MessageText`] exists it is valid,
//! so the services and adapters never re-check.

use crate::error::DomainError;
use crate::limits::*;

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(try_from = "String")
        )]
        pub struct $name(String);

        /// Deserialising goes through `parse`: a value from the wire is validated like one
        /// from a client (`parse` is idempotent on valid values).
        #[cfg(feature = "serde")]
        impl TryFrom<String> for $name {
            type Error = DomainError;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }

            /// For adapters reading values that were validated when written.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_value!(
    /// Lower-case ASCII letters, digits, `_`, `.` and `-`; starts with a letter or digit.
    Username
);
string_value!(
    /// What other people see; any printable text.
    DisplayName
);
string_value!(
    /// A message body: non-empty after trimming, no control characters but newline and tab.
    MessageText
);
string_value!(
    /// A group's name.
    GroupName
);
string_value!(
    /// A group's topic; may be empty.
    Topic
);
string_value!(
    /// A reaction key such as an emoji or a short code like `:+1:`.
    Reaction
);
string_value!(
    /// The client's idempotency key for a send.
    ClientMsgId
);
string_value!(
    /// A label for a logged-in device ("Firefox on Linux").
    DeviceName
);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim().to_ascii_lowercase();
        let len = name.chars().count();
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&len) {
            return Err(DomainError::invalid(
                "username",
                format!("must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters"),
            ));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
        if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(DomainError::invalid(
                "username",
                "only letters, digits, '_', '.', '-', starting with a letter or digit",
            ));
        }
        Ok(Self(name))
    }
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > DISPLAY_NAME_MAX_CHARS || has_control(name) {
            return Err(DomainError::invalid(
                "display_name",
                format!("must be 1 to {DISPLAY_NAME_MAX_CHARS} printable characters"),
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

impl MessageText {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.trim().is_empty() {
            return Err(DomainError::invalid("text", "must not be empty"));
        }
        Self::caption(raw)
    }

    /// The text of a message that carries files: like [`Self::parse`], but it may be empty
    /// (no caption). Only whitespace is still refused.
    pub fn caption(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() {
            return Ok(Self(String::new()));
        }
        if raw.trim().is_empty() {
            return Err(DomainError::invalid(
                "text",
                "must not be only whitespace (leave it empty for no caption)",
            ));
        }
        if raw.chars().count() > MESSAGE_TEXT_MAX_CHARS {
            return Err(DomainError::invalid(
                "text",
                format!("must be at most {MESSAGE_TEXT_MAX_CHARS} characters"),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(DomainError::invalid(
                "text",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > GROUP_NAME_MAX_CHARS || has_control(name) {
            return Err(DomainError::invalid(
                "name",
                format!("must be 1 to {GROUP_NAME_MAX_CHARS} printable characters"),
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

impl Topic {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let topic = raw.trim();
        if topic.chars().count() > TOPIC_MAX_CHARS
            || topic.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(DomainError::invalid(
                "topic",
                format!("must be at most {TOPIC_MAX_CHARS} printable characters"),
            ));
        }
        Ok(Self(topic.to_owned()))
    }
}

impl Reaction {
    /// One Unicode emoji (as in the Unicode emoji list, skin tones and ZWJ sequences
    /// included) or a `:shortcode:` of 1 to 30 lower-case ASCII letters, digits, `_`, `+`, `-`.
    /// Nothing else: a reaction is shown to every member, and free text is not a reaction.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let shortcode = raw
            .strip_prefix(':')
            .and_then(|rest| rest.strip_suffix(':'))
            .is_some_and(|name| {
                (1..=REACTION_SHORTCODE_MAX_CHARS).contains(&name.len())
                    && name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b)
                    })
            });
        let emoji = raw.len() <= REACTION_MAX_BYTES && emojis::get(raw).is_some();
        if !(shortcode || emoji) {
            return Err(DomainError::invalid(
                "emoji",
                format!(
                    "must be one emoji or a :shortcode: (1 to {REACTION_SHORTCODE_MAX_CHARS} of a-z 0-9 _ + -)"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty()
            || raw.len() > CLIENT_MSG_ID_MAX_BYTES
            || !raw.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(DomainError::invalid(
                "client_msg_id",
                format!("must be 1 to {CLIENT_MSG_ID_MAX_BYTES} printable ASCII characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl DeviceName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > DEVICE_NAME_MAX_CHARS || has_control(name) {
            return Err(DomainError::invalid(
                "device_name",
                format!("must be 1 to {DEVICE_NAME_MAX_CHARS} printable characters"),
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

/// A password as typed. Never stored or logged; `Debug` is redacted.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// A password as presented (its length only is checked): for one that already exists.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
            return Err(DomainError::invalid(
                "password",
                format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password being chosen: long enough and hard enough to guess (zxcvbn score at least
    /// [`PASSWORD_MIN_SCORE`]), also knowing `user_inputs` (the username, the display name),
    /// which an attacker would try first.
    pub fn parse_new(raw: &str, user_inputs: &[&str]) -> Result<Self, DomainError> {
        let password = Self::parse(raw)?;
        let scored: String = raw.chars().take(PASSWORD_SCORED_CHARS).collect();
        let known: Vec<&str> = user_inputs
            .iter()
            .copied()
            .filter(|input| !input.is_empty())
            .collect();
        let estimate = zxcvbn::zxcvbn(&scored, &known);
        if u8::from(estimate.score()) >= PASSWORD_MIN_SCORE {
            return Ok(password);
        }
        let mut message = String::from("password is too easy to guess");
        if let Some(feedback) = estimate.feedback() {
            if let Some(warning) = feedback.warning() {
                message.push_str(&format!(": {warning}"));
            }
            if let Some(suggestion) = feedback.suggestions().first() {
                message.push_str(&format!(" ({suggestion})"));
            }
        }
        Err(DomainError::WeakPassword(message))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse(" Alice_1 ").unwrap().as_str(), "alice_1");
        for bad in ["ab", "-abc", "al ice", "ålice", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_text_rejects_empty_oversized_and_control() {
        assert!(MessageText::parse("hi\nthere\t!").is_ok());
        assert!(MessageText::parse("   ").is_err());
        assert!(MessageText::parse("a\u{0}b").is_err());
        assert!(MessageText::parse(&"x".repeat(MESSAGE_TEXT_MAX_CHARS + 1)).is_err());
        assert!(MessageText::parse(&"é".repeat(MESSAGE_TEXT_MAX_CHARS)).is_ok());
    }

    #[test]
    fn client_msg_id_and_reaction_bounds() {
        assert!(ClientMsgId::parse("abc-123").is_ok());
        assert!(ClientMsgId::parse("has space").is_err());
        assert!(ClientMsgId::parse(&"a".repeat(65)).is_err());
        for good in [
            "👍",
            "👍🏽",
            "❤️",
            "❤",
            "👩‍💻",
            "🇫🇷",
            ":thumbsup:",
            ":party_parrot:",
            ":+1:",
        ] {
            assert!(Reaction::parse(good).is_ok(), "{good}");
        }
        let long = format!(":{}:", "a".repeat(31));
        for bad in [
            "", "a b", "../..", "ok", "::", ":Thumbs:", ":a b:", "👍👍", "👍 ", "\u{7}", ":a\nb:",
            "<script>", &long,
        ] {
            assert!(Reaction::parse(bad).is_err(), "{bad:?}");
        }
        for emoji in emojis::iter() {
            if emoji.as_str().len() <= REACTION_MAX_BYTES {
                assert!(
                    emoji.as_str().chars().count() <= REACTION_MAX_CHARS,
                    "{}",
                    emoji.as_str()
                );
            }
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"é".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert!(Password::parse(&"é".repeat(PASSWORD_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn new_passwords_must_be_hard_to_guess() {
        for weak in [
            "password",
            "12345678",
            "password123",
            "qwertyuiop",
            "aaaaaaaaaaaa",
        ] {
            let err = Password::parse_new(weak, &[]).unwrap_err();
            assert_eq!(err.code(), "weak_password", "{weak}");
        }
        assert!(Password::parse_new("zorblaxquint7", &[]).is_ok());
        // What the benchmark and the web tests register with.
        assert!(Password::parse_new("bench-password-1", &["bench000001", ""]).is_ok());
        assert!(Password::parse_new("correct horse battery", &["alice1x2", "alice1x2"]).is_ok());
        assert_eq!(
            Password::parse_new("zorblaxquint7", &["zorblaxquint"])
                .unwrap_err()
                .code(),
            "weak_password",
            "the username is among the first guesses"
        );
        assert_eq!(
            Password::parse_new("short", &[]).unwrap_err().code(),
            "invalid"
        );
        for strong in ["correct horse battery staple", "Tr0ub4dor&3-zebra-kettle"] {
            assert!(Password::parse_new(strong, &[]).is_ok(), "{strong}");
        }
    }
}
