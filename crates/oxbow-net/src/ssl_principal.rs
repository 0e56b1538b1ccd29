//! The principal of a mutual-TLS client: its certificate's subject in RFC 2253 form (as Java's
//! `X500Principal.getName()` writes it, most specific first: `CN=alice,OU=ops,O=Acme,C=US`),
//! mapped by Kafka's `ssl.principal.mapping.rules`.

use regex::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Principal;

/// One rule: `RULE:regex/replacement/[LU]` or `DEFAULT`.
#[derive(Debug)]
enum Rule {
    Default,
    Pattern {
        regex: Regex,
        replacement: String,
        case: Option<char>,
    },
}

/// Kafka's `SslPrincipalMapper`.
#[derive(Debug)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

impl SslPrincipalMapper {
    /// Parses the rules; the error names the rule that does not parse.
    pub fn parse(rules: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            rest = rest.trim_start_matches([',', ' ', '\n', '\t']);
            if rest.is_empty() {
                break;
            }
            if let Some(r) = rest.strip_prefix("DEFAULT") {
                out.push(Rule::Default);
                rest = r;
                continue;
            }
            let Some(body) = rest.strip_prefix("RULE:") else {
                return Err(format!("expected RULE: or DEFAULT at {rest:?}"));
            };
            let (pattern, after) =
                split_unescaped(body).ok_or_else(|| format!("unterminated rule {rest:?}"))?;
            let (replacement, after) = split_unescaped(after)
                .ok_or_else(|| format!("rule without replacement {rest:?}"))?;
            let (case, after) = match after.chars().next() {
                Some(c @ ('L' | 'U')) => (Some(c), &after[1..]),
                _ => (None, after),
            };
            let regex = Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("rule pattern {pattern:?}: {e}"))?;
            out.push(Rule::Pattern {
                regex,
                replacement: replacement.replace("\\/", "/"),
                case,
            });
            rest = after;
        }
        if out.is_empty() {
            out.push(Rule::Default);
        }
        Ok(Self { rules: out })
    }

    /// The principal for a subject; None when no rule applies (the connection is refused).
    pub fn map(&self, subject: &str) -> Option<Principal> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Some(Principal::user(subject)),
                Rule::Pattern {
                    regex,
                    replacement,
                    case,
                } => {
                    if regex.is_match(subject) {
                        let name = regex.replace(subject, replacement.as_str()).into_owned();
                        let name = match case {
                            Some('L') => name.to_lowercase(),
                            Some('U') => name.to_uppercase(),
                            _ => name,
                        };
                        return Some(Principal::user(&name));
                    }
                }
            }
        }
        None
    }
}

/// Splits at the first `/` not escaped by a backslash.
fn split_unescaped(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'/' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// The certificate's subject in RFC 2253 form; None if the DER does not parse.
pub fn subject_rfc2253(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|a| {
                let oid = a.attr_type().to_id_string();
                let key = match oid.as_str() {
                    "2.5.4.3" => "CN".to_string(),
                    "2.5.4.11" => "OU".to_string(),
                    "2.5.4.10" => "O".to_string(),
                    "2.5.4.7" => "L".to_string(),
                    "2.5.4.8" => "ST".to_string(),
                    "2.5.4.6" => "C".to_string(),
                    "2.5.4.9" => "STREET".to_string(),
                    "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                    "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                    other => other.to_string(),
                };
                let value = a.as_str().unwrap_or_default();
                format!("{key}={}", escape(value))
            })
            .collect();
        rdns.push(attrs.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_kafka_rules_when_mapping_subjects_should_pick_the_first_match() {
        let m = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.map("CN=kafka-svc,OU=ServiceUsers,O=Acme,C=US")
                .unwrap()
                .name,
            "kafka-svc"
        );
        assert_eq!(
            m.map("CN=Alice,OU=Ops,O=Acme,L=Paris,ST=IDF,C=FR")
                .unwrap()
                .name,
            "alice@ops"
        );
        assert_eq!(m.map("CN=x,O=Other").unwrap().name, "CN=x,O=Other");
        let strict = SslPrincipalMapper::parse("RULE:^CN=([a-z]+)$/$1/U").unwrap();
        assert_eq!(strict.map("CN=bob").unwrap().name, "BOB");
        assert!(strict.map("CN=Bob,O=x").is_none());
        assert!(SslPrincipalMapper::parse("RULE:^(unterminated").is_err());
        assert!(SslPrincipalMapper::parse("NONSENSE").is_err());
        assert_eq!(
            SslPrincipalMapper::parse("")
                .unwrap()
                .map("CN=a")
                .unwrap()
                .name,
            "CN=a"
        );
    }
}
