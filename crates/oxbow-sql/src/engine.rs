//! The query engine: one DataFusion session per statement over the lake's catalog
//! ([`crate::catalog`]), read-only (DDL, DML and `SET`-style DataFusion statements refused
//! before anything runs) and bounded in memory (`sql.memory_limit_bytes` per query; sorts,
//! joins and aggregations past it fail with a clear error) and in concurrency
//! (`sql.max_concurrent_queries`).

use std::sync::Arc;

use datafusion::catalog::CatalogProvider;
use datafusion::catalog::MemoryCatalogProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use oxbow_config::SqlConfig;
use oxbow_lake::{TableSpec, TopicSource};
use tokio::sync::Semaphore;

use crate::access::{Caller, PermissionDenied, SqlAccess};
use crate::catalog::LakeSchema;
use crate::complexity;
use crate::server_info::{self, CATALOG, SCHEMA};
use crate::tables::OpenTables;

/// Why a statement was not answered, with the PostgreSQL SQLSTATE a client expects.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    UndefinedTable(String),
    #[error("only queries are served (the lake is written by its topics): {0}")]
    ReadOnly(String),
    #[error("query needs more memory than sql.memory_limit_bytes allows: {0}")]
    OutOfMemory(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    UndefinedObject(String),
    #[error("{0}")]
    TooComplex(String),
    #[error("{0}")]
    Plan(String),
    #[error("{0}")]
    Execution(String),
}

impl SqlError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SqlError::Syntax(_) => "42601",
            SqlError::UndefinedTable(_) => "42P01",
            SqlError::ReadOnly(_) => "25006",
            SqlError::OutOfMemory(_) => "53200",
            SqlError::PermissionDenied(_) => "42501",
            SqlError::UndefinedObject(_) => "42704",
            SqlError::TooComplex(_) => "54001",
            SqlError::Plan(_) => "42000",
            SqlError::Execution(_) => "XX000",
        }
    }

    pub fn from_datafusion(e: DataFusionError) -> SqlError {
        let text = e.to_string();
        if let DataFusionError::External(inner) = e.find_root() {
            if let Some(denied) = inner.downcast_ref::<PermissionDenied>() {
                return SqlError::PermissionDenied(denied.to_string());
            }
        }
        match e.find_root() {
            DataFusionError::SQL(..) => SqlError::Syntax(text),
            DataFusionError::ResourcesExhausted(_) => SqlError::OutOfMemory(text),
            DataFusionError::Plan(m) if m.contains("not found") && m.contains("table") => {
                SqlError::UndefinedTable(text)
            }
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => SqlError::Plan(text),
            _ if text.contains("not supported") && text.contains("SQLOptions") => {
                SqlError::ReadOnly(text)
            }
            _ => SqlError::Execution(text),
        }
    }
}

/// What a statement is, decided before DataFusion sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A query for DataFusion.
    Query,
    /// `BEGIN` / `START TRANSACTION`: nothing to do (every query reads one snapshot).
    Begin,
    /// `COMMIT`, `END`, `ROLLBACK`, `ABORT`.
    End(&'static str),
    /// Session settings clients send (`SET`, `RESET`, `DISCARD`, `DEALLOCATE`): acknowledged,
    /// ignored. The command tag to answer with.
    Ignored(String),
    /// Nothing but whitespace and semicolons.
    Empty,
}

pub fn classify(sql: &str) -> Kind {
    let trimmed = sql.trim_start_matches(|c: char| c.is_whitespace() || c == ';' || c == '(');
    let word: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    match word.as_str() {
        "" if sql.chars().all(|c| c.is_whitespace() || c == ';') => Kind::Empty,
        "BEGIN" | "START" => Kind::Begin,
        "COMMIT" | "END" => Kind::End("COMMIT"),
        // `ROLLBACK TO [SAVEPOINT] name` stays in the transaction.
        "ROLLBACK" if after_word(trimmed, "TO") => Kind::Ignored(word),
        "ROLLBACK" | "ABORT" => Kind::End("ROLLBACK"),
        "SET" | "RESET" | "DISCARD" | "DEALLOCATE" | "UNLISTEN" | "SAVEPOINT" | "RELEASE" => {
            Kind::Ignored(word)
        }
        _ => Kind::Query,
    }
}

/// Whether the word after the first one in `sql` is `next` (any case).
fn after_word(sql: &str, next: &str) -> bool {
    sql.split_whitespace()
        .nth(1)
        .is_some_and(|w| w.eq_ignore_ascii_case(next))
}

pub struct Engine {
    specs: Vec<TableSpec>,
    source: Arc<dyn TopicSource>,
    config: SqlConfig,
    access: Arc<dyn SqlAccess>,
    pub(crate) running: Arc<Semaphore>,
    tables: Arc<OpenTables>,
}

impl Engine {
    pub fn new(
        specs: Vec<TableSpec>,
        source: Arc<dyn TopicSource>,
        config: SqlConfig,
        access: Arc<dyn SqlAccess>,
    ) -> Self {
        let running = Arc::new(Semaphore::new(config.max_concurrent_queries));
        let tables = Arc::new(OpenTables::new(specs.len()));
        Engine {
            tables,
            specs,
            source,
            config,
            access,
            running,
        }
    }

    pub fn access(&self) -> &Arc<dyn SqlAccess> {
        &self.access
    }

    /// A fresh session over the lake's tables `caller` may read.
    pub fn context(&self, caller: &Caller) -> Result<SessionContext, SqlError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.config.memory_limit_bytes as usize, 1.0)
            .build_arc()
            .map_err(SqlError::from_datafusion)?;
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_target_partitions(2);
        config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(
                SCHEMA,
                Arc::new(LakeSchema {
                    specs: self.specs.clone(),
                    source: self.source.clone(),
                    max_tail_records: self.config.max_tail_records,
                    access: self.access.clone(),
                    caller: caller.clone(),
                    tables: self.tables.clone(),
                }),
            )
            .map_err(SqlError::from_datafusion)?;
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        server_info::register(&ctx);
        Ok(ctx)
    }

    /// The statements of `sql`, each with its text (for [`classify`]).
    pub fn split(sql: &str) -> Result<Vec<(String, Option<Statement>)>, SqlError> {
        complexity::check(sql).map_err(SqlError::TooComplex)?;
        match DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
            Ok(statements) => statements.into_iter().map(Self::answer_show).collect(),
            // Session statements DataFusion's parser does not know are still acknowledged.
            Err(_) if classify(sql) != Kind::Query => Ok(vec![(sql.to_string(), None)]),
            Err(e) => Err(SqlError::Syntax(e.to_string())),
        }
    }

    /// `SHOW name` of a PostgreSQL setting becomes the query answering it
    /// ([`server_info::show_query`]); every other statement is kept as it is.
    fn answer_show(statement: Statement) -> Result<(String, Option<Statement>), SqlError> {
        let name = match &statement {
            Statement::Statement(s) => match s.as_ref() {
                SqlStatement::ShowVariable { variable } => variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>(),
                _ => return Ok((statement.to_string(), Some(statement))),
            },
            _ => return Ok((statement.to_string(), Some(statement))),
        };
        match server_info::show_query(&name) {
            None => Ok((statement.to_string(), Some(statement))),
            Some(Err(unknown)) => Err(SqlError::UndefinedObject(unknown)),
            Some(Ok(query)) => {
                let mut parsed = DFParser::parse_sql_with_dialect(&query, &PostgreSqlDialect {})
                    .map_err(|e| SqlError::Syntax(e.to_string()))?;
                Ok((query, parsed.pop_front()))
            }
        }
    }

    /// Plans one statement, refusing anything that is not a query.
    pub async fn plan(
        &self,
        ctx: &SessionContext,
        statement: Statement,
    ) -> Result<LogicalPlan, SqlError> {
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(SqlError::from_datafusion)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| SqlError::ReadOnly(e.to_string()))?;
        Ok(plan)
    }

    /// Plans `sql` (one statement) in a fresh session for `caller`.
    pub async fn plan_sql(
        &self,
        caller: &Caller,
        sql: &str,
    ) -> Result<(SessionContext, LogicalPlan), SqlError> {
        let ctx = self.context(caller)?;
        let mut statements = Self::split(sql)?;
        if statements.len() != 1 {
            return Err(SqlError::Syntax(format!(
                "expected one statement, found {}",
                statements.len()
            )));
        }
        let Some(statement) = statements.pop().and_then(|(_, s)| s) else {
            return Err(SqlError::Syntax("not a query".into()));
        };
        let plan = self.plan(&ctx, statement).await?;
        Ok((ctx, plan))
    }

    pub async fn frame(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
    ) -> Result<DataFrame, SqlError> {
        ctx.execute_logical_plan(plan)
            .await
            .map_err(SqlError::from_datafusion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_session_statements_should_classify_them_before_datafusion() {
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(classify("  start transaction read only"), Kind::Begin);
        assert_eq!(classify("commit;"), Kind::End("COMMIT"));
        assert_eq!(classify("ROLLBACK"), Kind::End("ROLLBACK"));
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            Kind::Ignored("SET".into())
        );
        // Savepoints (psycopg's nested transactions) stay inside the transaction.
        assert_eq!(
            classify("SAVEPOINT \"_pg3_1\""),
            Kind::Ignored("SAVEPOINT".into())
        );
        assert_eq!(
            classify("release savepoint s"),
            Kind::Ignored("RELEASE".into())
        );
        assert_eq!(
            classify("ROLLBACK TO SAVEPOINT s"),
            Kind::Ignored("ROLLBACK".into())
        );
        assert_eq!(classify(" ; ;"), Kind::Empty);
        assert_eq!(classify("select 1"), Kind::Query);
        assert_eq!(classify("(select 1)"), Kind::Query);
    }

    #[test]
    fn given_several_statements_should_split_them() {
        let parts = Engine::split("select 1; select 2").unwrap();
        assert_eq!(parts.len(), 2);
        assert!(Engine::split("selec 1 frm").is_err());
        let set = Engine::split("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").unwrap();
        assert_eq!(classify(&set[0].0), Kind::Ignored("SET".into()));
        // SHOW of a PostgreSQL setting is answered by a query; an unknown one is 42704.
        let show = Engine::split("SHOW standard_conforming_strings").unwrap();
        assert_eq!(show[0].0, "SELECT 'on' AS \"standard_conforming_strings\"");
        assert_eq!(classify(&show[0].0), Kind::Query);
        let unknown = Engine::split("show no_such_setting").unwrap_err();
        assert_eq!(unknown.sqlstate(), "42704");
    }
}
