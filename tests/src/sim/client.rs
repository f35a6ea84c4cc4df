//! Clients: requests travel to a member and answers back over a client link with its own
//! latency; a client gives up after its timeout. Key-value operations are recorded in the
//! [`History`](crate::sim::history::History) with their outcome as the client knows it.
//!
//! [`Client`] is the handle targeted scenarios use: each call runs the world until the answer
//! comes back, like a blocking client would.

use crate::sim::history::{KvCall, KvReturn, Outcome};
use crate::sim::world::Sim;
use oxcd_core::error::ApiError;
use oxcd_core::ids::NodeId;
use oxcd_core::node::{Request, Response};
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use std::fmt;
use std::time::Duration;

/// Why a client got no successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The member answered with this error.
    Api(ApiError),
    /// The member's process was down when the request arrived.
    Refused,
    /// The member's process stopped after receiving the request, before answering.
    ConnectionLost,
    /// No answer within the client timeout.
    TimedOut,
    /// The world stopped at an invariant violation.
    Stopped,
}

impl ClientError {
    /// True when the request certainly took no effect: refused before reaching Raft, never
    /// delivered, or rejected at apply. Anything else (timeouts, lost connections, errors that
    /// can follow a proposal) leaves the outcome unknown.
    #[must_use]
    pub fn is_definite(&self) -> bool {
        match self {
            ClientError::Refused => true,
            ClientError::Api(e) => matches!(
                e,
                ApiError::NoLeader
                    | ApiError::NotLeader
                    | ApiError::TooManyRequests
                    | ApiError::RequestTooLarge
                    | ApiError::LeaderChanged
                    | ApiError::Unhealthy
                    | ApiError::Stopped
                    | ApiError::NotCapable
                    | ApiError::NoSpace
                    | ApiError::InvalidAuthToken
            ),
            ClientError::ConnectionLost | ClientError::TimedOut | ClientError::Stopped => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Api(e) => write!(f, "{e}"),
            ClientError::Refused => f.write_str("connection refused"),
            ClientError::ConnectionLost => f.write_str("connection lost"),
            ClientError::TimedOut => f.write_str("client timeout"),
            ClientError::Stopped => f.write_str("simulation stopped at a violation"),
        }
    }
}

/// Why a request was sent, to know what to do with its answer.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A key-value operation recorded as history entry `op`; `session` is the workload session
    /// that waits for it, if any.
    Kv { op: u64, call: KvCall, session: Option<usize> },
    /// A request someone waits for by id (scenarios).
    Wait,
    /// A request of the fault injector.
    Nemesis(crate::sim::nemesis::Tag),
    /// A state probe of the sampler (answered synchronously, never recorded).
    Probe,
}

/// A request between its sending and its answer.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub member: NodeId,
    /// Taken when it reaches the member.
    pub request: Option<Request>,
    pub purpose: Purpose,
    /// It reached a running process (so a crash leaves its outcome unknown).
    pub delivered: bool,
}

impl Sim {
    /// The request ended with `result` (answer, timeout, lost connection).
    pub(crate) fn finish(&mut self, rid: u64, result: Result<Response, ClientError>) {
        let Some(f) = self.in_flight.remove(&rid) else { return };
        let now = self.now();
        match f.purpose {
            Purpose::Kv { op, call, session } => {
                let (outcome, revision) = outcome_of(&call, &result);
                self.history.complete(op, now, outcome, revision);
                match session {
                    Some(s) => self.workload_done(s, op),
                    None => {
                        self.done.insert(rid, result);
                    }
                }
            }
            Purpose::Wait | Purpose::Probe => {
                self.done.insert(rid, result);
            }
            Purpose::Nemesis(tag) => self.nemesis_answer(tag, result),
        }
    }

    /// Sends a key-value call to `member` and records it in the history.
    pub(crate) fn submit_kv(
        &mut self,
        client: usize,
        session: Option<usize>,
        member: NodeId,
        call: KvCall,
    ) -> u64 {
        let now = self.now();
        let request = request_of(&call);
        let op = self.history.invoke(client, member, now, call.clone());
        self.submit(member, request, Purpose::Kv { op, call, session })
    }

    /// Runs the world until request `rid` is answered (or the client gave up on it).
    /// In a scenario (not `quiet`), a violation panics here with the full report.
    pub(crate) fn wait(&mut self, rid: u64) -> Result<Response, ClientError> {
        let deadline = self.cfg.client_timeout + Duration::from_secs(1);
        let answered = self.try_run_while(deadline, |s| s.done.contains_key(&rid));
        if let Err(f) = answered {
            if !self.quiet {
                panic!("{f}");
            }
        }
        self.done.remove(&rid).unwrap_or(Err(ClientError::Stopped))
    }

    /// A client that sends each call to any member, moving on to the next one (after a short
    /// pause) when a member cannot serve it, for up to 30 s of virtual time — like an etcd
    /// client given every endpoint.
    pub fn client(&mut self) -> Client<'_> {
        Client { sim: self, member: None, patience: Duration::from_secs(30) }
    }

    /// A client talking to `member` only, with no retries.
    pub fn client_on(&mut self, member: u64) -> Client<'_> {
        Client { sim: self, member: Some(NodeId(member)), patience: Duration::ZERO }
    }

    /// Sends any request to `member` and waits for the answer (no history record).
    pub fn request(&mut self, member: u64, request: Request) -> Result<Response, ClientError> {
        let rid = self.submit(NodeId(member), request, Purpose::Wait);
        self.wait(rid)
    }
}

/// A blocking client for scenarios; see [`Sim::client`] and [`Sim::client_on`].
pub struct Client<'a> {
    sim: &'a mut Sim,
    member: Option<NodeId>,
    patience: Duration,
}

/// The answer to a [`Client`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Reply<T> {
    /// What came back.
    pub result: Result<T, ClientError>,
    /// The member that answered last.
    pub member: NodeId,
    /// The header revision of a successful answer.
    pub revision: i64,
}

impl<T: fmt::Debug> Reply<T> {
    /// The value; panics with the error otherwise.
    #[track_caller]
    pub fn expect_ok(self) -> T {
        match self.result {
            Ok(v) => v,
            Err(e) => panic!("expected success from member {}, got: {e}", self.member),
        }
    }

    /// The error; panics on success.
    #[track_caller]
    pub fn expect_err(self) -> ClientError {
        match self.result {
            Ok(v) => panic!("expected an error from member {}, got {v:?}", self.member),
            Err(e) => e,
        }
    }

    /// True on success.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

impl Client<'_> {
    /// Put `value` at `key`.
    pub fn put(&mut self, key: &str, value: &str) -> Reply<()> {
        self.call(KvCall::Put { key: key.into(), value: value.into() }).map(|_| ())
    }

    /// A linearizable read of `key`.
    pub fn get(&mut self, key: &str) -> Reply<Option<String>> {
        self.call(KvCall::Get { key: key.into() }).map(read_value)
    }

    /// A serializable read of `key` (the member's local state).
    pub fn get_serializable(&mut self, key: &str) -> Reply<Option<String>> {
        self.call(KvCall::GetSerializable { key: key.into() }).map(read_value)
    }

    /// Delete `key`; true if it existed.
    pub fn delete(&mut self, key: &str) -> Reply<bool> {
        self.call(KvCall::Delete { key: key.into() })
            .map(|r| matches!(r, KvReturn::Delete { deleted: true }))
    }

    /// If `key` holds `expect` (`None`: absent), put `new`; true if it did.
    pub fn cas(&mut self, key: &str, expect: Option<&str>, new: &str) -> Reply<bool> {
        let call = KvCall::Cas { key: key.into(), expect: expect.map(Into::into), new: new.into() };
        self.call(call).map(|r| matches!(r, KvReturn::Cas { succeeded: true, .. }))
    }

    fn call(&mut self, call: KvCall) -> Reply<KvReturn> {
        let deadline = self.sim.now() + self.patience;
        let mut attempt = 0u64;
        loop {
            let member = self.member.unwrap_or_else(|| self.sim.pick_member(attempt));
            let rid = self.sim.submit_kv(usize::MAX, None, member, call.clone());
            let result = self.sim.wait(rid);
            let revision =
                result.as_ref().ok().and_then(Response::header).map_or(0, |h| h.revision);
            let result = result
                .and_then(|r| return_of(&call, &r).ok_or(ClientError::Api(ApiError::NotCapable)));
            let stop = matches!(result, Ok(_) | Err(ClientError::Stopped))
                || self.sim.violation.is_some()
                || self.sim.now() >= deadline;
            if stop {
                return Reply { result, member, revision };
            }
            attempt += 1;
            if self.sim.try_run_for(Duration::from_millis(100)).is_err() {
                return Reply { result: Err(ClientError::Stopped), member, revision: 0 };
            }
        }
    }
}

impl<T> Reply<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply { result: self.result.map(f), member: self.member, revision: self.revision }
    }
}

fn read_value(r: KvReturn) -> Option<String> {
    match r {
        KvReturn::Get { value, .. } => value,
        _ => None,
    }
}

impl Sim {
    /// The `attempt`-th member to try: the members that are not removed, in turn, starting
    /// from a random one.
    pub(crate) fn pick_member(&mut self, attempt: u64) -> NodeId {
        let candidates: Vec<NodeId> = self
            .members
            .values()
            .filter(|s| s.state != crate::sim::member::MemberState::Removed)
            .map(|s| s.id)
            .collect();
        if candidates.is_empty() {
            return NodeId(1);
        }
        let start = if attempt == 0 { self.rng.range_u64(0, candidates.len() as u64) } else { 0 };
        let base = self.client_cursor.wrapping_add(start);
        self.client_cursor = base;
        candidates[((base + attempt) % candidates.len() as u64) as usize]
    }
}

/// The etcd request for a call.
#[must_use]
pub fn request_of(call: &KvCall) -> Request {
    match call {
        KvCall::Put { key, value } => Request::Put(pb::PutRequest {
            key: key.clone().into_bytes(),
            value: value.clone().into_bytes(),
            ..Default::default()
        }),
        KvCall::Get { key } => {
            Request::Range(pb::RangeRequest { key: key.clone().into_bytes(), ..Default::default() })
        }
        KvCall::GetSerializable { key } => Request::Range(pb::RangeRequest {
            key: key.clone().into_bytes(),
            serializable: true,
            ..Default::default()
        }),
        KvCall::Delete { key } => Request::DeleteRange(pb::DeleteRangeRequest {
            key: key.clone().into_bytes(),
            ..Default::default()
        }),
        KvCall::Cas { key, expect, new } => {
            let compare = match expect {
                Some(v) => pb::Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Value as i32,
                    key: key.clone().into_bytes(),
                    target_union: Some(TargetUnion::Value(v.clone().into_bytes())),
                    range_end: Vec::new(),
                },
                None => pb::Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Create as i32,
                    key: key.clone().into_bytes(),
                    target_union: Some(TargetUnion::CreateRevision(0)),
                    range_end: Vec::new(),
                },
            };
            let put = pb::PutRequest {
                key: key.clone().into_bytes(),
                value: new.clone().into_bytes(),
                ..Default::default()
            };
            let get = pb::RangeRequest { key: key.clone().into_bytes(), ..Default::default() };
            Request::Txn(pb::TxnRequest {
                compare: vec![compare],
                success: vec![pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestPut(put)),
                }],
                failure: vec![pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestRange(get)),
                }],
            })
        }
    }
}

/// What a successful response says, for `call`; `None` if the response does not fit the call.
#[must_use]
pub fn return_of(call: &KvCall, response: &Response) -> Option<KvReturn> {
    match (call, response) {
        (KvCall::Put { .. }, Response::Put(_)) => Some(KvReturn::Put),
        (KvCall::Get { .. } | KvCall::GetSerializable { .. }, Response::Range(r)) => {
            Some(range_return(r))
        }
        (KvCall::Delete { .. }, Response::DeleteRange(r)) => {
            Some(KvReturn::Delete { deleted: r.deleted > 0 })
        }
        (KvCall::Cas { .. }, Response::Txn(r)) => {
            let current = if r.succeeded {
                None
            } else {
                match r.responses.first().and_then(|o| o.response.as_ref()) {
                    Some(pb::response_op::Response::ResponseRange(range)) => {
                        match range_return(range) {
                            KvReturn::Get { value, .. } => value,
                            _ => None,
                        }
                    }
                    _ => return None,
                }
            };
            Some(KvReturn::Cas { succeeded: r.succeeded, current })
        }
        _ => None,
    }
}

fn range_return(r: &pb::RangeResponse) -> KvReturn {
    match r.kvs.first() {
        Some(kv) => KvReturn::Get {
            value: Some(String::from_utf8_lossy(&kv.value).into_owned()),
            mod_revision: kv.mod_revision,
        },
        None => KvReturn::Get { value: None, mod_revision: 0 },
    }
}

/// The history outcome of `call` ending with `result`, and the header revision.
fn outcome_of(call: &KvCall, result: &Result<Response, ClientError>) -> (Outcome, i64) {
    match result {
        Ok(r) => {
            let revision = r.header().map_or(0, |h| h.revision);
            match return_of(call, r) {
                Some(ret) => (Outcome::Ok(ret), revision),
                None => (Outcome::Unknown(format!("unexpected response {}", r_name(r))), 0),
            }
        }
        Err(e) if e.is_definite() => (Outcome::Failed(e.to_string()), 0),
        Err(e) => (Outcome::Unknown(e.to_string()), 0),
    }
}

fn r_name(r: &Response) -> String {
    format!("{r:?}").chars().take(60).collect()
}

impl Sim {
    /// Turns auth on, as an operator would with etcdctl: a root user and a `sim` user (no
    /// passwords: they are identified by client certificate names), `sim` with read-write on
    /// every key but not root, then `auth enable`. Requests then carry their user's name (see
    /// [`SimConfig::auth`](crate::sim::SimConfig::auth), which this sets).
    ///
    /// # Errors
    /// A step the leader refused; the message names it.
    pub fn enable_auth(&mut self) -> Result<(), String> {
        use oxcd_proto::authpb::{permission::Type, Permission, UserAddOptions};
        let user = |name: &str| {
            Request::UserAdd(pb::AuthUserAddRequest {
                name: name.to_owned(),
                options: Some(UserAddOptions { no_password: true }),
                ..Default::default()
            })
        };
        let grant = |user: &str, role: &str| {
            Request::UserGrantRole(pb::AuthUserGrantRoleRequest {
                user: user.to_owned(),
                role: role.to_owned(),
            })
        };
        let workload = crate::sim::WORKLOAD_USER;
        let steps = [
            user(crate::sim::ADMIN_USER),
            grant(crate::sim::ADMIN_USER, "root"),
            Request::RoleAdd(pb::AuthRoleAddRequest { name: workload.to_owned() }),
            Request::RoleGrantPermission(pb::AuthRoleGrantPermissionRequest {
                name: workload.to_owned(),
                perm: Some(Permission {
                    perm_type: Type::Readwrite as i32,
                    key: vec![0],
                    range_end: vec![0],
                }),
            }),
            user(workload),
            grant(workload, workload),
        ];
        self.cfg.auth = true;
        for step in steps.into_iter().chain([Request::AuthEnable(Default::default())]) {
            let name = step.name();
            let leader = self.leader().ok_or("no leader to enable auth on")?;
            self.request(leader, step).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }
}
