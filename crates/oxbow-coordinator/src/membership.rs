//! The coordinator's membership entry points: they find (or create) the group, switch an empty
//! group between protocols, run the protocol's state machine and persist what changed.

use std::time::Instant;

use kafka_protocol::ResponseError;

use super::classic::{ClassicGroup, JoinOutcome, JoinParams, Pending, SyncOutcome};
use super::classic_sync::SyncParams;
use super::consumer_group::{ConsumerGroup, HeartbeatOutcome, HeartbeatParams};
use super::{Group, GroupCoordinator, Protocol};
use crate::context::CoordinatorContext;

fn classic_group(id: &str, _: &oxbow_config::GroupConfig) -> Group {
    Group::new_classic(id)
}

fn consumer_group(id: &str, cfg: &oxbow_config::GroupConfig) -> Group {
    let mut g = Group::new_classic(id);
    g.protocol = Protocol::Consumer(ConsumerGroup::new(id, &cfg.consumer_default_assignor));
    g
}

impl GroupCoordinator {
    pub fn join(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        p: JoinParams,
    ) -> Pending<JoinOutcome> {
        if group_id.is_empty() {
            return Pending::Now(JoinOutcome::error(
                ResponseError::InvalidGroupId,
                &p.member_id,
            ));
        }
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return Pending::Now(JoinOutcome::error(e, &p.member_id)),
        };
        let member_id = p.member_id.clone();
        let r = self.with_group(&*log, group_id, Some(classic_group), |g, cfg| {
            if let Protocol::Consumer(c) = &g.protocol {
                if !c.members.is_empty() {
                    return Pending::Now(JoinOutcome::error(
                        ResponseError::InconsistentGroupProtocol,
                        &p.member_id,
                    ));
                }
                g.protocol = Protocol::Classic(ClassicGroup::new(group_id));
            }
            match &mut g.protocol {
                Protocol::Classic(c) => c.join(cfg, p, Instant::now()),
                Protocol::Consumer(_) => Pending::Now(JoinOutcome::error(
                    ResponseError::InconsistentGroupProtocol,
                    "",
                )),
            }
        });
        r.unwrap_or_else(|| {
            Pending::Now(JoinOutcome::error(
                ResponseError::CoordinatorNotAvailable,
                &member_id,
            ))
        })
    }

    pub fn sync(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        p: SyncParams,
    ) -> Pending<SyncOutcome> {
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return Pending::Now(SyncOutcome::error(e)),
        };
        self.with_group(&*log, group_id, None, |g, _| match &mut g.protocol {
            Protocol::Classic(c) => c.sync(p, Instant::now()),
            Protocol::Consumer(_) => {
                Pending::Now(SyncOutcome::error(ResponseError::UnknownMemberId))
            }
        })
        .unwrap_or_else(|| Pending::Now(SyncOutcome::error(ResponseError::UnknownMemberId)))
    }

    pub fn heartbeat(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ResponseError> {
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return Some(e),
        };
        self.with_group(&*log, group_id, None, |g, _| match &mut g.protocol {
            Protocol::Classic(c) => c.heartbeat(member_id, instance_id, generation, Instant::now()),
            Protocol::Consumer(_) => Some(ResponseError::UnknownMemberId),
        })
        .unwrap_or(Some(ResponseError::UnknownMemberId))
    }

    /// LeaveGroup for each (member id, instance id); one error per identity.
    pub fn leave(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        who: &[(String, Option<String>)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let log = self.ensure_ready(ctx)?;
        self.with_group(&*log, group_id, None, |g, cfg| match &mut g.protocol {
            Protocol::Classic(c) => {
                let now = Instant::now();
                Ok(who
                    .iter()
                    .map(|(m, i)| c.leave(cfg, m, i.as_deref(), now))
                    .collect())
            }
            Protocol::Consumer(_) => Err(ResponseError::UnknownMemberId),
        })
        .unwrap_or(Err(ResponseError::UnknownMemberId))
    }

    /// ConsumerGroupHeartbeat (KIP-848).
    pub fn consumer_heartbeat(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        p: HeartbeatParams,
    ) -> HeartbeatOutcome {
        let fail = |e: ResponseError, msg: &str| HeartbeatOutcome {
            error: Some(e),
            message: Some(msg.to_string()),
            member_id: p.member_id.clone(),
            epoch: p.epoch,
            assignment: None,
        };
        if group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId, "group id must not be empty");
        }
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return fail(e, "coordinator not available"),
        };
        let topics = ctx.topics();
        let create = if p.epoch == 0 {
            Some(consumer_group as fn(&str, &oxbow_config::GroupConfig) -> Group)
        } else {
            None
        };
        let mut p = Some(p);
        let out = self.with_group(&*log, group_id, create, |g, cfg| {
            if let Protocol::Classic(c) = &g.protocol {
                if !c.is_empty() {
                    return None;
                }
                g.protocol = Protocol::Consumer(ConsumerGroup::new(
                    group_id,
                    &cfg.consumer_default_assignor,
                ));
            }
            match (&mut g.protocol, p.take()) {
                (Protocol::Consumer(c), Some(params)) => {
                    Some(c.heartbeat(params, topics, Instant::now()))
                }
                _ => None,
            }
        });
        match (out, p) {
            (Some(Some(o)), _) => o,
            (Some(None), _) => HeartbeatOutcome {
                error: Some(ResponseError::GroupIdNotFound),
                message: Some(format!("group {group_id} is a classic group with members")),
                ..Default::default()
            },
            (None, Some(p)) => HeartbeatOutcome {
                error: Some(ResponseError::UnknownMemberId),
                message: Some("unknown group".into()),
                member_id: p.member_id,
                epoch: p.epoch,
                assignment: None,
            },
            (None, None) => HeartbeatOutcome {
                error: Some(ResponseError::UnknownMemberId),
                ..Default::default()
            },
        }
    }
}
