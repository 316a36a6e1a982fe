//! natter's terminal client, and its commands for scripts, on the Rust SDK.
//!
//! - `natter chat`: full screen (ratatui on crossterm). [`app`] is the state as plain data with
//!   `App::update(event) -> effects`; [`view`] draws it (`App::render`); `runtime.rs` owns the
//!   terminal, the SDK [`Session`](natter_sdk::Session) (reconnect and gap-free resume are the
//!   SDK's) and the tasks that carry effects out.
//! - `natter send`, `natter tail`, `natter login`, `natter logout` (`script.rs`, `cli.rs`), with
//!   exit codes that say what failed ([`exit::Exit`]).
//! - The saved session (`saved.rs`): a refresh token in the user's config dir, mode 0600,
//!   replaced atomically, refreshed under a lock so that several processes can share it
//!   (`auth.rs`).
//!
//! The `natter` binary flattens [`ClientCommand`] into its own subcommands behind its `client`
//! cargo feature and calls [`run`].

pub mod app;
mod auth;
mod cli;
pub mod exit;
mod prompt;
mod runtime;
pub mod saved;
mod script;
pub mod view;

pub use cli::{ClientCommand, run};
