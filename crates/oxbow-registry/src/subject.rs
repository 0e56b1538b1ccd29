//! Subject names and schema contexts: `orders-value` lives in the default context `.`;
//! `:.eu:orders-value` is `orders-value` in the context `.eu`; `:.eu:` names the context itself
//! (for its config and mode). Subjects are stored fully qualified, as Confluent stores them.

use crate::error::RegistryError;

/// The context a subject belongs to, as the qualified prefix `:.eu:` (`None`: the default).
pub fn context_of(subject: &str) -> Option<&str> {
    let rest = subject.strip_prefix(':')?;
    let end = rest.find(':')?;
    Some(&subject[..end + 2])
}

/// Whether `subject` names a context (`:.eu:`) rather than a subject in it.
pub fn is_context(subject: &str) -> bool {
    context_of(subject).is_some_and(|c| c.len() == subject.len())
}

/// Refuses names Confluent refuses (42208): empty, control characters, reserved names.
pub fn validate(subject: &str) -> Result<(), RegistryError> {
    let bad = subject.is_empty()
        || subject.chars().any(char::is_control)
        || matches!(subject, "__GLOBAL" | "__EMPTY")
        || subject.len() > 16 * 1024;
    if bad {
        return Err(RegistryError::InvalidSubject(subject.to_string()));
    }
    Ok(())
}

/// Whether `subject` is listed under `prefix` (GET /subjects?subjectPrefix=): `:*:` (the default)
/// lists every context; `:.eu:x` lists `x…` in `.eu`; a plain prefix lists the default context.
pub fn matches_prefix(subject: &str, prefix: &str) -> bool {
    if prefix.is_empty() || prefix == ":*:" {
        return true;
    }
    if let Some(rest) = prefix.strip_prefix(":*:") {
        let bare = context_of(subject).map_or(subject, |c| &subject[c.len()..]);
        return bare.starts_with(rest);
    }
    if context_of(prefix).is_some() {
        return subject.starts_with(prefix);
    }
    context_of(subject).is_none() && subject.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_qualified_subjects_when_parsing_should_find_context_and_prefixes() {
        assert_eq!(context_of(":.eu:orders"), Some(":.eu:"));
        assert_eq!(context_of("orders"), None);
        assert!(is_context(":.eu:"));
        assert!(!is_context(":.eu:orders"));
        assert!(matches_prefix(":.eu:orders", ":*:"));
        assert!(matches_prefix(":.eu:orders", ":.eu:or"));
        assert!(!matches_prefix(":.eu:orders", "or"));
        assert!(matches_prefix("orders", "or"));
        assert!(matches_prefix(":.eu:orders", ":*:ord"));
        assert!(validate("__GLOBAL").is_err());
        assert!(validate("a\u{1}b").is_err());
        assert!(validate("ok-value").is_ok());
    }
}
