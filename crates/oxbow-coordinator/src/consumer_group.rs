//! The KIP-848 consumer protocol: members heartbeat (ConsumerGroupHeartbeat), the broker computes
//! the target assignment with a server-side assignor, and each member reconciles towards it on
//! its own: it first revokes the partitions it must give up, then gets the new epoch and the
//! partitions that others have released. No member ever stops for someone else's change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use oxbow_config::GroupConfig;
use regex::Regex;
use tracing::info;

use super::assignor::{self, subtract, AssignInput, Assignment};
use super::consumer_group_records::{StoredConsumerGroup, StoredConsumerMember};
pub use crate::context::TopicCatalog;

/// A subscription regex: the text the member sent, matched as Kafka applies it (RE2/J), against
/// the whole topic name.
#[derive(Clone, Debug)]
pub struct SubscriptionRegex {
    pub text: String,
    compiled: Regex,
}

impl SubscriptionRegex {
    fn new(text: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            text: text.to_string(),
            compiled: Regex::new(&format!("^(?:{text})$"))?,
        })
    }
}

impl PartialEq for SubscriptionRegex {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    previous_epoch: i32,
    pub subscribed: Vec<String>,
    pub regex: Option<SubscriptionRegex>,
    /// Topics the regex matches now.
    pub matched: Vec<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    /// Partitions the member owns or is being given (includes those it still has to revoke).
    pub assigned: Assignment,
    /// Partitions it was asked to give up and has not yet confirmed giving up.
    pub revoking: Assignment,
    /// What the member last said it owns (heartbeats omit it when unchanged).
    reported: Option<Assignment>,
    last_sent: Option<Assignment>,
    last_seen: Instant,
    revoke_deadline: Option<Instant>,
    /// A static member that left temporarily (epoch -2): kept until its session expires.
    departed: bool,
}

impl ConsumerMember {
    /// What the member should own now.
    pub fn current(&self) -> Assignment {
        subtract(&self.assigned, &self.revoking)
    }

    /// The topics the member subscribes to: by name, then by its regex.
    pub fn topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.subscribed.iter().chain(&self.matched).collect();
        set.into_iter().cloned().collect()
    }

    /// Re-evaluates the regex over `names`; true if the matched topics changed.
    fn resolve(&mut self, names: &[String]) -> bool {
        let matched: Vec<String> = match &self.regex {
            Some(re) => names
                .iter()
                .filter(|t| re.compiled.is_match(t))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let changed = matched != self.matched;
        self.matched = matched;
        changed
    }
}

/// A ConsumerGroupHeartbeat, version-independent, with topics resolved to names.
pub struct HeartbeatParams {
    pub member_id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed: Option<Vec<String>>,
    pub regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Default)]
pub struct HeartbeatOutcome {
    pub error: Option<ResponseError>,
    pub message: Option<String>,
    pub member_id: String,
    pub epoch: i32,
    pub assignment: Option<Assignment>,
}

pub struct ConsumerGroup {
    pub group_id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Assignment>,
    pub assignor: String,
    statics: HashMap<String, String>,
    /// Partition counts of subscribed topics when the target was computed.
    topic_counts: BTreeMap<String, i32>,
    /// Ids of the topics members subscribe to or own (the persisted records name topics by id).
    topic_ids: BTreeMap<String, uuid::Uuid>,
    /// The topics' generation regexes were last resolved at.
    resolved_at: Option<u64>,
    /// Changed since last persisted (membership, epochs or assignments).
    pub dirty: bool,
}

impl ConsumerGroup {
    pub fn new(group_id: &str, assignor: &str) -> Self {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            assignor: assignor.to_string(),
            statics: HashMap::new(),
            topic_counts: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            resolved_at: None,
            dirty: false,
        }
    }

    /// The state to persist (everything but timers and what is re-learnt from heartbeats).
    pub fn to_stored(&self) -> StoredConsumerGroup {
        StoredConsumerGroup {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            target: self.target.clone(),
            topic_counts: self.topic_counts.clone(),
            topic_ids: self.topic_ids.clone(),
            members: self
                .members
                .values()
                .map(|m| StoredConsumerMember {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    subscribed: m.subscribed.clone(),
                    regex: m.regex.as_ref().map(|r| r.text.clone()),
                    matched: m.matched.clone(),
                    server_assignor: m.server_assignor.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    assigned: m.assigned.clone(),
                    revoking: m.revoking.clone(),
                    departed: m.departed,
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its persisted state after a restart: every member's session (and
    /// any pending revocation) starts again from `now`; regex subscriptions are matched against
    /// today's topics. An empty `st.assignor` means `default_assignor`.
    pub fn restore(
        group_id: &str,
        st: StoredConsumerGroup,
        default_assignor: &str,
        topics: &dyn TopicCatalog,
        now: Instant,
    ) -> Self {
        let assignor = if st.assignor.is_empty() {
            default_assignor
        } else {
            &st.assignor
        };
        let mut g = ConsumerGroup::new(group_id, assignor);
        g.group_epoch = st.group_epoch;
        g.assignment_epoch = st.assignment_epoch;
        g.target = st.target;
        g.topic_counts = st.topic_counts;
        g.topic_ids = st.topic_ids;
        for m in st.members {
            if let Some(inst) = &m.instance_id {
                g.statics.insert(inst.clone(), m.id.clone());
            }
            let regex = m
                .regex
                .as_deref()
                .and_then(|r| SubscriptionRegex::new(r).ok());
            let revoke_deadline = (!m.revoking.is_empty())
                .then(|| now + Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64));
            g.members.insert(
                m.id.clone(),
                ConsumerMember {
                    id: m.id,
                    instance_id: m.instance_id,
                    rack_id: m.rack_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    subscribed: m.subscribed,
                    regex,
                    matched: m.matched,
                    server_assignor: m.server_assignor,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    assigned: m.assigned,
                    revoking: m.revoking,
                    reported: None,
                    last_sent: None,
                    last_seen: now,
                    revoke_deadline,
                    departed: m.departed,
                },
            );
        }
        g.resolve_regexes(topics, true);
        // Ids the records did not carry (state written before topic ids were kept): today's.
        let named: Vec<String> = g
            .topic_counts
            .keys()
            .chain(g.target.values().flat_map(|a| a.keys()))
            .chain(
                g.members
                    .values()
                    .flat_map(|m| m.assigned.keys().chain(m.revoking.keys())),
            )
            .filter(|t| !g.topic_ids.contains_key(*t))
            .cloned()
            .collect();
        for t in named {
            if let Some(id) = topics.topic_id(&t) {
                g.topic_ids.insert(t, id);
            }
        }
        g
    }

    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || !m.revoking.is_empty())
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub fn subscribed_topics(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.members.values().flat_map(|m| m.topics()).collect();
        set.into_iter().collect()
    }

    /// Handles one heartbeat.
    pub fn heartbeat(
        &mut self,
        p: HeartbeatParams,
        topics: &dyn TopicCatalog,
        now: Instant,
    ) -> HeartbeatOutcome {
        let fail = |e: ResponseError, msg: &str| HeartbeatOutcome {
            error: Some(e),
            message: Some(msg.to_string()),
            member_id: p.member_id.clone(),
            epoch: p.epoch,
            assignment: None,
        };
        if let Some(a) = &p.server_assignor {
            if a != "uniform" && a != "range" {
                return fail(
                    ResponseError::UnsupportedAssignor,
                    "supported assignors: uniform, range",
                );
            }
        }
        // An empty regex clears a regex subscription; null leaves it as it was.
        let regex = match p.regex.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(r) => match SubscriptionRegex::new(r) {
                Ok(re) => Some(Some(re)),
                Err(e) => {
                    return fail(
                        ResponseError::InvalidRegularExpression,
                        &format!("invalid subscription regex {r:?}: {e}"),
                    )
                }
            },
        };
        if p.epoch < 0 {
            return self.leave(p, topics);
        }
        let mut changed = false;
        let id = if p.epoch == 0 {
            let id = if p.member_id.is_empty() {
                uuid::Uuid::new_v4().simple().to_string()
            } else {
                p.member_id.clone()
            };
            let subscribed = p.subscribed.clone().unwrap_or_default();
            let regex = regex.clone().flatten();
            if subscribed.is_empty() && regex.is_none() {
                return fail(
                    ResponseError::InvalidRequest,
                    "a joining member must subscribe to topics",
                );
            }
            let mut taken = None;
            if let Some(inst) = &p.instance_id {
                if let Some(old) = self.statics.get(inst).cloned() {
                    if old != id && self.members.get(&old).is_some_and(|m| !m.departed) {
                        return fail(
                            ResponseError::UnreleasedInstanceId,
                            "instance id is used by an active member",
                        );
                    }
                    taken = self.members.remove(&old);
                    let target = self.target.remove(&old);
                    if let Some(t) = target {
                        self.target.insert(id.clone(), t);
                    }
                }
                self.statics.insert(inst.clone(), id.clone());
            }
            let rejoin = self.members.remove(&id).is_some();
            let (epoch, assigned, matched) = match taken {
                Some(old) if old.subscribed == subscribed && old.regex == regex => {
                    (old.epoch, old.assigned, old.matched)
                }
                _ => (0, Assignment::new(), Vec::new()),
            };
            changed = epoch == 0 || rejoin;
            self.dirty = true;
            info!(group = self.group_id, member = id, client_id = p.client_id, host = p.client_host,
                instance = ?p.instance_id, static_rejoin = epoch > 0, "consumer member joined");
            self.members.insert(
                id.clone(),
                ConsumerMember {
                    id: id.clone(),
                    instance_id: p.instance_id.clone(),
                    rack_id: p.rack_id.clone(),
                    client_id: p.client_id.clone(),
                    client_host: p.client_host.clone(),
                    epoch,
                    previous_epoch: epoch,
                    subscribed,
                    regex,
                    matched,
                    server_assignor: p.server_assignor.clone(),
                    rebalance_timeout_ms: if p.rebalance_timeout_ms > 0 {
                        p.rebalance_timeout_ms
                    } else {
                        300_000
                    },
                    assigned,
                    revoking: Assignment::new(),
                    reported: None,
                    last_sent: None,
                    last_seen: now,
                    revoke_deadline: None,
                    departed: false,
                },
            );
            id
        } else {
            let Some(m) = self.members.get_mut(&p.member_id) else {
                return fail(ResponseError::UnknownMemberId, "unknown member id");
            };
            if m.instance_id.is_some() && p.instance_id.is_some() && m.instance_id != p.instance_id
            {
                return fail(
                    ResponseError::FencedInstanceId,
                    "instance id does not match the member",
                );
            }
            if p.epoch != m.epoch && p.epoch != m.previous_epoch {
                return fail(
                    ResponseError::FencedMemberEpoch,
                    "member epoch is fenced; rejoin with epoch 0",
                );
            }
            m.last_seen = now;
            if p.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            }
            if let Some(s) = &p.subscribed {
                if *s != m.subscribed {
                    m.subscribed = s.clone();
                    changed = true;
                }
            }
            if let Some(r) = regex {
                if r != m.regex {
                    m.regex = r;
                    m.matched.clear();
                    changed = true;
                }
            }
            if p.server_assignor.is_some() && p.server_assignor != m.server_assignor {
                m.server_assignor = p.server_assignor.clone();
                changed = true;
            }
            p.member_id.clone()
        };
        changed |= self.resolve_regexes(topics, changed);
        let counts_now = self.counts(topics);
        self.learn_topic_ids(counts_now.keys(), topics);
        if changed || counts_now != self.topic_counts {
            self.bump_with(counts_now);
        }
        self.reconcile(&id, p.owned.as_ref(), p.epoch == 0, now)
    }

    /// Remembers the ids of `names` (a topic deleted and created again gets its new id).
    fn learn_topic_ids<'a>(
        &mut self,
        names: impl Iterator<Item = &'a String>,
        topics: &dyn TopicCatalog,
    ) {
        for t in names {
            let id = topics.topic_id(t);
            if id.is_some() && self.topic_ids.get(t) != id.as_ref() {
                self.topic_ids.extend(id.map(|id| (t.clone(), id)));
                self.dirty = true;
            }
        }
    }

    fn counts(&self, topics: &dyn TopicCatalog) -> BTreeMap<String, i32> {
        self.subscribed_topics()
            .into_iter()
            .filter_map(|t| topics.partition_count(&t).map(|n| (t, n)))
            .collect()
    }

    /// Resolves the members' regexes again when the set of topics changed (or `force`); true if
    /// any member's matched topics changed.
    fn resolve_regexes(&mut self, topics: &dyn TopicCatalog, force: bool) -> bool {
        if self.members.values().all(|m| m.regex.is_none()) {
            return false;
        }
        let generation = topics.generation();
        if !force && self.resolved_at == Some(generation) {
            return false;
        }
        let names = topics.topic_names();
        let mut changed = false;
        for m in self.members.values_mut() {
            changed |= m.resolve(&names);
        }
        self.resolved_at = Some(generation);
        changed
    }

    fn leave(&mut self, p: HeartbeatParams, topics: &dyn TopicCatalog) -> HeartbeatOutcome {
        let id = match (&p.instance_id, self.members.contains_key(&p.member_id)) {
            (_, true) => p.member_id.clone(),
            (Some(inst), false) => self.statics.get(inst).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let out = HeartbeatOutcome {
            member_id: p.member_id.clone(),
            epoch: p.epoch,
            ..Default::default()
        };
        let Some(m) = self.members.get_mut(&id) else {
            return HeartbeatOutcome {
                error: Some(ResponseError::UnknownMemberId),
                ..out
            };
        };
        if p.epoch == -2 && m.instance_id.is_some() {
            info!(
                group = self.group_id,
                member = id,
                "static consumer member left temporarily"
            );
            m.departed = true;
            self.dirty = true;
            return out;
        }
        info!(
            group = self.group_id,
            member = id,
            client_id = p.client_id,
            "consumer member left"
        );
        self.remove(&id);
        let c = self.counts(topics);
        self.bump_with(c);
        out
    }

    fn remove(&mut self, id: &str) {
        if let Some(m) = self.members.remove(id) {
            self.dirty = true;
            if let Some(inst) = &m.instance_id {
                if self.statics.get(inst).is_some_and(|x| x == id) {
                    self.statics.remove(inst);
                }
            }
        }
        self.target.remove(id);
    }

    /// A new group epoch: recompute the target assignment.
    fn bump_with(&mut self, counts: BTreeMap<String, i32>) {
        self.group_epoch += 1;
        self.dirty = true;
        crate::count_rebalance();
        let member_topics: Vec<(&str, Vec<String>)> = self
            .members
            .values()
            .map(|m| (m.id.as_str(), m.topics()))
            .collect();
        let inputs: Vec<AssignInput<'_>> = member_topics
            .iter()
            .map(|(member_id, topics)| AssignInput { member_id, topics })
            .collect();
        let assignor = self
            .members
            .values()
            .find_map(|m| m.server_assignor.clone())
            .unwrap_or_else(|| self.assignor.clone());
        self.target = assignor::assign(&assignor, &inputs, &counts, &self.target);
        self.assignor = assignor;
        self.topic_counts = counts;
        self.assignment_epoch = self.group_epoch;
        info!(
            group = self.group_id,
            epoch = self.group_epoch,
            members = self.members.len(),
            "new target assignment"
        );
    }

    /// Moves a member towards its target: revoke first, then take what others have released.
    fn reconcile(
        &mut self,
        id: &str,
        owned: Option<&Assignment>,
        full: bool,
        now: Instant,
    ) -> HeartbeatOutcome {
        let target = self.target.get(id).cloned().unwrap_or_default();
        let others: Assignment = self
            .members
            .values()
            .filter(|m| m.id != id)
            .fold(Assignment::new(), |acc, m| union(&acc, &m.assigned));
        let assignment_epoch = self.assignment_epoch;
        let group_id = self.group_id.clone();
        let Some(m) = self.members.get_mut(id) else {
            return HeartbeatOutcome {
                error: Some(ResponseError::UnknownMemberId),
                ..Default::default()
            };
        };
        if let Some(o) = owned {
            m.reported = Some(o.clone());
        }
        let revoke = subtract(&m.assigned, &target);
        // A heartbeat leaves out owned partitions when they did not change since the last one, so
        // the revocation may have been confirmed earlier (or the partition never taken up).
        let confirmed = !revoke.is_empty()
            && m.reported
                .as_ref()
                .is_some_and(|o| intersect(o, &revoke).is_empty());
        let mut changed = false;
        if revoke.is_empty() {
            changed |= !m.revoking.is_empty();
            m.revoking.clear();
            m.revoke_deadline = None;
        } else if confirmed {
            m.assigned = intersect(&m.assigned, &target);
            m.revoking.clear();
            m.revoke_deadline = None;
            changed = true;
        } else if !revoke.is_empty() {
            if m.revoking != revoke {
                changed = true;
                info!(group = group_id, member = id, revoking = ?revoke, "asking member to revoke partitions");
                m.revoke_deadline =
                    Some(now + Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64));
            }
            m.revoking = revoke;
        }
        if m.revoking.is_empty() {
            let next = subtract(&target, &others);
            if m.epoch != assignment_epoch || next != m.assigned {
                changed = true;
                m.previous_epoch = m.epoch;
                m.epoch = assignment_epoch;
                m.assigned = next;
            }
        }
        let current = m.current();
        let send =
            full || m.last_sent.as_ref() != Some(&current) || owned.is_some_and(|o| *o != current);
        if send {
            m.last_sent = Some(current.clone());
        }
        let epoch = m.epoch;
        self.dirty |= changed;
        HeartbeatOutcome {
            error: None,
            message: None,
            member_id: id.to_string(),
            epoch,
            assignment: send.then_some(current),
        }
    }

    /// Expires silent members and members that did not revoke in time.
    pub fn tick(&mut self, cfg: &GroupConfig, now: Instant) {
        let session = Duration::from_millis(cfg.consumer_session_timeout_ms.max(0) as u64);
        let dead: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                now.duration_since(m.last_seen) > session
                    || m.revoke_deadline.is_some_and(|d| now > d)
            })
            .map(|m| m.id.clone())
            .collect();
        if dead.is_empty() {
            return;
        }
        for id in &dead {
            info!(
                group = self.group_id,
                member = id,
                "consumer member expired (session or revocation timeout)"
            );
            self.remove(id);
        }
        let counts = self.topic_counts.clone();
        self.bump_with(counts);
    }

    /// Whether an OffsetCommit may write, by OffsetCommit v9's rules: epoch -1 (a consumer
    /// outside group management, an admin tool) commits while the group has no members, whatever
    /// member id it sends; otherwise the member must exist (UNKNOWN_MEMBER_ID) with its current
    /// or previous epoch (STALE_MEMBER_EPOCH; ILLEGAL_GENERATION before v9).
    pub fn validate_commit(
        &self,
        member_id: &str,
        epoch: i32,
        version_has_epoch: bool,
    ) -> Option<ResponseError> {
        if epoch < 0 && self.members.is_empty() {
            return None;
        }
        self.validate_member(member_id, epoch, version_has_epoch)
    }

    /// Whether an OffsetFetch (v9, with member id and epoch) may read: as a commit, and also
    /// with no member id at all.
    pub fn validate_fetch(&self, member_id: &str, epoch: i32) -> Option<ResponseError> {
        if epoch < 0 && (member_id.is_empty() || self.members.is_empty()) {
            return None;
        }
        self.validate_member(member_id, epoch, true)
    }

    /// Whether an OffsetCommit/OffsetFetch from this member and epoch is current.
    pub fn validate_member(
        &self,
        member_id: &str,
        epoch: i32,
        version_has_epoch: bool,
    ) -> Option<ResponseError> {
        if member_id.is_empty() && epoch < 0 {
            return (!self.members.is_empty()).then_some(ResponseError::UnknownMemberId);
        }
        let Some(m) = self.members.get(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if epoch != m.epoch && epoch != m.previous_epoch {
            return Some(if version_has_epoch {
                ResponseError::StaleMemberEpoch
            } else {
                ResponseError::IllegalGeneration
            });
        }
        None
    }
}

fn union(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = a.clone();
    for (t, ps) in b {
        out.entry(t.clone()).or_default().extend(ps.iter().copied());
    }
    out
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, ps)| {
            let both: BTreeSet<i32> = ps
                .iter()
                .copied()
                .filter(|p| b.get(t).is_some_and(|s| s.contains(p)))
                .collect();
            (!both.is_empty()).then(|| (t.clone(), both))
        })
        .collect()
}

#[cfg(test)]
#[path = "consumer_group_tests.rs"]
mod tests;
