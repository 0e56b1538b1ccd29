//! `oxbow txn list|describe|find-hanging|abort`: transactions, as Kafka's `kafka-transactions.sh`
//! shows them — the coordinator's view (ListTransactions, DescribeTransactions), the partitions'
//! view (DescribeProducers: which producer holds an open transaction from which offset), and an
//! operator's abort of a hanging transaction in one partition (WriteTxnMarkers).

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest,
    MetadataRequest, ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::common::ConnArgs;
use super::group::human_ms;
use super::group_queries::now_ms;
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum TxnCmd {
    /// List transactional ids, their producer ids and states.
    List(ListArgs),
    /// State, epoch, timeout, start time and partitions of a transactional id.
    Describe(DescribeArgs),
    /// Open transactions in partitions that the coordinator does not know or that have run
    /// longer than the largest transaction timeout.
    FindHanging(FindHangingArgs),
    /// Abort a hanging transaction in one partition (writes an abort marker).
    Abort(AbortArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only transactions in this state (Empty, Ongoing, PrepareCommit, PrepareAbort,
    /// CompleteCommit, CompleteAbort).
    #[arg(long)]
    pub state: Vec<String>,
    /// Only this producer id.
    #[arg(long)]
    pub producer_id: Vec<i64>,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    pub transactional_id: String,
}

#[derive(Args, Debug)]
pub struct FindHangingArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only this topic (default: every topic).
    #[arg(long)]
    pub topic: Option<String>,
    /// Transactions open longer than this are suspect (Kafka's default
    /// `transaction.max.timeout.ms`, 15 minutes).
    #[arg(long, default_value_t = 15)]
    pub max_transaction_timeout_minutes: i64,
}

#[derive(Args, Debug)]
pub struct AbortArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub partition: i32,
    /// The first offset of the open transaction (as `find-hanging` shows it); the producer is
    /// looked up from it.
    #[arg(long, conflicts_with_all = ["producer_id", "producer_epoch"])]
    pub start_offset: Option<i64>,
    #[arg(long, requires = "producer_epoch")]
    pub producer_id: Option<i64>,
    #[arg(long)]
    pub producer_epoch: Option<i16>,
}

pub async fn run(cmd: TxnCmd) -> anyhow::Result<()> {
    match cmd {
        TxnCmd::List(a) => list(a).await,
        TxnCmd::Describe(a) => describe(a).await,
        TxnCmd::FindHanging(a) => find_hanging(a).await,
        TxnCmd::Abort(a) => abort(a).await,
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let req = ListTransactionsRequest::default()
        .with_state_filters(a.state.iter().map(|x| s(x)).collect())
        .with_producer_id_filters(a.producer_id.iter().map(|p| ProducerId(*p)).collect())
        .with_duration_filter(-1);
    let resp = c.send(1, &req).await?;
    if resp.error_code != 0 {
        bail!(
            "ListTransactions failed with error code {}",
            resp.error_code
        );
    }
    println!("{:<40} {:>12} STATE", "TRANSACTIONAL-ID", "PRODUCER-ID");
    for t in resp.transaction_states {
        println!(
            "{:<40} {:>12} {}",
            t.transactional_id.0.as_str(),
            t.producer_id.0,
            t.transaction_state.as_str()
        );
    }
    Ok(())
}

async fn describe(a: DescribeArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s(&a.transactional_id))]);
    let resp = c.send(0, &req).await?;
    let t = resp
        .transaction_states
        .into_iter()
        .next()
        .context("empty DescribeTransactions answer")?;
    if t.error_code != 0 {
        bail!(
            "DescribeTransactions for {} failed with error code {}",
            a.transactional_id,
            t.error_code
        );
    }
    println!("transactional id:  {}", t.transactional_id.0.as_str());
    println!("state:             {}", t.transaction_state.as_str());
    println!(
        "producer id/epoch: {}/{}",
        t.producer_id.0, t.producer_epoch
    );
    println!(
        "timeout:           {}",
        human_ms(i64::from(t.transaction_timeout_ms))
    );
    if t.transaction_start_time_ms >= 0 {
        println!(
            "open for:          {}",
            human_ms(now_ms() - t.transaction_start_time_ms)
        );
    }
    for topic in t.topics {
        for p in topic.partitions {
            println!("partition:         {}-{p}", topic.topic.0.as_str());
        }
    }
    Ok(())
}

/// (topic, partition, producer id, epoch, first offset of the open transaction, last write ms).
type OpenTxn = (String, i32, i64, i32, i64, i64);

async fn open_transactions(c: &mut RawClient, topic: Option<&str>) -> anyhow::Result<Vec<OpenTxn>> {
    let md = c
        .send(
            9,
            &MetadataRequest::default().with_topics(topic.map(|t| {
                vec![
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(s(t)))),
                ]
            })),
        )
        .await?;
    let topics: Vec<TopicRequest> = md
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| {
            t.name.as_ref().map(|n| {
                TopicRequest::default()
                    .with_name(n.clone())
                    .with_partition_indexes(
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
            })
        })
        .collect();
    let resp = c
        .send(0, &DescribeProducersRequest::default().with_topics(topics))
        .await?;
    let mut out = Vec::new();
    for t in resp.topics {
        for p in t.partitions {
            for pr in p.active_producers {
                if pr.current_txn_start_offset >= 0 {
                    out.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        pr.producer_id.0,
                        pr.producer_epoch,
                        pr.current_txn_start_offset,
                        pr.last_timestamp,
                    ));
                }
            }
        }
    }
    Ok(out)
}

async fn find_hanging(a: FindHangingArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let open = open_transactions(&mut c, a.topic.as_deref()).await?;
    let max_ms = a.max_transaction_timeout_minutes.max(0) * 60_000;
    let now = now_ms();
    println!(
        "{:<30} {:>9} {:>12} {:>6} {:>12} {:>10} REASON",
        "TOPIC", "PARTITION", "PRODUCER-ID", "EPOCH", "START-OFFSET", "IDLE"
    );
    let mut hanging = 0;
    for (topic, partition, pid, epoch, start, last) in open {
        // Does the coordinator hold an ongoing transaction of this producer with this partition?
        let listed = c
            .send(
                1,
                &ListTransactionsRequest::default()
                    .with_producer_id_filters(vec![ProducerId(pid)])
                    .with_duration_filter(-1),
            )
            .await?;
        let mut known = false;
        for t in listed
            .transaction_states
            .iter()
            .filter(|t| t.transaction_state.as_str() == "Ongoing")
        {
            let d = c
                .send(
                    0,
                    &DescribeTransactionsRequest::default()
                        .with_transactional_ids(vec![t.transactional_id.clone()]),
                )
                .await?;
            known |= d.transaction_states.iter().any(|s| {
                s.producer_id.0 == pid
                    && s.topics.iter().any(|tp| {
                        tp.topic.0.as_str() == topic && tp.partitions.contains(&partition)
                    })
            });
        }
        let idle = now - last;
        let reason = if !known {
            "no ongoing transaction of this producer holds the partition"
        } else if idle > max_ms {
            "open longer than the largest transaction timeout"
        } else {
            continue;
        };
        hanging += 1;
        println!(
            "{topic:<30} {partition:>9} {pid:>12} {epoch:>6} {start:>12} {:>10} {reason}",
            human_ms(idle)
        );
    }
    if hanging == 0 {
        println!("no hanging transactions");
    }
    Ok(())
}

async fn abort(a: AbortArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let (pid, epoch) = match (a.start_offset, a.producer_id, a.producer_epoch) {
        (Some(start), _, _) => {
            let open = open_transactions(&mut c, Some(&a.topic)).await?;
            let found = open
                .into_iter()
                .find(|o| o.1 == a.partition && o.4 == start)
                .with_context(|| {
                    format!(
                        "no open transaction starts at offset {start} in {}-{}",
                        a.topic, a.partition
                    )
                })?;
            (
                found.2,
                i16::try_from(found.3).context("producer epoch out of range")?,
            )
        }
        (None, Some(pid), Some(epoch)) => (pid, epoch),
        _ => bail!("give --start-offset, or --producer-id with --producer-epoch"),
    };
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(-1)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(TopicName(s(&a.topic)))
            .with_partition_indexes(vec![a.partition])])]);
    let resp = c.send(1, &req).await?;
    let code = resp
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .next()
        .context("empty WriteTxnMarkers answer")?;
    if code != 0 {
        bail!("WriteTxnMarkers failed with error code {code}");
    }
    println!(
        "aborted the transaction of producer {pid} (epoch {epoch}) in {}-{}",
        a.topic, a.partition
    );
    Ok(())
}
