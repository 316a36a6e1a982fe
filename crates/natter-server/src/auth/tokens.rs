//! Access tokens (short-lived HS256 JWTs naming the user and session) and refresh tokens
//! (32 random bytes, handed out once, stored only as their SHA-256).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
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
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_s: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
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
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|err| {
            tracing::error!(%err, "cannot sign access token");
            DomainError::Internal
        })
    }

    /// Signature and expiry only; the caller checks the session is still active.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, DomainError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| DomainError::Unauthenticated)?;
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

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let (user, session) = (UserId::new(), SessionId::new());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        // Expired 1 to 2 seconds ago (issued 61 s ago with a 60 s lifetime): within the leeway.
        let just_expired = keys.issue(user, session, now - 61_000).unwrap();
        assert!(keys.verify(&just_expired).is_ok());
        // Expired 7 to 8 seconds ago: past it.
        let expired = keys.issue(user, session, now - 67_000).unwrap();
        assert_eq!(keys.verify(&expired), Err(DomainError::Unauthenticated));
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a), hash_a);
    }
}
