//! Quota entities and keys as Kafka names them: a quota is set for a user, a client id, or a
//! user's client id, each by name or as the default (`<default>`, a null name on the wire), and
//! a client's quota of each kind comes from the most specific entity that sets it.

use serde::{Deserialize, Serialize};

/// The entity types of AlterClientQuotas / DescribeClientQuotas.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// The quota kinds enforced here, with their config keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    /// `producer_byte_rate`: bytes per second of produce requests.
    Produce,
    /// `consumer_byte_rate`: bytes per second of fetch responses.
    Fetch,
    /// `request_percentage`: percent of one request-handling thread's time (100 = one thread).
    Request,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::Request];

    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// A name, or the default for every name without its own entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    Default,
    Name(String),
}

impl EntityName {
    pub fn from_wire(name: Option<&str>) -> Self {
        match name {
            None => EntityName::Default,
            Some(n) => EntityName::Name(n.to_string()),
        }
    }

    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Name(n) => Some(n),
        }
    }
}

impl std::fmt::Display for EntityName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityName::Default => f.write_str("<default>"),
            EntityName::Name(n) => f.write_str(n),
        }
    }
}

/// A quota entity: a user, a client id, or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuotaEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EntityName>,
}

impl QuotaEntity {
    /// Builds an entity from the wire's (type, name) pairs; the error is the message Kafka's
    /// INVALID_REQUEST carries.
    pub fn from_wire<'a>(
        parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, String> {
        let mut entity = QuotaEntity {
            user: None,
            client_id: None,
        };
        for (kind, name) in parts {
            let slot = match kind {
                USER => &mut entity.user,
                CLIENT_ID => &mut entity.client_id,
                IP => {
                    return Err("IP quotas (connection_creation_rate) are not supported by this broker; set quotas by user and/or client-id".into())
                }
                other => return Err(format!("Invalid quota entity type {other:?}; expected user or client-id")),
            };
            if slot.is_some() {
                return Err(format!("Duplicate quota entity type {kind:?}"));
            }
            if name == Some("") {
                return Err(format!(
                    "Empty {kind} name; use a null name for the default"
                ));
            }
            *slot = Some(EntityName::from_wire(name));
        }
        if entity.user.is_none() && entity.client_id.is_none() {
            return Err("A quota entity needs a user and/or a client-id".into());
        }
        Ok(entity)
    }

    /// The (type, name) pairs for the wire: user first, as Kafka lists them.
    pub fn to_wire(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::with_capacity(2);
        if let Some(u) = &self.user {
            out.push((USER, u.to_wire()));
        }
        if let Some(c) = &self.client_id {
            out.push((CLIENT_ID, c.to_wire()));
        }
        out
    }

    fn of(user: Option<EntityName>, client_id: Option<EntityName>) -> Self {
        Self { user, client_id }
    }

    /// The entities that may hold a quota for `user` with `client_id`, most specific first
    /// (Kafka's order: user and client id, user and default client, user alone, default user
    /// and client id, default user and default client, default user alone, client id alone,
    /// default client alone).
    pub fn candidates(user: &str, client_id: &str) -> [QuotaEntity; 8] {
        let u = || Some(EntityName::Name(user.to_string()));
        let c = || Some(EntityName::Name(client_id.to_string()));
        let d = || Some(EntityName::Default);
        [
            Self::of(u(), c()),
            Self::of(u(), d()),
            Self::of(u(), None),
            Self::of(d(), c()),
            Self::of(d(), d()),
            Self::of(d(), None),
            Self::of(None, c()),
            Self::of(None, d()),
        ]
    }

    /// Which clients share one measured rate under this entity's quota: a named entity is shared
    /// by all its clients; a default stands for each name on its own.
    pub fn sensor_key(&self, user: &str, client_id: &str) -> (String, String) {
        (
            self.user
                .as_ref()
                .map(|_| user.to_string())
                .unwrap_or_default(),
            self.client_id
                .as_ref()
                .map(|_| client_id.to_string())
                .unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            self.user.as_ref().map(|u| format!("user={u}")),
            self.client_id.as_ref().map(|c| format!("client-id={c}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.write_str(&parts.join(","))
    }
}

/// Checks one value set by AlterClientQuotas; the error is INVALID_REQUEST's message.
pub fn validate_value(key: &str, value: f64) -> Result<QuotaKind, String> {
    let Some(kind) = QuotaKind::from_key(key) else {
        return Err(format!(
            "Unknown or unsupported quota key {key:?}; supported: producer_byte_rate, consumer_byte_rate, request_percentage"
        ));
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("{key} must be a positive number, not {value}"));
    }
    if matches!(kind, QuotaKind::Produce | QuotaKind::Fetch) && value.fract() != 0.0 {
        return Err(format!(
            "{key} must be a whole number of bytes per second, not {value}"
        ));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_wire_parts_when_building_entity_should_accept_users_clients_and_defaults_only() {
        let e = QuotaEntity::from_wire([(USER, Some("alice")), (CLIENT_ID, None)]).unwrap();
        assert_eq!(e.to_string(), "user=alice,client-id=<default>");
        assert_eq!(e.to_wire(), vec![(USER, Some("alice")), (CLIENT_ID, None)]);
        assert!(QuotaEntity::from_wire([(USER, Some("a")), (USER, Some("b"))]).is_err());
        assert!(QuotaEntity::from_wire([("topic", Some("a"))]).is_err());
        assert!(QuotaEntity::from_wire([(IP, Some("1.2.3.4"))]).is_err());
        assert!(QuotaEntity::from_wire([]).is_err());
    }

    #[test]
    fn given_values_when_validating_should_refuse_unknown_keys_fractions_and_non_positive() {
        assert_eq!(
            validate_value("producer_byte_rate", 1024.0),
            Ok(QuotaKind::Produce)
        );
        assert_eq!(
            validate_value("request_percentage", 12.5),
            Ok(QuotaKind::Request)
        );
        assert!(validate_value("producer_byte_rate", 10.5).is_err());
        assert!(validate_value("consumer_byte_rate", 0.0).is_err());
        assert!(validate_value("consumer_byte_rate", f64::NAN).is_err());
        assert!(validate_value("controller_mutation_rate", 1.0).is_err());
    }

    #[test]
    fn given_user_and_client_when_listing_candidates_should_follow_kafkas_precedence() {
        let c = QuotaEntity::candidates("alice", "app");
        assert_eq!(c[0].to_string(), "user=alice,client-id=app");
        assert_eq!(c[2].to_string(), "user=alice");
        assert_eq!(c[5].to_string(), "user=<default>");
        assert_eq!(c[7].to_string(), "client-id=<default>");
        assert_eq!(
            c[5].sensor_key("alice", "app"),
            ("alice".to_string(), String::new())
        );
    }
}
