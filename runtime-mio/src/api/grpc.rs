//! gRPC methods to the core's requests and back: one table, by [`Method`].

use oxcd_core::node::{Request, Response};
use oxcd_core::ApiError;
use oxcd_proto::etcdserverpb as pb;
use oxcd_proto::service::{Method, MethodKind};
use prost::Message;

use crate::transport::GrpcStatus;

/// What a unary call asks, once decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum UnaryCall {
    /// A request the core answers.
    Node(Request),
    /// `Maintenance.Defragment`: the runtime compacts its storage (after an admin check).
    Defragment,
}

/// What a streaming call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// `Watch.Watch`: every client message goes to `Node::handle_watch_request`.
    Watch,
    /// `Lease.LeaseKeepAlive`: every client message is one `Request::LeaseKeepAlive`.
    LeaseKeepAlive,
    /// `Maintenance.Snapshot`: one request, then the storage's snapshot in chunks.
    Snapshot,
}

/// The streaming kind of a gRPC method, `None` for unary methods.
#[must_use]
pub fn stream_kind(method: Method) -> Option<StreamKind> {
    match method {
        Method::Watch => Some(StreamKind::Watch),
        Method::LeaseKeepAlive => Some(StreamKind::LeaseKeepAlive),
        Method::Snapshot => Some(StreamKind::Snapshot),
        _ => None,
    }
}

/// grpc-go's status for a path no service serves.
#[must_use]
pub fn unknown_method(path: &str) -> GrpcStatus {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    GrpcStatus::new(12, format!("unknown method {method} for service {service}"))
}

/// grpc-go's status for a request message that does not decode.
#[must_use]
pub fn undecodable(e: &prost::DecodeError) -> GrpcStatus {
    GrpcStatus::new(13, format!("grpc: error unmarshalling request: {e}"))
}

/// The gRPC status of an error the core answered with.
#[must_use]
pub fn api_status(e: ApiError) -> GrpcStatus {
    GrpcStatus::new(e.code().as_u32(), e.message())
}

macro_rules! node_methods {
    ($( $method:ident => $variant:ident($req:ident), )*) => {
        /// Decodes the one message of unary call `method`.
        ///
        /// # Errors
        /// The status to answer with: the message does not decode, the method is not unary, or
        /// oxcd does not serve it (`Downgrade`).
        pub fn decode_unary(method: Method, message: &[u8]) -> Result<UnaryCall, GrpcStatus> {
            if method.kind() != MethodKind::Unary {
                return Err(GrpcStatus::new(12, format!("method {} is a stream", method.path())));
            }
            Ok(match method {
                $( Method::$method => UnaryCall::Node(Request::$variant(
                    pb::$req::decode(message).map_err(|e| undecodable(&e))?,
                )), )*
                Method::Defragment => {
                    pb::DefragmentRequest::decode(message).map_err(|e| undecodable(&e))?;
                    UnaryCall::Defragment
                }
                // Downgrades need several server versions; oxcd has one.
                other => {
                    return Err(GrpcStatus::new(
                        12,
                        format!("unknown method {} for service etcdserverpb.{}", other.info().name, other.info().service),
                    ))
                }
            })
        }

        /// The method a core request arrived by (for the gateway's JSON encoding); `None` for
        /// v2 keys API answers, which have no gRPC method.
        #[must_use]
        pub fn method_of(response: &Response) -> Option<Method> {
            match response {
                $( Response::$variant(_) => Some(Method::$method), )*
                Response::V2(_) => None,
            }
        }
    };
}

node_methods! {
    Range => Range(RangeRequest),
    Put => Put(PutRequest),
    DeleteRange => DeleteRange(DeleteRangeRequest),
    Txn => Txn(TxnRequest),
    Compact => Compact(CompactionRequest),
    LeaseGrant => LeaseGrant(LeaseGrantRequest),
    LeaseRevoke => LeaseRevoke(LeaseRevokeRequest),
    LeaseKeepAlive => LeaseKeepAlive(LeaseKeepAliveRequest),
    LeaseTimeToLive => LeaseTimeToLive(LeaseTimeToLiveRequest),
    LeaseLeases => LeaseLeases(LeaseLeasesRequest),
    MemberAdd => MemberAdd(MemberAddRequest),
    MemberRemove => MemberRemove(MemberRemoveRequest),
    MemberUpdate => MemberUpdate(MemberUpdateRequest),
    MemberList => MemberList(MemberListRequest),
    MemberPromote => MemberPromote(MemberPromoteRequest),
    Alarm => Alarm(AlarmRequest),
    Status => Status(StatusRequest),
    Hash => Hash(HashRequest),
    HashKV => HashKv(HashKVRequest),
    MoveLeader => MoveLeader(MoveLeaderRequest),
    AuthEnable => AuthEnable(AuthEnableRequest),
    AuthDisable => AuthDisable(AuthDisableRequest),
    AuthStatus => AuthStatus(AuthStatusRequest),
    Authenticate => Authenticate(AuthenticateRequest),
    UserAdd => UserAdd(AuthUserAddRequest),
    UserGet => UserGet(AuthUserGetRequest),
    UserList => UserList(AuthUserListRequest),
    UserDelete => UserDelete(AuthUserDeleteRequest),
    UserChangePassword => UserChangePassword(AuthUserChangePasswordRequest),
    UserGrantRole => UserGrantRole(AuthUserGrantRoleRequest),
    UserRevokeRole => UserRevokeRole(AuthUserRevokeRoleRequest),
    RoleAdd => RoleAdd(AuthRoleAddRequest),
    RoleGet => RoleGet(AuthRoleGetRequest),
    RoleList => RoleList(AuthRoleListRequest),
    RoleDelete => RoleDelete(AuthRoleDeleteRequest),
    RoleGrantPermission => RoleGrantPermission(AuthRoleGrantPermissionRequest),
    RoleRevokePermission => RoleRevokePermission(AuthRoleRevokePermissionRequest),
}

macro_rules! encode_all {
    ($response:expr, $($variant:ident),*) => {
        match $response {
            $( Response::$variant(r) => r.encode_to_vec(), )*
            // v2 answers are rendered as JSON (`api::v2`) and only requested over HTTP/1.1.
            Response::V2(_) => Vec::new(),
        }
    };
}

/// A core response as the protobuf bytes of its message.
#[must_use]
pub fn encode_response(response: &Response) -> Vec<u8> {
    encode_all!(
        response,
        Range,
        Put,
        DeleteRange,
        Txn,
        Compact,
        LeaseGrant,
        LeaseRevoke,
        LeaseKeepAlive,
        LeaseTimeToLive,
        LeaseLeases,
        MemberAdd,
        MemberRemove,
        MemberUpdate,
        MemberList,
        MemberPromote,
        Alarm,
        Status,
        Hash,
        HashKv,
        MoveLeader,
        AuthEnable,
        AuthDisable,
        AuthStatus,
        Authenticate,
        UserAdd,
        UserGet,
        UserList,
        UserDelete,
        UserChangePassword,
        UserGrantRole,
        UserRevokeRole,
        RoleAdd,
        RoleGet,
        RoleList,
        RoleDelete,
        RoleGrantPermission,
        RoleRevokePermission
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unary_method_but_downgrade_decodes() {
        for m in Method::ALL {
            let r = decode_unary(*m, &[]);
            match m {
                Method::Watch | Method::LeaseKeepAlive | Method::Snapshot => {
                    assert!(stream_kind(*m).is_some());
                    assert_eq!(r.unwrap_err().code, 12, "{m:?}");
                }
                Method::Downgrade => assert_eq!(r.unwrap_err().code, 12),
                Method::Defragment => assert_eq!(r.unwrap(), UnaryCall::Defragment),
                _ => {
                    let UnaryCall::Node(req) = r.unwrap() else { panic!("{m:?}") };
                    assert_eq!(req.name(), m.info().name.replace("HashKV", "HashKv"), "{m:?}");
                }
            }
        }
    }

    #[test]
    fn put_round_trips_and_garbage_is_internal() {
        let put = pb::PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
        let call = decode_unary(Method::Put, &put.encode_to_vec()).unwrap();
        assert_eq!(call, UnaryCall::Node(Request::Put(put)));
        let st = decode_unary(Method::Put, &[0x0a, 0x05, 1]).unwrap_err();
        assert_eq!(st.code, 13);
        assert!(st.message.starts_with("grpc: error unmarshalling request"), "{}", st.message);
        let resp = Response::Put(pb::PutResponse::default());
        assert_eq!(method_of(&resp), Some(Method::Put));
        assert!(encode_response(&resp).is_empty());
    }

    #[test]
    fn statuses() {
        let st = api_status(ApiError::Compacted);
        assert_eq!(
            (st.code, st.message.as_str()),
            (11, "etcdserver: mvcc: required revision has been compacted")
        );
        let st = unknown_method("/etcdserverpb.KV/Nope");
        assert_eq!(st.message, "unknown method Nope for service etcdserverpb.KV");
    }
}
