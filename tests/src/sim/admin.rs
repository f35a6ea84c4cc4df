//! Membership changes and leader transfers for scenarios: each asks the leader and waits for
//! the answer, as `etcdctl member ...` and `etcdctl move-leader` would.

use crate::sim::client::ClientError;
use crate::sim::world::{peer_url, Sim};
use oxcd_core::error::ApiError;
use oxcd_core::ids::NodeId;
use oxcd_core::node::{Request, Response};
use oxcd_proto::etcdserverpb as pb;

impl Sim {
    fn leader_or_err(&self) -> Result<u64, ClientError> {
        self.leader().ok_or(ClientError::Api(ApiError::NoLeader))
    }

    /// Adds a member (a learner if `learner`) and starts its process, empty, joining the
    /// running cluster. Returns its id.
    ///
    /// # Errors
    /// No leader, or the leader refused or did not answer.
    pub fn add_member(&mut self, learner: bool) -> Result<u64, ClientError> {
        let leader = self.leader_or_err()?;
        let host = self.next_host;
        self.next_host += 1;
        let request = Request::MemberAdd(pb::MemberAddRequest {
            peer_urls: vec![peer_url(host)],
            is_learner: learner,
        });
        match self.request(leader, request)? {
            Response::MemberAdd(r) => {
                let id = r.member.map(|m| m.id).ok_or(ClientError::Api(ApiError::NotCapable))?;
                self.adopt_member(NodeId(id), host);
                self.start(NodeId(id));
                Ok(id)
            }
            _ => Err(ClientError::Api(ApiError::NotCapable)),
        }
    }

    /// Promotes learner `id` to voter.
    ///
    /// # Errors
    /// No leader, or the leader refused (for instance: the learner is not caught up yet).
    pub fn promote(&mut self, id: u64) -> Result<(), ClientError> {
        let leader = self.leader_or_err()?;
        self.request(leader, Request::MemberPromote(pb::MemberPromoteRequest { id })).map(|_| ())
    }

    /// Removes member `id`; its process stops once it applies its own removal.
    ///
    /// # Errors
    /// No leader, or the leader refused or did not answer.
    pub fn remove_member(&mut self, id: u64) -> Result<(), ClientError> {
        let leader = self.leader_or_err()?;
        self.request(leader, Request::MemberRemove(pb::MemberRemoveRequest { id })).map(|_| ())
    }

    /// Asks the leader to hand leadership to `to`.
    ///
    /// # Errors
    /// No leader, or the transfer was refused or did not finish in time.
    pub fn move_leader(&mut self, to: u64) -> Result<(), ClientError> {
        let leader = self.leader_or_err()?;
        self.request(leader, Request::MoveLeader(pb::MoveLeaderRequest { target_id: to }))
            .map(|_| ())
    }
}
