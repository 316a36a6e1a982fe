//! Every request body is read, up to `limits.max_body_bytes`, before routing. A refusal decided
//! before a handler would read the body (401 without a token, 404, 405, 400 for an unparsable
//! path) would otherwise leave unread bytes on the connection, and hyper then closes it: the
//! client's next keep-alive request fails. Buffering is cheap because every handler that takes
//! a body parses all of it anyway. A body over the limit gets 413 with `Connection: close`: its
//! bytes are not read, so the connection cannot serve another request. A body must also arrive
//! within the header timeout (a trickled body would otherwise hold the connection forever);
//! past it the answer is 400 with `Connection: close`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub async fn read_body_first(
    max_bytes: usize,
    within: Duration,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(within, axum::body::to_bytes(body, max_bytes)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) if is_length_limit(&err) => too_large(),
        Ok(Err(_)) => unreadable("the request body could not be read"),
        Err(_) => unreadable("the request body did not arrive in time"),
    }
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
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
