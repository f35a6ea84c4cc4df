//! What protocol code needs from the transport while it runs: where decoded requests go, how
//! call ids are made, the limits, the connection's identity and peer.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::config::TransportConfig;
use super::types::{CallId, ConnId, Incoming, PeerInfo};
use super::wake::WakeShared;

pub(crate) struct Sink<'a> {
    pub(crate) incoming: &'a mut VecDeque<Incoming>,
    pub(crate) calls: &'a mut BTreeMap<CallId, ConnId>,
    pub(crate) next_call: &'a mut u64,
    pub(crate) config: &'a TransportConfig,
    pub(crate) conn: ConnId,
    pub(crate) peer: Arc<PeerInfo>,
    pub(crate) wake: &'a Arc<WakeShared>,
}

impl Sink<'_> {
    /// A new call on this connection, registered for lookup by id.
    pub(crate) fn new_call(&mut self) -> CallId {
        *self.next_call += 1;
        let id = CallId(*self.next_call);
        self.calls.insert(id, self.conn);
        id
    }

    /// Forgets a call (its answers are ignored from now on).
    pub(crate) fn end_call(&mut self, id: CallId) {
        self.calls.remove(&id);
    }

    pub(crate) fn emit(&mut self, incoming: Incoming) {
        self.incoming.push_back(incoming);
    }
}
