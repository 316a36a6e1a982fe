//! The one table that maps every error to an HTTP status and a JSON body `{code, message}`.
//! Internal details are logged by the layer that saw them, never sent to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use natter_domain::DomainError;
use natter_protocol::ErrorBody;

/// An error as the transports report it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The body or frame could not be parsed (malformed JSON, wrong types, unknown fields).
    #[error("{0}")]
    BadRequest(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("expected content-type application/json")]
    UnsupportedMediaType,
    /// An upload larger than `files.max_bytes`.
    #[error("the file is larger than the limit of {max_bytes} bytes")]
    FileTooLarge { max_bytes: u64 },
    /// An upload that would take the owner past `files.quota_bytes`.
    #[error("over the storage quota: {used_bytes} of {quota_bytes} bytes used")]
    QuotaExceeded { quota_bytes: u64, used_bytes: u64 },
    /// A tus `PATCH` at another offset than the upload's (`Upload-Offset` says which).
    #[error("the upload is at offset {current}")]
    OffsetMismatch { current: u64 },
    /// A tus `PATCH` whose body is not `application/offset+octet-stream`.
    #[error("expected content-type application/offset+octet-stream")]
    NotUploadChunk,
    /// A tus request whose `Tus-Resumable` names another version than natter's (tus 1.0: 412
    /// with the versions natter speaks in `Tus-Version`).
    #[error("unsupported tus version {0:?}; this server speaks 1.0.0")]
    TusVersion(String),
    /// A `Range` outside the file (`Content-Range: bytes */size`).
    #[error("the range is outside the file of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// An image that would decode to more than `files.max_image_pixels` pixels or
    /// `files.max_frames` frames (a decompression bomb).
    #[error("{0}")]
    MediaTooLarge(String),
    /// Bytes that start like an image but do not decode as one.
    #[error("{0}")]
    InvalidMedia(String),
    /// The path exists but not with this method (the `Allow` header lists those it has).
    #[error("method not allowed on this path")]
    MethodNotAllowed,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(err) => match err {
                DomainError::Invalid { .. } | DomainError::WeakPassword(_) => {
                    StatusCode::BAD_REQUEST
                }
                DomainError::Unauthenticated | DomainError::BadCredentials => {
                    StatusCode::UNAUTHORIZED
                }
                DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
                DomainError::NotFound => StatusCode::NOT_FOUND,
                DomainError::Conflict(_) => StatusCode::CONFLICT,
                DomainError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                DomainError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                DomainError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge | Self::FileTooLarge { .. } | Self::QuotaExceeded { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::UnsupportedMediaType | Self::NotUploadChunk => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::OffsetMismatch { .. } => StatusCode::CONFLICT,
            Self::TusVersion(_) => StatusCode::PRECONDITION_FAILED,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MediaTooLarge(_) | Self::InvalidMedia(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (code, retry_after_ms) = match self {
            Self::Domain(DomainError::RateLimited { retry_after_ms }) => {
                ("rate_limited", Some(*retry_after_ms))
            }
            Self::Domain(err) => (err.code(), None),
            Self::BadRequest(_) => ("invalid", None),
            Self::PayloadTooLarge | Self::FileTooLarge { .. } => ("payload_too_large", None),
            Self::QuotaExceeded { .. } => ("quota_exceeded", None),
            Self::OffsetMismatch { .. } => ("offset_mismatch", None),
            Self::TusVersion(_) => ("unsupported_version", None),
            Self::UnsupportedMediaType | Self::NotUploadChunk => ("unsupported_media_type", None),
            Self::RangeNotSatisfiable { .. } => ("range_not_satisfiable", None),
            Self::MethodNotAllowed => ("method_not_allowed", None),
            Self::MediaTooLarge(_) => ("media_too_large", None),
            Self::InvalidMedia(_) => ("invalid_media", None),
        };
        ErrorBody {
            code: code.to_owned(),
            message: self.to_string(),
            retry_after_ms,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let unavailable = matches!(self, Self::Domain(DomainError::Unavailable));
        let mut response = (self.status(), axum::Json(&body)).into_response();
        match self {
            // tus: a client that lost track of its offset resumes from this one.
            Self::OffsetMismatch { current } => {
                response
                    .headers_mut()
                    .insert("upload-offset", HeaderValue::from(current));
            }
            Self::TusVersion(_) => {
                response
                    .headers_mut()
                    .insert("tus-version", HeaderValue::from_static("1.0.0"));
            }
            Self::RangeNotSatisfiable { size } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        if unavailable {
            // Overloaded (the password-hash queue is full) or a store is down: worth a retry soon.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(ms) = body.retry_after_ms {
            let seconds = ms.div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
