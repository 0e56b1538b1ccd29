//! Reconciliation of the KIP-848 consumer protocol, heartbeat by heartbeat.

use std::collections::BTreeSet;
use std::time::Instant;

use super::*;

const TOPIC: &str = "t";

fn counts(t: &str) -> Option<i32> {
    (t == TOPIC).then_some(6)
}

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
    let out = g.heartbeat(params("", 0, Some(&[])), &counts, now);
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
    g.heartbeat(params(&a, a_epoch, Some(&v)), &counts, now);
    let (b, b_epoch, _) = join(&mut g, now);

    // A is asked to give up three partitions.
    let out = g.heartbeat(params(&a, a_epoch, None), &counts, now);
    let keep = parts(&out.assignment).expect("A is told what it keeps");
    assert_eq!(keep.len(), 3);
    // It confirms by reporting what it owns now, once.
    let keep_v: Vec<i32> = keep.iter().copied().collect();
    let out = g.heartbeat(params(&a, out.epoch, Some(&keep_v)), &counts, now);
    let a_epoch = out.epoch;
    // Later heartbeats leave `owned` out: nothing changed on A's side.
    g.heartbeat(params(&a, a_epoch, None), &counts, now);

    let out = g.heartbeat(params(&b, b_epoch, None), &counts, now);
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
    g.heartbeat(params(&a, a_epoch, Some(&half)), &counts, now);
    // ... when B joins and the other half moves to B.
    let (b, b_epoch, _) = join(&mut g, now);
    let out = g.heartbeat(params(&a, a_epoch, None), &counts, now);
    let keep = parts(&out.assignment).expect("A is told what it keeps");
    g.heartbeat(params(&a, out.epoch, None), &counts, now);
    let out = g.heartbeat(params(&b, b_epoch, None), &counts, now);
    let got = parts(&out.assignment).unwrap_or_default();
    let mut all = keep.clone();
    all.extend(got.iter().copied());
    assert_eq!(all.len(), 6, "A keeps {keep:?}, B got {got:?}");
}
