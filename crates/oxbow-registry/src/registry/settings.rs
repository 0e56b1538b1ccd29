//! Compatibility configs and modes: global, per context (`:.ctx:`) and per subject, the most
//! specific one applying (a global READONLY_OVERRIDE mode wins over everything).

use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use super::Registry;
use crate::compat::Level;
use crate::error::RegistryError;
use crate::records::{encode_value, ConfigValue, Key, ModeValue};
use crate::subject;

/// The body of PUT /config: `compatibility` (not `compatibilityLevel`, which GET answers).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigUpdate {
    #[serde(default)]
    pub compatibility: Option<String>,
    #[serde(default)]
    pub normalize: Option<bool>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub validate_fields: Option<bool>,
    #[serde(default)]
    pub compatibility_group: Option<String>,
    #[serde(default)]
    pub default_metadata: Option<Value>,
    #[serde(default)]
    pub override_metadata: Option<Value>,
    #[serde(default)]
    pub default_rule_set: Option<Value>,
    #[serde(default)]
    pub override_rule_set: Option<Value>,
}

pub const MODES: &[&str] = &["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"];

impl Registry {
    /// The scopes a subject's settings come from, most specific first.
    fn scopes(subject: &str) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(3);
        if !subject.is_empty() {
            out.push(Some(subject.to_string()));
            if let Some(ctx) = subject::context_of(subject) {
                if ctx != subject {
                    out.push(Some(ctx.to_string()));
                }
            }
        }
        out.push(None);
        out
    }

    /// The config in effect for a subject: its own, its context's, the global one, merged with
    /// the most specific field winning.
    pub fn effective_config(&self, subject: &str) -> ConfigValue {
        let store = self.store.read();
        let mut out = ConfigValue::default();
        for scope in Self::scopes(subject).into_iter().rev() {
            if let Some(c) = store.config(scope.as_deref()) {
                macro_rules! over {
                    ($($f:ident),*) => { $(if c.$f.is_some() { out.$f = c.$f.clone(); })* };
                }
                over!(
                    alias,
                    normalize,
                    validate_fields,
                    compatibility_level,
                    compatibility_group,
                    default_metadata,
                    override_metadata,
                    default_rule_set,
                    override_rule_set
                );
            }
        }
        out.subject = None;
        out
    }

    pub fn effective_level(&self, subject: &str) -> Level {
        self.effective_config(subject)
            .compatibility_level
            .and_then(|l| Level::parse(&l).ok())
            .unwrap_or(self.default_level)
    }

    pub fn effective_mode(&self, subject: &str) -> String {
        let store = self.store.read();
        if store.mode(None) == Some("READONLY_OVERRIDE") {
            return "READONLY_OVERRIDE".into();
        }
        Self::scopes(subject)
            .iter()
            .find_map(|s| store.mode(s.as_deref()))
            .unwrap_or("READWRITE")
            .to_string()
    }

    /// GET /config[/{s}]. `None` for a subject without its own config (and no
    /// `defaultToGlobal`).
    pub fn get_config(
        &self,
        scope: Option<&str>,
        default_to_global: bool,
    ) -> Result<ConfigValue, RegistryError> {
        match scope {
            None => {
                let mut c = self.store.read().config(None).cloned().unwrap_or_default();
                c.subject = None;
                if c.compatibility_level.is_none() {
                    c.compatibility_level = Some(self.default_level.name().to_string());
                }
                Ok(c)
            }
            Some(s) => {
                if default_to_global {
                    let mut c = self.effective_config(s);
                    if c.compatibility_level.is_none() {
                        c.compatibility_level = Some(self.default_level.name().to_string());
                    }
                    return Ok(c);
                }
                let mut c = self
                    .store
                    .read()
                    .config(Some(s))
                    .cloned()
                    .ok_or_else(|| RegistryError::SubjectConfigNotFound(s.to_string()))?;
                c.subject = None;
                Ok(c)
            }
        }
    }

    /// PUT /config[/{s}]: merged into the existing config; returns the update as applied.
    pub async fn put_config(
        &self,
        scope: Option<&str>,
        update: ConfigUpdate,
    ) -> Result<ConfigUpdate, RegistryError> {
        if let Some(s) = scope {
            subject::validate(s)?;
        }
        if self.effective_mode(scope.unwrap_or("")) == "READONLY_OVERRIDE" {
            return Err(RegistryError::OperationNotPermitted(
                "The registry is in read-only mode".into(),
            ));
        }
        let level = update
            .compatibility
            .as_deref()
            .map(Level::parse)
            .transpose()?;
        let _writing = self.writes.lock().await;
        let mut value = self.store.read().config(scope).cloned().unwrap_or_default();
        value.subject = scope.map(str::to_string);
        if let Some(l) = level {
            value.compatibility_level = Some(l.name().to_string());
        }
        macro_rules! set {
            ($($f:ident),*) => { $(if update.$f.is_some() { value.$f = update.$f.clone(); })* };
        }
        set!(
            normalize,
            alias,
            validate_fields,
            compatibility_group,
            default_metadata,
            override_metadata,
            default_rule_set,
            override_rule_set
        );
        self.commit(vec![(
            Key::Config {
                subject: scope.map(str::to_string),
            },
            Some(encode_value(&value)),
        )])
        .await?;
        info!(scope = scope.unwrap_or("(global)"), level = ?value.compatibility_level, "registry config set");
        let mut applied = update;
        applied.compatibility = level.map(|l| l.name().to_string());
        Ok(applied)
    }

    /// DELETE /config[/{s}]: returns the config removed.
    pub async fn delete_config(&self, scope: Option<&str>) -> Result<ConfigValue, RegistryError> {
        let _writing = self.writes.lock().await;
        let old = self.store.read().config(scope).cloned();
        let old = match (old, scope) {
            (Some(c), _) => c,
            (None, None) => ConfigValue {
                compatibility_level: Some(self.default_level.name().to_string()),
                ..ConfigValue::default()
            },
            (None, Some(s)) => return Err(RegistryError::SubjectNotFound(s.to_string())),
        };
        self.commit(vec![(
            Key::Config {
                subject: scope.map(str::to_string),
            },
            None,
        )])
        .await?;
        let mut old = old;
        old.subject = None;
        Ok(old)
    }

    /// GET /mode[/{s}].
    pub fn get_mode(
        &self,
        scope: Option<&str>,
        default_to_global: bool,
    ) -> Result<String, RegistryError> {
        match scope {
            None => Ok(self
                .store
                .read()
                .mode(None)
                .unwrap_or("READWRITE")
                .to_string()),
            Some(s) if default_to_global => Ok(self.effective_mode(s)),
            Some(s) => self
                .store
                .read()
                .mode(Some(s))
                .map(str::to_string)
                .ok_or_else(|| RegistryError::SubjectModeNotFound(s.to_string())),
        }
    }

    /// PUT /mode[/{s}]: IMPORT needs no live subjects in scope, unless `force`.
    pub async fn put_mode(
        &self,
        scope: Option<&str>,
        mode: &str,
        force: bool,
    ) -> Result<String, RegistryError> {
        let mode = mode.to_ascii_uppercase();
        if !MODES.contains(&mode.as_str()) {
            return Err(RegistryError::InvalidMode);
        }
        if let Some(s) = scope {
            subject::validate(s)?;
        }
        let _writing = self.writes.lock().await;
        if mode == "IMPORT" && !force && self.get_mode(scope, true)? != "IMPORT" {
            let store = self.store.read();
            let busy = store.subjects().any(|(s, vs)| {
                let in_scope = match scope {
                    None => true,
                    Some(sc) if subject::is_context(sc) => s.starts_with(sc),
                    Some(sc) => s == sc,
                };
                in_scope && vs.values().any(|v| !v.deleted)
            });
            if busy {
                return Err(RegistryError::OperationNotPermitted(
                    "Cannot import since found existing subjects".into(),
                ));
            }
        }
        self.commit(vec![(
            Key::Mode {
                subject: scope.map(str::to_string),
            },
            Some(encode_value(&ModeValue {
                subject: scope.map(str::to_string),
                mode: mode.clone(),
            })),
        )])
        .await?;
        info!(
            scope = scope.unwrap_or("(global)"),
            mode, "registry mode set"
        );
        Ok(mode)
    }

    /// DELETE /mode[/{s}]: returns the mode removed.
    pub async fn delete_mode(&self, scope: Option<&str>) -> Result<String, RegistryError> {
        let _writing = self.writes.lock().await;
        let old = self.store.read().mode(scope).map(str::to_string);
        let old = match (old, scope) {
            (Some(m), _) => m,
            (None, None) => "READWRITE".to_string(),
            (None, Some(s)) => return Err(RegistryError::SubjectNotFound(s.to_string())),
        };
        self.commit(vec![(
            Key::Mode {
                subject: scope.map(str::to_string),
            },
            None,
        )])
        .await?;
        Ok(old)
    }
}
