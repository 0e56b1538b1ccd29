//! The lake tables SQL has opened, kept open between queries. A query brings its table up to
//! the latest Delta version by reading only the commits since the last query (delta-rs's
//! incremental update) instead of replaying the log from its last checkpoint, and takes the
//! files, columns and landed offsets of that version.

use std::collections::BTreeMap;

use arrow_schema::SchemaRef;
use datafusion::error::Result;
use oxbow_lake::table::LakeTable;
use oxbow_lake::TableSpec;
use tokio::sync::Mutex;
use tracing::debug;

use crate::external;
use crate::scan::DeltaScan;

/// One table's latest version, as a query reads it.
pub struct Latest {
    /// Every partition's next offset to land: the tail starts there.
    pub landed: BTreeMap<i32, i64>,
    pub scan: DeltaScan,
    pub schema: SchemaRef,
}

/// A slot per `[[lake.tables]]` entry (by its index), empty until a query finds a table there.
pub struct OpenTables {
    slots: Vec<Mutex<Option<LakeTable>>>,
}

impl OpenTables {
    pub fn new(tables: usize) -> Self {
        OpenTables {
            slots: (0..tables).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Table `id` (`spec`) at its latest version with `partitions` partitions' landed offsets;
    /// None while there is no Delta table yet. Queries of one table take turns here only
    /// while it is brought up to date.
    pub async fn latest(
        &self,
        id: usize,
        spec: &TableSpec,
        partitions: i32,
    ) -> Result<Option<Latest>> {
        let Some(slot) = self.slots.get(id) else {
            return Ok(None);
        };
        let mut slot = slot.lock().await;
        let refreshed = match slot.as_mut() {
            Some(table) => table.refresh().await,
            None => Ok(()),
        };
        if let Err(e) = refreshed {
            // Opened afresh below (a table replaced under the same path, a vacuumed log).
            debug!(topic = spec.topic, error = %e, "reopening the lake table");
            *slot = None;
        }
        if slot.is_none() {
            *slot = LakeTable::open_existing(&spec.path, &spec.topic)
                .await
                .map_err(external)?;
        }
        let Some(table) = slot.as_mut() else {
            return Ok(None);
        };
        let landed = table.landed(partitions).await.map_err(external)?;
        let scan = DeltaScan::new(table, id)?;
        Ok(Some(Latest {
            landed,
            scan,
            schema: table.schema().clone(),
        }))
    }
}
