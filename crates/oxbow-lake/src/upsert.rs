//! Upsert tables' commits: a copy-on-write MERGE written here rather than through delta-rs's
//! DataFusion-based one (which would bring all of DataFusion's optional parts into the build).
//!
//! A flush's changes hold at most one row per key (the last change, see
//! [`crate::landing::TableSpec::decode`]), each marked as a write or a delete ([`DELETED`]). Every
//! live file is read for its key columns only; a file holding one of the changed keys is
//! rewritten without those rows (its partition values kept) and removed; the changes that are
//! writes are added as new rows. Files whose key statistics in the Delta log rule out every
//! changed key are not read at all ([`crate::key_ranges`]). The removes, the adds and every partition's next offset (the
//! `txn` actions) go into one Delta version, recorded as a `MERGE` with its predicates, so a
//! reader sees either none or all of a flush and the sink resumes exactly after it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_row::{OwnedRow, RowConverter, SortField};
use arrow_schema::{ArrowError, FieldRef, Schema, SchemaRef};
use arrow_select::filter::filter_record_batch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, LogicalFileView, Transaction};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::protocol::{DeltaOperation, MergePredicate};
use deltalake::writer::{DeltaWriter, WriteMode};
use deltalake::DeltaTableError;

use crate::key_ranges::KeyRanges;
use crate::landing::DELETED;
use crate::table::{app_id, partition_scalars, LakeTable, TableError};

/// What one MERGE changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeCounts {
    /// Files not read: their key ranges hold none of the changed keys.
    pub files_skipped: usize,
    pub files_rewritten: usize,
    pub rows_replaced_or_deleted: usize,
    pub rows_written: usize,
}

fn arrow(e: ArrowError) -> DeltaTableError {
    DeltaTableError::Arrow { source: e }
}

impl LakeTable {
    /// Applies an upsert table's changes (rows whose [`DELETED`] is true delete their key's row;
    /// the others replace it or are inserted) and commits them with every partition's next
    /// offset in `progress`, in one Delta version; returns the version.
    pub async fn merge(
        &mut self,
        changes: RecordBatch,
        key: &[String],
        progress: &BTreeMap<i32, i64>,
    ) -> Result<u64, TableError> {
        if changes.num_rows() == 0 || key.is_empty() {
            return self.commit(None, progress).await;
        }
        match self.try_merge(changes, key, progress).await {
            Ok((version, counts)) => {
                tracing::debug!(version, ?counts, "lake upsert merged");
                Ok(version)
            }
            Err(e) => Err(self.delta(e)),
        }
    }

    async fn try_merge(
        &mut self,
        changes: RecordBatch,
        key: &[String],
        progress: &BTreeMap<i32, i64>,
    ) -> Result<(u64, MergeCounts), DeltaTableError> {
        let schema = self.schema().clone();
        let writes = split_changes(&changes, &schema)?;
        let keys = KeySet::of(&changes, key)?;
        let (partition_columns, file_schema) = self.file_layout()?;
        let files: Vec<LogicalFileView> = self.table.snapshot()?.log_data().into_iter().collect();
        let store = self.table.object_store();
        let mut counts = MergeCounts::default();
        let mut actions: Vec<Action> = Vec::new();
        let mut writer = crate::table::data_writer(&self.table)?;
        for f in &files {
            if !keys.ranges.may_hold(f.stats().as_deref()) {
                counts.files_skipped += 1;
                continue;
            }
            let bytes = store.get(&f.object_store_path()).await?.bytes().await?;
            if !keys.any_in_file(bytes.clone(), key)? {
                continue;
            }
            let on_file = f.partition_values_map();
            let values =
                partition_scalars(&partition_columns, |c| on_file.get(c).cloned().flatten());
            let mut kept_rows = 0usize;
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                let batch = deltalake::kernel::schema::cast::cast_record_batch(
                    &batch?,
                    file_schema.clone(),
                    true,
                    true,
                )?;
                let keep = keys.keep_mask(&batch, key)?;
                counts.rows_replaced_or_deleted += keep.false_count();
                let kept = filter_record_batch(&batch, &keep).map_err(arrow)?;
                kept_rows += kept.num_rows();
                if kept.num_rows() > 0 {
                    writer
                        .write_partition(kept, &values, WriteMode::Default)
                        .await?;
                }
            }
            tracing::trace!(file = %f.path(), kept_rows, "lake upsert rewrites a file");
            counts.files_rewritten += 1;
            actions.push(Action::Remove(f.remove_action(true)));
        }
        counts.rows_written = writes.num_rows();
        if writes.num_rows() > 0 {
            writer.write(writes).await?;
        }
        actions.extend(writer.flush().await?.into_iter().map(Action::Add));
        let txns = progress
            .iter()
            .map(|(p, next)| Transaction::new(app_id(&self.topic, *p), *next))
            .collect();
        let on = key
            .iter()
            .map(|k| format!("target.{k} = source.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let operation = DeltaOperation::Merge {
            predicate: None,
            merge_predicate: Some(on),
            matched_predicates: vec![
                MergePredicate {
                    action_type: "delete".into(),
                    predicate: Some(format!("source.{DELETED}")),
                },
                MergePredicate {
                    action_type: "update".into(),
                    predicate: Some(format!("NOT source.{DELETED}")),
                },
            ],
            not_matched_predicates: vec![MergePredicate {
                action_type: "insert".into(),
                predicate: Some(format!("NOT source.{DELETED}")),
            }],
            not_matched_by_source_predicates: Vec::new(),
        };
        let done =
            CommitBuilder::from(CommitProperties::default().with_application_transactions(txns))
                .with_actions(actions)
                .build(
                    Some(self.table.snapshot()?),
                    self.table.log_store(),
                    operation,
                )
                .await?;
        let version = done.version();
        self.table.state = Some(done.snapshot());
        self.reset_writer();
        Ok((version as u64, counts))
    }
}

/// The changes that write, without the [`DELETED`] column (the table's columns).
fn split_changes(
    changes: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, DeltaTableError> {
    let Ok(deleted_at) = changes.schema().index_of(DELETED) else {
        return Err(DeltaTableError::Generic(format!(
            "upsert changes without their {DELETED} column"
        )));
    };
    let Some(deleted) = changes
        .column(deleted_at)
        .as_any()
        .downcast_ref::<BooleanArray>()
    else {
        return Err(DeltaTableError::Generic(format!(
            "upsert changes' {DELETED} column is not boolean"
        )));
    };
    let writes_mask = arrow_arith::boolean::not(deleted).map_err(arrow)?;
    let mut columns = changes.columns().to_vec();
    columns.remove(deleted_at);
    let rows = RecordBatch::try_new(schema.clone(), columns).map_err(arrow)?;
    filter_record_batch(&rows, &writes_mask).map_err(arrow)
}

/// The changed keys, in Arrow's row format (so composite keys and any column type compare
/// exactly).
struct KeySet {
    /// The key columns as the table types them.
    fields: Vec<FieldRef>,
    converter: RowConverter,
    keys: HashSet<OwnedRow>,
    /// The same keys column by column, to skip files by their statistics.
    ranges: KeyRanges,
}

impl KeySet {
    fn of(changes: &RecordBatch, key: &[String]) -> Result<KeySet, DeltaTableError> {
        let columns = key_columns(changes, key)?;
        let converter = RowConverter::new(
            columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )
        .map_err(arrow)?;
        let rows = converter.convert_columns(&columns).map_err(arrow)?;
        let keys = rows.iter().map(|r| r.owned()).collect();
        let ranges = KeyRanges::of(key, &columns);
        let schema = changes.schema();
        let fields = key
            .iter()
            .filter_map(|k| schema.field_with_name(k).ok().map(|f| Arc::new(f.clone())))
            .collect();
        Ok(KeySet {
            fields,
            converter,
            keys,
            ranges,
        })
    }

    /// Rows of `batch` whose key is not among the changed ones.
    fn keep_mask(
        &self,
        batch: &RecordBatch,
        key: &[String],
    ) -> Result<BooleanArray, DeltaTableError> {
        let columns = key_columns(batch, key)?;
        let rows = self.converter.convert_columns(&columns).map_err(arrow)?;
        Ok(rows
            .iter()
            .map(|r| Some(!self.keys.contains(&r.owned())))
            .collect())
    }

    /// Whether a Parquet file holds one of the keys (reading only its key columns).
    fn any_in_file(&self, bytes: bytes::Bytes, key: &[String]) -> Result<bool, DeltaTableError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let mask =
            ProjectionMask::columns(builder.parquet_schema(), key.iter().map(String::as_str));
        // A file written before a key column existed holds nulls there.
        let key_schema = Arc::new(Schema::new(self.fields.clone()));
        for batch in builder.with_projection(mask).build()? {
            let batch = deltalake::kernel::schema::cast::cast_record_batch(
                &batch?,
                key_schema.clone(),
                true,
                true,
            )?;
            if self.keep_mask(&batch, key)?.false_count() > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn key_columns(
    batch: &RecordBatch,
    key: &[String],
) -> Result<Vec<arrow_array::ArrayRef>, DeltaTableError> {
    key.iter()
        .map(|k| {
            batch.column_by_name(k).cloned().ok_or_else(|| {
                DeltaTableError::Generic(format!("upsert key column {k} is missing"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::{BooleanArray, Int64Array};
    use arrow_schema::{DataType, Field};

    use super::*;

    /// xorshift64*: a seeded sequence, printed so a failure can be replayed (OXBOW_SEED).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
        }
    }

    /// Every live row of the table by id, failing on an id held twice.
    async fn rows(table: &LakeTable) -> BTreeMap<i64, i64> {
        let store = table.table.object_store();
        let mut out = BTreeMap::new();
        for f in table.table.snapshot().unwrap().log_data() {
            let bytes = store
                .get(&f.object_store_path())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap()
            {
                let batch = batch.unwrap();
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                let vs = batch
                    .column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                for i in 0..batch.num_rows() {
                    let held = out.insert(ids.value(i), vs.value(i));
                    assert!(held.is_none(), "id {} held twice", ids.value(i));
                }
            }
        }
        out
    }

    #[test]
    fn given_random_upserts_and_deletes_when_merged_should_match_a_model_and_skip_files_by_key_range(
    ) {
        let seed = std::env::var("OXBOW_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        println!("OXBOW_SEED={seed}");
        let dir = std::env::temp_dir().join(format!("oxbow-merge-{}-{seed}", std::process::id()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let fields = vec![
                Field::new("id", DataType::Int64, true),
                Field::new("v", DataType::Int64, true),
            ];
            let mut table = LakeTable::open(&dir, "orders", fields.clone(), &[])
                .await
                .unwrap();
            let mut changes_fields = fields.clone();
            changes_fields.push(Field::new(DELETED, DataType::Boolean, false));
            let changes_schema = Arc::new(Schema::new(changes_fields));
            let key = vec!["id".to_string()];
            let mut rng = Rng(seed);
            let mut model: HashMap<i64, i64> = HashMap::new();
            let mut skipped = 0;
            for round in 0..25i64 {
                // New orders with rising ids, and changes to some older ones (as CDC brings).
                let mut change: BTreeMap<i64, Option<i64>> = BTreeMap::new();
                for id in round * 10..round * 10 + 10 {
                    change.insert(id, Some(round * 1000 + id));
                }
                for _ in 0..rng.next(4) {
                    let id = rng.next((round as u64 + 1) * 10) as i64;
                    let delete = rng.next(3) == 0;
                    change.insert(id, (!delete).then_some(round * 1000 + id + 1));
                }
                let ids: Vec<i64> = change.keys().copied().collect();
                let vs: Vec<Option<i64>> = change.values().map(|v| v.or(Some(0))).collect();
                let deleted: Vec<bool> = change.values().map(Option::is_none).collect();
                let batch = RecordBatch::try_new(
                    changes_schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(Int64Array::from(vs)),
                        Arc::new(BooleanArray::from(deleted)),
                    ],
                )
                .unwrap();
                let progress = BTreeMap::from([(0, round + 1)]);
                let (_, counts) = table.try_merge(batch, &key, &progress).await.unwrap();
                skipped += counts.files_skipped;
                for (id, v) in change {
                    match v {
                        Some(v) => model.insert(id, v),
                        None => model.remove(&id),
                    };
                }
                let got = rows(&table).await;
                let want: BTreeMap<i64, i64> = model.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(got, want, "after round {round} (OXBOW_SEED={seed})");
            }
            assert!(
                skipped > 0,
                "files whose id range holds no changed id are not read"
            );
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
