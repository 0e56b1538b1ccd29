//! `[registry]`: the schema registry served from the broker (Confluent's REST API).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Serve the schema registry. Default true.
    pub enabled: bool,
    /// Where its REST API listens, HOST:PORT (`--registry-listen`). Default 127.0.0.1:8081
    /// (Confluent's port); port 0 picks a free one (printed at start).
    pub listen: String,
    /// `none` (default: every caller is `User:ANONYMOUS`) or `basic`: HTTP Basic with the bus's
    /// users (`[security.plain_users]` and SCRAM users), permissions from the broker's
    /// authorizer (a subject stands for its topic: `orders-value` → topic `orders`).
    pub authentication: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8081".into(),
            authentication: "none".into(),
        }
    }
}

impl RegistryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Bounds {
                key: "registry.listen",
                value: self.listen.clone(),
                reason: "must be HOST:PORT with an IP address (e.g. 127.0.0.1:8081)",
            });
        }
        if !matches!(self.authentication.as_str(), "none" | "basic") {
            return Err(ConfigError::Bounds {
                key: "registry.authentication",
                value: self.authentication.clone(),
                reason: "must be none or basic",
            });
        }
        Ok(())
    }
}
