//! A lake table's landed rows as a DataFusion table: the Parquet files the Delta log lists at
//! one version, read by DataFusion's Parquet scan (projection and limit pushed into it), with
//! each file's partition values from the log as constant columns and columns the table gained
//! after a file was written read as nulls. A query's filters prune: those on partition columns
//! alone skip the files whose partition values cannot match (as Greenplum's partitions did),
//! those on file columns skip row groups by their Parquet statistics; DataFusion still applies
//! every filter above the scan, so pruning only ever saves reading. The table's own object store (rooted at the table)
//! is registered with the query's runtime under a URL of its own, so a local directory and an
//! object-storage root are read the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow_schema::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::logstore::object_store::ObjectStore;
use oxbow_lake::table::LakeTable;

use crate::external;

/// The landed rows of one table at the version it was opened at.
#[derive(Debug)]
pub struct DeltaScan {
    /// The file columns, then the partition columns (the order DataFusion's file scan yields).
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    files: Vec<PartitionedFile>,
    store_url: ObjectStoreUrl,
    store: Arc<dyn ObjectStore>,
}

impl DeltaScan {
    /// The files of `table`'s loaded version; `id` names its store (unique within a query).
    pub fn new(table: &LakeTable, id: usize) -> Result<DeltaScan> {
        let delta = table.delta_table();
        let snapshot = delta.snapshot().map_err(external)?;
        let partition_columns: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let table_schema = table.schema();
        let mut file_fields: Vec<FieldRef> = Vec::new();
        let mut partition_fields: Vec<FieldRef> = Vec::new();
        for f in table_schema.fields() {
            if partition_columns.contains(f.name()) {
                partition_fields.push(f.clone());
            } else {
                file_fields.push(f.clone());
            }
        }
        // Partition columns in the log's order (values are listed by name below).
        partition_fields.sort_by_key(|f| {
            partition_columns
                .iter()
                .position(|c| c == f.name())
                .unwrap_or(usize::MAX)
        });
        let mut files = Vec::new();
        for f in snapshot.log_data() {
            let values = f.partition_values_map();
            let partition_values = partition_fields
                .iter()
                .map(|field| partition_value(field, values.get(field.name()).cloned().flatten()))
                .collect::<Result<Vec<_>>>()?;
            let size = u64::try_from(f.size()).unwrap_or(0);
            files.push(
                PartitionedFile::new(f.object_store_path().to_string(), size)
                    .with_partition_values(partition_values),
            );
        }
        let file_schema = Arc::new(Schema::new(file_fields.clone()));
        let mut all = file_fields;
        all.extend(partition_fields.iter().cloned());
        let store_url = ObjectStoreUrl::parse(format!("oxbow-lake-{id}://table/"))?;
        Ok(DeltaScan {
            schema: Arc::new(Schema::new(all)),
            file_schema,
            partition_fields,
            files,
            store_url,
            store: delta.object_store(),
        })
    }

    /// The Parquet scan of the files (pruned by partition values and offered the filters).
    fn plan_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        state
            .runtime_env()
            .register_object_store(self.store_url.as_ref(), self.store.clone());
        let mut source = ParquetSource::new(
            TableSchema::builder(self.file_schema.clone())
                .with_table_partition_cols(self.partition_fields.clone())
                .build(),
        );
        let partition_names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let file_names: Vec<&str> = self
            .file_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let on_partitions: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                !partition_names.is_empty() && expr_applicable_for_cols(&partition_names, f)
            })
            .cloned()
            .collect();
        let on_files = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&file_names, f))
            .cloned();
        if let Some(predicate) = conjunction(on_files) {
            let df_schema = DFSchema::try_from(self.file_schema.as_ref().clone())?;
            source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
        }
        let files = if on_partitions.is_empty() {
            self.files.clone()
        } else {
            let df_schema = DFSchema::try_from(Schema::new(self.partition_fields.clone()))?;
            self.files
                .iter()
                .cloned()
                .filter_map(|f| filter_partitioned_file(f, &on_partitions, &df_schema).transpose())
                .collect::<Result<Vec<_>>>()?
        };
        // Files spread over the session's target partitions, largest first.
        let groups_wanted = state.config().target_partitions().max(1);
        let mut files = files;
        files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups_wanted];
        for f in files {
            if let Some(g) = groups.iter_mut().min_by_key(|(bytes, _)| *bytes) {
                g.0 += f.object_meta.size;
                g.1.push(f);
            }
        }
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(_, g)| FileGroup::new(g))
            .collect();
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// A partition value as the Delta log writes it (a string, or none for null) in the column's
/// type.
fn partition_value(field: &Field, value: Option<String>) -> Result<ScalarValue> {
    match value {
        None => ScalarValue::try_from(field.data_type()),
        Some(s) => ScalarValue::try_from_string(s, field.data_type()),
    }
}

impl TableProvider for DeltaScan {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter is offered to the scan for pruning and still applied above it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    // Written out instead of `async fn`: the scan awaits nothing, and `async_trait` would move
    // `filters` into a future that rustc must prove `Send`, walking every type DataFusion's
    // expressions and plans can hold (4 s of this crate's build).
    fn scan<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        state: &'life1 dyn Session,
        projection: Option<&'life2 Vec<usize>>,
        filters: &'life3 [Expr],
        limit: Option<usize>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<dyn ExecutionPlan>>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(std::future::ready(
            self.plan_scan(state, projection, filters, limit),
        ))
    }
}
