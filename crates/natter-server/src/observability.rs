//! HTTP metrics: a counter and a latency histogram per route template and status, recorded by
//! a middleware so handlers stay free of bookkeeping.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub async fn record_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route template (`/api/v1/conversations/{id}`), never the raw path: bounded label values.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("natter_http_requests_total", &labels).increment(1);
    metrics::histogram!("natter_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
