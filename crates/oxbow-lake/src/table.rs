//! One Delta table (delta-rs): opened, or created with the topic's first columns; its landed
//! offsets read back from the Delta log itself — one `txn` application transaction per
//! partition (app id `oxbow:<topic>:<partition>`, version = the next offset to land), committed
//! in the same Delta version as the files holding those records, the way Spark's streaming sink
//! makes itself exactly-once; columns added when records bring new fields.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructField, StructType, Transaction};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use crate::decode::{KEY, OFFSET, TIMESTAMP};

/// Why a table cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("table at {path}: {source}")]
    Delta {
        path: String,
        #[source]
        source: DeltaTableError,
    },
    #[error("table at {path}: column types: {source}")]
    Schema {
        path: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// The application id of one partition's progress in the Delta log.
pub fn app_id(topic: &str, partition: i32) -> String {
    format!("oxbow:{topic}:{partition}")
}

pub struct LakeTable {
    path: String,
    pub(crate) topic: String,
    pub(crate) table: DeltaTable,
    writer: Option<RecordBatchWriter>,
    schema: SchemaRef,
}

impl LakeTable {
    /// Opens the table at `path` (a directory, or `s3://…`: [`crate::location`]), creating it
    /// (and the directory) with `fields` and `partition_by` if there is none.
    pub async fn open(
        path: &Path,
        topic: &str,
        fields: Vec<Field>,
        partition_by: &[String],
    ) -> Result<Self, TableError> {
        let shown = path.display().to_string();
        let delta = |source| TableError::Delta {
            path: shown.clone(),
            source,
        };
        let url = crate::location::table_url(path).map_err(delta)?;
        let found = DeltaTable::try_from_url(url).await.map_err(delta)?;
        let table = if found.version().is_some() {
            found
        } else {
            let st = StructType::try_from_arrow(&Schema::new(fields)).map_err(|source| {
                TableError::Schema {
                    path: shown.clone(),
                    source,
                }
            })?;
            found
                .create()
                .with_table_name(topic)
                .with_columns(st.fields().cloned())
                .with_partition_columns(partition_by.iter().cloned())
                .await
                .map_err(delta)?
        };
        let schema = table_schema(&table, &shown)?;
        Ok(LakeTable {
            path: shown,
            topic: topic.to_string(),
            table,
            writer: None,
            schema,
        })
    }

    /// Opens the table at `path` for reading (None: no table there yet).
    pub async fn open_existing(path: &Path, topic: &str) -> Result<Option<Self>, TableError> {
        let shown = path.display().to_string();
        let delta = |source| TableError::Delta {
            path: shown.clone(),
            source,
        };
        // A local directory is looked at first: opening creates the directory.
        if !crate::location::is_object_store(path) && !path.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let url = crate::location::table_url(path).map_err(delta)?;
        let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
        if table.version().is_none() {
            return Ok(None);
        }
        let schema = table_schema(&table, &shown)?;
        Ok(Some(LakeTable {
            path: shown,
            topic: topic.to_string(),
            table,
            writer: None,
            schema,
        }))
    }

    /// Brings the table to its latest version, reading only the commits since the loaded one.
    pub async fn refresh(&mut self) -> Result<(), TableError> {
        self.table
            .update_incremental(None)
            .await
            .map_err(|e| self.delta(e))?;
        self.schema = table_schema(&self.table, &self.path)?;
        Ok(())
    }

    /// The Delta table, as loaded.
    pub fn delta_table(&self) -> &DeltaTable {
        &self.table
    }

    pub(crate) fn delta(&self, source: DeltaTableError) -> TableError {
        TableError::Delta {
            path: self.path.clone(),
            source,
        }
    }

    /// The next offset to land of each of `partitions` partitions (0 where none landed yet).
    pub async fn landed(&mut self, partitions: i32) -> Result<BTreeMap<i32, i64>, TableError> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
        let log_store = self.table.log_store();
        let mut out = BTreeMap::new();
        for p in 0..partitions {
            let v = snapshot
                .transaction_version(log_store.as_ref(), app_id(&self.topic, p))
                .await
                .map_err(|e| self.delta(e))?;
            out.insert(p, v.unwrap_or(0));
        }
        Ok(out)
    }

    /// The table's columns (Arrow), in the table's order.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Adds nullable columns (a new Delta version).
    pub async fn add_columns(&mut self, fields: &[Field]) -> Result<(), TableError> {
        let mut add = Vec::with_capacity(fields.len());
        for f in fields {
            add.push(
                StructField::try_from_arrow(f).map_err(|source| TableError::Schema {
                    path: self.path.clone(),
                    source,
                })?,
            );
        }
        let table = self
            .table
            .clone()
            .add_columns()
            .with_fields(add)
            .await
            .map_err(|e| self.delta(e))?;
        self.table = table;
        self.writer = None;
        self.schema = table_schema(&self.table, &self.path)?;
        Ok(())
    }

    /// Writes `batch` (None: no rows, only progress) and commits it with every partition's next
    /// offset in `progress`, in one Delta version; returns the version.
    pub async fn commit(
        &mut self,
        batch: Option<RecordBatch>,
        progress: &BTreeMap<i32, i64>,
    ) -> Result<u64, TableError> {
        let result = self.try_commit(batch, progress).await;
        if result.is_err() {
            // Whatever the writer buffered is dropped; its files, if any, stay unreferenced.
            self.writer = None;
        }
        result
    }

    async fn try_commit(
        &mut self,
        batch: Option<RecordBatch>,
        progress: &BTreeMap<i32, i64>,
    ) -> Result<u64, TableError> {
        let writer = match self.writer.take() {
            Some(w) => w,
            None => data_writer(&self.table).map_err(|e| self.delta(e))?,
        };
        let txns = progress
            .iter()
            .map(|(p, next)| Transaction::new(app_id(&self.topic, *p), *next))
            .collect();
        let mut writer = writer.with_commit_properties(
            CommitProperties::default().with_application_transactions(txns),
        );
        if let Some(batch) = batch {
            writer.write(batch).await.map_err(|e| self.delta(e))?;
        }
        let version = writer
            .flush_and_commit(&mut self.table)
            .await
            .map_err(|e| self.delta(e))?;
        self.writer = Some(writer);
        Ok(version)
    }

    /// The partition columns and what the data files hold: the table's columns but the
    /// partition columns (older files may lack columns added since; they read as nulls).
    pub(crate) fn file_layout(&self) -> Result<(Vec<String>, SchemaRef), DeltaTableError> {
        let partition_columns = self
            .table
            .snapshot()?
            .metadata()
            .partition_columns()
            .to_vec();
        let file_schema = Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .filter(|f| !partition_columns.contains(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
        ));
        Ok((partition_columns, file_schema))
    }

    /// Forgets the writer (the table changed underneath it).
    pub(crate) fn reset_writer(&mut self) {
        self.writer = None;
    }

    /// Live data files.
    pub fn files(&self) -> u64 {
        self.table
            .snapshot()
            .map(|s| s.log_data().num_files() as u64)
            .unwrap_or(0)
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }
}

/// A writer of the table's data files, as every file of the lake is written: Snappy (delta-rs's
/// default) and no dictionary for the metadata columns whose values hardly ever repeat (offsets,
/// timestamps, keys). With one, Parquet hashes every value into a dictionary as large as the
/// column, then writes it and the indices besides.
pub(crate) fn data_writer(table: &DeltaTable) -> Result<RecordBatchWriter, DeltaTableError> {
    let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
    for column in [OFFSET, TIMESTAMP, KEY] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    Ok(RecordBatchWriter::for_table(table)?.with_writer_properties(props.build()))
}

fn table_schema(table: &DeltaTable, path: &str) -> Result<SchemaRef, TableError> {
    let snapshot = table.snapshot().map_err(|source| TableError::Delta {
        path: path.to_string(),
        source,
    })?;
    let schema: Schema = snapshot
        .schema()
        .as_ref()
        .try_into_arrow()
        .map_err(|source| TableError::Schema {
            path: path.to_string(),
            source,
        })?;
    Ok(Arc::new(schema))
}

/// A file's partition values as delta-rs's writer takes them (Delta keeps them as strings;
/// none is a null partition).
pub(crate) fn partition_scalars(
    columns: &[String],
    value: impl Fn(&str) -> Option<String>,
) -> indexmap::IndexMap<String, delta_kernel::expressions::Scalar> {
    use delta_kernel::expressions::Scalar;
    columns
        .iter()
        .map(|c| {
            let v = match value(c) {
                Some(s) => Scalar::String(s),
                None => Scalar::Null(delta_kernel::schema::DataType::STRING),
            };
            (c.clone(), v)
        })
        .collect()
}
