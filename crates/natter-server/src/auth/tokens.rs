//! Access tokens (short-lived HS256 JWTs naming the user and session) and refresh tokens
//! (32 random bytes, handed out once, stored only as their SHA-256).
//!
//! Access tokens are signed with the newest key of the ring (`secrets.rs`) and name it in the
//! JWT header's `kid` (a hash of the key, never the key); every key of the ring verifies, so a
//! rotation does not invalidate the tokens already handed out. A token without `kid` (from before
//! rotation existed) is tried against each key of the ring.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use natter_domain::{DomainError, SessionId, UserId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    exp: u64,
    iat: u64,
}

/// What a valid access token proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
}

#[derive(Clone)]
pub struct TokenKeys {
    /// The newest key and its `kid`.
    signing: (String, EncodingKey),
    /// Every key of the ring (the signing one first) and its `kid`.
    verifying: Vec<(String, DecodingKey)>,
    validation: Validation,
    pub access_ttl_s: u64,
}

/// A key's public name: the first 8 bytes of its SHA-256, in hex.
fn key_id(secret: &[u8]) -> String {
    Sha256::digest(secret)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TokenKeys {
    /// One key that signs and verifies.
    pub fn new(secret: &[u8], access_ttl_s: u64) -> Self {
        Self::with_older(secret, &[], access_ttl_s)
    }

    /// `signing` signs and verifies; the `older` keys of the ring still verify.
    pub fn with_older(signing: &[u8], older: &[Vec<u8>], access_ttl_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let verifying = std::iter::once(signing)
            .chain(older.iter().map(Vec::as_slice))
            .map(|key| (key_id(key), DecodingKey::from_secret(key)))
            .collect();
        Self {
            signing: (key_id(signing), EncodingKey::from_secret(signing)),
            verifying,
            validation,
            access_ttl_s,
        }
    }

    pub fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now_ms: i64,
    ) -> Result<String, DomainError> {
        let iat = (now_ms / 1000).max(0) as u64;
        let claims = Claims {
            sub: user_id.0,
            sid: session_id.0,
            iat,
            exp: iat + self.access_ttl_s,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing.0.clone());
        encode(&header, &claims, &self.signing.1).map_err(|err| {
            tracing::error!(%err, "cannot sign access token");
            DomainError::Internal
        })
    }

    /// Signature and expiry only; the caller checks the session is still active.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, DomainError> {
        let header = decode_header(token).map_err(|_| DomainError::Unauthenticated)?;
        let data = self
            .verifying
            .iter()
            .filter(|(kid, _)| header.kid.as_ref().is_none_or(|named| named == kid))
            .find_map(|(_, key)| decode::<Claims>(token, key, &self.validation).ok())
            .ok_or(DomainError::Unauthenticated)?;
        Ok(AccessClaims {
            user_id: UserId(data.claims.sub),
            session_id: SessionId(data.claims.sid),
        })
    }
}

/// A new refresh token and the hash to store.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let (user, session) = (UserId::new(), SessionId::new());
        let now = now_ms();
        let token = keys.issue(user, session, now).unwrap();
        assert_eq!(
            keys.verify(&token).unwrap(),
            AccessClaims {
                user_id: user,
                session_id: session
            }
        );
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 60);
        assert_eq!(other.verify(&token), Err(DomainError::Unauthenticated));
        let expired = keys.issue(user, session, now - 3_600_000).unwrap();
        assert_eq!(keys.verify(&expired), Err(DomainError::Unauthenticated));
    }

    /// docs/protocol.md promises 5 seconds of leeway on `exp` (clock skew between nodes).
    #[test]
    fn access_tokens_are_accepted_for_5_seconds_after_expiry() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let (user, session) = (UserId::new(), SessionId::new());
        let now = now_ms();
        // Expired 1 to 2 seconds ago (issued 61 s ago with a 60 s lifetime): within the leeway.
        let just_expired = keys.issue(user, session, now - 61_000).unwrap();
        assert!(keys.verify(&just_expired).is_ok());
        // Expired 7 to 8 seconds ago: past it.
        let expired = keys.issue(user, session, now - 67_000).unwrap();
        assert_eq!(keys.verify(&expired), Err(DomainError::Unauthenticated));
    }

    #[test]
    fn tokens_name_their_key_and_every_key_of_the_ring_verifies() {
        let (old, new) = (b"old-secret-old-secret-old-secret".to_vec(), [9u8; 32]);
        let (user, session) = (UserId::new(), SessionId::new());
        let now = now_ms();
        let before = TokenKeys::new(&old, 60);
        let issued_before = before.issue(user, session, now).unwrap();
        let after = TokenKeys::with_older(&new, std::slice::from_ref(&old), 60);
        let issued_after = after.issue(user, session, now).unwrap();

        let kid = |token: &str| decode_header(token).unwrap().kid.unwrap();
        assert_eq!(kid(&issued_before), key_id(&old));
        assert_eq!(kid(&issued_after), key_id(&new));
        assert!(
            after.verify(&issued_before).is_ok(),
            "a rotation logs nobody out"
        );
        assert!(after.verify(&issued_after).is_ok());
        assert_eq!(
            before.verify(&issued_after),
            Err(DomainError::Unauthenticated),
            "a node without the new key refuses it"
        );
        // Dropped from the ring: refused.
        let later = TokenKeys::new(&new, 60);
        assert_eq!(
            later.verify(&issued_before),
            Err(DomainError::Unauthenticated)
        );

        // A token from before `kid` existed is tried against every key.
        let legacy = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: user.0,
                sid: session.0,
                iat: (now / 1000) as u64,
                exp: (now / 1000) as u64 + 60,
            },
            &EncodingKey::from_secret(&old),
        )
        .unwrap();
        assert!(after.verify(&legacy).is_ok());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a), hash_a);
    }
}
