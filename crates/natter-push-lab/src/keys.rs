//! The credentials the lab makes and trusts: a Google service account key (RSA, PKCS#8 in the
//! JSON format Google hands out), an APNs `.p8` signing key with its key and team ids, a VAPID
//! key pair, and per subscription the browser's own P-256 key pair and auth secret. A second set
//! ([`LabKeys::generate`] again) is how a test plays a sender with the wrong keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;

pub const FCM_PROJECT: &str = "natter-lab";
pub const FCM_CLIENT_EMAIL: &str = "natter-push@natter-lab.iam.gserviceaccount.com";
pub const APNS_KEY_ID: &str = "LAB0KEY001";
pub const APNS_TEAM_ID: &str = "LAB0TEAM01";
pub const APNS_TOPIC: &str = "org.natter.app";

/// One set of provider credentials, as files' contents.
#[derive(Clone)]
pub struct LabKeys {
    /// The service account JSON key (`token_uri` points at the lab).
    pub fcm_service_account_json: String,
    pub apns_key_pem: String,
    pub apns_key_id: String,
    pub apns_team_id: String,
    pub vapid_key_pem: String,
    /// The VAPID public key (base64url uncompressed point): browsers' `applicationServerKey`.
    pub vapid_public_key: String,
    pub(crate) fcm_public: Vec<u8>,
    pub(crate) apns_public: Vec<u8>,
    pub(crate) vapid_public: Vec<u8>,
}

impl std::fmt::Debug for LabKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabKeys")
            .field("apns_key_id", &self.apns_key_id)
            .field("vapid_public_key", &self.vapid_public_key)
            .finish_non_exhaustive()
    }
}

impl LabKeys {
    /// New keys; the service account's `token_uri` is `token_uri`.
    pub fn generate(token_uri: &str) -> Self {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let rsa_pkcs8 = rsa.as_der().expect("RSA PKCS#8");
        // PKCS#1 RSAPublicKey DER, what jsonwebtoken's RustCrypto backend verifies with.
        let fcm_public = rsa.public_key().as_ref().to_vec();
        let fcm_service_account_json = serde_json::to_string_pretty(&serde_json::json!({
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "lab-key-1",
            "private_key": pem("PRIVATE KEY", rsa_pkcs8.as_ref()),
            "client_email": FCM_CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        }))
        .expect("JSON");
        let (apns_key_pem, apns_public) = p256();
        let (vapid_key_pem, vapid_public) = p256();
        Self {
            fcm_service_account_json,
            apns_key_pem,
            apns_key_id: APNS_KEY_ID.into(),
            apns_team_id: APNS_TEAM_ID.into(),
            vapid_key_pem,
            vapid_public_key: URL_SAFE_NO_PAD.encode(&vapid_public),
            fcm_public,
            apns_public,
            vapid_public,
        }
    }

    pub(crate) fn fcm_decoding_key(&self) -> DecodingKey {
        DecodingKey::from_rsa_der(&self.fcm_public)
    }

    pub(crate) fn apns_decoding_key(&self) -> Option<DecodingKey> {
        ec_decoding_key(&self.apns_public)
    }
}

/// A P-256 signing key as PKCS#8 PEM, and its uncompressed public point.
fn p256() -> (String, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("P-256 key generation");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("own PKCS#8");
    (
        pem("PRIVATE KEY", pkcs8.as_ref()),
        pair.public_key().as_ref().to_vec(),
    )
}

/// The verifying key of an uncompressed P-256 point.
pub(crate) fn ec_decoding_key(point: &[u8]) -> Option<DecodingKey> {
    if point.len() != 65 || point[0] != 4 {
        return None;
    }
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..]);
    DecodingKey::from_ec_components(&x, &y).ok()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("system random");
    out
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
