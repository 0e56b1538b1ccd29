//! Compatibility levels and the checks behind them: BACKWARD (the new schema reads data written
//! with the old), FORWARD (the old reads the new), FULL (both); the `_TRANSITIVE` levels check
//! against every live version, the others against the latest only; NONE checks nothing.
//! Each incompatibility is one message naming the rule, the path and the change.

pub mod avro;
pub mod json;
pub mod protobuf;

use crate::error::RegistryError;
use crate::schema::Parsed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub fn parse(s: &str) -> Result<Level, RegistryError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => Level::None,
            "BACKWARD" => Level::Backward,
            "BACKWARD_TRANSITIVE" => Level::BackwardTransitive,
            "FORWARD" => Level::Forward,
            "FORWARD_TRANSITIVE" => Level::ForwardTransitive,
            "FULL" => Level::Full,
            "FULL_TRANSITIVE" => Level::FullTransitive,
            _ => return Err(RegistryError::InvalidCompatibilityLevel),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether the check needs every live version, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

/// Every incompatibility of `new` with `existing` (live versions, oldest first) under `level`.
/// Messages are ordered newest version first, as Confluent reports them.
pub fn check(level: Level, new: &Parsed, existing: &[Parsed]) -> Vec<String> {
    if level == Level::None || existing.is_empty() {
        return Vec::new();
    }
    let against: Vec<&Parsed> = if level.transitive() {
        existing.iter().rev().collect()
    } else {
        existing.last().into_iter().collect()
    };
    let mut out = Vec::new();
    for old in against {
        if level.backward() {
            out.extend(pair(new, old, true));
        }
        if level.forward() {
            out.extend(pair(old, new, false));
        }
    }
    out
}

/// One reason a reader schema cannot read a writer schema's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Incompatibility {
    /// Confluent's error type (`TYPE_MISMATCH`, `READER_FIELD_MISSING_DEFAULT_VALUE`, ...).
    pub kind: &'static str,
    /// Where, in the reader schema (`/fields/2/type`, `#/properties/a`, `#/pkg.Msg/3`).
    pub path: String,
    pub description: String,
}

impl Incompatibility {
    /// The message as the verbose compatibility answer and the 409 error list it.
    fn message(&self, dir: &str) -> String {
        format!(
            "{{errorType:'{}', description:'{}', additionalInfo:'{}', direction:'{dir}'}}",
            self.kind, self.description, self.path
        )
    }
}

/// Whether `reader` reads `writer`'s data; `backward`: the reader is the new schema.
fn pair(reader: &Parsed, writer: &Parsed, backward: bool) -> Vec<String> {
    let dir = if backward { "BACKWARD" } else { "FORWARD" };
    let found = match (reader, writer) {
        (Parsed::Avro(r), Parsed::Avro(w)) => {
            let d = if backward {
                avro::Direction::NewReadsOld
            } else {
                avro::Direction::OldReadsNew
            };
            avro::check(r, w, d)
        }
        (Parsed::Json(r), Parsed::Json(w)) => json::check(r, w, backward),
        (Parsed::Protobuf(r), Parsed::Protobuf(w)) => protobuf::check(r, w, backward),
        (r, w) => vec![Incompatibility {
            kind: "TYPE_MISMATCH",
            path: "/".into(),
            description: format!(
                "schema type changed from {} to {}",
                w.type_name(),
                r.type_name()
            ),
        }],
    };
    found.iter().map(|i| i.message(dir)).collect()
}
