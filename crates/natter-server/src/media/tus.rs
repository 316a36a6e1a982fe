//! The tus 1.0 request headers (<https://tus.io/protocols/resumable-upload>): `Upload-Length`,
//! `Upload-Offset` and `Upload-Metadata` (comma-separated `key base64(value)` pairs). Clients
//! such as tus-js-client and Uppy send the file name as `filename` (Uppy also as `name`) and a
//! claimed type as `filetype`/`type`, which natter ignores: the bytes decide the type.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_domain::DomainError;
use natter_domain::files::{FileName, UNNAMED_FILE};

use crate::error::ApiError;

/// The protocol version natter speaks, sent back as `Tus-Resumable` on every upload answer.
pub const VERSION: &str = "1.0.0";
/// The extensions natter implements, for `Tus-Extension`.
pub const EXTENSIONS: &str = "creation,termination,expiration";
/// The content type of a `PATCH` body.
pub const CHUNK_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// A request's `Tus-Resumable`: natter does not require it, but one naming another version
/// than [`VERSION`] (in any of its values) is refused (tus 1.0: 412 Precondition Failed with `Tus-Version`).
pub fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get_all("tus-resumable")
        .iter()
        .find(|asked| asked.as_bytes() != VERSION.as_bytes())
    {
        Some(other) => Err(ApiError::TusVersion(
            String::from_utf8_lossy(other.as_bytes())
                .chars()
                .take(32)
                .collect(),
        )),
        None => Ok(()),
    }
}

/// A non-negative integer header, required.
pub fn number(headers: &HeaderMap, name: &'static str) -> Result<u64, DomainError> {
    let value = headers
        .get(name)
        .ok_or_else(|| DomainError::invalid(name, "the header is required"))?;
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| DomainError::invalid(name, "must be a non-negative integer"))
}

/// The file name from `Upload-Metadata`; [`UNNAMED_FILE`] without one.
pub fn file_name(headers: &HeaderMap) -> Result<FileName, DomainError> {
    let invalid = |reason: &str| DomainError::invalid("Upload-Metadata", reason);
    let Some(raw) = headers.get("upload-metadata") else {
        return FileName::parse(UNNAMED_FILE);
    };
    let raw = raw.to_str().map_err(|_| invalid("must be ASCII"))?;
    let mut name = None;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(invalid("each pair is a key and one base64 value"));
        }
        if !matches!(key, "filename" | "name") || name.is_some() {
            continue;
        }
        let decoded = STANDARD
            .decode(value.unwrap_or_default())
            .map_err(|_| invalid("a value is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("the name is not UTF-8"))?;
        name = Some(FileName::parse(&text)?);
    }
    name.map_or_else(|| FileName::parse(UNNAMED_FILE), Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(metadata: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("upload-metadata", HeaderValue::from_str(metadata).unwrap());
        headers
    }

    #[test]
    fn the_name_comes_from_filename_or_name() {
        let name = |m: &str| file_name(&headers(m)).map(|n| n.as_str().to_owned());
        // "cat.png", "image/gif"
        assert_eq!(
            name("filename Y2F0LnBuZw==,filetype aW1hZ2UvZ2lm").unwrap(),
            "cat.png"
        );
        assert_eq!(name("relativePath,name Y2F0LnBuZw==").unwrap(), "cat.png");
        assert_eq!(name("filetype aW1hZ2UvZ2lm").unwrap(), UNNAMED_FILE);
        assert_eq!(file_name(&HeaderMap::new()).unwrap().as_str(), UNNAMED_FILE);
        // "../../etc/passwd"
        assert!(name("filename Li4vLi4vZXRjL3Bhc3N3ZA==").is_err());
        // "a\nb"
        assert!(name("filename YQpi").is_err());
        assert!(name("filename not*base64").is_err());
        assert!(name("filename a b c").is_err());
    }

    #[test]
    fn only_another_tus_version_is_refused() {
        let mut h = HeaderMap::new();
        assert!(check_version(&h).is_ok(), "not required");
        h.insert("tus-resumable", HeaderValue::from_static("1.0.0"));
        assert!(check_version(&h).is_ok());
        h.append("tus-resumable", HeaderValue::from_static("0.2.2"));
        assert!(check_version(&h).is_err(), "every value counts");
        for other in ["0.2.2", "1.0", "1.0.0 ", "2.0.0"] {
            h.insert("tus-resumable", HeaderValue::from_str(other).unwrap());
            let refused = check_version(&h).unwrap_err();
            assert_eq!(
                refused.status(),
                axum::http::StatusCode::PRECONDITION_FAILED
            );
            assert_eq!(refused.body().code, "unsupported_version");
        }
    }

    #[test]
    fn numbers_are_plain_non_negative_integers() {
        let mut h = HeaderMap::new();
        assert!(number(&h, "upload-length").is_err());
        for bad in ["", "-1", "+1", "1.5", "0x10", "99999999999999999999999"] {
            h.insert("upload-length", HeaderValue::from_str(bad).unwrap());
            assert!(number(&h, "upload-length").is_err(), "{bad:?}");
        }
        h.insert("upload-length", HeaderValue::from_static("42"));
        assert_eq!(number(&h, "upload-length").unwrap(), 42);
    }
}
