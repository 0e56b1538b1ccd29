//! What PostgreSQL clients ask a server about itself, on connect and between queries:
//! `SHOW name`, `current_setting(name)`, `version()`, `current_schema()` and
//! `current_database()`, also under their `pg_catalog.` names. psycopg, pgJDBC, SQLAlchemy (and
//! so pandas and Superset) and BI tools ask these before their first query, and SQLAlchemy will
//! not connect if `version()` does not name a PostgreSQL version. The answers are those of a
//! read-only PostgreSQL 16 server in UTC, which is what the endpoint behaves as.

use std::sync::{Arc, LazyLock};

use arrow_schema::DataType;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::common::{exec_err, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The database name clients see (any name they ask for is served the same).
pub const CATALOG: &str = "oxbow";
/// The one schema, where the lake's tables are.
pub const SCHEMA: &str = "public";

/// The PostgreSQL version the endpoint answers as (its protocol and catalog behaviour).
pub const SERVER_VERSION: &str = "16.6";

/// The settings a client may `SHOW` or read with `current_setting`, lower case.
const SETTINGS: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160006"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("timezone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
    ("search_path", SCHEMA),
    ("max_identifier_length", "63"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("is_superuser", "off"),
    ("application_name", ""),
    ("bytea_output", "hex"),
];

/// A setting's column name and value, by its name as `SHOW` or `current_setting` spell it (any
/// case; `SHOW TRANSACTION ISOLATION LEVEL` is `transaction_isolation`), or PostgreSQL's message
/// for an unknown one.
fn setting(name: &str) -> Result<(&'static str, &'static str), String> {
    let lower = name.trim().to_ascii_lowercase();
    let key = match lower.as_str() {
        "transaction isolation level" => "transaction_isolation",
        "time zone" => "timezone",
        other => other,
    };
    SETTINGS
        .iter()
        .find(|(n, _)| *n == key)
        .copied()
        .ok_or_else(|| format!("unrecognized configuration parameter \"{lower}\""))
}

/// The `SELECT` that answers `SHOW name` as PostgreSQL does (one row, one column named after the
/// setting), or `None` if the name is not a setting; DataFusion's own `SHOW datafusion.…` and
/// `SHOW ALL` are left to it.
pub fn show_query(words: &[&str]) -> Option<Result<String, String>> {
    let name = words.join(" ");
    if name.eq_ignore_ascii_case("all")
        || words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("datafusion"))
    {
        return None;
    }
    Some(
        setting(&name).map(|(column, value)| {
            format!("SELECT '{}' AS \"{column}\"", value.replace('\'', "''"))
        }),
    )
}

/// Registers the functions in `ctx` (DataFusion's `version()` is replaced by one naming the
/// PostgreSQL version first, then Oxbow's and DataFusion's). They are built once per process:
/// a session is made for every statement.
pub fn register(ctx: &SessionContext) {
    static FUNCTIONS: LazyLock<Vec<ScalarUDF>> = LazyLock::new(|| {
        let version = format!(
            "PostgreSQL {SERVER_VERSION} (Oxbow {}, Apache DataFusion {}) on {}-{}",
            env!("CARGO_PKG_VERSION"),
            datafusion::DATAFUSION_VERSION,
            std::env::consts::ARCH,
            std::env::consts::OS
        );
        [
            ("version", Answer::Constant(version)),
            ("current_schema", Answer::Constant(SCHEMA.to_string())),
            ("current_database", Answer::Constant(CATALOG.to_string())),
            ("current_setting", Answer::Setting),
        ]
        .into_iter()
        .map(|(name, answer)| ScalarUDF::from(PgFunction::new(name, answer)))
        .collect()
    });
    for f in FUNCTIONS.iter() {
        ctx.register_udf(f.clone());
    }
}

/// What a [`PgFunction`] answers.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Answer {
    /// One text, no arguments.
    Constant(String),
    /// `current_setting(name)`: the setting's value; an unknown name is an error, as in
    /// PostgreSQL.
    Setting,
}

/// One of the functions above, under its name and its `pg_catalog.` name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    answer: Answer,
}

impl PgFunction {
    fn new(name: &'static str, answer: Answer) -> Self {
        let signature = match answer {
            Answer::Constant(_) => Signature::nullary(Volatility::Stable),
            Answer::Setting => Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        };
        PgFunction {
            name,
            aliases: vec![format!("pg_catalog.{name}")],
            signature,
            answer,
        }
    }
}

fn lookup(name: Option<&str>) -> DfResult<Option<String>> {
    match name.map(setting) {
        None => Ok(None),
        Some(Ok((_, value))) => Ok(Some(value.to_string())),
        Some(Err(unknown)) => exec_err!("{unknown}"),
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let value = match (&self.answer, args.args.as_slice()) {
            (Answer::Constant(value), _) => ScalarValue::Utf8(Some(value.clone())),
            (Answer::Setting, [ColumnarValue::Scalar(ScalarValue::Utf8(name))]) => {
                ScalarValue::Utf8(lookup(name.as_deref())?)
            }
            (Answer::Setting, [ColumnarValue::Array(names)]) => {
                let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
                    return exec_err!("current_setting takes a text argument");
                };
                let values = names
                    .iter()
                    .map(lookup)
                    .collect::<DfResult<StringArray>>()?;
                return Ok(ColumnarValue::Array(Arc::new(values)));
            }
            (Answer::Setting, _) => return exec_err!("current_setting takes one text argument"),
        };
        Ok(ColumnarValue::Scalar(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_show_of_a_postgresql_setting_should_answer_it_under_its_own_name() {
        assert_eq!(
            show_query(&["TRANSACTION", "ISOLATION", "LEVEL"]),
            Some(Ok(
                "SELECT 'read committed' AS \"transaction_isolation\"".into()
            ))
        );
        assert_eq!(
            show_query(&["Standard_Conforming_Strings"]),
            Some(Ok("SELECT 'on' AS \"standard_conforming_strings\"".into()))
        );
        assert!(
            matches!(show_query(&["no_such_thing"]), Some(Err(m)) if m.contains("unrecognized"))
        );
        assert_eq!(show_query(&["datafusion", "execution", "batch_size"]), None);
        assert_eq!(show_query(&["ALL"]), None);
    }
}
