//! Broker-side assignors of the KIP-848 consumer protocol. `uniform` balances partitions across
//! members while keeping every partition that can stay where it is (so a member joining or
//! leaving moves only the partitions that must move); `range` hands each member a contiguous
//! range of every topic it subscribes to.

use std::collections::{BTreeMap, BTreeSet};

/// Topic name → partitions.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// The partitions of `a` that are not in `b`.
pub(crate) fn subtract(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, ps)| {
            let rest: BTreeSet<i32> = ps
                .iter()
                .copied()
                .filter(|p| !b.get(t).is_some_and(|s| s.contains(p)))
                .collect();
            (!rest.is_empty()).then(|| (t.clone(), rest))
        })
        .collect()
}

/// A member as an assignor sees it.
pub struct AssignInput<'a> {
    pub member_id: &'a str,
    pub topics: &'a [String],
}

/// Computes the target assignment of every member.
pub fn assign(
    assignor: &str,
    members: &[AssignInput<'_>],
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        "range" => range(members, partitions),
        _ => uniform(members, partitions, previous),
    }
}

fn range(
    members: &[AssignInput<'_>],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subs: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect();
        subs.sort_unstable();
        if subs.is_empty() {
            continue;
        }
        let (base, extra) = (count as usize / subs.len(), count as usize % subs.len());
        let mut next = 0i32;
        for (i, id) in subs.iter().enumerate() {
            let n = base + usize::from(i < extra);
            let set: BTreeSet<i32> = (next..next + n as i32).collect();
            next += n as i32;
            if !set.is_empty() {
                out.entry(id.to_string())
                    .or_default()
                    .insert(topic.clone(), set);
            }
        }
    }
    out
}

fn uniform(
    members: &[AssignInput<'_>],
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut ids: Vec<&str> = members.iter().map(|m| m.member_id).collect();
    ids.sort_unstable();
    let subscribed = |id: &str, topic: &str| {
        members
            .iter()
            .any(|m| m.member_id == id && m.topics.iter().any(|t| t == topic))
    };
    let all: Vec<(String, i32)> = partitions
        .iter()
        .filter(|(t, _)| members.iter().any(|m| m.topics.contains(t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p)))
        .collect();
    let mut owned: BTreeMap<&str, Vec<(String, i32)>> =
        ids.iter().map(|id| (*id, Vec::new())).collect();
    let mut free: Vec<(String, i32)> = Vec::new();
    for (t, p) in &all {
        let keeper = ids.iter().find(|id| {
            subscribed(id, t)
                && previous
                    .get(**id)
                    .and_then(|a| a.get(t))
                    .is_some_and(|s| s.contains(p))
        });
        match keeper {
            Some(id) => owned.entry(id).or_default().push((t.clone(), *p)),
            None => free.push((t.clone(), *p)),
        }
    }
    if ids.is_empty() {
        return BTreeMap::new();
    }
    // Quotas: everyone gets `base`; `extra` members get one more, preferring those holding more.
    let (base, mut extra) = (all.len() / ids.len(), all.len() % ids.len());
    let mut by_load: Vec<&str> = ids.clone();
    by_load.sort_by_key(|id| std::cmp::Reverse(owned.get(id).map_or(0, Vec::len)));
    let mut quota: BTreeMap<&str, usize> = BTreeMap::new();
    for id in by_load {
        let q = base + usize::from(extra > 0);
        extra = extra.saturating_sub(1);
        quota.insert(id, q);
    }
    for (id, list) in owned.iter_mut() {
        let q = quota.get(id).copied().unwrap_or(base);
        while list.len() > q {
            if let Some(tp) = list.pop() {
                free.push(tp);
            }
        }
    }
    free.sort();
    for (t, p) in free {
        let pick = ids
            .iter()
            .filter(|id| subscribed(id, &t))
            .min_by_key(|id| {
                let have = owned.get(*id).map_or(0, Vec::len);
                let q = quota.get(*id).copied().unwrap_or(base);
                (have >= q, have)
            })
            .copied();
        if let Some(id) = pick {
            owned.entry(id).or_default().push((t, p));
        }
    }
    owned
        .into_iter()
        .map(|(id, list)| {
            let mut a = Assignment::new();
            for (t, p) in list {
                a.entry(t).or_default().insert(p);
            }
            (id.to_string(), a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members<'a>(ids: &[&'a str], topics: &'a [String]) -> Vec<AssignInput<'a>> {
        ids.iter()
            .map(|&member_id| AssignInput { member_id, topics })
            .collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn given_third_member_when_uniform_assigns_should_move_only_needed_partitions() {
        let topics = vec!["t".to_string()];
        let parts: BTreeMap<String, i32> = [("t".to_string(), 6)].into();
        let two = members(&["a", "b"], &topics);
        let first = assign("uniform", &two, &parts, &BTreeMap::new());
        assert_eq!(count(&first["a"]), 3);
        assert_eq!(count(&first["b"]), 3);
        let three = members(&["a", "b", "c"], &topics);
        let second = assign("uniform", &three, &parts, &first);
        for id in ["a", "b", "c"] {
            assert_eq!(count(&second[id]), 2, "{id}: {second:?}");
        }
        for id in ["a", "b"] {
            assert!(
                second[id]["t"].is_subset(&first[id]["t"]),
                "{id} gained a partition it did not own"
            );
        }
    }

    #[test]
    fn given_range_when_assigning_should_give_contiguous_ranges() {
        let topics = vec!["t".to_string()];
        let parts: BTreeMap<String, i32> = [("t".to_string(), 5)].into();
        let ms = members(&["a", "b"], &topics);
        let out = assign("range", &ms, &parts, &BTreeMap::new());
        assert_eq!(out["a"]["t"], [0, 1, 2].into());
        assert_eq!(out["b"]["t"], [3, 4].into());
    }
}
