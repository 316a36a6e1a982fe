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

pub fn password(raw: &str) {
    if let Ok(password) = Password::parse(raw) {
        assert_eq!(password.expose(), raw, "a password is kept exactly as typed");
    }
}
