//! The classic protocol's rebalance: PreparingRebalance (with the initial delay for a group that
//! was empty), completing the join phase (choosing the protocol and the leader, answering every
//! waiting JoinGroup), member removal and the timers (session expiry, rebalance deadline).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use oxbow_config::GroupConfig;
use tracing::info;

use super::classic::{ClassicGroup, ClassicState, JoinOutcome, SyncOutcome};

impl ClassicGroup {
    /// Moves to PreparingRebalance: members must rejoin within the rebalance timeout.
    pub(super) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant, reason: &str) {
        if self.state == ClassicState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let was_empty = self.state == ClassicState::Empty;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
            .max(0) as u64;
        self.rebalance_deadline = Some(now + Duration::from_millis(timeout));
        if was_empty && cfg.initial_rebalance_delay_ms > 0 {
            self.delay_until = Some(now + Duration::from_millis(cfg.initial_rebalance_delay_ms));
            self.delay_cap =
                Some(now + Duration::from_millis(timeout.max(cfg.initial_rebalance_delay_ms)));
        } else {
            self.delay_until = None;
            self.delay_cap = None;
        }
        info!(
            group = self.group_id,
            generation = self.generation,
            members = self.members.len(),
            reason,
            "preparing rebalance"
        );
        self.state = ClassicState::PreparingRebalance;
    }

    /// Completes the join phase once every member rejoined (and the initial delay passed), or at
    /// the rebalance deadline.
    pub(super) fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != ClassicState::PreparingRebalance {
            return;
        }
        if self.delay_until.is_some_and(|d| now < d) {
            return;
        }
        let all_joined =
            self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some());
        let deadline_passed = self.rebalance_deadline.is_none_or(|d| now >= d);
        if all_joined || deadline_passed {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in stale {
            info!(
                group = self.group_id,
                member = id,
                "member did not rejoin in time; removing"
            );
            self.remove_member(&id);
        }
        self.pending.clear();
        self.delay_until = None;
        self.delay_cap = None;
        self.rebalance_deadline = None;
        self.generation += 1;
        self.dirty = true;
        crate::count_rebalance();
        if self.members.is_empty() {
            self.state = ClassicState::Empty;
            self.protocol = None;
            self.leader = None;
            info!(
                group = self.group_id,
                generation = self.generation,
                "group is empty"
            );
            return;
        }
        self.protocol = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = ClassicState::CompletingRebalance;
        info!(group = self.group_id, generation = self.generation, members = self.members.len(),
            protocol = ?self.protocol, leader = ?self.leader, "join phase complete; awaiting assignment");
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let outcome = self.outcome_for(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.last_seen = now;
                if let Some(w) = m.join_waiter.take() {
                    let _ = w.send(outcome);
                }
            }
        }
    }

    /// The protocol every member supports that most members prefer.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0usize, *c)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == name) {
                    v.0 += 1;
                }
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .iter()
            .find(|(n, _)| *n == best)
            .map(|(_, c)| (*c).clone())
    }

    /// Removes a member, answering any request it has waiting with UNKNOWN_MEMBER_ID.
    pub(super) fn remove_member(&mut self, id: &str) {
        if let Some(mut m) = self.members.remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(ResponseError::UnknownMemberId));
            }
            if let Some(inst) = &m.instance_id {
                if self.statics.get(inst).is_some_and(|x| x == id) {
                    self.statics.remove(inst);
                }
            }
            if self.leader.as_deref() == Some(id) {
                self.leader = None;
            }
            self.dirty = true;
        }
    }

    /// Expires pending ids and silent members, and completes a join phase whose time has come.
    pub fn tick(&mut self, cfg: &GroupConfig, now: Instant) {
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            info!(
                group = self.group_id,
                member = id,
                "session timeout expired; removing member"
            );
            self.remove_member(id);
        }
        if !expired.is_empty()
            && matches!(
                self.state,
                ClassicState::Stable | ClassicState::CompletingRebalance
            )
        {
            self.prepare_rebalance(cfg, now, "member session expired");
        }
        self.maybe_complete_join(now);
    }
}
