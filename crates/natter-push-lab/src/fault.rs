//! Injected faults: the next N requests to a service answer an error status (with
//! `Retry-After` when asked), or hang until [`crate::Lab::release_hung`] (or the lab stops).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fcm;
use crate::state::{Fault, Service, Shared};

/// The answer of the next injected fault for `service`, if one is queued.
pub(crate) async fn apply(shared: &Shared, service: Service) -> Option<Response> {
    match shared.take_fault(service)? {
        Fault::Status {
            status,
            retry_after,
        } => Some(status_response(service, status, retry_after)),
        Fault::Hang => {
            let released = shared.release.notified();
            shared.hung.send_modify(|n| *n += 1);
            released.await;
            Some(status_response(service, 503, None))
        }
    }
}

/// An error in the service's own format.
fn status_response(service: Service, status: u16, retry_after: Option<u64>) -> Response {
    match service {
        Service::Fcm => {
            let (canonical, code) = fcm::codes_for(status);
            fcm::error_response(status, canonical, code, "injected by the lab", retry_after)
        }
        Service::Apns => {
            let reason = match status {
                400 => "BadDeviceToken",
                403 => "ExpiredProviderToken",
                410 => "Unregistered",
                413 => "PayloadTooLarge",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalServerError",
            };
            with_retry_after(
                (code(status), axum::Json(json!({ "reason": reason }))).into_response(),
                retry_after,
            )
        }
        Service::WebPush => with_retry_after(code(status).into_response(), retry_after),
    }
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().expect("digits"));
    }
    response
}
