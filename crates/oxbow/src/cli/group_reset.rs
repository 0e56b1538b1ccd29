//! `oxbow group reset-offsets`: compute new committed offsets (earliest, latest, an offset, a point
//! in time, a shift, a duration back from now), print the plan, and with `--execute` commit it as
//! an admin commit (generation -1) — refused while the group has members.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;

use super::common::{ConnArgs, DEFAULT_TIMEOUT};
use super::group_queries::{committed, describe_group, list_offsets, now_ms};
use super::kafka_raw::RawClient;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("how").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by", "by_duration"])))]
pub struct ResetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The group id.
    pub group: String,
    /// Topic to reset, `TOPIC` or `TOPIC:0,2,5` (repeatable).
    #[arg(long, required = true)]
    pub topic: Vec<String>,
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    #[arg(long)]
    pub to_offset: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS[.mmm][Z]` (UTC) or milliseconds since the epoch.
    #[arg(long)]
    pub to_datetime: Option<String>,
    /// Move each committed offset by N (may be negative).
    #[arg(long, allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Back from now: `PT1H30M`, `90s`, `15m`, `2h`, `1d`.
    #[arg(long)]
    pub by_duration: Option<String>,
    /// Print the plan only (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Apply the plan.
    #[arg(long)]
    pub execute: bool,
}

pub async fn run(a: ResetArgs) -> anyhow::Result<()> {
    let mut c = RawClient::coordinator(&a.conn, &a.group).await?;
    let g = describe_group(&mut c, &a.group).await?;
    let state = g.group_state.to_string();
    if !(state == "Empty" || state == "Dead") || !g.members.is_empty() {
        bail!("group {} is active (state {state}, {} members); stop its consumers before resetting offsets", a.group, g.members.len());
    }
    let current = committed(&mut c, &a.group).await?;
    let mut data = RawClient::open(&a.conn).await?;
    let mut plan: Vec<(String, i32, Option<i64>, i64)> = Vec::new();
    for spec in &a.topic {
        let (topic, parts) = partitions_of(&a.conn, spec)?;
        let earliest = list_offsets(&mut data, &topic, &parts, -2).await?;
        let latest = list_offsets(&mut data, &topic, &parts, -1).await?;
        let by_time = match (&a.to_datetime, &a.by_duration) {
            (Some(d), _) => {
                Some(list_offsets(&mut data, &topic, &parts, parse_datetime(d)?).await?)
            }
            (_, Some(d)) => {
                Some(list_offsets(&mut data, &topic, &parts, now_ms() - parse_duration(d)?).await?)
            }
            _ => None,
        };
        for p in parts {
            let (lo, hi) = (
                earliest.get(&p).copied().unwrap_or(0),
                latest.get(&p).copied().unwrap_or(0),
            );
            let cur = current.get(&(topic.clone(), p)).map(|x| x.0);
            let target = if a.to_earliest {
                lo
            } else if a.to_latest {
                hi
            } else if let Some(o) = a.to_offset {
                o
            } else if let Some(n) = a.shift_by {
                cur.unwrap_or(lo).saturating_add(n)
            } else {
                by_time
                    .as_ref()
                    .and_then(|m| m.get(&p).copied())
                    .filter(|o| *o >= 0)
                    .unwrap_or(hi)
            };
            plan.push((topic.clone(), p, cur, target.clamp(lo, hi)));
        }
    }
    println!(
        "{:<30} {:>9} {:>14} {:>14}",
        "TOPIC", "PARTITION", "CURRENT", "NEW"
    );
    for (t, p, cur, new) in &plan {
        println!(
            "{:<30} {:>9} {:>14} {:>14}",
            t,
            p,
            cur.map_or("-".to_string(), |c| c.to_string()),
            new
        );
    }
    if !a.execute {
        println!("(dry run: nothing changed; pass --execute to apply)");
        return Ok(());
    }
    let mut topics: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (t, p, _, new) in &plan {
        topics.entry(t.clone()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*new)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str(""))),
        );
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(a.group.clone())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::default())
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = c.send(8, &req).await?;
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code != 0 {
                bail!(
                    "committing {}-{} failed with error code {}",
                    t.name.0.as_str(),
                    p.partition_index,
                    p.error_code
                );
            }
        }
    }
    println!("offsets of group {} reset", a.group);
    Ok(())
}

/// `TOPIC` (all partitions, from metadata) or `TOPIC:0,1`.
fn partitions_of(conn: &ConnArgs, spec: &str) -> anyhow::Result<(String, Vec<i32>)> {
    if let Some((t, list)) = spec.split_once(':') {
        let parts = list
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<i32>()
                    .with_context(|| format!("partition {p:?}"))
            })
            .collect::<Result<_, _>>()?;
        return Ok((t.to_string(), parts));
    }
    let consumer: rdkafka::consumer::BaseConsumer = conn
        .client_config(&[])?
        .create()
        .context("creating metadata client")?;
    let md = consumer
        .fetch_metadata(Some(spec), DEFAULT_TIMEOUT)
        .context("fetching metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == spec)
        .context("topic not in metadata")?;
    if t.error().is_some() || t.partitions().is_empty() {
        bail!("topic {spec} does not exist");
    }
    Ok((
        spec.to_string(),
        t.partitions().iter().map(|p| p.id()).collect(),
    ))
}

/// Milliseconds since the epoch, from `YYYY-MM-DDTHH:MM:SS[.mmm][Z]` (UTC) or a number.
pub fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let s = s.trim_end_matches('Z');
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("date must be YYYY-MM-DD")?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("time must be HH:MM:SS")?;
    if d.len() != 3 || t.len() != 3 {
        bail!("datetime must look like 2024-01-31T12:00:00");
    }
    let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse()
        .context("fraction of a second")?;
    let days = days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds of `PT1H30M`, `90s`, `15m`, `2h`, `1d`, `500ms`.
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let upper = s.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("PT").or_else(|| upper.strip_prefix('P')) {
        let mut total = 0i64;
        let mut num = String::new();
        for ch in rest.chars() {
            if ch.is_ascii_digit() {
                num.push(ch);
                continue;
            }
            let n: i64 = num.parse().with_context(|| format!("duration {s}"))?;
            num.clear();
            total += n * match ch {
                'D' => 86_400_000,
                'H' => 3_600_000,
                'M' => 60_000,
                'S' => 1000,
                _ => bail!("unknown duration unit {ch} in {s}"),
            };
        }
        return Ok(total);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().with_context(|| format!("duration {s}"))?;
    Ok(n * match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("unknown duration unit {unit:?} in {s}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_datetimes_and_durations_when_parsed_should_give_epoch_millis() {
        assert_eq!(parse_datetime("1970-01-02T00:00:00Z").unwrap(), 86_400_000);
        assert_eq!(
            parse_datetime("2024-03-01T12:30:15.5").unwrap(),
            1_709_296_215_500
        );
        assert_eq!(parse_datetime("1234").unwrap(), 1234);
        assert_eq!(parse_duration("PT1H30M").unwrap(), 5_400_000);
        assert_eq!(parse_duration("15m").unwrap(), 900_000);
        assert_eq!(parse_duration("2d").unwrap(), 172_800_000);
        assert!(parse_duration("5y").is_err());
    }
}
