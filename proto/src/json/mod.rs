//! etcd's grpc-gateway JSON for `/v3/*` (feature `json`), as etcd 3.4/3.5 write and read it:
//! grpc-gateway v1's JSONPb marshaler with `OrigName`: proto field names (`range_end`, `ID`,
//! `peerURLs`), `bytes` as standard base64, 64-bit integers as decimal strings, enums by name,
//! fields with default values left out; on input names or numbers, strings or numbers, and
//! unknown fields ignored (grpc-gateway v1 allows them unless told otherwise).
//!
//! The codec is table-driven ([`desc`]) and works on protobuf bytes, so a runtime can turn a
//! gateway body into the same bytes a gRPC client would send ([`request_to_protobuf`]) and a
//! response's bytes into JSON ([`response_to_json`]), by [`Method`].

pub mod desc;
mod from_json;
#[cfg(test)]
mod tests;
mod to_json;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::authpb;
use crate::etcdserverpb as pb;
use crate::grpc::Code;
use crate::mvccpb;
use crate::service::Method;
use desc::MessageDesc;

/// A body the gateway cannot accept (grpc-gateway answers `InvalidArgument`, HTTP 400), or
/// protobuf bytes that do not match their message type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// What is wrong.
    pub message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> JsonError {
        JsonError { message: message.into() }
    }

    /// The gRPC code for a bad request body.
    pub fn code(&self) -> Code {
        Code::InvalidArgument
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What to do with JSON object keys that name no field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownFields {
    /// Skip them: grpc-gateway v1's default, hence etcd's behaviour.
    Ignore,
    /// Refuse the body.
    Reject,
}

/// A message with a JSON mapping.
pub trait JsonMessage: prost::Message + Default {
    /// The message's field table.
    fn descriptor() -> &'static MessageDesc;
}

/// Decodes bytes as one message type and encodes it again (for table-versus-struct tests).
#[cfg(test)]
type Reencode = fn(&[u8]) -> Result<Vec<u8>, prost::DecodeError>;

macro_rules! json_messages {
    ($($ty:path => $desc:ident,)*) => {
        $(impl JsonMessage for $ty {
            fn descriptor() -> &'static MessageDesc {
                &desc::$desc
            }
        })*

        /// Every message type with its table.
        #[cfg(test)]
        fn all_messages() -> Vec<(&'static MessageDesc, Reencode)> {
            alloc::vec![$((
                &desc::$desc,
                (|b: &[u8]| <$ty as prost::Message>::decode(b).map(|m| prost::Message::encode_to_vec(&m)))
                    as Reencode,
            )),*]
        }
    };
}

json_messages! {
    mvccpb::KeyValue => KEY_VALUE,
    mvccpb::Event => EVENT,
    authpb::UserAddOptions => USER_ADD_OPTIONS,
    authpb::User => USER,
    authpb::Permission => PERMISSION,
    authpb::Role => ROLE,
    pb::ResponseHeader => RESPONSE_HEADER,
    pb::RangeRequest => RANGE_REQUEST,
    pb::RangeResponse => RANGE_RESPONSE,
    pb::PutRequest => PUT_REQUEST,
    pb::PutResponse => PUT_RESPONSE,
    pb::DeleteRangeRequest => DELETE_RANGE_REQUEST,
    pb::DeleteRangeResponse => DELETE_RANGE_RESPONSE,
    pb::RequestOp => REQUEST_OP,
    pb::ResponseOp => RESPONSE_OP,
    pb::Compare => COMPARE,
    pb::TxnRequest => TXN_REQUEST,
    pb::TxnResponse => TXN_RESPONSE,
    pb::CompactionRequest => COMPACTION_REQUEST,
    pb::CompactionResponse => COMPACTION_RESPONSE,
    pb::HashRequest => HASH_REQUEST,
    pb::HashKVRequest => HASH_KV_REQUEST,
    pb::HashKVResponse => HASH_KV_RESPONSE,
    pb::HashResponse => HASH_RESPONSE,
    pb::SnapshotRequest => SNAPSHOT_REQUEST,
    pb::SnapshotResponse => SNAPSHOT_RESPONSE,
    pb::WatchRequest => WATCH_REQUEST,
    pb::WatchCreateRequest => WATCH_CREATE_REQUEST,
    pb::WatchCancelRequest => WATCH_CANCEL_REQUEST,
    pb::WatchProgressRequest => WATCH_PROGRESS_REQUEST,
    pb::WatchResponse => WATCH_RESPONSE,
    pb::LeaseGrantRequest => LEASE_GRANT_REQUEST,
    pb::LeaseGrantResponse => LEASE_GRANT_RESPONSE,
    pb::LeaseRevokeRequest => LEASE_REVOKE_REQUEST,
    pb::LeaseRevokeResponse => LEASE_REVOKE_RESPONSE,
    pb::LeaseCheckpoint => LEASE_CHECKPOINT,
    pb::LeaseCheckpointRequest => LEASE_CHECKPOINT_REQUEST,
    pb::LeaseCheckpointResponse => LEASE_CHECKPOINT_RESPONSE,
    pb::LeaseKeepAliveRequest => LEASE_KEEP_ALIVE_REQUEST,
    pb::LeaseKeepAliveResponse => LEASE_KEEP_ALIVE_RESPONSE,
    pb::LeaseTimeToLiveRequest => LEASE_TIME_TO_LIVE_REQUEST,
    pb::LeaseTimeToLiveResponse => LEASE_TIME_TO_LIVE_RESPONSE,
    pb::LeaseLeasesRequest => LEASE_LEASES_REQUEST,
    pb::LeaseStatus => LEASE_STATUS,
    pb::LeaseLeasesResponse => LEASE_LEASES_RESPONSE,
    pb::Member => MEMBER,
    pb::MemberAddRequest => MEMBER_ADD_REQUEST,
    pb::MemberAddResponse => MEMBER_ADD_RESPONSE,
    pb::MemberRemoveRequest => MEMBER_REMOVE_REQUEST,
    pb::MemberRemoveResponse => MEMBER_REMOVE_RESPONSE,
    pb::MemberUpdateRequest => MEMBER_UPDATE_REQUEST,
    pb::MemberUpdateResponse => MEMBER_UPDATE_RESPONSE,
    pb::MemberListRequest => MEMBER_LIST_REQUEST,
    pb::MemberListResponse => MEMBER_LIST_RESPONSE,
    pb::MemberPromoteRequest => MEMBER_PROMOTE_REQUEST,
    pb::MemberPromoteResponse => MEMBER_PROMOTE_RESPONSE,
    pb::DefragmentRequest => DEFRAGMENT_REQUEST,
    pb::DefragmentResponse => DEFRAGMENT_RESPONSE,
    pb::MoveLeaderRequest => MOVE_LEADER_REQUEST,
    pb::MoveLeaderResponse => MOVE_LEADER_RESPONSE,
    pb::AlarmRequest => ALARM_REQUEST,
    pb::AlarmMember => ALARM_MEMBER,
    pb::AlarmResponse => ALARM_RESPONSE,
    pb::DowngradeRequest => DOWNGRADE_REQUEST,
    pb::DowngradeResponse => DOWNGRADE_RESPONSE,
    pb::StatusRequest => STATUS_REQUEST,
    pb::StatusResponse => STATUS_RESPONSE,
    pb::DowngradeInfo => DOWNGRADE_INFO,
    pb::AuthEnableRequest => AUTH_ENABLE_REQUEST,
    pb::AuthDisableRequest => AUTH_DISABLE_REQUEST,
    pb::AuthStatusRequest => AUTH_STATUS_REQUEST,
    pb::AuthenticateRequest => AUTHENTICATE_REQUEST,
    pb::AuthUserAddRequest => AUTH_USER_ADD_REQUEST,
    pb::AuthUserGetRequest => AUTH_USER_GET_REQUEST,
    pb::AuthUserDeleteRequest => AUTH_USER_DELETE_REQUEST,
    pb::AuthUserChangePasswordRequest => AUTH_USER_CHANGE_PASSWORD_REQUEST,
    pb::AuthUserGrantRoleRequest => AUTH_USER_GRANT_ROLE_REQUEST,
    pb::AuthUserRevokeRoleRequest => AUTH_USER_REVOKE_ROLE_REQUEST,
    pb::AuthRoleAddRequest => AUTH_ROLE_ADD_REQUEST,
    pb::AuthRoleGetRequest => AUTH_ROLE_GET_REQUEST,
    pb::AuthUserListRequest => AUTH_USER_LIST_REQUEST,
    pb::AuthRoleListRequest => AUTH_ROLE_LIST_REQUEST,
    pb::AuthRoleDeleteRequest => AUTH_ROLE_DELETE_REQUEST,
    pb::AuthRoleGrantPermissionRequest => AUTH_ROLE_GRANT_PERMISSION_REQUEST,
    pb::AuthRoleRevokePermissionRequest => AUTH_ROLE_REVOKE_PERMISSION_REQUEST,
    pb::AuthEnableResponse => AUTH_ENABLE_RESPONSE,
    pb::AuthDisableResponse => AUTH_DISABLE_RESPONSE,
    pb::AuthStatusResponse => AUTH_STATUS_RESPONSE,
    pb::AuthenticateResponse => AUTHENTICATE_RESPONSE,
    pb::AuthUserAddResponse => AUTH_USER_ADD_RESPONSE,
    pb::AuthUserGetResponse => AUTH_USER_GET_RESPONSE,
    pb::AuthUserDeleteResponse => AUTH_USER_DELETE_RESPONSE,
    pb::AuthUserChangePasswordResponse => AUTH_USER_CHANGE_PASSWORD_RESPONSE,
    pb::AuthUserGrantRoleResponse => AUTH_USER_GRANT_ROLE_RESPONSE,
    pb::AuthUserRevokeRoleResponse => AUTH_USER_REVOKE_ROLE_RESPONSE,
    pb::AuthRoleAddResponse => AUTH_ROLE_ADD_RESPONSE,
    pb::AuthRoleGetResponse => AUTH_ROLE_GET_RESPONSE,
    pb::AuthRoleListResponse => AUTH_ROLE_LIST_RESPONSE,
    pb::AuthUserListResponse => AUTH_USER_LIST_RESPONSE,
    pb::AuthRoleDeleteResponse => AUTH_ROLE_DELETE_RESPONSE,
    pb::AuthRoleGrantPermissionResponse => AUTH_ROLE_GRANT_PERMISSION_RESPONSE,
    pb::AuthRoleRevokePermissionResponse => AUTH_ROLE_REVOKE_PERMISSION_RESPONSE,
}

/// Appends `message` as gateway JSON to `out`.
pub fn write_json<M: JsonMessage>(message: &M, out: &mut String) {
    let bytes = message.encode_to_vec();
    // prost's own encoding always matches its table (tested for every message).
    to_json::write_message(M::descriptor(), &bytes, out, 0)
        .expect("prost encoding matches the JSON table");
}

/// `message` as gateway JSON.
pub fn to_json<M: JsonMessage>(message: &M) -> String {
    let mut out = String::new();
    write_json(message, &mut out);
    out
}

/// Parses a gateway JSON body into a message, ignoring unknown fields as etcd does. An empty
/// body (or only whitespace) is the default message, as grpc-gateway treats it.
///
/// # Errors
/// [`JsonError`] when the body is not JSON, not an object, or a field has the wrong type.
pub fn from_json<M: JsonMessage>(json: &[u8]) -> Result<M, JsonError> {
    from_json_with(json, UnknownFields::Ignore)
}

/// [`from_json`] with a choice about unknown fields.
///
/// # Errors
/// As [`from_json`], plus unknown fields under [`UnknownFields::Reject`].
pub fn from_json_with<M: JsonMessage>(json: &[u8], unknown: UnknownFields) -> Result<M, JsonError> {
    let mut bytes = Vec::new();
    json_to_protobuf(M::descriptor(), json, unknown, &mut bytes)?;
    M::decode(&bytes[..]).map_err(|e| JsonError::new(alloc::format!("{e}")))
}

/// Converts a JSON body of type `desc` to protobuf bytes appended to `out`.
///
/// # Errors
/// As [`from_json_with`].
pub fn json_to_protobuf(
    desc: &MessageDesc,
    json: &[u8],
    unknown: UnknownFields,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| JsonError::new(alloc::format!("{e}")))?;
    from_json::encode_message(desc, &value, unknown, out, 0)
}

/// Converts protobuf bytes of type `desc` to gateway JSON appended to `out`.
///
/// # Errors
/// [`JsonError`] when the bytes are not a valid encoding of such a message.
pub fn protobuf_to_json(
    desc: &MessageDesc,
    bytes: &[u8],
    out: &mut String,
) -> Result<(), JsonError> {
    let start = out.len();
    let result = to_json::write_message(desc, bytes, out, 0);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The gateway request body for `method` as the protobuf bytes a gRPC client would send.
///
/// # Errors
/// As [`from_json`].
pub fn request_to_protobuf(
    method: Method,
    json: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    json_to_protobuf(request_descriptor(method), json, UnknownFields::Ignore, out)
}

/// A response of `method`, given as protobuf bytes, as gateway JSON.
///
/// # Errors
/// As [`protobuf_to_json`].
pub fn response_to_json(method: Method, bytes: &[u8], out: &mut String) -> Result<(), JsonError> {
    protobuf_to_json(response_descriptor(method), bytes, out)
}

/// One message of a server stream (Watch, LeaseKeepAlive, Snapshot) as grpc-gateway writes it:
/// `{"result":{...}}` and a newline.
///
/// # Errors
/// As [`protobuf_to_json`].
pub fn stream_result_to_json(
    method: Method,
    bytes: &[u8],
    out: &mut String,
) -> Result<(), JsonError> {
    let start = out.len();
    out.push_str("{\"result\":");
    if let Err(e) = protobuf_to_json(response_descriptor(method), bytes, out) {
        out.truncate(start);
        return Err(e);
    }
    out.push_str("}\n");
    Ok(())
}

/// The request message table of `method`.
pub fn request_descriptor(method: Method) -> &'static MessageDesc {
    desc::find(method.info().request_type).expect("every method's request is described")
}

/// The response message table of `method`.
pub fn response_descriptor(method: Method) -> &'static MessageDesc {
    desc::find(method.info().response_type).expect("every method's response is described")
}

/// grpc-gateway v1's body for a failed unary call: `{"error":…,"code":…,"message":…}`, sent
/// with HTTP status [`Code::http_status`].
pub fn error_body(code: Code, message: &str, out: &mut String) {
    out.push_str("{\"error\":");
    to_json::write_str(message, out);
    let _ = write!(out, ",\"code\":{},\"message\":", code.as_u32());
    to_json::write_str(message, out);
    out.push('}');
}

/// grpc-gateway v1's chunk for an error ending a server stream:
/// `{"error":{"grpc_code":…,"http_code":…,"message":…,"http_status":…}}` and a newline.
pub fn stream_error_body(code: Code, message: &str, out: &mut String) {
    let http = code.http_status();
    let _ = write!(
        out,
        "{{\"error\":{{\"grpc_code\":{},\"http_code\":{http},\"message\":",
        code.as_u32()
    );
    to_json::write_str(message, out);
    out.push_str(",\"http_status\":");
    to_json::write_str(http_status_text(http), out);
    out.push_str("}}\n");
}

/// Go's `http.StatusText` for the statuses [`Code::http_status`] produces.
fn http_status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

/// Finds the end of the first complete JSON value in a streamed request body (the gateway's
/// Watch and LeaseKeepAlive bodies are JSON values one after another). Returns the number of
/// bytes it spans, leading whitespace included, or `None` if more bytes are needed.
///
/// # Errors
/// [`JsonError`] when the bytes cannot begin a JSON value.
pub fn next_json_value_len(buf: &[u8]) -> Result<Option<usize>, JsonError> {
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<serde_json::Value>();
    match stream.next() {
        None => Ok(None),
        Some(Ok(_)) => Ok(Some(stream.byte_offset())),
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(JsonError::new(alloc::format!("{e}"))),
    }
}
