//! Reconciliation of the KIP-848 consumer protocol, heartbeat by heartbeat.

use std::collections::BTreeSet;
use std::time::Instant;

use super::*;

const TOPIC: &str = "t";

/// One topic of six partitions, plus whatever `extra` lists (three partitions each).
struct Catalog {
    extra: Vec<String>,
}

impl TopicCatalog for Catalog {
    fn partition_count(&self, t: &str) -> Option<i32> {
        if t == TOPIC {
            Some(6)
        } else {
            self.extra.iter().any(|x| x == t).then_some(3)
        }
    }

    fn topic_id(&self, t: &str) -> Option<uuid::Uuid> {
        let hash = t
            .bytes()
            .fold(7u128, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
        self.partition_count(t).map(|_| uuid::Uuid::from_u128(hash))
    }

    fn topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.extra.clone();
        names.push(TOPIC.to_string());
        names.sort();
        names
    }

    fn generation(&self) -> u64 {
        self.extra.len() as u64
    }
}

const ONE_TOPIC: Catalog = Catalog { extra: Vec::new() };

fn params(member_id: &str, epoch: i32, owned: Option<&[i32]>) -> HeartbeatParams {
    HeartbeatParams {
        member_id: member_id.to_string(),
        epoch,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 60_000,
        subscribed: (epoch == 0).then(|| vec![TOPIC.to_string()]),
        regex: None,
        server_assignor: None,
        owned: owned.map(|ps| {
            let mut a = Assignment::new();
            a.insert(TOPIC.to_string(), ps.iter().copied().collect());
            a
        }),
        client_id: "test".to_string(),
        client_host: "/127.0.0.1".to_string(),
    }
}

fn parts(a: &Option<Assignment>) -> Option<BTreeSet<i32>> {
    a.as_ref()
        .map(|a| a.get(TOPIC).cloned().unwrap_or_default())
}

/// Heartbeats until the member is stable; returns (member id, epoch, partitions it owns).
fn join(g: &mut ConsumerGroup, now: Instant) -> (String, i32, BTreeSet<i32>) {
    let out = g.heartbeat(params("", 0, Some(&[])), &ONE_TOPIC, now);
    assert!(out.error.is_none(), "{:?}", out.error);
    let owned = parts(&out.assignment).unwrap_or_default();
    (out.member_id, out.epoch, owned)
}

#[test]
fn given_member_confirmed_revocation_in_an_earlier_heartbeat_when_heartbeating_without_owned_should_release_the_partition(
) {
    let now = Instant::now();
    let mut g = ConsumerGroup::new("g", "uniform");
    let (a, a_epoch, a_owned) = join(&mut g, now);
    assert_eq!(a_owned.len(), 6);
    let v: Vec<i32> = a_owned.iter().copied().collect();
    g.heartbeat(params(&a, a_epoch, Some(&v)), &ONE_TOPIC, now);
    let (b, b_epoch, _) = join(&mut g, now);

    // A is asked to give up three partitions.
    let out = g.heartbeat(params(&a, a_epoch, None), &ONE_TOPIC, now);
    let keep = parts(&out.assignment).expect("A is told what it keeps");
    assert_eq!(keep.len(), 3);
    // It confirms by reporting what it owns now, once.
    let keep_v: Vec<i32> = keep.iter().copied().collect();
    let out = g.heartbeat(params(&a, out.epoch, Some(&keep_v)), &ONE_TOPIC, now);
    let a_epoch = out.epoch;
    // Later heartbeats leave `owned` out: nothing changed on A's side.
    g.heartbeat(params(&a, a_epoch, None), &ONE_TOPIC, now);

    let out = g.heartbeat(params(&b, b_epoch, None), &ONE_TOPIC, now);
    let got = parts(&out.assignment).expect("B is given the released partitions");
    assert_eq!(got.len(), 3);
    assert!(got.is_disjoint(&keep));
}

#[test]
fn given_member_that_never_took_up_a_partition_when_it_must_give_it_back_should_not_wait_for_it() {
    let now = Instant::now();
    let mut g = ConsumerGroup::new("g", "uniform");
    let (a, a_epoch, a_owned) = join(&mut g, now);
    // A reports owning only half of what it was given (the rest still on its way) ...
    let half: Vec<i32> = a_owned.iter().copied().take(3).collect();
    g.heartbeat(params(&a, a_epoch, Some(&half)), &ONE_TOPIC, now);
    // ... when B joins and the other half moves to B.
    let (b, b_epoch, _) = join(&mut g, now);
    let out = g.heartbeat(params(&a, a_epoch, None), &ONE_TOPIC, now);
    let keep = parts(&out.assignment).expect("A is told what it keeps");
    g.heartbeat(params(&a, out.epoch, None), &ONE_TOPIC, now);
    let out = g.heartbeat(params(&b, b_epoch, None), &ONE_TOPIC, now);
    let got = parts(&out.assignment).unwrap_or_default();
    let mut all = keep.clone();
    all.extend(got.iter().copied());
    assert_eq!(all.len(), 6, "A keeps {keep:?}, B got {got:?}");
}

fn regex_params(member_id: &str, epoch: i32, regex: &str) -> HeartbeatParams {
    HeartbeatParams {
        subscribed: None,
        regex: Some(regex.to_string()),
        ..params(member_id, epoch, Some(&[]))
    }
}

fn topics_of(a: &Option<Assignment>) -> Vec<String> {
    a.as_ref()
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn given_regex_subscription_when_topics_appear_should_assign_every_match_and_only_matches() {
    let now = Instant::now();
    let mut g = ConsumerGroup::new("g", "uniform");
    let mut catalog = Catalog {
        extra: vec!["orders-eu".into(), "payments".into()],
    };
    let out = g.heartbeat(regex_params("", 0, "orders-.*"), &catalog, now);
    assert!(out.error.is_none(), "{:?}", out.message);
    assert_eq!(topics_of(&out.assignment), vec!["orders-eu".to_string()]);
    // "orders-.*" must match whole names: "xorders-eu" is not a match.
    catalog.extra.push("orders-us".into());
    catalog.extra.push("xorders-eu".into());
    let out = g.heartbeat(
        HeartbeatParams {
            regex: None,
            ..params(&out.member_id, out.epoch, None)
        },
        &catalog,
        now,
    );
    assert_eq!(
        topics_of(&out.assignment),
        vec!["orders-eu".to_string(), "orders-us".to_string()]
    );
}

#[test]
fn given_invalid_regex_when_joining_should_fail_with_invalid_regular_expression() {
    let mut g = ConsumerGroup::new("g", "uniform");
    let out = g.heartbeat(regex_params("", 0, "orders-(["), &ONE_TOPIC, Instant::now());
    assert_eq!(out.error, Some(ResponseError::InvalidRegularExpression));
}
