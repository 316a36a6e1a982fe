//! The properties every validated value keeps, shared by the fuzz targets: parsing never
//! panics, and an accepted value is stable (parsing its own normalised form accepts it again and
//! gives the same value), so what is stored reads back as valid.
#![allow(dead_code)] // each target uses the checks for the fields it has

use natter_domain::values::*;

macro_rules! stable {
    ($name:ident, $ty:ty) => {
        pub fn $name(raw: &str) {
            if let Ok(value) = <$ty>::parse(raw) {
                let again = <$ty>::parse(value.as_str())
                    .unwrap_or_else(|err| panic!("{raw:?} accepted as {:?}, then refused: {err}", value.as_str()));
                assert_eq!(again.as_str(), value.as_str(), "normalising {raw:?} twice");
            }
        }
    };
}

stable!(username, Username);
stable!(display_name, DisplayName);
stable!(message_text, MessageText);
stable!(group_name, GroupName);
stable!(topic, Topic);
stable!(reaction, Reaction);
stable!(client_msg_id, ClientMsgId);
stable!(device_name, DeviceName);

/// An uploaded file's name: stable, and never a path or anything that hides what it shows.
pub fn file_name(raw: &str) {
    use natter_domain::files::FileName;
    if let Ok(name) = FileName::parse(raw) {
        let name = name.as_str();
        assert!(!name.contains(['/', '\\']) && name != "." && name != "..", "{raw:?} is a path");
        assert!(!name.chars().any(char::is_control), "{raw:?} has control characters");
        assert!(!name.is_empty() && name.len() <= 255, "{raw:?} accepted as {name:?}");
        let again = FileName::parse(name).unwrap_or_else(|err| panic!("{name:?} refused: {err}"));
        assert_eq!(again.as_str(), name, "normalising {raw:?} twice");
    }
}

pub fn password(raw: &str) {
    if let Ok(password) = Password::parse(raw) {
        assert_eq!(password.expose(), raw, "a password is kept exactly as typed");
    }
}
