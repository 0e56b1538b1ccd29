//! The tables SQL sees: schema `public` of catalog `oxbow` holds one table per `[[lake.tables]]`
//! entry, named after its topic. Each is built when a query names it, as a view of the Delta
//! table at its latest version together with the topic's live tail decoded the same way the
//! sink decodes it: appended (append tables), or replacing and deleting the table's rows by key
//! (upsert tables). Fields the tail brings that the table lacks yet appear as columns, null in
//! the landed rows — a query answers as if everything had been landed.

use std::ops::Not;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Column, JoinType, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{cast, lit, Expr};
use datafusion::prelude::{DataFrame, SessionContext};
use oxbow_lake::landing::{Mode, DELETED};
use oxbow_lake::{TableSpec, TopicSource};
use tracing::warn;

use crate::access::{Caller, PermissionDenied, SqlAccess};
use crate::external;
use crate::tables::OpenTables;

pub struct LakeSchema {
    pub specs: Vec<TableSpec>,
    pub source: Arc<dyn TopicSource>,
    pub max_tail_records: usize,
    /// Whom the session serves: the tables it lists and opens are those its topic's READ
    /// permission allows.
    pub access: Arc<dyn SqlAccess>,
    pub caller: Caller,
    /// The tables opened by earlier queries, shared by every session.
    pub tables: Arc<OpenTables>,
}

impl std::fmt::Debug for LakeSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSchema")
            .field("tables", &self.specs.len())
            .finish()
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        self.specs
            .iter()
            .filter(|s| self.access.may_read(&self.caller, &s.topic))
            .map(|s| s.topic.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((id, spec)) = self.specs.iter().enumerate().find(|(_, s)| s.topic == name) else {
            return Ok(None);
        };
        if !self.access.may_read(&self.caller, &spec.topic) {
            warn!(user = self.caller.user, peer = %self.caller.peer, topic = spec.topic, "SQL read denied");
            self.access.audit(
                "sql_denied",
                &self.caller,
                "denied",
                serde_json::json!({"operation": "Read", "topic": spec.topic}),
            );
            return Err(DataFusionError::External(Box::new(PermissionDenied {
                table: spec.topic.clone(),
                user: self.caller.user.clone(),
            })));
        }
        let partitions = self.source.partition_count(&spec.topic).unwrap_or(0);
        let Some(latest) = self.tables.latest(id, spec, partitions).await? else {
            return Err(DataFusionError::Plan(format!(
                "table {name} has no Delta table yet at {} (its topic has not been landed; does the topic exist?)",
                spec.path.display()
            )));
        };
        let landed = latest.landed;
        let provider: Arc<dyn TableProvider> = Arc::new(latest.scan);
        let landed_schema = latest.schema;
        let records = if self.max_tail_records == 0 || partitions == 0 {
            Vec::new()
        } else {
            let source = self.source.clone();
            let topic = spec.topic.clone();
            let max = self.max_tail_records;
            let landed = landed.clone();
            tokio::task::spawn_blocking(move || {
                crate::tail::read(&source, &topic, &landed, partitions, max)
            })
            .await
            .map_err(external)?
            .map_err(external)?
        };
        let ctx = SessionContext::new();
        let view = compose(&ctx, spec, provider, &landed_schema, &records)?;
        Ok(Some(view.into_view()))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.specs.iter().any(|s| s.topic == name)
    }
}

/// The landed rows and the tail as one frame with the table's columns (and the tail's new
/// ones), in the table's order.
fn compose(
    ctx: &SessionContext,
    spec: &TableSpec,
    provider: Arc<dyn TableProvider>,
    landed_schema: &SchemaRef,
    records: &[(i32, oxbow_lake::SourceRecord)],
) -> Result<DataFrame> {
    let landed = ctx.read_table(provider)?;
    let decoded = spec.decode(records).and_then(|d| {
        let added = spec.new_fields(landed_schema, &d)?;
        Ok((d, added))
    });
    let (decoded, added) = match decoded {
        Ok(v) => v,
        Err(e) => {
            // The sink stops on the same record; the query shows what is landed.
            warn!(topic = spec.topic, error = %e, "the live tail does not decode; answering from the table alone");
            return project(landed, landed_schema, &[]);
        }
    };
    let mut fields: Vec<Field> = landed_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(added.iter().cloned());
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let landed_part = project(landed, landed_schema, &added)?;
    if decoded.rows.is_empty() {
        return Ok(landed_part);
    }
    let batch = spec.batch(&schema, &decoded).map_err(external)?;
    let tail = ctx.read_batch(batch)?;
    match &spec.mode {
        Mode::Append => landed_part.union(project(tail, &schema, &[])?),
        Mode::Upsert { key, .. } => {
            let aliases: Vec<String> = (0..key.len()).map(|i| format!("__oxbow_key_{i}")).collect();
            let keys = tail.clone().select(
                key.iter()
                    .zip(&aliases)
                    .map(|(k, a)| column(k).alias(a))
                    .collect::<Vec<_>>(),
            )?;
            let left: Vec<&str> = key.iter().map(String::as_str).collect();
            let right: Vec<&str> = aliases.iter().map(String::as_str).collect();
            let kept = landed_part.join(keys, JoinType::LeftAnti, &left, &right, None)?;
            let written = tail.filter(column(DELETED).not())?;
            kept.union(project(written, &schema, &[])?)
        }
    }
}

/// `frame`'s columns of `schema` cast to their table types, then `added` as typed nulls.
fn project(frame: DataFrame, schema: &Schema, added: &[Field]) -> Result<DataFrame> {
    let mut exprs: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| cast(column(f.name()), f.data_type().clone()).alias(f.name()))
        .collect();
    for f in added {
        exprs.push(null_of(f.data_type())?.alias(f.name()));
    }
    frame.select(exprs)
}

fn null_of(dt: &DataType) -> Result<Expr> {
    Ok(lit(ScalarValue::try_from(dt)?))
}
