//! Requests only the leader can answer (lease keep-alives and time-to-live, membership
//! changes), forwarded by followers and answered over the peer connection.

use super::peer::MemberOp;
use super::request::{Request, Response};
use super::{route, Forwarded, ForwardedReply, Node, Output, PeerMessage, RequestId};
use crate::error::ApiError;
use crate::ids::{LeaseId, NodeId};
use crate::membership::Member;
use crate::time::Instant;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb as pb;

/// What a forwarded request was, to rebuild the client's response from the leader's answer.
#[derive(Clone, Copy, Debug)]
pub(super) enum ForwardKind {
    Lease(LeaseId),
    MemberAdd,
    /// Removing the member with this id.
    MemberRemove(NodeId),
    MemberUpdate,
    MemberPromote,
}

/// A request forwarded to the leader, waiting for its answer.
#[derive(Debug)]
pub(super) struct PendingForward {
    pub id: RequestId,
    pub deadline: Instant,
    pub kind: ForwardKind,
}

/// Where the answer to a proposed request goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum ReplyTo {
    /// A client of this member.
    Client(RequestId),
    /// A follower that forwarded the request (its forward id).
    Peer { to: NodeId, id: u64 },
}

impl Node {
    /// Sends `request` to the leader; the client is answered when the leader replies.
    pub(super) fn forward(&mut self, id: RequestId, request: Forwarded, kind: ForwardKind) {
        let leader = self.raft.leader();
        if !leader.is_some() || leader == self.cfg.id {
            self.reply(id, Err(ApiError::NoLeader));
            return;
        }
        let key = self.next_internal_id();
        let deadline = self.now + self.cfg.request_timeout;
        self.forwards.insert(key, PendingForward { id, deadline, kind });
        self.push(Output::Send { to: leader, message: PeerMessage::Forward { id: key, request } });
    }

    /// The leader side: answer a follower's forwarded request.
    pub(super) fn answer_forward(&mut self, from: NodeId, id: u64, request: Forwarded) {
        if !self.raft.is_leader() {
            let reply = ForwardedReply::NotLeader;
            self.push(Output::Send { to: from, message: PeerMessage::ForwardReply { id, reply } });
            return;
        }
        match request {
            Forwarded::Member(op) => {
                self.member_request(ReplyTo::Peer { to: from, id }, member_request(op));
            }
            lease => {
                let reply = self.sm.answer_forwarded(self.now, &lease);
                self.push(Output::Send {
                    to: from,
                    message: PeerMessage::ForwardReply { id, reply },
                });
            }
        }
    }

    /// The follower side: the leader answered.
    pub(super) fn complete_forward(&mut self, id: u64, reply: ForwardedReply) {
        let Some(f) = self.forwards.remove(&id) else { return };
        let result = match (f.kind, reply) {
            (_, ForwardedReply::Error(index)) => {
                Err(ApiError::ALL.get(usize::from(index)).copied().unwrap_or(ApiError::NotCapable))
            }
            (_, ForwardedReply::NotLeader) => Err(ApiError::NotLeader),
            (ForwardKind::Lease(lease), reply) => route::forwarded_response(lease, reply),
            (kind, ForwardedReply::Member { member, members }) => {
                Ok(member_response(kind, member.as_ref(), &members))
            }
            (_, _) => Err(ApiError::NotCapable),
        };
        self.reply(f.id, result);
    }

    /// This member applied its own removal: requests it forwarded to remove itself are
    /// answered here, as the leader's answer would come over a connection that is going
    /// away (etcd answers them from the removed member's own apply too).
    pub(super) fn complete_own_removal(&mut self, members: &[Member]) {
        let me = self.cfg.id;
        let done: Vec<u64> = self
            .forwards
            .iter()
            .filter(|(_, f)| matches!(f.kind, ForwardKind::MemberRemove(id) if id == me))
            .map(|(key, _)| *key)
            .collect();
        for key in done {
            if let Some(f) = self.forwards.remove(&key) {
                self.reply(f.id, Ok(member_response(f.kind, None, members)));
            }
        }
    }

    /// Answers a proposed request, to a client or to the follower that forwarded it.
    pub(super) fn send_answer(&mut self, to: ReplyTo, result: Result<Response, ApiError>) {
        match to {
            ReplyTo::Client(id) => self.reply(id, result),
            ReplyTo::Peer { to, id } => {
                let reply = match result {
                    Ok(response) => forwarded_member_reply(&response),
                    Err(e) => error_reply(e),
                };
                self.push(Output::Send { to, message: PeerMessage::ForwardReply { id, reply } });
            }
        }
    }
}

/// A forwarded error, by its place in `ApiError::ALL`.
pub(super) fn error_reply(e: ApiError) -> ForwardedReply {
    let index = ApiError::ALL.iter().position(|x| *x == e).unwrap_or(0);
    ForwardedReply::Error(u16::try_from(index).unwrap_or(0))
}

fn member_request(op: MemberOp) -> Request {
    match op {
        MemberOp::Add { peer_urls, is_learner } => {
            Request::MemberAdd(pb::MemberAddRequest { peer_urls, is_learner })
        }
        MemberOp::Remove { id } => Request::MemberRemove(pb::MemberRemoveRequest { id: id.0 }),
        MemberOp::Update { id, peer_urls } => {
            Request::MemberUpdate(pb::MemberUpdateRequest { id: id.0, peer_urls })
        }
        MemberOp::Promote { id } => Request::MemberPromote(pb::MemberPromoteRequest { id: id.0 }),
    }
}

/// A follower's forwardable form of a Cluster request.
pub(super) fn member_op(request: &Request) -> Option<(MemberOp, ForwardKind)> {
    Some(match request {
        Request::MemberAdd(r) => (
            MemberOp::Add { peer_urls: r.peer_urls.clone(), is_learner: r.is_learner },
            ForwardKind::MemberAdd,
        ),
        Request::MemberRemove(r) => {
            (MemberOp::Remove { id: NodeId(r.id) }, ForwardKind::MemberRemove(NodeId(r.id)))
        }
        Request::MemberUpdate(r) => (
            MemberOp::Update { id: NodeId(r.id), peer_urls: r.peer_urls.clone() },
            ForwardKind::MemberUpdate,
        ),
        Request::MemberPromote(r) => {
            (MemberOp::Promote { id: NodeId(r.id) }, ForwardKind::MemberPromote)
        }
        _ => return None,
    })
}

fn from_pb(m: &pb::Member) -> Member {
    Member {
        id: NodeId(m.id),
        name: m.name.clone(),
        peer_urls: m.peer_urls.clone(),
        client_urls: m.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

fn forwarded_member_reply(response: &Response) -> ForwardedReply {
    let (member, members) = match response {
        Response::MemberAdd(r) => (r.member.as_ref().map(from_pb), &r.members),
        Response::MemberRemove(r) => (None, &r.members),
        Response::MemberUpdate(r) => (None, &r.members),
        Response::MemberPromote(r) => (None, &r.members),
        _ => return error_reply(ApiError::NotCapable),
    };
    ForwardedReply::Member { member, members: members.iter().map(from_pb).collect() }
}

fn member_response(kind: ForwardKind, member: Option<&Member>, members: &[Member]) -> Response {
    let members: Vec<pb::Member> = members.iter().map(super::apply::to_pb_member).collect();
    match kind {
        ForwardKind::MemberAdd => Response::MemberAdd(pb::MemberAddResponse {
            header: None,
            member: member.map(super::apply::to_pb_member),
            members,
        }),
        ForwardKind::MemberRemove(_) => {
            Response::MemberRemove(pb::MemberRemoveResponse { header: None, members })
        }
        ForwardKind::MemberUpdate => {
            Response::MemberUpdate(pb::MemberUpdateResponse { header: None, members })
        }
        ForwardKind::MemberPromote | ForwardKind::Lease(_) => {
            Response::MemberPromote(pb::MemberPromoteResponse { header: None, members })
        }
    }
}
