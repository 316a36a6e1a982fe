//! Signed download URLs. A URL names the file, its content hash and an expiry, and carries an
//! HMAC-SHA-256 over the three, so it works for that file only, only until it expires, and
//! cannot be altered to name another file or a later time. The HMAC key is derived from each
//! key of the token keyring (`secrets.rs`): every node already shares that file, a rotation
//! carries over (the newest key signs, all verify), and the derivation keeps a URL signature
//! from ever being usable as a token signature or the other way round.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use natter_domain::files::FileId;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Separates URL keys from every other use of the keyring.
const PURPOSE: &[u8] = b"natter file download url v1";

/// Why a download URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    Invalid,
}

pub struct UrlSigner {
    /// Derived keys, newest first: the first signs, all verify.
    keys: Vec<Vec<u8>>,
}

impl UrlSigner {
    pub fn new(keyring: &[Vec<u8>]) -> Self {
        let keys = keyring
            .iter()
            .map(|key| {
                let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(PURPOSE);
                mac.finalize().into_bytes().to_vec()
            })
            .collect();
        Self { keys }
    }

    fn mac(key: &[u8], id: FileId, sha256_hex: &str, expires_s: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(format!("{id}\n{sha256_hex}\n{expires_s}").as_bytes());
        mac
    }

    /// The `signature` query value of a URL for `id` with content `sha256_hex`, valid until
    /// `expires_s` (Unix seconds).
    pub fn sign(&self, id: FileId, sha256_hex: &str, expires_s: u64) -> String {
        let mac = Self::mac(&self.keys[0], id, sha256_hex, expires_s);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Checks the signature (in constant time) before the expiry, so an altered expiry is
    /// `Invalid`, not `Expired`.
    pub fn verify(
        &self,
        id: FileId,
        sha256_hex: &str,
        expires_s: u64,
        signature: &str,
        now_s: u64,
    ) -> Result<(), Refusal> {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(signature) else {
            return Err(Refusal::Invalid);
        };
        let valid = self.keys.iter().any(|key| {
            Self::mac(key, id, sha256_hex, expires_s)
                .verify_slice(&presented)
                .is_ok()
        });
        match (valid, now_s < expires_s) {
            (false, _) => Err(Refusal::Invalid),
            (true, false) => Err(Refusal::Expired),
            (true, true) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ab";

    #[test]
    fn a_signature_is_bound_to_file_hash_and_expiry() {
        let signer = UrlSigner::new(&[b"k1".to_vec()]);
        let id = FileId::new();
        let sig = signer.sign(id, HASH, 100);
        assert_eq!(signer.verify(id, HASH, 100, &sig, 99), Ok(()));
        assert_eq!(
            signer.verify(id, HASH, 100, &sig, 100),
            Err(Refusal::Expired)
        );
        assert_eq!(
            signer.verify(id, HASH, 101, &sig, 99),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            signer.verify(FileId::new(), HASH, 100, &sig, 99),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            signer.verify(id, "cd", 100, &sig, 99),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            signer.verify(id, HASH, 100, "!!", 99),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn older_keys_still_verify_after_a_rotation() {
        let old = UrlSigner::new(&[b"k1".to_vec()]);
        let rotated = UrlSigner::new(&[b"k2".to_vec(), b"k1".to_vec()]);
        let id = FileId::new();
        let sig = old.sign(id, HASH, 100);
        assert_eq!(rotated.verify(id, HASH, 100, &sig, 1), Ok(()));
        assert_ne!(rotated.sign(id, HASH, 100), sig, "the newest key signs");
        let other = UrlSigner::new(&[b"k3".to_vec()]);
        assert_eq!(other.verify(id, HASH, 100, &sig, 1), Err(Refusal::Invalid));
    }
}
