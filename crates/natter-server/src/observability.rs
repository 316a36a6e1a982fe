//! HTTP metrics: a counter and a latency histogram per route template, method and status,
//! recorded by a middleware so handlers stay free of bookkeeping. Every label takes a bounded
//! set of values (a client choosing the method name or path must not grow the metrics):
//! the route is the matched template or `unmatched`, the method one of the standard ones or
//! `other`, the status a number from 100 to 999.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

pub async fn record_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", status),
    ];
    metrics::counter!("natter_http_requests_total", &labels).increment(1);
    metrics::histogram!("natter_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: one of the nine standard methods, or `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_are_other() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
