//! Integration tests (one binary, per the workspace convention) against a running PostgreSQL
//! server: the sequencer used by split message stores.

mod sequencer;
mod support;
