//! Collapse keys in each provider's alphabet. natter's key (one per conversation) is used as it
//! is where the provider allows it, otherwise replaced by its SHA-256 in base64url, cut to the
//! provider's limit: stable, so an edit or a withdraw still replaces the notification it follows.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Web Push `Topic` (RFC 8030 §5.4): at most 32 characters of the base64url alphabet.
pub(crate) fn web_push_topic(key: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !key.is_empty() && key.len() <= 32 && key.chars().all(allowed) {
        key.to_owned()
    } else {
        hashed(key, 32)
    }
}

/// `apns-collapse-id`: at most 64 bytes.
pub(crate) fn apns_collapse_id(key: &str) -> String {
    if key.len() <= 64 {
        key.to_owned()
    } else {
        hashed(key, 64)
    }
}

fn hashed(key: &str, max: usize) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(digest(&SHA256, key.as_bytes()));
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_outside_the_alphabet_or_too_long_are_hashed_stably() {
        assert_eq!(web_push_topic("c_0123"), "c_0123");
        let uuid = "0190f2a4-5b6c-7d8e-9f00-112233445566";
        let topic = web_push_topic(uuid);
        assert_eq!(topic.len(), 32);
        assert_eq!(topic, web_push_topic(uuid));
        assert_ne!(
            topic,
            web_push_topic("0190f2a4-5b6c-7d8e-9f00-112233445567")
        );
        assert_eq!(web_push_topic("a b").len(), 32);
        assert_eq!(apns_collapse_id(uuid), uuid);
        assert_eq!(apns_collapse_id(&"x".repeat(65)).len(), 43);
    }
}
