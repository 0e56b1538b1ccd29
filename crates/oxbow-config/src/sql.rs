//! `[sql]`: SQL over the lake's tables and their topics' live tail, served over the PostgreSQL
//! wire protocol.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// Serve SQL (when `[[lake.tables]]` are configured). Default true.
    pub enabled: bool,
    /// Where the PostgreSQL-protocol listener binds, HOST:PORT (`--sql-listen`). Default
    /// 127.0.0.1:5433; port 0 picks a free one (printed at start).
    pub listen: String,
    /// Memory one query may hold (sorts, joins, aggregations fail with a clear error beyond it).
    /// Default 1073741824 (1 GiB); 16 MiB..=1 TiB.
    pub memory_limit_bytes: u64,
    /// Records of a topic's live tail (not yet in its table) a query reads, at most. Default
    /// 1000000; 0 shows the tables only, else up to 100000000.
    pub max_tail_records: usize,
    /// Queries running at once; more wait. Default 4; 1..=1024.
    pub max_concurrent_queries: usize,
    /// `none` (default: any user name, no password, every connection is `User:ANONYMOUS`) or
    /// `password`: PostgreSQL's password method with the bus's users (`[security.plain_users]`
    /// and SCRAM users; the password crosses the wire as PostgreSQL sends it, so keep the
    /// listener on loopback or behind TLS). Either way a table is read only with READ on its
    /// topic from the broker's authorizer.
    pub authentication: String,
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:5433".into(),
            memory_limit_bytes: 1 << 30,
            max_tail_records: 1_000_000,
            max_concurrent_queries: 4,
            authentication: "none".into(),
        }
    }
}

impl SqlConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Bounds { key, value, reason });
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "sql.listen",
                self.listen.clone(),
                "must be HOST:PORT with an IP address (e.g. 127.0.0.1:5433)",
            );
        }
        if !((16 << 20)..=(1 << 40)).contains(&self.memory_limit_bytes) {
            return bad(
                "sql.memory_limit_bytes",
                self.memory_limit_bytes.to_string(),
                "must be 16777216..=1099511627776",
            );
        }
        if self.max_tail_records > 100_000_000 {
            return bad(
                "sql.max_tail_records",
                self.max_tail_records.to_string(),
                "must be 0..=100000000",
            );
        }
        if !(1..=1024).contains(&self.max_concurrent_queries) {
            return bad(
                "sql.max_concurrent_queries",
                self.max_concurrent_queries.to_string(),
                "must be 1..=1024",
            );
        }
        if !matches!(self.authentication.as_str(), "none" | "password") {
            return bad(
                "sql.authentication",
                self.authentication.clone(),
                "must be none or password",
            );
        }
        Ok(())
    }
}
