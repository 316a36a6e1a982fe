//! End-to-end tests: the real `natter` binary driven through the SDK. One test binary for fast
//! linking; one module per area.

mod server;
mod support;
mod realtime;
mod ordering;
mod resume;
mod crash;
mod ws_errors;
mod accounts;
mod conversations;
mod messages;
mod http_errors;
mod openapi;
