//! Web Push message encryption (RFC 8291) in the `aes128gcm` content coding (RFC 8188).
//!
//! A fresh P-256 key pair and a random 16-byte salt per message; ECDH with the subscription's
//! `p256dh` key, HKDF-SHA-256 mixed with its `auth` secret, one AES-128-GCM record. Written here
//! on aws-lc-rs (already in the tree as rustls' crypto provider) rather than taken from a Web
//! Push crate: `web-push` needs OpenSSL and `web-push-native` brings a second JWT library and a
//! second set of AEAD crates for what is the ~60 lines below.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The record size written in the header; one record carries the whole message.
pub const RECORD_SIZE: u32 = 4096;
/// Header (salt 16, record size 4, key id length 1, key id 65).
const HEADER_LEN: usize = 86;
const TAG_LEN: usize = 16;
/// The most plaintext one message carries: push services need accept no more than 4096 bytes
/// of body (RFC 8291 §4), less the header, the padding delimiter and the tag.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - 1 - TAG_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("the subscription's p256dh is not an uncompressed P-256 point")]
    BadPublicKey,
    #[error("the subscription's auth secret is not 16 bytes")]
    BadAuthSecret,
    #[error("payload of {0} bytes exceeds {MAX_PLAINTEXT}")]
    TooLarge(usize),
    #[error("encryption failed")]
    Crypto,
}

/// Padding rounds the record up to a multiple of this, so the push service sees the length of a
/// message only to this precision (RFC 8291 §4, RFC 8188 §2).
pub const PAD_TO: usize = 256;

/// Encrypts `plaintext` for the subscription (`ua_public` 65 bytes, `auth_secret` 16 bytes) with
/// a new key pair and salt, padded to a multiple of [`PAD_TO`]: the request body of one push.
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, EceError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| EceError::Crypto)?;
    let key = PrivateKey::generate(&ECDH_P256).map_err(|_| EceError::Crypto)?;
    let padded = (plaintext.len() + 1)
        .next_multiple_of(PAD_TO)
        .min(MAX_PLAINTEXT + 1);
    let padding = padded.saturating_sub(plaintext.len() + 1);
    encrypt_with(plaintext, padding, ua_public, auth_secret, &key, &salt)
}

/// [`encrypt`] with a given padding length, application server key and salt (RFC 8291
/// Appendix A uses fixed ones and no padding).
pub fn encrypt_with(
    plaintext: &[u8],
    padding: usize,
    ua_public: &[u8],
    auth_secret: &[u8],
    as_private: &PrivateKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, EceError> {
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(EceError::BadPublicKey);
    }
    if auth_secret.len() != 16 {
        return Err(EceError::BadAuthSecret);
    }
    if plaintext.len() + padding > MAX_PLAINTEXT {
        return Err(EceError::TooLarge(plaintext.len() + padding));
    }
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| EceError::Crypto)?;
    let as_public = as_public.as_ref();
    let ecdh_secret = agreement::agree(
        as_private,
        UnparsedPublicKey::new(&ECDH_P256, ua_public),
        EceError::BadPublicKey,
        |shared| Ok(shared.to_vec()),
    )?;
    // RFC 8291 §3.4: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0 || ua || as, 32).
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let ikm = hkdf(auth_secret, &ecdh_secret, &key_info, 32)?;
    // RFC 8188 §2.2/2.3: CEK and nonce from the salt and IKM (one record: sequence number 0).
    let cek = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16)?;
    let nonce = hkdf(salt, &ikm, b"Content-Encoding: nonce\0", 12)?;

    let mut body = Vec::with_capacity(HEADER_LEN + plaintext.len() + 1 + TAG_LEN);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public);
    let mut record = Vec::with_capacity(plaintext.len() + 1 + padding + TAG_LEN);
    record.extend_from_slice(plaintext);
    record.push(2); // the last record's padding delimiter, then zeros
    record.resize(plaintext.len() + 1 + padding, 0);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EceError::Crypto)?);
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| EceError::Crypto)?;
    key.seal_in_place_append_tag(nonce, Aad::empty(), &mut record)
        .map_err(|_| EceError::Crypto)?;
    body.extend_from_slice(&record);
    Ok(body)
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>, EceError> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let mut out = vec![0u8; len];
    prk.expand(&[info], Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| EceError::Crypto)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value).unwrap()
    }

    /// RFC 8291 Appendix A, byte for byte.
    #[test]
    fn rfc8291_appendix_a() {
        let as_private = PrivateKey::from_private_key(
            &ECDH_P256,
            &b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"),
        )
        .unwrap();
        assert_eq!(
            as_private.compute_public_key().unwrap().as_ref(),
            b64(
                "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
            )
        );
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            0,
            &b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
            &b64("BTBZMqHH6r4Tts7J_aSIgg"),
            &as_private,
            &salt,
        )
        .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml\
             mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT\
             pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_subscription_keys_and_oversized_payloads_are_refused() {
        let ua = PrivateKey::generate(&ECDH_P256).unwrap();
        let ua_public = ua.compute_public_key().unwrap();
        let ua_public = ua_public.as_ref();
        assert_eq!(
            encrypt(b"x", &ua_public[1..], &[0; 16]),
            Err(EceError::BadPublicKey)
        );
        assert_eq!(
            encrypt(b"x", ua_public, &[0; 15]),
            Err(EceError::BadAuthSecret)
        );
        let big = vec![b'a'; MAX_PLAINTEXT + 1];
        assert_eq!(
            encrypt(&big, ua_public, &[0; 16]),
            Err(EceError::TooLarge(MAX_PLAINTEXT + 1))
        );
        let body = encrypt(&big[1..], ua_public, &[0; 16]).unwrap();
        assert_eq!(body.len(), RECORD_SIZE as usize);
        let short = encrypt(b"x", ua_public, &[0; 16]).unwrap();
        let longer = encrypt(&[b'y'; 200], ua_public, &[0; 16]).unwrap();
        assert_eq!(
            short.len(),
            HEADER_LEN + PAD_TO + TAG_LEN,
            "lengths hidden in 256-byte steps"
        );
        assert_eq!(short.len(), longer.len());
        let mut off_curve = ua_public.to_vec();
        off_curve[64] ^= 1;
        assert_eq!(
            encrypt(b"x", &off_curve, &[0; 16]),
            Err(EceError::BadPublicKey)
        );
    }
}
