//! `oxbow topic create|list|describe|alter|delete`: kafka-topics for any Kafka-compatible cluster.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use rdkafka::admin::{
    AdminClient, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;

use super::common::{admin_options, parse_key_values, ConnArgs, DEFAULT_TIMEOUT};

#[derive(Subcommand, Debug)]
pub enum TopicCmd {
    /// Create a topic.
    Create(CreateArgs),
    /// List topics.
    List(ListArgs),
    /// Show a topic's partitions (leader, watermarks) and its non-default configs.
    Describe(DescribeArgs),
    /// Add partitions to a topic or change its configs.
    Alter(AlterArgs),
    /// Delete a topic.
    Delete(DeleteArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Topic name.
    pub name: String,
    /// Number of partitions (default: the broker's `num.partitions`).
    #[arg(long, short = 'p')]
    pub partitions: Option<i32>,
    /// Replication factor (default: the broker's default).
    #[arg(long, short = 'r')]
    pub replication_factor: Option<i32>,
    /// A topic config, `key=value` (repeatable), e.g. `--config retention.ms=3600000`.
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Succeed without change if the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// Ask the broker to validate the request without creating anything.
    #[arg(long)]
    pub validate_only: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Include internal topics (names starting with `__`).
    #[arg(long)]
    pub all: bool,
    /// Print a JSON array instead of one name per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Topic name.
    pub name: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct AlterArgs {
    /// Topic name.
    pub name: String,
    /// New (larger) total number of partitions.
    #[arg(long, short = 'p')]
    pub partitions: Option<usize>,
    /// Set a topic config, `key=value` (repeatable).
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Remove a topic config override so the broker default applies again (repeatable).
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Topic name.
    pub name: String,
    /// Succeed without change if the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub async fn run(cmd: TopicCmd) -> anyhow::Result<()> {
    match cmd {
        TopicCmd::Create(a) => create(a).await,
        TopicCmd::List(a) => list(a),
        TopicCmd::Describe(a) => describe(a).await,
        TopicCmd::Alter(a) => alter(a).await,
        TopicCmd::Delete(a) => delete(a).await,
    }
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    let admin = a.conn.admin()?;
    let configs = parse_key_values(&a.configs)?;
    let mut topic = NewTopic::new(
        &a.name,
        a.partitions.unwrap_or(-1),
        TopicReplication::Fixed(a.replication_factor.unwrap_or(-1)),
    );
    for (k, v) in &configs {
        topic = topic.set(k, v);
    }
    let opts = admin_options().validate_only(a.validate_only);
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .context("CreateTopics")?;
    for result in results {
        match result {
            Ok(name) if a.validate_only => {
                println!("Topic {name} is valid (validate only, nothing created).")
            }
            Ok(name) => println!("Created topic {name}."),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) if a.if_not_exists => {
                println!("Topic {name} already exists.")
            }
            Err((name, code)) => bail!("cannot create topic {name}: {code} ({})", code_name(code)),
        }
    }
    Ok(())
}

fn list(a: ListArgs) -> anyhow::Result<()> {
    let admin = a.conn.admin()?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, DEFAULT_TIMEOUT)
        .context("fetching metadata")?;
    let mut topics: Vec<(String, usize)> = metadata
        .topics()
        .iter()
        .filter(|t| a.all || !t.name().starts_with("__"))
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    topics.sort();
    if a.json {
        let arr: Vec<_> = topics
            .iter()
            .map(|(n, p)| json!({"name": n, "partitions": p}))
            .collect();
        println!("{}", serde_json::Value::Array(arr));
    } else {
        for (name, _) in topics {
            println!("{name}");
        }
    }
    Ok(())
}

async fn describe(a: DescribeArgs) -> anyhow::Result<()> {
    let admin = a.conn.admin()?;
    let client = admin.inner();
    let metadata = client
        .fetch_metadata(Some(&a.name), DEFAULT_TIMEOUT)
        .context("fetching metadata")?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == a.name)
        .ok_or_else(|| anyhow!("topic {} not found", a.name))?;
    if let Some(err) = topic.error() {
        let code = RDKafkaErrorCode::from(err);
        bail!("topic {}: {code} ({})", a.name, code_name(code));
    }
    let mut partitions = Vec::new();
    let mut parts: Vec<_> = topic.partitions().iter().collect();
    parts.sort_by_key(|p| p.id());
    for p in parts {
        let (low, high) = client
            .fetch_watermarks(&a.name, p.id(), DEFAULT_TIMEOUT)
            .with_context(|| format!("fetching watermarks of {}-{}", a.name, p.id()))?;
        partitions.push(json!({
            "partition": p.id(),
            "leader": p.leader(),
            "replicas": p.replicas(),
            "isr": p.isr(),
            "low": low,
            "high": high,
        }));
    }
    let (configs, cleaner) = non_default_configs(&admin, &a.name).await?;
    let replication = topic
        .partitions()
        .first()
        .map(|p| p.replicas().len())
        .unwrap_or(0);
    if a.json {
        let out = json!({
            "name": a.name,
            "partition_count": partitions.len(),
            "replication_factor": replication,
            "partitions": partitions,
            "configs": configs,
            "cleaner": cleaner,
        });
        println!("{out}");
    } else {
        let cfg: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
            a.name,
            partitions.len(),
            replication,
            cfg.join(",")
        );
        if let Some(line) = cleaner_line(&cleaner) {
            println!("{line}");
        }
        for p in &partitions {
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLow: {}\tHigh: {}",
                a.name,
                p["partition"],
                p["leader"],
                join_ids(&p["replicas"]),
                join_ids(&p["isr"]),
                p["low"],
                p["high"]
            );
        }
    }
    Ok(())
}

fn join_ids(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Prefix of the read-only log cleaner metrics an Oxbow broker reports for compacted topics.
const CLEANER_PREFIX: &str = "oxbow.cleaner.";

/// `Cleaner: DirtyRatio ... LastClean ...` from the `oxbow.cleaner.*` entries (None if absent).
fn cleaner_line(cleaner: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| cleaner.get(k).map(String::as_str).unwrap_or("-");
    let ratio = cleaner.get("dirty.ratio")?;
    let last = match get("last.clean.ms").parse::<i64>() {
        Ok(ms) if ms > 0 => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(ms);
            format!(
                "{}s ago (took {} ms)",
                (now - ms).max(0) / 1000,
                get("last.duration.ms")
            )
        }
        _ => "never".to_string(),
    };
    Some(format!(
        "\tCleaner: DirtyRatio: {ratio}\tLastClean: {last}\tBytesRead: {}\tBytesWritten: {}",
        get("bytes.read"),
        get("bytes.written")
    ))
}

/// The topic's configs that were set on the topic itself (DescribeConfigs source DYNAMIC_TOPIC_CONFIG,
/// or not flagged default where the broker reports no source), and the `oxbow.cleaner.*` metrics
/// (without the prefix) that an Oxbow broker adds for compacted topics.
async fn non_default_configs(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> anyhow::Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let spec = ResourceSpecifier::Topic(topic);
    let results = admin
        .describe_configs([&spec], &admin_options())
        .await
        .context("DescribeConfigs")?;
    let mut out = BTreeMap::new();
    let mut cleaner = BTreeMap::new();
    for result in results {
        let resource = result
            .map_err(|code| anyhow!("DescribeConfigs {topic}: {code} ({})", code_name(code)))?;
        for entry in resource.entries {
            if let Some(metric) = entry.name.strip_prefix(CLEANER_PREFIX) {
                cleaner.insert(metric.to_string(), entry.value.unwrap_or_default());
                continue;
            }
            let set_on_topic = match entry.source {
                ConfigSource::DynamicTopic => true,
                ConfigSource::Unknown => !entry.is_default,
                _ => false,
            };
            if set_on_topic {
                let value = if entry.is_sensitive {
                    Some("<sensitive>".to_string())
                } else {
                    entry.value
                };
                out.insert(entry.name, value.unwrap_or_default());
            }
        }
    }
    Ok((out, cleaner))
}

async fn alter(a: AlterArgs) -> anyhow::Result<()> {
    if a.partitions.is_none() && a.configs.is_empty() && a.delete_configs.is_empty() {
        bail!("nothing to alter: give --partitions, --config or --delete-config");
    }
    let admin = a.conn.admin()?;
    let sets = parse_key_values(&a.configs)?;
    if let Some(n) = a.partitions {
        let np = NewPartitions::new(&a.name, n);
        for result in admin
            .create_partitions([&np], &admin_options())
            .await
            .context("CreatePartitions")?
        {
            match result {
                Ok(name) => println!("Topic {name} now has {n} partitions."),
                Err((name, code)) => bail!(
                    "cannot add partitions to {name}: {code} ({})",
                    code_name(code)
                ),
            }
        }
    }
    if !sets.is_empty() || !a.delete_configs.is_empty() {
        let name = a.name.clone();
        let deletes = a.delete_configs.clone();
        incremental_alter_topic_configs(&admin, &name, &sets, &deletes)?;
        println!("Updated configs of topic {name}.");
    }
    Ok(())
}

async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let admin = a.conn.admin()?;
    for result in admin
        .delete_topics(&[&a.name], &admin_options())
        .await
        .context("DeleteTopics")?
    {
        match result {
            Ok(name) => println!("Deleted topic {name}."),
            Err((name, RDKafkaErrorCode::UnknownTopicOrPartition)) if a.if_exists => {
                println!("Topic {name} does not exist.")
            }
            Err((name, code)) => bail!("cannot delete topic {name}: {code} ({})", code_name(code)),
        }
    }
    Ok(())
}

/// The Kafka-style name of an error code (`TopicAlreadyExists` -> `TOPIC_ALREADY_EXISTS`).
pub fn code_name(code: RDKafkaErrorCode) -> String {
    let debug = format!("{code:?}");
    let mut out = String::with_capacity(debug.len() + 8);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// IncrementalAlterConfigs (KIP-339) for one topic: SET each of `sets`, DELETE each of `deletes`,
/// leaving every other override as it is. The high-level rdkafka crate does not wrap this API, so it
/// is called through librdkafka's C interface on a private result queue.
fn incremental_alter_topic_configs(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    sets: &[(String, String)],
    deletes: &[String],
) -> anyhow::Result<()> {
    use rdkafka::bindings as rd;

    struct Owned {
        queue: *mut rd::rd_kafka_queue_t,
        opts: *mut rd::rd_kafka_AdminOptions_t,
        resource: *mut rd::rd_kafka_ConfigResource_t,
        event: *mut rd::rd_kafka_event_t,
    }
    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: each pointer is either null or was created by the matching librdkafka
            // constructor below and is destroyed exactly once, here.
            unsafe {
                if !self.event.is_null() {
                    rd::rd_kafka_event_destroy(self.event);
                }
                if !self.resource.is_null() {
                    rd::rd_kafka_ConfigResource_destroy(self.resource);
                }
                if !self.opts.is_null() {
                    rd::rd_kafka_AdminOptions_destroy(self.opts);
                }
                if !self.queue.is_null() {
                    rd::rd_kafka_queue_destroy(self.queue);
                }
            }
        }
    }

    let rk = admin.inner().native_ptr();
    let c_topic = CString::new(topic).context("topic name contains NUL")?;
    let mut ops: Vec<(CString, rd::rd_kafka_AlterConfigOpType_t, Option<CString>)> = Vec::new();
    for (k, v) in sets {
        ops.push((
            CString::new(k.as_str()).context("config key contains NUL")?,
            rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
            Some(CString::new(v.as_str()).context("config value contains NUL")?),
        ));
    }
    for k in deletes {
        ops.push((
            CString::new(k.as_str()).context("config key contains NUL")?,
            rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE,
            None,
        ));
    }
    let timeout_ms = DEFAULT_TIMEOUT.as_millis() as i32;

    // SAFETY: all pointers passed to librdkafka are valid for the duration of each call: `rk` is
    // owned by `admin`, C strings live until the end of this function, and the objects created here
    // are owned by `owned` and released in its Drop. The resource array passed to
    // rd_kafka_IncrementalAlterConfigs is only borrowed by it (librdkafka copies the resources).
    unsafe {
        let mut owned = Owned {
            queue: rd::rd_kafka_queue_new(rk),
            opts: std::ptr::null_mut(),
            resource: std::ptr::null_mut(),
            event: std::ptr::null_mut(),
        };
        if owned.queue.is_null() {
            bail!("cannot create librdkafka queue");
        }
        owned.opts = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
        );
        if owned.opts.is_null() {
            bail!("cannot create admin options");
        }
        let mut errstr = [0 as std::ffi::c_char; 512];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            owned.opts,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        owned.resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            c_topic.as_ptr(),
        );
        if owned.resource.is_null() {
            bail!("cannot create config resource");
        }
        for (k, op, v) in &ops {
            let err = rd::rd_kafka_ConfigResource_add_incremental_config(
                owned.resource,
                k.as_ptr(),
                *op,
                v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
            );
            if !err.is_null() {
                let msg = CStr::from_ptr(rd::rd_kafka_error_string(err))
                    .to_string_lossy()
                    .into_owned();
                rd::rd_kafka_error_destroy(err);
                bail!("config {}: {msg}", k.to_string_lossy());
            }
        }
        let mut resources = [owned.resource];
        rd::rd_kafka_IncrementalAlterConfigs(
            rk,
            resources.as_mut_ptr(),
            1,
            owned.opts,
            owned.queue,
        );
        owned.event = rd::rd_kafka_queue_poll(owned.queue, timeout_ms + 5_000);
        if owned.event.is_null() {
            bail!("IncrementalAlterConfigs timed out");
        }
        let err = rd::rd_kafka_event_error(owned.event);
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let s = rd::rd_kafka_event_error_string(owned.event);
            let msg = if s.is_null() {
                String::new()
            } else {
                CStr::from_ptr(s).to_string_lossy().into_owned()
            };
            bail!(
                "IncrementalAlterConfigs: {} ({msg})",
                code_name(RDKafkaErrorCode::from(err))
            );
        }
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(owned.event);
        if result.is_null() {
            bail!("IncrementalAlterConfigs: unexpected event type");
        }
        let mut n = 0usize;
        let res = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut n);
        for i in 0..n {
            let r = *res.add(i);
            let err = rd::rd_kafka_ConfigResource_error(r);
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let s = rd::rd_kafka_ConfigResource_error_string(r);
                let msg = if s.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(s).to_string_lossy().into_owned()
                };
                bail!(
                    "cannot alter configs of {topic}: {} {msg}",
                    code_name(RDKafkaErrorCode::from(err))
                );
            }
        }
        drop(owned);
    }
    Ok(())
}
