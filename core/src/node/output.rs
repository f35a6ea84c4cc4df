//! What a member asks its runtime to do.

use super::peer::PeerMessage;
use super::request::Response;
use crate::auth::VerifyPassword;
use crate::backend::WriteBatch;
use crate::error::ApiError;
use crate::ids::NodeId;
use crate::membership::Member;
use crate::watch::WatchStreamId;
use alloc::vec::Vec;
use core::fmt;
use oxcd_proto::etcdserverpb::WatchResponse;

/// The runtime's handle for one client request; echoed in the [`Output::Reply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Identifies a [`Output::Persist`]; confirming one confirms every earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistId(pub u64);

/// One effect for the runtime to carry out. Effects that finish later carry an id; their
/// completion comes back through the `handle_*` input with the same id.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub enum Output {
    /// Send `message` to member `to` now (delivery is best effort; Raft tolerates loss).
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        message: PeerMessage,
    },
    /// Apply `batch` atomically and durably (one transaction, one fsync; consecutive persists
    /// may share them), then call `Node::handle_persisted(id)`, then send `then_send`.
    /// Persists must be carried out in id order.
    Persist {
        /// Confirm with `Node::handle_persisted`.
        id: PersistId,
        /// The writes.
        batch: WriteBatch,
        /// Messages that may leave only once `batch` is durable.
        then_send: Vec<(NodeId, PeerMessage)>,
        /// False when a crash may lose this batch harmlessly: it holds only what is redone
        /// from the Raft log on restart (the state machine's writes, a commit index, a
        /// compaction). A runtime may skip its fsync, but still writes it in order and
        /// confirms it as usual; its `then_send` needs only the earlier batches durable.
        sync: bool,
    },
    /// Answer client request `id`.
    Reply {
        /// The runtime's handle.
        id: RequestId,
        /// The answer or etcd's error.
        result: Result<Response, ApiError>,
    },
    /// Send `response` on Watch stream `stream`.
    Watch {
        /// The stream.
        stream: WatchStreamId,
        /// The response.
        response: WatchResponse,
    },
    /// Check the password against the stored bcrypt hash off the event loop (it is slow on
    /// purpose), then call `Node::handle_password_verified(id, matches)`.
    VerifyPassword(VerifyPassword),
    /// The member list changed: update the peer transport's address book.
    MembersChanged {
        /// Every member now in the cluster.
        members: Vec<Member>,
    },
    /// This member was removed from the cluster: stop serving and exit (as etcd does).
    Removed,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Send { to, message } => write!(f, "send to={to} {message}"),
            Output::Persist { id, batch, then_send, sync: _ } => write!(
                f,
                "persist id={} ops={} bytes={} then_send={}",
                id.0,
                batch.ops.len(),
                batch.size_bytes(),
                then_send.len()
            ),
            Output::Reply { id, result: Ok(response) } => {
                let rev = response.header().map_or(0, |h| h.revision);
                write!(f, "reply id={} ok rev={rev}", id.0)
            }
            Output::Reply { id, result: Err(e) } => write!(f, "reply id={} err {e}", id.0),
            Output::Watch { stream, response } => write!(
                f,
                "watch stream={} watch_id={} events={} created={} canceled={}",
                stream.0,
                response.watch_id,
                response.events.len(),
                response.created,
                response.canceled
            ),
            Output::VerifyPassword(v) => write!(f, "verify-password id={}", v.id.0),
            Output::MembersChanged { members } => write!(f, "members-changed n={}", members.len()),
            Output::Removed => f.write_str("removed"),
        }
    }
}
