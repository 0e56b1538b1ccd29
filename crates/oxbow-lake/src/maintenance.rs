//! Keeping a table lean as flushes add files: small files of a partition are merged (bin-packed
//! up to the target size) and committed as Delta's OPTIMIZE does — the new file added and the
//! old ones removed in one version, `dataChange` false, so readers and the landed offsets are
//! unaffected; files no longer referenced are deleted after the retention period (VACUUM).
//! Checkpoints of the Delta log (every 100 versions) and expired log cleanup come with every
//! commit.

use std::collections::BTreeMap;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, LogicalFileView};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, WriteMode};
use deltalake::DeltaTableError;

use crate::table::{partition_scalars, LakeTable, TableError};

/// When and how files are merged.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// A partition is compacted once it holds this many small files.
    pub min_files: usize,
    /// The size merged files are written up to; files below half of it count as small.
    pub target_file_bytes: u64,
}

type PartitionKey = BTreeMap<String, Option<String>>;

impl LakeTable {
    /// Merges the small files of every partition holding at least `policy.min_files` of
    /// them; returns how many files were replaced.
    pub async fn compact(&mut self, policy: CompactionPolicy) -> Result<usize, TableError> {
        let small = (policy.target_file_bytes / 2) as i64;
        let mut by_partition: BTreeMap<PartitionKey, Vec<LogicalFileView>> = BTreeMap::new();
        {
            let snapshot = self.table.snapshot().map_err(|e| self.delta(e))?;
            for f in snapshot.log_data() {
                if f.size() < small && f.deletion_vector_descriptor().is_none() {
                    let key: PartitionKey = f.partition_values_map().into_iter().collect();
                    by_partition.entry(key).or_default().push(f);
                }
            }
        }
        let mut replaced = 0;
        for (partition, mut files) in by_partition {
            if files.len() < policy.min_files.max(2) {
                continue;
            }
            files.sort_by_key(|f| f.size());
            // Bins of at most the target size, merged smallest first.
            let mut bin: Vec<LogicalFileView> = Vec::new();
            let mut bin_bytes = 0i64;
            let mut bins = Vec::new();
            for f in files {
                if !bin.is_empty() && bin_bytes + f.size() > policy.target_file_bytes as i64 {
                    bins.push(std::mem::take(&mut bin));
                    bin_bytes = 0;
                }
                bin_bytes += f.size();
                bin.push(f);
            }
            bins.push(bin);
            for bin in bins.into_iter().filter(|b| b.len() >= 2) {
                replaced += bin.len();
                self.rewrite_bin(&partition, bin, policy.target_file_bytes)
                    .await
                    .map_err(|e| self.delta(e))?;
            }
        }
        Ok(replaced)
    }

    async fn rewrite_bin(
        &mut self,
        partition: &PartitionKey,
        files: Vec<LogicalFileView>,
        target_file_bytes: u64,
    ) -> Result<(), DeltaTableError> {
        let (partition_columns, file_schema) = self.file_layout()?;
        let values = partition_scalars(&partition_columns, |c| partition.get(c).cloned().flatten());
        let store = self.table.object_store();
        let mut writer =
            crate::table::data_writer(&self.table)?.with_target_file_size(target_file_bytes);
        for f in &files {
            let bytes = store.get(&f.object_store_path()).await?.bytes().await?;
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                let batch = deltalake::kernel::schema::cast::cast_record_batch(
                    &batch?,
                    file_schema.clone(),
                    true,
                    true,
                )?;
                writer
                    .write_partition(batch, &values, WriteMode::Default)
                    .await?;
            }
        }
        let adds = writer.flush().await?;
        let mut actions: Vec<Action> = adds
            .into_iter()
            .map(|mut a| {
                a.data_change = false;
                Action::Add(a)
            })
            .collect();
        actions.extend(files.iter().map(|f| Action::Remove(f.remove_action(false))));
        // The version this commit was built on, recorded as Spark does: an append table's
        // sink commits beside its compaction, so the compaction's own version can be later.
        let snapshot = self.table.snapshot()?;
        let read_version = serde_json::json!(snapshot.version());
        let done = CommitBuilder::from(
            CommitProperties::default().with_metadata([("readVersion".to_string(), read_version)]),
        )
        .with_actions(actions)
        .build(
            Some(snapshot),
            self.table.log_store(),
            DeltaOperation::Optimize {
                predicate: None,
                target_size: target_file_bytes as i64,
            },
        )
        .await?;
        self.table.state = Some(done.snapshot());
        Ok(())
    }

    /// Deletes files no longer referenced that were removed more than `retention` ago;
    /// returns how many.
    pub async fn vacuum(&mut self, retention: std::time::Duration) -> Result<usize, TableError> {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let (table, metrics) = self
            .table
            .clone()
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| self.delta(e))?;
        self.table = table;
        Ok(metrics.files_deleted.len())
    }
}
