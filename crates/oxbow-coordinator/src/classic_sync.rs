//! The classic protocol after the join phase: SyncGroup (the leader's assignment reaches every
//! member), Heartbeat (liveness and "rejoin now"), LeaveGroup, and the generation fencing that
//! OffsetCommit applies.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use oxbow_config::GroupConfig;
use tokio::sync::oneshot;
use tracing::info;

use super::classic::{ClassicGroup, ClassicState, Pending, SyncOutcome};

/// A SyncGroup request, version-independent.
pub struct SyncParams {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

impl ClassicGroup {
    /// Handles a SyncGroup: the leader's call completes the rebalance for everyone.
    pub fn sync(&mut self, p: SyncParams, now: Instant) -> Pending<SyncOutcome> {
        let err = |e| Pending::Now(SyncOutcome::error(e));
        if self.state == ClassicState::Dead {
            return err(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(e) = self.fence(&p.member_id, p.instance_id.as_deref()) {
            return err(e);
        }
        if !self.members.contains_key(&p.member_id) {
            return err(ResponseError::UnknownMemberId);
        }
        if p.generation != self.generation {
            return err(ResponseError::IllegalGeneration);
        }
        let type_mismatch = p
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref());
        let name_mismatch = p
            .protocol
            .as_ref()
            .is_some_and(|n| Some(n) != self.protocol.as_ref());
        if type_mismatch || name_mismatch {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            ClassicState::PreparingRebalance => err(ResponseError::RebalanceInProgress),
            ClassicState::Stable => {
                let m = self.members.get_mut(&p.member_id);
                let assignment = m.map(|m| {
                    m.last_seen = now;
                    m.assignment.clone()
                });
                Pending::Now(self.sync_ok(assignment.unwrap_or_default()))
            }
            ClassicState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(&p.member_id) {
                    m.last_seen = now;
                    m.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(p.member_id.as_str()) {
                    for m in self.members.values_mut() {
                        m.assignment = p
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    self.state = ClassicState::Stable;
                    self.dirty = true;
                    info!(
                        group = self.group_id,
                        generation = self.generation,
                        members = self.members.len(),
                        leader = p.member_id,
                        "assignment received; group is stable"
                    );
                    let outcomes: Vec<(String, SyncOutcome)> = self
                        .members
                        .values()
                        .map(|m| (m.id.clone(), self.sync_ok(m.assignment.clone())))
                        .collect();
                    for (id, outcome) in outcomes {
                        if let Some(w) =
                            self.members.get_mut(&id).and_then(|m| m.sync_waiter.take())
                        {
                            let _ = w.send(outcome);
                        }
                    }
                }
                Pending::Wait(rx)
            }
            ClassicState::Empty | ClassicState::Dead => err(ResponseError::UnknownMemberId),
        }
    }

    fn sync_ok(&self, assignment: Bytes) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            assignment,
        }
    }

    /// Handles a Heartbeat; REBALANCE_IN_PROGRESS tells the member to rejoin.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Option<ResponseError> {
        if self.state == ClassicState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(e) = self.fence(member_id, instance_id) {
            return Some(e);
        }
        if self.state == ClassicState::Empty {
            return Some(ResponseError::UnknownMemberId);
        }
        let state = self.state;
        let current = self.generation;
        let Some(m) = self.members.get_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation != current {
            return Some(ResponseError::IllegalGeneration);
        }
        m.last_seen = now;
        match state {
            ClassicState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            _ => None,
        }
    }

    /// Handles one identity of a LeaveGroup.
    pub fn leave(
        &mut self,
        cfg: &GroupConfig,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> Option<ResponseError> {
        if self.state == ClassicState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        let id = match (member_id.is_empty(), instance_id) {
            (true, Some(inst)) => match self.statics.get(inst) {
                Some(id) => id.clone(),
                None => return Some(ResponseError::UnknownMemberId),
            },
            _ => {
                if let Some(e) = self.fence(member_id, instance_id) {
                    return Some(e);
                }
                member_id.to_string()
            }
        };
        if self.pending.remove(&id).is_some() {
            self.maybe_complete_join(now);
            return None;
        }
        if !self.members.contains_key(&id) {
            return Some(ResponseError::UnknownMemberId);
        }
        info!(group = self.group_id, member = id, instance = ?instance_id, "member left the group");
        self.remove_member(&id);
        if matches!(
            self.state,
            ClassicState::Stable | ClassicState::CompletingRebalance
        ) {
            self.prepare_rebalance(cfg, now, "member left");
        }
        self.maybe_complete_join(now);
        None
    }

    /// Whether an OffsetCommit from this member and generation may write.
    pub fn validate_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ResponseError> {
        if self.state == ClassicState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == ClassicState::Empty {
            return None;
        }
        if self.state == ClassicState::CompletingRebalance {
            return Some(ResponseError::RebalanceInProgress);
        }
        if let Some(e) = self.fence(member_id, instance_id) {
            return Some(e);
        }
        if !self.members.contains_key(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        None
    }

    /// Topics the members' subscriptions name (consumer protocol only).
    pub fn subscribed_topics(&self) -> Vec<String> {
        if self.protocol_type.as_deref() != Some("consumer") || self.state == ClassicState::Empty {
            return Vec::new();
        }
        let mut out = Vec::new();
        for m in self.members.values() {
            for t in super::describe::subscription_topics(&m.metadata(self.protocol.as_deref())) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }
}
