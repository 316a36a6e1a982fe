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
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (code, retry_after_ms) = match self {
            Self::Domain(DomainError::RateLimited { retry_after_ms }) => {
                ("rate_limited", Some(*retry_after_ms))
            }
            Self::Domain(err) => (err.code(), None),
            Self::BadRequest(_) => ("invalid", None),
            Self::PayloadTooLarge => ("payload_too_large", None),
            Self::UnsupportedMediaType => ("unsupported_media_type", None),
            Self::MethodNotAllowed => ("method_not_allowed", None),
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
