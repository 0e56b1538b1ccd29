//! The PostgreSQL wire protocol (pgwire): the simple query protocol (psql) and the extended one
//! (psycopg, JDBC: parse, bind with `$n` parameters, describe, execute). The embedded default
//! admits any user name without a password, as `ANONYMOUS`; `sql.authentication = "password"`
//! asks for the bus's users ([`crate::access`]). Every database name reads the same lake.
//! Transaction statements are acknowledged (each query reads the tables' latest versions);
//! session settings are acknowledged and ignored; what clients ask about the server (`SHOW`,
//! `version()`) is answered by [`crate::server_info`].

use std::fmt::Debug;
use std::sync::Arc;

use arrow_schema::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use futures::future::BoxFuture;
use futures::{stream, Sink, StreamExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::debug;

use crate::access::{Caller, PasswordStartup};
use crate::encode;
use crate::engine::{classify, Engine, Kind, SqlError};

fn user_error(e: &SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

fn error_info(e: &SqlError) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), e.sqlstate().into(), e.to_string())
}

/// One connection's handlers (they share the engine).
pub struct Handlers {
    pub engine: Arc<Engine>,
    parser: Arc<Parser>,
    startup: Arc<PasswordStartup>,
}

impl Handlers {
    /// `password`: connections authenticate with the bus's users (`sql.authentication`).
    pub fn new(engine: Arc<Engine>, password: bool) -> Self {
        let parser = Arc::new(Parser {
            engine: engine.clone(),
        });
        let startup = Arc::new(PasswordStartup::new(engine.access().clone(), password));
        Handlers {
            engine,
            parser,
            startup,
        }
    }

    /// Runs a planned query; its rows stream to the client as DataFusion produces them.
    async fn run(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        plan: LogicalPlan,
        format: Option<&Format>,
    ) -> Result<Response, SqlError> {
        let permit = self
            .engine
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| SqlError::Execution(e.to_string()))?;
        let frame = self.engine.frame(ctx, plan).await?;
        let schema: Schema = frame.schema().as_arrow().clone();
        let fields = Arc::new(encode::fields(&schema, format));
        let batches = frame
            .execute_stream()
            .await
            .map_err(SqlError::from_datafusion)?;
        let encode_fields = fields.clone();
        let rows = batches
            .map(move |batch| {
                let _held = &permit;
                match batch {
                    Ok(b) => match encode::rows(&b, &encode_fields) {
                        Ok(rows) => stream::iter(rows.into_iter().map(Ok).collect::<Vec<_>>()),
                        Err(e) => stream::iter(vec![Err(e)]),
                    },
                    Err(e) => stream::iter(vec![Err(user_error(&SqlError::from_datafusion(e)))]),
                }
            })
            .flatten();
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    // The pgwire handlers below are generic over the client type. Their futures only await the
    // boxed futures these non-generic functions return: proving a future that holds DataFusion's
    // plans and SQL syntax trees `Send` where the client's type is in scope took rustc seconds
    // per handler (most of this crate's build); here it is proved once per future.

    /// A simple query: each statement planned and run in turn; PostgreSQL stops at the first
    /// error.
    fn answer_simple<'a>(&'a self, caller: Caller, query: &'a str) -> BoxFuture<'a, Vec<Response>> {
        Box::pin(async move {
            let statements = match Engine::split(query) {
                Ok(s) => s,
                Err(e) => return vec![Response::Error(Box::new(error_info(&e)))],
            };
            let mut out = Vec::with_capacity(statements.len());
            for (text, statement) in statements {
                let kind = classify(&text);
                if let Some(r) = control_response(&kind) {
                    out.push(r);
                    continue;
                }
                let Some(statement) = statement else {
                    continue;
                };
                let answered = async {
                    let ctx = self.engine.context(&caller)?;
                    let plan = self.engine.plan(&ctx, statement).await?;
                    self.run(&ctx, plan, None).await
                }
                .await;
                match answered {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        out.push(Response::Error(Box::new(error_info(&e))));
                        break;
                    }
                }
            }
            out
        })
    }

    /// An executed portal: planned again, so every execution reads the tables' latest versions
    /// and tails, with the bound parameters.
    fn answer_portal<'a>(
        &'a self,
        caller: Caller,
        portal: &'a Portal<Statement>,
    ) -> BoxFuture<'a, Result<Response, SqlError>> {
        Box::pin(async move {
            let stmt = &portal.statement.statement;
            let (ctx, plan) = self.engine.plan_sql(&caller, &stmt.sql).await?;
            let values = parameter_values(portal)?;
            let plan = if values.is_empty() {
                plan
            } else {
                plan.with_param_values(ParamValues::List(
                    values.into_iter().map(Into::into).collect(),
                ))
                .map_err(SqlError::from_datafusion)?
            };
            self.run(&ctx, plan, Some(&portal.result_column_format))
                .await
        })
    }
}

fn control_response(kind: &Kind) -> Option<Response> {
    match kind {
        Kind::Begin => Some(Response::TransactionStart(Tag::new("BEGIN"))),
        Kind::End(tag) => Some(Response::TransactionEnd(Tag::new(tag))),
        Kind::Ignored(tag) => Some(Response::Execution(Tag::new(tag))),
        Kind::Empty => Some(Response::EmptyQuery),
        Kind::Query => None,
    }
}

#[async_trait]
impl SimpleQueryHandler for Handlers {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        debug!(peer = %client.socket_addr(), query, "SQL query");
        Ok(self.answer_simple(Caller::of(client), query).await)
    }
}

/// A parsed statement: its text, kind, and (queries) the result columns and parameter types
/// found by planning it.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    kind: Kind,
    schema: Option<SchemaRef>,
    parameters: Vec<Option<DataType>>,
}

pub struct Parser {
    engine: Arc<Engine>,
}

impl Parser {
    /// A query's result columns and parameter types, found by planning it (boxed for the
    /// reason given at [`Handlers::answer_simple`]).
    fn describe<'a>(
        &'a self,
        caller: Caller,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<(SchemaRef, Vec<Option<DataType>>), SqlError>> {
        Box::pin(async move {
            let (_, plan) = self.engine.plan_sql(&caller, sql).await?;
            Ok((
                Arc::new(plan.schema().as_arrow().clone()),
                parameter_types(&plan),
            ))
        })
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Statement>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let kind = classify(sql);
        if kind != Kind::Query {
            return Ok(Statement {
                sql: sql.to_string(),
                kind,
                schema: None,
                parameters: Vec::new(),
            });
        }
        let (schema, parameters) = self
            .describe(Caller::of(client), sql)
            .await
            .map_err(|e| user_error(&e))?;
        Ok(Statement {
            sql: sql.to_string(),
            kind,
            schema: Some(schema),
            parameters,
        })
    }

    fn get_parameter_types(&self, stmt: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .parameters
            .iter()
            .map(|t| match t {
                Some(DataType::Int16) => Type::INT2,
                Some(DataType::Int32) => Type::INT4,
                Some(DataType::Int64) => Type::INT8,
                Some(DataType::Float32) => Type::FLOAT4,
                Some(DataType::Float64) => Type::FLOAT8,
                Some(DataType::Boolean) => Type::BOOL,
                Some(DataType::Utf8) => Type::TEXT,
                _ => Type::UNKNOWN,
            })
            .collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &stmt.schema {
            Some(schema) => encode::fields(schema, column_format),
            None => Vec::new(),
        })
    }
}

/// `$1`, `$2`, ... in order, with the types DataFusion inferred for them.
fn parameter_types(plan: &LogicalPlan) -> Vec<Option<DataType>> {
    let Ok(found) = plan.get_parameter_types() else {
        return Vec::new();
    };
    let count = found
        .keys()
        .filter_map(|k| k.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()))
        .max()
        .unwrap_or(0);
    (1..=count)
        .map(|i| found.get(&format!("${i}")).cloned().flatten())
        .collect()
}

/// The bound parameters as DataFusion values: binary ones decoded by the client's type, text
/// ones cast to the type DataFusion inferred (or left as text).
fn parameter_values(portal: &Portal<Statement>) -> Result<Vec<ScalarValue>, SqlError> {
    let stmt = &portal.statement;
    let mut out = Vec::with_capacity(portal.parameter_len());
    for idx in 0..portal.parameter_len() {
        let inferred = stmt.statement.parameters.get(idx).cloned().flatten();
        let client_type = stmt.parameter_types.get(idx).cloned().flatten();
        let bad = |e: PgWireError| SqlError::Plan(format!("parameter ${}: {e}", idx + 1));
        let value = if portal.parameter_format.is_binary(idx) {
            let ty = client_type.unwrap_or(Type::TEXT);
            match ty {
                Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(idx, &ty).map_err(bad)?),
                Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(idx, &ty).map_err(bad)?),
                Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(idx, &ty).map_err(bad)?),
                Type::FLOAT4 => {
                    ScalarValue::Float32(portal.parameter::<f32>(idx, &ty).map_err(bad)?)
                }
                Type::FLOAT8 => {
                    ScalarValue::Float64(portal.parameter::<f64>(idx, &ty).map_err(bad)?)
                }
                Type::BOOL => {
                    ScalarValue::Boolean(portal.parameter::<bool>(idx, &ty).map_err(bad)?)
                }
                _ => ScalarValue::Utf8(portal.parameter::<String>(idx, &Type::TEXT).map_err(bad)?),
            }
        } else {
            let text = match portal.parameters.get(idx).cloned().flatten() {
                Some(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                None => None,
            };
            let target = inferred.or_else(|| match client_type {
                Some(Type::INT2) => Some(DataType::Int16),
                Some(Type::INT4) => Some(DataType::Int32),
                Some(Type::INT8) => Some(DataType::Int64),
                Some(Type::FLOAT4) => Some(DataType::Float32),
                Some(Type::FLOAT8) | Some(Type::NUMERIC) => Some(DataType::Float64),
                Some(Type::BOOL) => Some(DataType::Boolean),
                _ => None,
            });
            let v = ScalarValue::Utf8(text);
            match target {
                Some(dt) if dt != DataType::Utf8 => v
                    .cast_to(&dt)
                    .map_err(|e| SqlError::Plan(format!("parameter ${}: {e}", idx + 1)))?,
                _ => v,
            }
        };
        out.push(value);
    }
    Ok(out)
}

#[async_trait]
impl ExtendedQueryHandler for Handlers {
    type Statement = Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &portal.statement.statement;
        debug!(peer = %client.socket_addr(), query = stmt.sql, "SQL query (extended)");
        if let Some(r) = control_response(&stmt.kind) {
            return Ok(r);
        }
        self.answer_portal(Caller::of(client), portal)
            .await
            .map_err(|e| user_error(&e))
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &target.statement;
        if stmt.kind != Kind::Query {
            return Ok(DescribeStatementResponse::no_data());
        }
        let params = self.parser.get_parameter_types(stmt)?;
        let fields = self.parser.get_result_schema(stmt, None)?;
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &target.statement.statement;
        if stmt.kind != Kind::Query {
            return Ok(DescribePortalResponse::no_data());
        }
        let fields = self
            .parser
            .get_result_schema(stmt, Some(&target.result_column_format))?;
        Ok(DescribePortalResponse::new(fields))
    }
}

/// What pgwire asks for each connection: the one set of handlers.
pub struct Factory(pub Arc<Handlers>);

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.startup.clone()
    }
}
