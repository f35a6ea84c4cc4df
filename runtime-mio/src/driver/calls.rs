//! Client traffic: transport input to Node input, Node answers to transport output. gRPC unary
//! calls, Watch and LeaseKeepAlive streams, HTTP endpoints and the JSON gateway.

use std::collections::BTreeMap;
use std::time::Instant as StdInstant;

use oxcd_core::node::{Node, Request, RequestId, RequestMeta, Response, WatchStreamId};
use oxcd_core::{ApiError, Instant};
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::json;
use oxcd_proto::service::{self, Method};
use prost::Message;

use super::passwords::needs_hash;
use super::workers::AdminAction;
use super::{Driver, ListenerKind, Phase};
use crate::api::grpc::{undecodable, unknown_method};
use crate::api::http::{self as http_api, HealthQuery, HttpRoute};
use crate::api::v2 as v2_api;
use crate::api::{api_status, decode_unary, encode_response, stream_kind, StreamKind, UnaryCall};
use crate::transport::{
    CallId, ClientTransport, GrpcStatus, HttpRequest, Incoming, Metadata, PeerInfo, SendStatus,
};

/// Who waits for a Node reply.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    /// A gRPC unary call.
    Unary { call: CallId, write: bool },
    /// One message of a gRPC LeaseKeepAlive stream.
    KeepAlive { call: CallId, lease: i64 },
    /// A gateway (JSON) unary call.
    Gateway { call: CallId, method: Method, write: bool },
    /// One value of a gateway LeaseKeepAlive body.
    GatewayKeepAlive { call: CallId, lease: i64 },
    /// `/health` or `/readyz`, step one: alarms and leader (a Status request).
    HealthStatus { call: CallId, query: HealthQuery, readyz: bool },
    /// `/health` or `/readyz`, step two: a read through the core.
    HealthRead { call: CallId, readyz: bool },
    /// The admin check before a Snapshot or Defragment.
    Admin { call: CallId, action: AdminAction },
    /// The MoveLeader of a leader's shutdown.
    Transfer,
    /// A v2 keys API request.
    V2 { call: CallId },
}

impl Pending {
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Pending::Unary { write: true, .. } | Pending::Gateway { write: true, .. })
    }
}

/// An open streaming call.
#[derive(Clone, Debug)]
struct Stream {
    kind: StreamKind,
    meta: RequestMeta,
    gateway: bool,
    /// KeepAlive replies not yet sent.
    outstanding: usize,
    half_closed: bool,
}

/// The driver's table of calls in flight.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    pub(crate) pending: BTreeMap<RequestId, Pending>,
    streams: BTreeMap<CallId, Stream>,
}

impl Calls {
    pub(crate) fn watch_streams(&self) -> usize {
        self.streams.values().filter(|s| s.kind == StreamKind::Watch).count()
    }

    /// Ends every open stream with "server stopped" (shutdown).
    pub(crate) fn end_streams(
        &mut self,
        client: &mut ClientTransport,
        node: &mut Node,
        now: Instant,
    ) {
        for (call, s) in std::mem::take(&mut self.streams) {
            if s.kind == StreamKind::Watch {
                node.handle_watch_closed(now, WatchStreamId(call.0));
            }
            if s.gateway {
                client.http_stream_end(call);
            } else {
                client.stream_finish(call, api_status(ApiError::Stopped));
            }
        }
    }
}

fn is_write(r: &Request) -> bool {
    !matches!(
        r,
        Request::Range(_)
            | Request::LeaseKeepAlive(_)
            | Request::LeaseTimeToLive(_)
            | Request::LeaseLeases(_)
            | Request::MemberList(_)
            | Request::Status(_)
            | Request::Hash(_)
            | Request::HashKv(_)
            | Request::AuthStatus(_)
            | Request::UserGet(_)
            | Request::UserList(_)
            | Request::RoleGet(_)
            | Request::RoleList(_)
    )
}

fn grpc_meta(config_cert_auth: bool, metadata: &Metadata, peer: &PeerInfo) -> RequestMeta {
    RequestMeta {
        token: metadata.token.clone(),
        cert_common_name: cert_cn(config_cert_auth, peer),
        require_leader: metadata.require_leader,
    }
}

fn cert_cn(config_cert_auth: bool, peer: &PeerInfo) -> Option<String> {
    if !config_cert_auth {
        return None;
    }
    peer.tls.as_ref()?.client_cert.as_ref()?.common_name.clone()
}

impl Driver {
    /// Step 2 for client input: drains the transport. Returns how many items were handled.
    pub(super) fn take_client_input(&mut self, now: StdInstant) -> usize {
        let mut n = 0;
        while let Some(incoming) = self.client.poll_incoming() {
            n += 1;
            self.on_incoming(now, incoming);
        }
        n
    }

    fn listener_kind(&self, peer: &PeerInfo) -> ListenerKind {
        self.config.listeners.get(peer.listener.0 as usize).map_or(ListenerKind::Client, |l| l.kind)
    }

    fn on_incoming(&mut self, now: StdInstant, incoming: Incoming) {
        let core_now = self.clock.core(now);
        // gRPC is served on `--listen-client-urls` only.
        match &incoming {
            Incoming::Unary { call, method, peer, .. }
                if self.listener_kind(peer) != ListenerKind::Client =>
            {
                self.client.reply_unary(*call, Err(unknown_method(method)));
                return;
            }
            Incoming::StreamOpened { call, method, peer, .. }
                if self.listener_kind(peer) != ListenerKind::Client =>
            {
                self.client.stream_finish(*call, unknown_method(method));
                return;
            }
            _ => {}
        }
        match incoming {
            Incoming::Unary { call, method, metadata, message, peer } => {
                let meta = grpc_meta(self.config.client_cert_auth, &metadata, &peer);
                let Some(m) = service::method(&method) else {
                    self.client.reply_unary(call, Err(unknown_method(&method)));
                    return;
                };
                match decode_unary(m, &message) {
                    Err(status) => {
                        self.client.reply_unary(call, Err(status));
                    }
                    Ok(UnaryCall::Node(request)) => {
                        let write = is_write(&request);
                        self.submit(now, Pending::Unary { call, write }, meta, request);
                    }
                    Ok(UnaryCall::Defragment) => {
                        self.admin_check(
                            now,
                            call,
                            meta,
                            AdminAction::Defragment { gateway: false },
                        );
                    }
                }
            }
            Incoming::StreamOpened { call, method, metadata, peer } => {
                let meta = grpc_meta(self.config.client_cert_auth, &metadata, &peer);
                match service::method(&method).and_then(stream_kind) {
                    Some(kind) => {
                        let s = Stream {
                            kind,
                            meta,
                            gateway: false,
                            outstanding: 0,
                            half_closed: false,
                        };
                        self.calls.streams.insert(call, s);
                    }
                    None => {
                        self.client.stream_finish(call, unknown_method(&method));
                    }
                }
            }
            Incoming::StreamMessage { call, message } => {
                let Some(s) = self.calls.streams.get(&call) else { return };
                let (kind, meta) = (s.kind, s.meta.clone());
                match kind {
                    StreamKind::Watch => match pb::WatchRequest::decode(&message[..]) {
                        Ok(r) => {
                            self.node.handle_watch_request(core_now, WatchStreamId(call.0), meta, r)
                        }
                        Err(e) => self.fail_stream(core_now, call, undecodable(&e)),
                    },
                    StreamKind::LeaseKeepAlive => {
                        match pb::LeaseKeepAliveRequest::decode(&message[..]) {
                            Ok(r) => {
                                if let Some(s) = self.calls.streams.get_mut(&call) {
                                    s.outstanding += 1;
                                }
                                let pending = Pending::KeepAlive { call, lease: r.id };
                                self.submit(now, pending, meta, Request::LeaseKeepAlive(r));
                            }
                            Err(e) => self.fail_stream(core_now, call, undecodable(&e)),
                        }
                    }
                    StreamKind::Snapshot => match pb::SnapshotRequest::decode(&message[..]) {
                        Ok(_) => {
                            // From here on the snapshot worker owns the call.
                            self.calls.streams.remove(&call);
                            let action = AdminAction::Snapshot { gateway: false };
                            self.admin_check(now, call, meta, action);
                        }
                        Err(e) => self.fail_stream(core_now, call, undecodable(&e)),
                    },
                }
            }
            Incoming::StreamHalfClosed { call } => {
                if let Some(s) = self.calls.streams.get_mut(&call) {
                    s.half_closed = true;
                    // etcd ends a keep-alive stream when the client stops sending.
                    if s.kind == StreamKind::LeaseKeepAlive && s.outstanding == 0 {
                        self.calls.streams.remove(&call);
                        self.client.stream_finish(call, GrpcStatus::ok());
                    }
                }
            }
            Incoming::CallCancelled { call } => {
                if let Some(s) = self.calls.streams.remove(&call) {
                    if s.kind == StreamKind::Watch {
                        self.node.handle_watch_closed(core_now, WatchStreamId(call.0));
                    }
                }
                self.workers.cancel_snapshot(call);
            }
            Incoming::Writable { call } => self.workers.resume(call),
            Incoming::Http { request, peer } => self.on_http(now, request, &peer),
        }
    }

    fn fail_stream(&mut self, now: Instant, call: CallId, status: GrpcStatus) {
        if let Some(s) = self.calls.streams.remove(&call) {
            if s.kind == StreamKind::Watch {
                self.node.handle_watch_closed(now, WatchStreamId(call.0));
            }
            if s.gateway {
                let mut body = String::new();
                json::stream_error_body(
                    oxcd_proto::grpc::Code::from_u32(status.code),
                    &status.message,
                    &mut body,
                );
                let _ = self.client.http_stream_chunk(call, body.as_bytes());
                self.client.http_stream_end(call);
                return;
            }
        }
        self.client.stream_finish(call, status);
    }

    /// Hands a request to the Node (after hashing its password when it carries one).
    pub(super) fn submit(
        &mut self,
        now: StdInstant,
        pending: Pending,
        meta: RequestMeta,
        request: Request,
    ) {
        let id = self.next_request_id();
        if self.phase != Phase::Running && !matches!(pending, Pending::Transfer) {
            self.calls.pending.insert(id, pending);
            self.answer(id, Err(ApiError::Stopped));
            return;
        }
        self.calls.pending.insert(id, pending);
        if needs_hash(&request) {
            if let Err(e) = self.passwords.hash(id, meta, request) {
                self.answer(id, Err(e));
            }
            return;
        }
        self.node.handle_client_request(self.clock.core(now), id, meta, request);
    }

    fn admin_check(
        &mut self,
        now: StdInstant,
        call: CallId,
        meta: RequestMeta,
        action: AdminAction,
    ) {
        // Listing users is an admin-only request (etcd's admin gate) and harmless: its answer
        // says whether the caller may snapshot or defragment.
        let request = Request::UserList(pb::AuthUserListRequest {});
        self.submit(now, Pending::Admin { call, action }, meta, request);
    }

    /// A Node reply (or an error the driver answers with) to whoever waits for `id`.
    pub(super) fn answer(&mut self, id: RequestId, result: Result<Response, ApiError>) {
        let Some(pending) = self.calls.pending.remove(&id) else { return };
        if pending.is_write() && result.is_err() {
            self.counters.failed_writes += 1;
        }
        let now = StdInstant::now();
        match pending {
            Pending::Unary { call, .. } => {
                let reply = result.map(|r| encode_response(&r)).map_err(api_status);
                self.client.reply_unary(call, reply);
            }
            Pending::KeepAlive { call, lease } => {
                let reply = match result {
                    Ok(r) => Ok(encode_response(&r)),
                    // etcd answers a keep-alive of an unknown lease with TTL 0, not an error.
                    Err(ApiError::LeaseNotFound) => Ok(self.lease_gone(lease).encode_to_vec()),
                    Err(e) => Err(e),
                };
                match reply {
                    Ok(bytes) => {
                        let _ = self.client.stream_send(call, &bytes);
                        self.keepalive_done(call);
                    }
                    Err(e) => self.fail_stream(self.clock.core(now), call, api_status(e)),
                }
            }
            Pending::Gateway { call, method, .. } => self.gateway_reply(call, method, result),
            Pending::V2 { call } => self.v2_reply(call, result),
            Pending::GatewayKeepAlive { call, lease } => {
                let result = match result {
                    Err(ApiError::LeaseNotFound) => {
                        Ok(Response::LeaseKeepAlive(self.lease_gone(lease)))
                    }
                    other => other,
                };
                match result {
                    Ok(r) => {
                        let mut line = String::new();
                        if json::stream_result_to_json(
                            Method::LeaseKeepAlive,
                            &encode_response(&r),
                            &mut line,
                        )
                        .is_ok()
                        {
                            let _ = self.client.http_stream_chunk(call, line.as_bytes());
                        }
                        self.keepalive_done(call);
                    }
                    Err(e) => self.fail_stream(self.clock.core(now), call, api_status(e)),
                }
            }
            Pending::HealthStatus { call, query, readyz } => {
                self.health_status(now, call, &query, readyz, result)
            }
            Pending::HealthRead { call, readyz } => {
                let reason = match result {
                    Ok(_) => String::new(),
                    Err(e) => format!("QGET ERROR:{}", e.message()),
                };
                self.health_reply(call, readyz, &reason);
            }
            Pending::Admin { call, action } => match result {
                Ok(_) => self.start_admin(call, action),
                Err(e) => self.admin_refused(call, action, e),
            },
            Pending::Transfer => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "leadership transfer failed; stopping anyway");
                }
                self.transfer_done(now);
            }
        }
    }

    fn lease_gone(&self, lease: i64) -> pb::LeaseKeepAliveResponse {
        pb::LeaseKeepAliveResponse { header: Some(self.node.response_header()), id: lease, ttl: 0 }
    }

    fn keepalive_done(&mut self, call: CallId) {
        let Some(s) = self.calls.streams.get_mut(&call) else { return };
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.outstanding == 0 && s.half_closed {
            let gateway = s.gateway;
            self.calls.streams.remove(&call);
            if gateway {
                self.client.http_stream_end(call);
            } else {
                self.client.stream_finish(call, GrpcStatus::ok());
            }
        }
    }

    fn admin_refused(&mut self, call: CallId, action: AdminAction, e: ApiError) {
        match action {
            AdminAction::Snapshot { gateway: false } => {
                self.client.stream_finish(call, api_status(e));
            }
            AdminAction::Defragment { gateway: false } => {
                self.client.reply_unary(call, Err(api_status(e)));
            }
            AdminAction::Snapshot { gateway: true } | AdminAction::Defragment { gateway: true } => {
                let (status, body) = http_api::gateway_error(e.code().as_u32(), e.message());
                self.client.http_reply(call, status, &http_api::json_headers(), body);
            }
        }
    }

    /// A watch response from the Node to its stream.
    pub(super) fn watch_response(&mut self, stream: WatchStreamId, response: pb::WatchResponse) {
        let call = CallId(stream.0);
        let Some(s) = self.calls.streams.get(&call) else { return };
        let status = if s.gateway {
            let mut line = String::new();
            if json::stream_result_to_json(Method::Watch, &response.encode_to_vec(), &mut line)
                .is_err()
            {
                return;
            }
            self.client.http_stream_chunk(call, line.as_bytes())
        } else {
            self.client.stream_send(call, &response.encode_to_vec())
        };
        if matches!(status, SendStatus::Overflow | SendStatus::Gone) {
            self.calls.streams.remove(&call);
            self.node.handle_watch_closed(self.clock.core(StdInstant::now()), stream);
        }
    }

    // ---- HTTP ----

    fn on_http(&mut self, now: StdInstant, request: HttpRequest, peer: &PeerInfo) {
        let call = request.id;
        let kind = self.listener_kind(peer);
        let gateway = self.config.enable_gateway && kind != ListenerKind::Metrics;
        let v2 = self.config.enable_v2 && kind != ListenerKind::Metrics;
        let route =
            match http_api::route(&request.method, &request.path, &request.query, gateway, v2) {
                HttpRoute::Version if kind == ListenerKind::Metrics => HttpRoute::NotFound,
                other => other,
            };
        let text = http_api::text_headers();
        let json_h = http_api::json_headers();
        match route {
            HttpRoute::Version => {
                self.client.http_reply(call, 200, &json_h, http_api::version_body().into_bytes());
            }
            HttpRoute::Livez => {
                self.client.http_reply(call, 200, &text, b"ok".to_vec());
            }
            HttpRoute::Metrics => {
                let body = crate::api::metrics::render(&self.metrics());
                let h = vec![(
                    "content-type".to_owned(),
                    b"text/plain; version=0.0.4; charset=utf-8".to_vec(),
                )];
                self.client.http_reply(call, 200, &h, body.into_bytes());
            }
            HttpRoute::Health(query) => self.health_start(now, call, query, false),
            HttpRoute::Readyz(query) => self.health_start(now, call, query, true),
            HttpRoute::MethodNotAllowed => {
                self.client.http_reply(call, 405, &text, b"Method Not Allowed".to_vec());
            }
            HttpRoute::NotFound => {
                self.client.http_reply(call, 404, &text, b"404 page not found\n".to_vec());
            }
            HttpRoute::Gateway(method) => self.gateway(now, &request, peer, method),
            HttpRoute::V2Keys { method, key } => self.v2_start(now, &request, peer, method, &key),
        }
    }

    fn v2_start(
        &mut self,
        now: StdInstant,
        request: &HttpRequest,
        peer: &PeerInfo,
        method: &str,
        key: &str,
    ) {
        let call = request.id;
        let content_type = request.header("content-type");
        match v2_api::parse_request(method, key, &request.query, &request.body, content_type) {
            Ok(r) => {
                let meta = self.gateway_meta(request, peer);
                self.submit(now, Pending::V2 { call }, meta, Request::V2(r));
            }
            Err(e) => {
                let (status, headers, body) = v2_api::error_answer(self.config.node.cluster_id, &e);
                self.client.http_reply(call, status, &headers, body);
            }
        }
    }

    fn v2_reply(&mut self, call: CallId, result: Result<Response, ApiError>) {
        let result = match &result {
            Ok(Response::V2(r)) => Ok(r),
            Ok(_) => Err(ApiError::NotCapable),
            Err(e) => Err(*e),
        };
        let (status, headers, body) = v2_api::answer(self.config.node.cluster_id, result);
        self.client.http_reply(call, status, &headers, body);
    }

    fn health_start(&mut self, now: StdInstant, call: CallId, query: HealthQuery, readyz: bool) {
        let pending = Pending::HealthStatus { call, query, readyz };
        self.submit(now, pending, RequestMeta::default(), Request::Status(pb::StatusRequest {}));
    }

    fn health_status(
        &mut self,
        now: StdInstant,
        call: CallId,
        query: &HealthQuery,
        readyz: bool,
        result: Result<Response, ApiError>,
    ) {
        let status = match result {
            Ok(Response::Status(s)) => s,
            Ok(_) => return self.health_reply(call, readyz, "unexpected answer"),
            Err(e) => return self.health_reply(call, readyz, e.message()),
        };
        // Status errors read "memberID:<id> alarm:<NAME>".
        for alarm in status.errors.iter().filter_map(|e| e.rsplit_once("alarm:").map(|(_, a)| a)) {
            if query.counts(alarm) {
                return self.health_reply(call, readyz, &format!("ALARM {alarm}"));
            }
        }
        if status.leader == 0 {
            return self.health_reply(call, readyz, "RAFT NO LEADER");
        }
        let read = pb::RangeRequest {
            key: b"health".to_vec(),
            serializable: query.serializable,
            count_only: true,
            ..Default::default()
        };
        self.submit(
            now,
            Pending::HealthRead { call, readyz },
            RequestMeta::default(),
            Request::Range(read),
        );
    }

    fn health_reply(&mut self, call: CallId, readyz: bool, reason: &str) {
        let healthy = reason.is_empty();
        if !healthy {
            tracing::warn!(reason, "serving /health false");
        }
        let (status, body, headers) = if readyz {
            let (s, b) = http_api::readyz_answer(healthy, reason);
            (s, b, http_api::text_headers())
        } else {
            let (s, b) = http_api::health_answer(healthy, reason);
            (s, b, http_api::json_headers())
        };
        self.client.http_reply(call, status, &headers, body.into_bytes());
    }

    fn gateway_meta(&self, request: &HttpRequest, peer: &PeerInfo) -> RequestMeta {
        let header = |name: &str| {
            request.header(name).and_then(|v| std::str::from_utf8(v).ok()).map(str::to_owned)
        };
        RequestMeta {
            token: header("authorization").or_else(|| header("grpc-metadata-token")),
            cert_common_name: cert_cn(self.config.client_cert_auth, peer),
            require_leader: header("grpc-metadata-hasleader").is_some_and(|v| v == "true"),
        }
    }

    fn gateway_error(&mut self, call: CallId, status: &GrpcStatus) {
        let (code, body) = http_api::gateway_error(status.code, &status.message);
        self.client.http_reply(call, code, &http_api::json_headers(), body);
    }

    fn gateway(&mut self, now: StdInstant, request: &HttpRequest, peer: &PeerInfo, method: Method) {
        let call = request.id;
        let meta = self.gateway_meta(request, peer);
        match method {
            Method::Watch | Method::LeaseKeepAlive => {
                self.gateway_stream(now, request, meta, method)
            }
            Method::Snapshot => {
                self.admin_check(now, call, meta, AdminAction::Snapshot { gateway: true });
            }
            _ => {
                let mut bytes = Vec::new();
                if let Err(e) = json::request_to_protobuf(method, &request.body, &mut bytes) {
                    return self.gateway_error(call, &GrpcStatus::new(3, e.message));
                }
                match decode_unary(method, &bytes) {
                    Err(status) => self.gateway_error(call, &status),
                    Ok(UnaryCall::Node(r)) => {
                        let write = is_write(&r);
                        self.submit(now, Pending::Gateway { call, method, write }, meta, r);
                    }
                    Ok(UnaryCall::Defragment) => {
                        self.admin_check(
                            now,
                            call,
                            meta,
                            AdminAction::Defragment { gateway: true },
                        );
                    }
                }
            }
        }
    }

    fn gateway_reply(&mut self, call: CallId, method: Method, result: Result<Response, ApiError>) {
        match result {
            Ok(r) => {
                let mut out = String::new();
                match json::response_to_json(method, &encode_response(&r), &mut out) {
                    Ok(()) => {
                        self.client.http_reply(
                            call,
                            200,
                            &http_api::json_headers(),
                            out.into_bytes(),
                        );
                    }
                    Err(e) => self.gateway_error(call, &GrpcStatus::new(13, e.message)),
                }
            }
            Err(e) => self.gateway_error(call, &api_status(e)),
        }
    }

    /// A gateway Watch or LeaseKeepAlive: the body holds JSON requests one after another; the
    /// answer streams `{"result":…}` lines.
    fn gateway_stream(
        &mut self,
        now: StdInstant,
        request: &HttpRequest,
        meta: RequestMeta,
        method: Method,
    ) {
        let call = request.id;
        let mut values = Vec::new();
        let mut rest = &request.body[..];
        loop {
            match json::next_json_value_len(rest) {
                Ok(Some(n)) => {
                    values.push(&rest[..n]);
                    rest = &rest[n..];
                }
                Ok(None) => break,
                Err(e) => return self.gateway_error(call, &GrpcStatus::new(3, e.message)),
            }
        }
        let kind =
            if method == Method::Watch { StreamKind::Watch } else { StreamKind::LeaseKeepAlive };
        if !self.client.http_stream_start(call, 200, &http_api::json_headers()) {
            return;
        }
        let stream =
            Stream { kind, meta: meta.clone(), gateway: true, outstanding: 0, half_closed: true };
        self.calls.streams.insert(call, stream);
        let core_now = self.clock.core(now);
        for value in values {
            let decoded = match kind {
                StreamKind::Watch => json::from_json::<pb::WatchRequest>(value).map(|r| {
                    self.node.handle_watch_request(
                        core_now,
                        WatchStreamId(call.0),
                        meta.clone(),
                        r,
                    );
                }),
                _ => json::from_json::<pb::LeaseKeepAliveRequest>(value).map(|r| {
                    if let Some(s) = self.calls.streams.get_mut(&call) {
                        s.outstanding += 1;
                    }
                    let pending = Pending::GatewayKeepAlive { call, lease: r.id };
                    self.submit(now, pending, meta.clone(), Request::LeaseKeepAlive(r));
                }),
            };
            if let Err(e) = decoded {
                return self.fail_stream(core_now, call, GrpcStatus::new(3, e.message));
            }
        }
        if kind == StreamKind::LeaseKeepAlive
            && self.calls.streams.get(&call).is_some_and(|s| s.outstanding == 0)
        {
            self.calls.streams.remove(&call);
            self.client.http_stream_end(call);
        }
    }
}
