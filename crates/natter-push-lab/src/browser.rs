//! The browser's side of Web Push: a subscription's own P-256 key pair and auth secret, and the
//! decryption of an `aes128gcm` message (RFC 8291 §3, RFC 8188 §2) as a user agent does it:
//! read the header, ECDH with the sender's key from it, derive key and nonce, open every record
//! and check its padding delimiter. Written apart from natter-push's encryption on purpose, so
//! the two check each other (and both against RFC 8291 Appendix A).

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};

use crate::keys::random_bytes;

const TAG: usize = 16;

pub struct BrowserKeys {
    private: PrivateKey,
    pub public: Vec<u8>,
    pub auth: [u8; 16],
}

impl BrowserKeys {
    pub fn generate() -> Self {
        let private = PrivateKey::generate(&ECDH_P256).expect("P-256 key generation");
        Self::from_private(private, random_bytes())
    }

    /// Known keys (RFC 8291 Appendix A's user agent).
    pub fn from_raw(private: &[u8], auth: [u8; 16]) -> Option<Self> {
        let private = PrivateKey::from_private_key(&ECDH_P256, private).ok()?;
        Some(Self::from_private(private, auth))
    }

    fn from_private(private: PrivateKey, auth: [u8; 16]) -> Self {
        let public = private
            .compute_public_key()
            .expect("public key")
            .as_ref()
            .to_vec();
        Self {
            private,
            public,
            auth,
        }
    }

    /// The plaintext of one push body, or why a browser would drop it.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        if body.len() < 21 {
            return Err("shorter than the aes128gcm header".into());
        }
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        let idlen = body[20] as usize;
        if rs <= TAG + 1 {
            return Err(format!("record size {rs} too small"));
        }
        let Some(keyid) = body.get(21..21 + idlen) else {
            return Err("truncated key id".into());
        };
        if idlen != 65 {
            return Err(format!("key id of {idlen} bytes, not a P-256 point"));
        }
        let ecdh = agreement::agree(
            &self.private,
            UnparsedPublicKey::new(&ECDH_P256, keyid),
            "the sender's key is not on P-256".to_string(),
            |shared| Ok(shared.to_vec()),
        )?;
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public);
        info.extend_from_slice(keyid);
        let ikm = expand(&self.auth, &ecdh, &info, 32);
        let cek = expand(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
        let base_nonce = expand(salt, &ikm, b"Content-Encoding: nonce\0", 12);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).expect("16-byte key"));

        let records: Vec<&[u8]> = body[21 + idlen..].chunks(rs).collect();
        if records.is_empty() {
            return Err("no record".into());
        }
        let mut plaintext = Vec::new();
        for (seq, record) in records.iter().enumerate() {
            let last = seq + 1 == records.len();
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&base_nonce);
            for (at, byte) in (seq as u64).to_be_bytes().iter().enumerate() {
                nonce[4 + at] ^= byte;
            }
            let mut buffer = record.to_vec();
            let opened = key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut buffer,
                )
                .map_err(|_| format!("record {seq} does not authenticate"))?;
            let end = opened
                .iter()
                .rposition(|&byte| byte != 0)
                .ok_or_else(|| format!("record {seq} has no padding delimiter"))?;
            match (opened[end], last) {
                (2, true) | (1, false) => plaintext.extend_from_slice(&opened[..end]),
                (delimiter, _) => {
                    return Err(format!("record {seq}: padding delimiter {delimiter}"));
                }
            }
        }
        Ok(plaintext)
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&[info], Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF output within limits");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value).unwrap()
    }

    /// RFC 8291 Appendix A, read by the user agent.
    #[test]
    fn decrypts_rfc8291_appendix_a() {
        let keys = BrowserKeys::from_raw(
            &b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"),
            b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(
            keys.public,
            b64(
                "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
            )
        );
        let body = b64(concat!(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
            "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
            "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        ));
        assert_eq!(
            keys.decrypt(&body).unwrap(),
            b"When I grow up, I want to be a watermelon"
        );
        let mut tampered = body.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keys.decrypt(&tampered).is_err());
        let other = BrowserKeys::generate();
        assert!(other.decrypt(&body).is_err());
    }
}
