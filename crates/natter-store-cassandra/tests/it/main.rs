//! Integration tests against a running Cassandra (and PostgreSQL for the sequencer); added in
//! the next commits.
