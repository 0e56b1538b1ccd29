//! `oxbow`: one binary for the bus (`oxbow serve`) and its admin CLI (`oxbow topic|produce|consume`).
//! The CLI speaks the Kafka protocol through librdkafka, so it works against any Kafka-compatible cluster.

mod cli;
mod lake;
mod sql_access;

use clap::{Parser, Subcommand};

/// Large allocations are served from lazily-committed memory so that a hostile length read off the
/// wire cannot abort the process (see oxbow_protocol::alloc).
#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

#[derive(Parser)]
#[command(
    name = "oxbow",
    version,
    about = "Oxbow: a Kafka-compatible real-time data bus"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve(cli::serve::ServeArgs),
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(cli::topic::TopicCmd),
    /// Produce records from stdin or a file (kcat -P).
    Produce(cli::produce::ProduceArgs),
    /// Consume records to stdout (kcat -C).
    Consume(cli::consume::ConsumeArgs),
    /// List, describe (lag in records and time), reset offsets of, and delete consumer groups.
    #[command(subcommand)]
    Group(cli::group::GroupCmd),
    /// Register, read, check and delete schemas; set compatibility and modes (the schema
    /// registry's REST API).
    #[command(subcommand)]
    Schema(cli::schema::SchemaCmd),
    /// Set and list client quotas by user and/or client id (kafka-configs.sh --entity-type
    /// users|clients).
    #[command(subcommand)]
    Quota(cli::quota::QuotaCmd),
    /// Add, list and remove SCRAM users (kafka-configs.sh --entity-type users).
    #[command(subcommand)]
    User(cli::user::UserCmd),
    /// Add, list and remove ACLs (kafka-acls.sh).
    #[command(subcommand)]
    Acl(cli::acl::AclCmd),
    /// List and describe transactions, find hanging ones and abort them (kafka-transactions.sh).
    #[command(subcommand)]
    Txn(cli::txn::TxnCmd),
    /// Lake tables landed from topics: `oxbow lake status`.
    #[command(subcommand)]
    Lake(cli::lake::LakeCmd),
    /// SQL over the lake's tables and their topics' live tail: `oxbow sql "SELECT …"`.
    Sql(cli::sql::SqlArgs),
    /// Benchmark any Kafka-compatible cluster (produce, consume, e2e, fanout) or this machine.
    Bench(cli::bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Topic(cmd) => cli::run_async(cli::topic::run(cmd)),
        Command::Produce(args) => cli::run_async(cli::produce::run(args)),
        Command::Consume(args) => cli::run_async(cli::consume::run(args)),
        Command::Group(cmd) => cli::run_async(cli::group::run(cmd)),
        Command::Txn(cmd) => cli::run_async(cli::txn::run(cmd)),
        Command::Acl(cmd) => cli::run_async(cli::acl::run(cmd)),
        Command::User(cmd) => cli::run_async(cli::user::run(cmd)),
        Command::Quota(cmd) => cli::run_async(cli::quota::run(cmd)),
        Command::Schema(cmd) => cli::schema::run(cmd),
        Command::Lake(cmd) => cli::lake::run(cmd),
        Command::Sql(args) => cli::sql::run(args),
        Command::Bench(args) => cli::bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
