//! End-to-end tests: the real `natter` binary driven through the SDK. One test binary for fast
//! linking; one module per area.

mod accounts;
mod attachments;
mod avatars;
mod balancer;
#[cfg(feature = "client")]
mod client_chat;
#[cfg(feature = "client")]
mod client_cli;
mod cluster;
mod conversations;
mod crash;
mod cutter;
mod denial;
mod files;
mod http_errors;
mod idempotency;
mod media;
mod media_collect;
mod media_images;
mod media_video;
mod memory;
mod messages;
mod openapi;
mod ordering;
mod push_devices;
mod push_notify;
mod realtime;
mod resume;
mod roles;
mod scale_out;
mod sdk_files;
mod search;
mod server;
mod session_expiry;
mod support;
mod web_app;
mod ws_errors;
mod ws_protocol;
