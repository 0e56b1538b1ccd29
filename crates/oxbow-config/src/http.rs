//! `[http]`: the broker's HTTP listener (`/metrics`, `/health`, `/ready`).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve the HTTP listener. Default true.
    pub enabled: bool,
    /// Where it listens, IP:PORT (`--http-listen`). Default 127.0.0.1:8080; port 0 picks a free
    /// one (printed at start).
    pub listen: String,
    /// The `cluster_name` label of the consumer lag series (Kafka Lag Exporter's). Default
    /// `oxbow`.
    pub cluster_name: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            cluster_name: "oxbow".into(),
        }
    }
}

impl HttpConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Bounds {
                key: "http.listen",
                value: self.listen.clone(),
                reason: "must be IP:PORT (e.g. 127.0.0.1:8080)",
            });
        }
        Ok(())
    }
}
