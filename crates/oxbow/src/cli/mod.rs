//! Subcommands of the `oxbow` binary.

pub mod acl;
pub mod bench;
pub mod common;
pub mod consume;
pub mod group;
pub mod group_queries;
pub mod group_reset;
pub mod kafka_raw;
pub mod lake;
pub mod produce;
pub mod quota;
pub mod schema;
pub mod schema_bench;
pub mod serve;
pub mod sql;
pub mod topic;
pub mod txn;
pub mod user;

/// Runs a client subcommand on a small runtime.
pub fn run_async<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(f)
}
