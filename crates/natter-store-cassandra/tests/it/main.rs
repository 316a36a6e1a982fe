//! Integration tests (one binary, per the workspace convention) against a running Cassandra
//! and PostgreSQL: the storage conformance suite with message bodies in Cassandra, plus what
//! only this store has (buckets, orphans of uncommitted writes, no nulls).

mod buckets;
mod faults;
mod mem;
mod nulls;
mod orphans;
mod support;
mod unavailable;
