//! What clients did and saw: each operation with its invoke time, its completion time and its
//! outcome, as the linearizability checker reads it.

use oxcd_core::ids::NodeId;
use oxcd_core::time::Instant;
use std::fmt;

/// A key-value operation, as a client issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvCall {
    /// Put `value` at `key`.
    Put {
        /// The key.
        key: String,
        /// The value (the workload never writes the same value twice).
        value: String,
    },
    /// A linearizable Range of one key.
    Get {
        /// The key.
        key: String,
    },
    /// A serializable Range of one key (answered from the member's local state; checked only
    /// for monotonic revisions per member).
    GetSerializable {
        /// The key.
        key: String,
    },
    /// DeleteRange of one key.
    Delete {
        /// The key.
        key: String,
    },
    /// A Txn: if `key` holds `expect` (`None`: the key is absent) put `new`, else read `key`.
    Cas {
        /// The key.
        key: String,
        /// The value required, or `None` for "absent".
        expect: Option<String>,
        /// The value written on success.
        new: String,
    },
}

impl KvCall {
    /// The one key the operation touches.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            KvCall::Put { key, .. }
            | KvCall::Get { key }
            | KvCall::GetSerializable { key }
            | KvCall::Delete { key }
            | KvCall::Cas { key, .. } => key,
        }
    }

    /// True for operations that change nothing.
    #[must_use]
    pub fn is_read(&self) -> bool {
        matches!(self, KvCall::Get { .. } | KvCall::GetSerializable { .. })
    }
}

/// What a successful operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvReturn {
    /// The put was applied.
    Put,
    /// The value read (`None`: absent) and its `mod_revision` (0 when absent).
    Get {
        /// The value.
        value: Option<String>,
        /// The key's mod revision.
        mod_revision: i64,
    },
    /// Whether a key was deleted.
    Delete {
        /// One key existed and was deleted.
        deleted: bool,
    },
    /// Whether the comparison held; when it did not, the value the failure branch read.
    Cas {
        /// The comparison held and `new` was written.
        succeeded: bool,
        /// On failure, the key's value as the failure branch read it.
        current: Option<String>,
    },
}

/// How an operation ended, as far as the client knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The member answered with success.
    Ok(KvReturn),
    /// The operation certainly took no effect (refused before it could, or never delivered).
    Failed(String),
    /// The client does not know: timed out, lost, or an error that may follow a proposal.
    Unknown(String),
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Unique within a history, in invocation order.
    pub id: u64,
    /// The client (session) that issued it; a client has one operation in flight at most.
    pub client: usize,
    /// The member it was sent to.
    pub member: NodeId,
    /// When the client sent it.
    pub invoke: Instant,
    /// When the client got the answer or gave up; `None` while in flight.
    pub complete: Option<Instant>,
    /// What was asked.
    pub call: KvCall,
    /// What came back; `None` while in flight.
    pub outcome: Option<Outcome>,
    /// The revision in the response header (0 without a successful response).
    pub header_revision: i64,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.complete.map_or_else(|| "…".to_string(), |t| t.to_string());
        write!(f, "#{} c{} m{} [{} → {}] ", self.id, self.client, self.member, self.invoke, end)?;
        match &self.call {
            KvCall::Put { key, value } => write!(f, "put {key}={value}")?,
            KvCall::Get { key } => write!(f, "get {key}")?,
            KvCall::GetSerializable { key } => write!(f, "get-serializable {key}")?,
            KvCall::Delete { key } => write!(f, "delete {key}")?,
            KvCall::Cas { key, expect, new } => {
                write!(f, "cas {key} {}→{new}", expect.as_deref().unwrap_or("<absent>"))?;
            }
        }
        match &self.outcome {
            None => write!(f, " …"),
            Some(Outcome::Ok(r)) => {
                write!(f, " ok rev={}", self.header_revision)?;
                match r {
                    KvReturn::Put => Ok(()),
                    KvReturn::Get { value, mod_revision } => write!(
                        f,
                        " value={} mod_rev={mod_revision}",
                        value.as_deref().unwrap_or("<absent>")
                    ),
                    KvReturn::Delete { deleted } => write!(f, " deleted={deleted}"),
                    KvReturn::Cas { succeeded, current } => write!(
                        f,
                        " succeeded={succeeded}{}",
                        current.as_ref().map_or(String::new(), |c| format!(" current={c}"))
                    ),
                }
            }
            Some(Outcome::Failed(e)) => write!(f, " failed: {e}"),
            Some(Outcome::Unknown(e)) => write!(f, " unknown: {e}"),
        }
    }
}

/// Every operation clients issued, in invocation order.
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Operation>,
}

impl History {
    /// An empty history.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an invocation; returns its id.
    pub fn invoke(&mut self, client: usize, member: NodeId, at: Instant, call: KvCall) -> u64 {
        let id = self.ops.len() as u64;
        self.ops.push(Operation {
            id,
            client,
            member,
            invoke: at,
            complete: None,
            call,
            outcome: None,
            header_revision: 0,
        });
        id
    }

    /// Records the end of operation `id` (only the first end counts).
    pub fn complete(&mut self, id: u64, at: Instant, outcome: Outcome, header_revision: i64) {
        let Some(op) = usize::try_from(id).ok().and_then(|i| self.ops.get_mut(i)) else {
            return;
        };
        if op.outcome.is_none() {
            op.complete = Some(at);
            op.outcome = Some(outcome);
            op.header_revision = header_revision;
        }
    }

    /// The operation with this id.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&Operation> {
        usize::try_from(id).ok().and_then(|i| self.ops.get(i))
    }

    /// Every operation.
    #[must_use]
    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    /// Counts of (ok, failed, unknown, in flight).
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for op in &self.ops {
            match op.outcome {
                Some(Outcome::Ok(_)) => c.0 += 1,
                Some(Outcome::Failed(_)) => c.1 += 1,
                Some(Outcome::Unknown(_)) => c.2 += 1,
                None => c.3 += 1,
            }
        }
        c
    }
}
