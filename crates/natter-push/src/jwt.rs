//! Signing the three JWTs the providers ask for (FCM's OAuth assertion RS256, the APNs provider
//! token and VAPID ES256) with aws-lc-rs. jsonwebtoken's RustCrypto backend, the one natter
//! builds, takes RSA keys only as PKCS#1 DER without its PEM feature, while Google hands out
//! PKCS#8 PEM; aws-lc-rs reads PKCS#8 for both algorithms and signs in constant time. A JWS is
//! then just `base64url(header).base64url(claims).base64url(signature)`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;

pub(crate) enum JwtKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

/// Key material: never shown.
impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("signing failed")]
pub(crate) struct SignError;

impl JwtKey {
    /// A P-256 key from a PKCS#8 PEM (an APNs `.p8`, a VAPID key).
    pub fn es256(pem: &[u8]) -> Result<Self, String> {
        let der = pem_der(pem).ok_or("not a PEM file")?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map(Self::Es256)
            .map_err(|err| format!("not a P-256 PKCS#8 key: {err}"))
    }

    /// An RSA key from a PKCS#8 PEM (a Google service account's `private_key`).
    pub fn rs256(pem: &[u8]) -> Result<Self, String> {
        let der = pem_der(pem).ok_or("not a PEM key")?;
        RsaKeyPair::from_pkcs8(&der)
            .map(Self::Rs256)
            .map_err(|err| format!("not an RSA PKCS#8 key: {err}"))
    }

    /// The public key: for P-256 the uncompressed point (VAPID's `k`).
    pub fn public_key(&self) -> &[u8] {
        match self {
            JwtKey::Es256(pair) => pair.public_key().as_ref(),
            JwtKey::Rs256(pair) => pair.public_key().as_ref(),
        }
    }

    /// A compact JWS: `kid` goes into the header when given.
    pub fn sign(&self, kid: Option<&str>, claims: &impl Serialize) -> Result<String, SignError> {
        #[derive(Serialize)]
        struct Head<'a> {
            alg: &'a str,
            typ: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        let alg = match self {
            JwtKey::Es256(_) => "ES256",
            JwtKey::Rs256(_) => "RS256",
        };
        let head = serde_json::to_vec(&Head {
            alg,
            typ: "JWT",
            kid,
        })
        .map_err(|_| SignError)?;
        let claims = serde_json::to_vec(claims).map_err(|_| SignError)?;
        let mut jws = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(head),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let rng = SystemRandom::new();
        let signature = match self {
            JwtKey::Es256(pair) => pair
                .sign(&rng, jws.as_bytes())
                .map_err(|_| SignError)?
                .as_ref()
                .to_vec(),
            JwtKey::Rs256(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, jws.as_bytes(), &mut out)
                    .map_err(|_| SignError)?;
                out
            }
        };
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jws)
    }
}

/// The DER inside the first PEM block.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let rest = &text[text.find("-----BEGIN ")?..];
    let body = rest.get(rest.find('\n')? + 1..rest.find("-----END ")?)?;
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pem_is_refused_not_a_panic() {
        for text in [
            "",
            "-----BEGIN PRIVATE KEY-----",
            "-----END X-----\n-----BEGIN PRIVATE KEY-----\n",
            "{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n\"}",
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(JwtKey::es256(text.as_bytes()).is_err(), "{text}");
            assert!(JwtKey::rs256(text.as_bytes()).is_err(), "{text}");
        }
    }
}
