//! The classic group protocol's membership: JoinGroup, MEMBER_ID_REQUIRED, static members, the
//! join phase with its initial delay and rebalance timeout, and member expiry. SyncGroup,
//! Heartbeat and LeaveGroup are in `classic_sync.rs`.
//!
//! States (as in Kafka): Empty → PreparingRebalance (members (re)join) → CompletingRebalance
//! (waiting for the leader's assignment) → Stable; Dead once deleted.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use oxbow_config::GroupConfig;
use tokio::sync::oneshot;
use tracing::info;

use super::store::{StoredGroup, StoredMember};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl ClassicState {
    pub fn name(self) -> &'static str {
        match self {
            ClassicState::Empty => "Empty",
            ClassicState::PreparingRebalance => "PreparingRebalance",
            ClassicState::CompletingRebalance => "CompletingRebalance",
            ClassicState::Stable => "Stable",
            ClassicState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup caller gets back.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: (member id, instance id, metadata for the chosen protocol).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub fn error(e: ResponseError, member_id: &str) -> Self {
        JoinOutcome {
            error: Some(e),
            generation: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

/// What a SyncGroup caller gets back.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(e: ResponseError) -> Self {
        SyncOutcome {
            error: Some(e),
            ..Default::default()
        }
    }
}

/// An answer now, or a channel answered when the rebalance phase completes.
pub enum Pending<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// A JoinGroup request, version-independent.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED with its id.
    pub require_known_member_id: bool,
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub(super) join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    pub(super) sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    pub(super) last_seen: Instant,
}

impl Member {
    /// Metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: Option<&str>) -> Bytes {
        let p = protocol.unwrap_or_default();
        self.protocols
            .iter()
            .find(|(n, _)| n == p)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub(super) fn expired(&self, now: Instant) -> bool {
        self.join_waiter.is_none()
            && self.sync_waiter.is_none()
            && now.duration_since(self.last_seen)
                > Duration::from_millis(self.session_timeout_ms.max(0) as u64)
    }
}

pub struct ClassicGroup {
    pub group_id: String,
    pub state: ClassicState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire unless used.
    pub(super) pending: HashMap<String, Instant>,
    /// Static members: group.instance.id → member id.
    pub(super) statics: HashMap<String, String>,
    pub(super) rebalance_deadline: Option<Instant>,
    pub(super) delay_until: Option<Instant>,
    pub(super) delay_cap: Option<Instant>,
    /// Set when the state should be written to the offsets log.
    pub(super) dirty: bool,
}

impl ClassicGroup {
    pub fn new(group_id: &str) -> Self {
        ClassicGroup {
            group_id: group_id.to_string(),
            state: ClassicState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            rebalance_deadline: None,
            delay_until: None,
            delay_cap: None,
            dirty: false,
        }
    }

    /// Rebuilds a group from its persisted metadata (members must heartbeat within their session).
    pub fn restore(group_id: &str, g: StoredGroup, now: Instant) -> Self {
        let mut c = ClassicGroup::new(group_id);
        c.generation = g.generation;
        c.protocol_type = (!g.protocol_type.is_empty()).then_some(g.protocol_type);
        c.protocol = g.protocol;
        c.leader = g.leader;
        for m in g.members {
            if let Some(inst) = &m.instance_id {
                c.statics.insert(inst.clone(), m.member_id.clone());
            }
            let protocols = vec![(c.protocol.clone().unwrap_or_default(), m.subscription)];
            c.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols,
                    assignment: m.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    last_seen: now,
                },
            );
        }
        c.state = if c.members.is_empty() {
            ClassicState::Empty
        } else {
            ClassicState::Stable
        };
        c
    }

    /// The persisted form of the current state.
    pub fn to_stored(&self, now_ms: i64) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: now_ms,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(self.protocol.as_deref()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Handles a JoinGroup.
    pub fn join(&mut self, cfg: &GroupConfig, p: JoinParams, now: Instant) -> Pending<JoinOutcome> {
        let err = |e| Pending::Now(JoinOutcome::error(e, &p.member_id));
        if self.state == ClassicState::Dead {
            return err(ResponseError::CoordinatorNotAvailable);
        }
        if p.session_timeout_ms < cfg.min_session_timeout_ms
            || p.session_timeout_ms > cfg.max_session_timeout_ms
        {
            return err(ResponseError::InvalidSessionTimeout);
        }
        if p.protocol_type.is_empty()
            || p.protocols.is_empty()
            || !self.supports(&p.protocol_type, &p.protocols, &p.member_id)
        {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        if p.member_id.is_empty() {
            let new_id = format!(
                "{}-{}",
                if p.client_id.is_empty() {
                    "member"
                } else {
                    &p.client_id
                },
                uuid::Uuid::new_v4()
            );
            if let Some(inst) = p.instance_id.clone() {
                if let Some(old) = self.statics.get(&inst).cloned() {
                    return self.replace_static(cfg, &old, new_id, p, now);
                }
                return self.add_member(cfg, new_id, p, now);
            }
            if p.require_known_member_id {
                let deadline = now + Duration::from_millis(p.session_timeout_ms as u64);
                self.pending.insert(new_id.clone(), deadline);
                info!(
                    group = self.group_id,
                    member = new_id,
                    client_id = p.client_id,
                    "member id required"
                );
                return Pending::Now(JoinOutcome::error(ResponseError::MemberIdRequired, &new_id));
            }
            return self.add_member(cfg, new_id, p, now);
        }
        if self.pending.remove(&p.member_id).is_some() {
            let id = p.member_id.clone();
            return self.add_member(cfg, id, p, now);
        }
        if let Some(e) = self.fence(&p.member_id, p.instance_id.as_deref()) {
            return err(e);
        }
        let state = self.state;
        let Some(m) = self.members.get_mut(&p.member_id) else {
            return err(ResponseError::UnknownMemberId);
        };
        m.last_seen = now;
        let unchanged = m.protocols == p.protocols;
        match state {
            ClassicState::PreparingRebalance => {
                let rx = update_member(m, &p);
                self.maybe_complete_join(now);
                Pending::Wait(rx)
            }
            ClassicState::CompletingRebalance if unchanged => {
                Pending::Now(self.outcome_for(&p.member_id))
            }
            ClassicState::Stable
                if unchanged && self.leader.as_deref() != Some(p.member_id.as_str()) =>
            {
                Pending::Now(self.outcome_for(&p.member_id))
            }
            ClassicState::CompletingRebalance | ClassicState::Stable => {
                let rx = update_member(m, &p);
                self.prepare_rebalance(cfg, now, "member rejoined");
                self.maybe_complete_join(now);
                Pending::Wait(rx)
            }
            ClassicState::Empty | ClassicState::Dead => err(ResponseError::UnknownMemberId),
        }
    }

    /// FENCED_INSTANCE_ID when `instance` belongs to another member id.
    pub(super) fn fence(&self, member_id: &str, instance: Option<&str>) -> Option<ResponseError> {
        let inst = instance?;
        match self.statics.get(inst) {
            Some(id) if id != member_id => Some(ResponseError::FencedInstanceId),
            None if !member_id.is_empty() && !self.members.contains_key(member_id) => {
                Some(ResponseError::UnknownMemberId)
            }
            _ => None,
        }
    }

    fn supports(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        member_id: &str,
    ) -> bool {
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.id != member_id)
            .collect();
        if others.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != protocol_type)
        {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn add_member(
        &mut self,
        cfg: &GroupConfig,
        id: String,
        p: JoinParams,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Some(inst) = &p.instance_id {
            self.statics.insert(inst.clone(), id.clone());
        }
        info!(group = self.group_id, member = id, client_id = p.client_id, host = p.client_host,
            instance = ?p.instance_id, "member joining");
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: p.instance_id,
                client_id: p.client_id,
                client_host: p.client_host,
                session_timeout_ms: p.session_timeout_ms,
                rebalance_timeout_ms: p.rebalance_timeout_ms,
                protocols: p.protocols,
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                last_seen: now,
            },
        );
        if self.state == ClassicState::PreparingRebalance {
            if let (Some(until), Some(cap)) = (self.delay_until, self.delay_cap) {
                let extended = now + Duration::from_millis(cfg.initial_rebalance_delay_ms);
                self.delay_until = Some(until.max(extended).min(cap));
            }
        } else {
            self.prepare_rebalance(cfg, now, "member joined");
        }
        self.maybe_complete_join(now);
        Pending::Wait(rx)
    }

    /// A static member rejoining with a new member id takes over its old id's place and assignment
    /// without a rebalance (KIP-345), unless its subscription changed.
    fn replace_static(
        &mut self,
        cfg: &GroupConfig,
        old: &str,
        new_id: String,
        p: JoinParams,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        let Some(mut m) = self.members.remove(old) else {
            return self.add_member(cfg, new_id, p, now);
        };
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinOutcome::error(ResponseError::FencedInstanceId, old));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.send(SyncOutcome::error(ResponseError::FencedInstanceId));
        }
        info!(group = self.group_id, old_member = old, member = new_id, instance = ?p.instance_id,
            client_id = p.client_id, "static member rejoined; replacing its old member id");
        let changed = m.protocols != p.protocols;
        m.id = new_id.clone();
        m.client_id = p.client_id.clone();
        m.client_host = p.client_host.clone();
        m.session_timeout_ms = p.session_timeout_ms;
        m.rebalance_timeout_ms = p.rebalance_timeout_ms;
        m.last_seen = now;
        if let Some(inst) = &p.instance_id {
            self.statics.insert(inst.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(new_id.clone());
        }
        self.members.insert(new_id.clone(), m);
        self.dirty = true;
        match self.state {
            ClassicState::Stable | ClassicState::CompletingRebalance if !changed => {
                Pending::Now(self.outcome_for(&new_id))
            }
            _ => {
                let rx = match self.members.get_mut(&new_id) {
                    Some(m) => update_member(m, &p),
                    None => {
                        return Pending::Now(JoinOutcome::error(
                            ResponseError::UnknownMemberId,
                            &new_id,
                        ))
                    }
                };
                if self.state != ClassicState::PreparingRebalance {
                    self.prepare_rebalance(cfg, now, "static member changed its subscription");
                }
                self.maybe_complete_join(now);
                Pending::Wait(rx)
            }
        }
    }

    /// The join answer for a member in the current generation.
    pub(super) fn outcome_for(&self, member_id: &str) -> JoinOutcome {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .values()
                    .map(|m| {
                        (
                            m.id.clone(),
                            m.instance_id.clone(),
                            m.metadata(self.protocol.as_deref()),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

fn update_member(m: &mut Member, p: &JoinParams) -> oneshot::Receiver<JoinOutcome> {
    let (tx, rx) = oneshot::channel();
    m.protocols = p.protocols.clone();
    m.session_timeout_ms = p.session_timeout_ms;
    m.rebalance_timeout_ms = p.rebalance_timeout_ms;
    m.client_id = p.client_id.clone();
    if let Some(old) = m.join_waiter.replace(tx) {
        drop(old);
    }
    rx
}
