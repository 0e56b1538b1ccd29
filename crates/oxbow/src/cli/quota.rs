//! `oxbow quota set|list`: client quotas by user and/or client id (AlterClientQuotas,
//! DescribeClientQuotas), as `kafka-configs.sh --entity-type users|clients` manages them.
//! `--user-default` / `--client-default` name the default entity (`<default>`).

use anyhow::bail;
use clap::{Args, Subcommand};
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;

use super::common::ConnArgs;
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum QuotaCmd {
    /// Set or remove quotas of a user, a client id, or a user's client id.
    Set(SetArgs),
    /// List quotas (all, or those of the entity given).
    List(ListArgs),
}

/// The entity a quota is set for.
#[derive(Args, Debug, Clone)]
pub struct EntityArgs {
    /// The user (principal name) the quota applies to.
    #[arg(long, conflicts_with = "user_default")]
    pub user: Option<String>,
    /// The default for every user without a quota of its own.
    #[arg(long)]
    pub user_default: bool,
    /// The client id the quota applies to.
    #[arg(long, conflicts_with = "client_default")]
    pub client_id: Option<String>,
    /// The default for every client id without a quota of its own.
    #[arg(long)]
    pub client_default: bool,
}

impl EntityArgs {
    /// (type, name) pairs; `None` as the name is the default.
    fn parts(&self) -> Vec<(&'static str, Option<String>)> {
        let mut out = Vec::new();
        if self.user.is_some() || self.user_default {
            out.push(("user", self.user.clone()));
        }
        if self.client_id.is_some() || self.client_default {
            out.push(("client-id", self.client_id.clone()));
        }
        out
    }
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub entity: EntityArgs,
    /// Produce bytes per second.
    #[arg(long)]
    pub producer_byte_rate: Option<u64>,
    /// Fetch bytes per second.
    #[arg(long)]
    pub consumer_byte_rate: Option<u64>,
    /// Percent of one request-handling thread (100 = one whole thread).
    #[arg(long)]
    pub request_percentage: Option<f64>,
    /// Remove a quota key (producer_byte_rate, consumer_byte_rate, request_percentage);
    /// repeatable.
    #[arg(long, value_name = "KEY")]
    pub remove: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub entity: EntityArgs,
}

pub async fn run(cmd: QuotaCmd) -> anyhow::Result<()> {
    match cmd {
        QuotaCmd::Set(a) => set(a).await,
        QuotaCmd::List(a) => list(a).await,
    }
}

async fn set(a: SetArgs) -> anyhow::Result<()> {
    let parts = a.entity.parts();
    if parts.is_empty() {
        bail!("name the entity: --user NAME or --user-default, and/or --client-id ID or --client-default");
    }
    let mut ops = Vec::new();
    let mut op = |key: &str, value: f64, remove: bool| {
        ops.push(
            OpData::default()
                .with_key(StrBytes::from_string(key.to_string()))
                .with_value(value)
                .with_remove(remove),
        )
    };
    if let Some(v) = a.producer_byte_rate {
        op("producer_byte_rate", v as f64, false);
    }
    if let Some(v) = a.consumer_byte_rate {
        op("consumer_byte_rate", v as f64, false);
    }
    if let Some(v) = a.request_percentage {
        op("request_percentage", v, false);
    }
    for key in &a.remove {
        op(key, 0.0, true);
    }
    if ops.is_empty() {
        bail!("nothing to set: give --producer-byte-rate, --consumer-byte-rate, --request-percentage or --remove");
    }
    let entity = parts
        .iter()
        .map(|(t, n)| {
            EntityData::default()
                .with_entity_type(StrBytes::from_static_str(t))
                .with_entity_name(n.clone().map(StrBytes::from_string))
        })
        .collect();
    let req = AlterClientQuotasRequest::default()
        .with_entries(vec![EntryData::default().with_entity(entity).with_ops(ops)]);
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c.send(1, &req).await?;
    for e in &resp.entries {
        if e.error_code != 0 {
            bail!(
                "error code {}: {}",
                e.error_code,
                e.error_message.as_deref().unwrap_or("")
            );
        }
    }
    println!("quotas of {} updated", describe_entity(&parts));
    Ok(())
}

fn describe_entity(parts: &[(&str, Option<String>)]) -> String {
    parts
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(",")
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let components = a
        .entity
        .parts()
        .into_iter()
        .map(|(t, n)| {
            let c = ComponentData::default().with_entity_type(StrBytes::from_static_str(t));
            match n {
                Some(n) => c
                    .with_match_type(0)
                    .with_match(Some(StrBytes::from_string(n))),
                None => c.with_match_type(1),
            }
        })
        .collect();
    let req = DescribeClientQuotasRequest::default().with_components(components);
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c.send(1, &req).await?;
    if resp.error_code != 0 {
        bail!(
            "DescribeClientQuotas failed with error code {}: {}",
            resp.error_code,
            resp.error_message.as_deref().unwrap_or("")
        );
    }
    let mut rows: Vec<(String, String)> = resp
        .entries
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let parts: Vec<(&str, Option<String>)> = e
                .entity
                .iter()
                .map(|x| {
                    (
                        x.entity_type.as_str(),
                        x.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect();
            let values = e
                .values
                .iter()
                .map(|v| format!("{}={}", v.key.as_str(), v.value))
                .collect::<Vec<_>>()
                .join(", ");
            (describe_entity(&parts), values)
        })
        .collect();
    rows.sort();
    if rows.is_empty() {
        println!("no quotas");
    }
    for (entity, values) in rows {
        println!("{entity}  {values}");
    }
    Ok(())
}
