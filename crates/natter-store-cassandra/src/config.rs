//! What an operator may tune: replication of the keyspace, the consistency level of every read
//! and write, client-side timeouts, and the bucket size of the partitions.
//!
//! Own small types instead of the driver's, so the binary's configuration does not name `scylla`.

use std::time::Duration;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;

/// Messages (and change-index entries) per partition. Fixed for the life of a keyspace: rows
/// are found by arithmetic on it, so data written with one size is unreadable with another.
pub const DEFAULT_BUCKET_SIZE: i64 = 1_000;

/// Settings of a [`crate::CassandraMessages`]; [`Default`] suits one node and development.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraConfig {
    /// Replication of the keyspace when [`crate::CassandraMessages::migrate`] creates it (an
    /// existing keyspace is left as it is).
    pub replication: Replication,
    /// Consistency of every read and write. Reads and writes use the same level, so with
    /// `Quorum`/`LocalQuorum` a read sees every acknowledged write.
    pub consistency: Consistency,
    /// Client-side limit of one request, retries included. Past it the operation fails with
    /// `StoreError::Unavailable` (and nothing is acknowledged).
    pub request_timeout: Duration,
    /// Limit of opening a connection to a node.
    pub connect_timeout: Duration,
    /// See [`DEFAULT_BUCKET_SIZE`]. Must be positive.
    pub bucket_size: i64,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        Self {
            replication: Replication::Simple { factor: 1 },
            consistency: Consistency::LocalQuorum,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            bucket_size: DEFAULT_BUCKET_SIZE,
        }
    }
}

impl CassandraConfig {
    pub(crate) fn validate(&self) -> StoreResult<()> {
        if self.bucket_size < 1 {
            return Err(StoreError::Internal(format!(
                "bucket size must be positive, got {}",
                self.bucket_size
            )));
        }
        match &self.replication {
            Replication::Simple { factor: 0 } => Err(StoreError::Internal(
                "replication factor must be positive".into(),
            )),
            Replication::NetworkTopology(dcs) if dcs.is_empty() => Err(StoreError::Internal(
                "network topology replication needs at least one datacenter".into(),
            )),
            Replication::NetworkTopology(dcs)
                if dcs.iter().any(|(dc, _)| !crate::schema::is_identifier(dc)) =>
            {
                Err(StoreError::Internal(format!(
                    "datacenter names must be identifiers: {dcs:?}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Keyspace replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `SimpleStrategy`: one datacenter.
    Simple { factor: u32 },
    /// `NetworkTopologyStrategy`: a factor per datacenter name.
    NetworkTopology(Vec<(String, u32)>),
}

impl Replication {
    /// The CQL map literal of `WITH replication = ...`.
    pub(crate) fn cql(&self) -> String {
        match self {
            Self::Simple { factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
            }
            Self::NetworkTopology(dcs) => {
                let factors: Vec<String> =
                    dcs.iter().map(|(dc, n)| format!("'{dc}': {n}")).collect();
                format!(
                    "{{'class': 'NetworkTopologyStrategy', {}}}",
                    factors.join(", ")
                )
            }
        }
    }
}

/// The consistency levels that make sense for this store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    One,
    LocalOne,
    Quorum,
    LocalQuorum,
    All,
}

impl Consistency {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "one" => Some(Self::One),
            "local_one" => Some(Self::LocalOne),
            "quorum" => Some(Self::Quorum),
            "local_quorum" => Some(Self::LocalQuorum),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    pub(crate) fn driver(self) -> scylla::statement::Consistency {
        use scylla::statement::Consistency as C;
        match self {
            Self::One => C::One,
            Self::LocalOne => C::LocalOne,
            Self::Quorum => C::Quorum,
            Self::LocalQuorum => C::LocalQuorum,
            Self::All => C::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_literals() {
        assert_eq!(
            Replication::Simple { factor: 3 }.cql(),
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
        assert_eq!(
            Replication::NetworkTopology(vec![("dc1".into(), 3), ("dc2".into(), 2)]).cql(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
        );
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad_bucket = CassandraConfig {
            bucket_size: 0,
            ..CassandraConfig::default()
        };
        assert!(bad_bucket.validate().is_err());
        let bad_dc = CassandraConfig {
            replication: Replication::NetworkTopology(vec![("dc'1".into(), 1)]),
            ..CassandraConfig::default()
        };
        assert!(bad_dc.validate().is_err());
        assert!(CassandraConfig::default().validate().is_ok());
        assert_eq!(
            Consistency::parse("LOCAL_QUORUM"),
            Some(Consistency::LocalQuorum)
        );
        assert_eq!(Consistency::parse("two"), None);
    }
}
