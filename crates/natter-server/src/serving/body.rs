//! Every request body is read, up to `limits.max_body_bytes`, before routing. A refusal decided
//! before a handler would read the body (401 without a token, 404, 405, 400 for an unparsable
//! path) would otherwise leave unread bytes on the connection, and hyper then closes it: the
//! client's next keep-alive request fails. Buffering is cheap because every handler that takes
//! a body parses all of it anyway. A body over the limit gets 413 with `Connection: close`, after
//! the rest of it is read and discarded (up to [`DRAIN_MAX_BYTES`]): closing a socket with unread
//! bytes resets it, and a proxy (NGINX) still writing the body then answers its client 502
//! instead of our 413. Upload chunks (`PATCH /api/v1/files/uploads/{id}`) are the one exception:
//! they stream to disk, so they pass through unread. A body must also arrive within the header timeout (a trickled body would
//! otherwise hold the connection forever); past it the answer is 400 with `Connection: close`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use http_body_util::BodyExt;

use crate::error::ApiError;

/// Most bytes of an oversized body read and thrown away before its 413, so the answer reaches
/// the client: NGINX's own default `client_max_body_size`, beyond which it refuses by itself.
/// A larger body is refused without reading it (the connection is reset).
const DRAIN_MAX_BYTES: u64 = 1024 * 1024;

pub async fn read_body_first(
    max_bytes: usize,
    within: Duration,
    request: Request,
    next: Next,
) -> Response {
    if is_upload_chunk(&request) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let read = async {
        if declared.is_some_and(|n| n > max_bytes as u64) {
            return Read::TooLarge(body);
        }
        let mut buffer = Vec::new();
        let mut body = body;
        loop {
            match body.frame().await {
                None => return Read::Whole(buffer),
                Some(Err(_)) => return Read::Broken,
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if buffer.len() + data.len() > max_bytes {
                        return Read::TooLarge(body);
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    };
    let deadline = tokio::time::Instant::now() + within;
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Read::Whole(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Read::TooLarge(rest)) => {
            if declared.is_none_or(|n| n <= DRAIN_MAX_BYTES) {
                let _ = tokio::time::timeout_at(deadline, drain(rest)).await;
            }
            too_large()
        }
        Ok(Read::Broken) => unreadable("the request body could not be read"),
        Err(_) => unreadable("the request body did not arrive in time"),
    }
}

/// A tus `PATCH` of file bytes: the file service streams it to disk itself (`crate::media`),
/// up to the upload's declared size and with its own idle timeout, and drains what it refuses.
pub fn is_upload_chunk(request: &Request) -> bool {
    request.method() == axum::http::Method::PATCH
        && request.uri().path().starts_with(UPLOADS_PREFIX)
}

const UPLOADS_PREFIX: &str = "/api/v1/files/uploads/";

/// What reading a body gave.
enum Read {
    Whole(Vec<u8>),
    /// Over the limit; the unread rest.
    TooLarge(Body),
    Broken,
}

/// Reads and discards the rest of a body, [`DRAIN_MAX_BYTES`] at most.
async fn drain(mut body: Body) {
    let mut read = 0u64;
    while read <= DRAIN_MAX_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |data| data.len() as u64);
            }
            _ => return,
        }
    }
}

fn unreadable(why: &str) -> Response {
    let mut response = ApiError::BadRequest(why.into()).into_response();
    close(&mut response);
    response
}

fn too_large() -> Response {
    let mut response = ApiError::PayloadTooLarge.into_response();
    close(&mut response);
    response
}

fn close(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}
