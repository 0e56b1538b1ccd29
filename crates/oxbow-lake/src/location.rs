//! Where a table lives: a local directory, or `s3://bucket/prefix/...` on S3 or any
//! S3-compatible object storage (MinIO, Ceph RGW, ...).
//!
//! S3 is reached through `object_store`'s own client (no AWS SDK), configured the way the AWS
//! tools are: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
//! (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` for S3-compatible servers, `AWS_ALLOW_HTTP=true`
//! for a plain-HTTP endpoint; without keys, the instance or web-identity credentials. Commits
//! are S3 conditional writes (`If-None-Match: *`), so a Delta version is created once or not at
//! all without a lock table: Oxbow is a table's only writer.

use std::path::Path;
use std::sync::{Arc, Once};

use deltalake::logstore::object_store::path::Path as StorePath;
use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory,
    ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::aws::AmazonS3Builder;
use oxbow_config::{is_object_store_location, OBJECT_STORE_SCHEMES};
use url::Url;

/// Whether `path` names object storage rather than a local directory.
pub fn is_object_store(path: &Path) -> bool {
    path.to_str().is_some_and(is_object_store_location)
}

/// The URL delta-rs opens the table at `path` by (a local directory is created); `s3://`
/// locations are served from here on.
pub fn table_url(path: &Path) -> DeltaResult<Url> {
    register_object_stores();
    deltalake::ensure_table_uri(path.to_string_lossy())
}

/// Makes delta-rs (and so SQL's scans, which read through the table's own store) open
/// `s3://` locations; idempotent.
fn register_object_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in OBJECT_STORE_SCHEMES {
            let Ok(url) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            object_store_factories().insert(url.clone(), Arc::new(S3Stores));
            logstore_factories().insert(url, Arc::new(S3Stores));
        }
    });
}

struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, StorePath)> {
        let bucket = url.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(DeltaTableError::InvalidTableLocation(format!(
                "{url}: no bucket (s3://bucket/prefix)"
            )));
        }
        let builder = config.raw.iter().fold(
            AmazonS3Builder::from_env().with_bucket_name(bucket),
            |builder, (key, value)| match key.to_ascii_lowercase().parse() {
                Ok(key) => builder.with_config(key, value),
                Err(_) => builder,
            },
        );
        let store = builder
            .build()
            .map_err(|e| DeltaTableError::generic(format!("object storage at {url}: {e}")))?;
        let path = StorePath::from_url_path(url.path())
            .map_err(|e| DeltaTableError::generic(format!("object storage at {url}: {e}")))?;
        Ok((Arc::new(store), path))
    }
}

impl LogStoreFactory for S3Stores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_locations_when_classified_should_tell_object_storage_from_directories() {
        assert!(is_object_store(Path::new("s3://lake/prefix/orders")));
        assert!(is_object_store(Path::new("s3a://lake/orders")));
        assert!(!is_object_store(Path::new("/var/lib/oxbow/lake/orders")));
        assert!(!is_object_store(Path::new("relative/s3://x")));
        assert!(!is_object_store(Path::new("gs://lake/orders")));
    }
}
