//! Broker-side schema validation (Confluent's `confluent.key.schema.validation` and
//! `confluent.value.schema.validation` topic configs): every non-null key or value of a produce
//! must start with the registry's framing (magic byte 0 and a 4-byte schema id) and name a schema
//! registered under the subject the topic's subject name strategy gives
//! (`confluent.{key,value}.subject.name.strategy`: TopicNameStrategy `<topic>-value`,
//! RecordNameStrategy `<record name>`, TopicRecordNameStrategy `<topic>-<record name>`).
//! A batch that fails is refused with INVALID_RECORD naming each bad record; topics without the
//! configs are not decoded at all (the append path is unchanged).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::topics::TopicMeta;
use crate::Broker;

pub const KEY_VALIDATION: &str = "confluent.key.schema.validation";
pub const VALUE_VALIDATION: &str = "confluent.value.schema.validation";
pub const KEY_STRATEGY: &str = "confluent.key.subject.name.strategy";
pub const VALUE_STRATEGY: &str = "confluent.value.subject.name.strategy";

const TOPIC_NAME: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";
const RECORD_NAME: &str = "io.confluent.kafka.serializers.subject.RecordNameStrategy";
const TOPIC_RECORD_NAME: &str = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy";

/// Validates a strategy config value.
pub fn validate_strategy(v: &str) -> Result<(), String> {
    strategy(v)
        .map(|_| ())
        .ok_or_else(|| format!("expected {TOPIC_NAME}, {RECORD_NAME} or {TOPIC_RECORD_NAME}"))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Topic,
    Record,
    TopicRecord,
}

fn strategy(v: &str) -> Option<Strategy> {
    let short = v.rsplit('.').next().unwrap_or(v);
    match short {
        "TopicNameStrategy" => Some(Strategy::Topic),
        "RecordNameStrategy" => Some(Strategy::Record),
        "TopicRecordNameStrategy" => Some(Strategy::TopicRecord),
        _ => None,
    }
}

/// What a topic validates: the key's and the value's strategy, when on.
pub struct Rules {
    key: Option<Strategy>,
    value: Option<Strategy>,
}

/// The topic's rules; `None` when it validates nothing (the common case: nothing decoded).
pub fn rules(meta: &TopicMeta) -> Option<Rules> {
    if meta.configs.is_empty() {
        return None;
    }
    let on = |k: &str| {
        meta.configs
            .get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let strat = |k: &str| {
        meta.configs
            .get(k)
            .and_then(|v| strategy(v))
            .unwrap_or(Strategy::Topic)
    };
    let rules = Rules {
        key: on(KEY_VALIDATION).then(|| strat(KEY_STRATEGY)),
        value: on(VALUE_VALIDATION).then(|| strat(VALUE_STRATEGY)),
    };
    (rules.key.is_some() || rules.value.is_some()).then_some(rules)
}

/// Checks every record of a partition's batches; the bad ones as (index, reason).
pub fn check(broker: &Broker, topic: &str, rules: &Rules, records: &Bytes) -> Vec<(i32, String)> {
    let mut buf = records.clone();
    let sets = match RecordBatchDecoder::decode_all(&mut buf) {
        Ok(s) => s,
        Err(e) => {
            return vec![(
                0,
                format!("the record batch cannot be decoded for schema validation: {e}"),
            )]
        }
    };
    let Some(registry) = broker.schema_registry.get() else {
        return vec![(
            0,
            format!(
                "schema validation is on for topic {topic} but the schema registry is not running"
            ),
        )];
    };
    // (id, subject) → verdict, so a batch of one schema asks the registry once.
    let mut seen: HashMap<(u32, &'static str), Result<(), String>> = HashMap::new();
    let mut bad = Vec::new();
    let mut index = 0i32;
    for set in &sets {
        for r in &set.records {
            let checks = [
                ("key", rules.key, r.key.as_ref()),
                ("value", rules.value, r.value.as_ref()),
            ];
            for (part, strat, data) in checks {
                let (Some(strat), Some(data)) = (strat, data) else {
                    continue;
                };
                if data.len() < 5 || data[0] != 0 {
                    bad.push((index, format!("record {index}: the {part} does not start with a schema id (magic byte 0 and 4 id bytes)")));
                    continue;
                }
                let id = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
                let verdict = seen
                    .entry((id, part))
                    .or_insert_with(|| verify(registry, topic, part, strat, id))
                    .clone();
                if let Err(why) = verdict {
                    bad.push((index, format!("record {index}: the {part}'s {why}")));
                }
            }
            index += 1;
        }
    }
    bad
}

fn verify(
    registry: &oxbow_registry::Registry,
    topic: &str,
    part: &str,
    strat: Strategy,
    id: u32,
) -> Result<(), String> {
    let id = i32::try_from(id).map_err(|_| format!("schema id {id} is not a valid id"))?;
    let subjects: Vec<String> = registry
        .uses_of(id, false)
        .map_err(|_| format!("schema id {id} is not registered"))?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let expected = match strat {
        Strategy::Topic => format!("{topic}-{part}"),
        Strategy::Record | Strategy::TopicRecord => {
            let name = registry.record_name(id).ok_or_else(|| {
                format!("schema id {id} has no record name for the subject name strategy")
            })?;
            if strat == Strategy::Record {
                name
            } else {
                format!("{topic}-{name}")
            }
        }
    };
    if subjects.contains(&expected) {
        Ok(())
    } else {
        Err(format!(
            "schema id {id} is not registered under subject {expected}"
        ))
    }
}
