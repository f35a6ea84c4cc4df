//! Golden wire bytes (derived by hand from the protobuf encoding rules) prove field numbers and
//! scalar kinds; round trips prove every message decodes what it encodes.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use prost::Message;

use super::*;
use crate::authpb::{self, permission, Permission, UserAddOptions};
use crate::membershippb::{Attributes, ClusterMemberAttrSetRequest, ClusterVersionSetRequest};
use crate::mvccpb::{event::EventType, Event, KeyValue};

fn encode<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}

fn assert_golden<M: Message + Default + PartialEq + core::fmt::Debug>(m: &M, golden: &[u8]) {
    assert_eq!(encode(m), golden, "encoding of {m:?}");
    assert_eq!(&M::decode(golden).expect("golden bytes decode"), m);
}

fn header() -> Option<ResponseHeader> {
    Some(ResponseHeader { cluster_id: 300, member_id: u64::MAX, revision: 2, raft_term: 3 })
}

fn kv(key: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        create_revision: 2,
        mod_revision: 3,
        version: 4,
        value: b"v".to_vec(),
        lease: 7,
    }
}

#[test]
fn put_request_golden() {
    let put = PutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 5,
        prev_kv: true,
        ..Default::default()
    };
    assert_golden(&put, &[0x0a, 3, b'f', b'o', b'o', 0x12, 3, b'b', b'a', b'r', 0x18, 5, 0x20, 1]);
    let put = PutRequest { ignore_value: true, ignore_lease: true, ..Default::default() };
    assert_golden(&put, &[0x28, 1, 0x30, 1]);
}

#[test]
fn response_header_golden_uint64_and_int64() {
    let mut golden = vec![0x08, 0xac, 0x02, 0x10];
    golden.extend_from_slice(&[0xff; 9]);
    golden.extend_from_slice(&[0x01, 0x18, 2, 0x20, 3]);
    assert_golden(&header().unwrap(), &golden);
}

#[test]
fn negative_int64_is_ten_byte_varint_not_zigzag() {
    let range = RangeRequest { revision: -1, ..Default::default() };
    let mut golden = vec![0x20];
    golden.extend_from_slice(&[0xff; 9]);
    golden.push(0x01);
    assert_golden(&range, &golden);
}

#[test]
fn range_request_golden_all_numbers() {
    let range = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"b".to_vec(),
        limit: 1,
        revision: 2,
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Value as i32,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 10,
        max_mod_revision: 11,
        min_create_revision: 12,
        max_create_revision: 13,
    };
    assert_golden(
        &range,
        &[
            0x0a, 1, b'a', 0x12, 1, b'b', 0x18, 1, 0x20, 2, 0x28, 2, 0x30, 4, 0x38, 1, 0x40, 1,
            0x48, 1, 0x50, 10, 0x58, 11, 0x60, 12, 0x68, 13,
        ],
    );
}

#[test]
fn watch_filters_are_packed_and_unpacked_input_is_accepted() {
    let create = WatchCreateRequest {
        key: b"a".to_vec(),
        filters: vec![
            watch_create_request::FilterType::Noput as i32,
            watch_create_request::FilterType::Nodelete as i32,
        ],
        watch_id: 9,
        ..Default::default()
    };
    assert_golden(&create, &[0x0a, 1, b'a', 0x2a, 2, 0, 1, 0x38, 9]);
    let unpacked = [0x0a, 1, b'a', 0x28, 0, 0x28, 1, 0x38, 9];
    assert_eq!(WatchCreateRequest::decode(&unpacked[..]).unwrap(), create);

    let request = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"k".to_vec(),
            ..Default::default()
        })),
    };
    assert_golden(&request, &[0x0a, 3, 0x0a, 1, b'k']);
    let progress = WatchRequest {
        request_union: Some(watch_request::RequestUnion::ProgressRequest(WatchProgressRequest {})),
    };
    assert_golden(&progress, &[0x1a, 0]);
    let cancel = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 4,
        })),
    };
    assert_golden(&cancel, &[0x12, 2, 0x08, 4]);
}

#[test]
fn watch_response_events_use_field_eleven() {
    let resp = WatchResponse {
        watch_id: 1,
        created: true,
        canceled: true,
        compact_revision: 5,
        cancel_reason: "x".to_string(),
        fragment: true,
        events: vec![Event { r#type: EventType::Delete as i32, kv: None, prev_kv: None }],
        ..Default::default()
    };
    assert_golden(
        &resp,
        &[0x10, 1, 0x18, 1, 0x20, 1, 0x28, 5, 0x32, 1, b'x', 0x38, 1, 0x5a, 2, 0x08, 1],
    );
}

#[test]
fn oneof_default_values_are_still_written() {
    // A set oneof member is emitted even when it holds the default value: `mod_revision = 0`
    // and `request_put {}` must survive the trip.
    let cmp = Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Mod as i32,
        key: b"k".to_vec(),
        target_union: Some(compare::TargetUnion::ModRevision(0)),
        range_end: b"z".to_vec(),
    };
    assert_golden(&cmp, &[0x10, 2, 0x1a, 1, b'k', 0x30, 0, 0x82, 0x04, 1, b'z']);
    let op = RequestOp { request: Some(request_op::Request::RequestPut(PutRequest::default())) };
    assert_golden(&op, &[0x12, 0]);
    let txn = TxnRequest {
        compare: vec![Compare {
            result: compare::CompareResult::NotEqual as i32,
            target: compare::CompareTarget::Value as i32,
            target_union: Some(compare::TargetUnion::Value(b"v".to_vec())),
            ..Default::default()
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                key: b"d".to_vec(),
                prev_kv: true,
                ..Default::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest::default())),
        }],
    };
    assert_golden(
        &txn,
        &[
            0x0a, 7, 0x08, 3, 0x10, 3, 0x3a, 1, b'v', // compare
            0x12, 7, 0x1a, 5, 0x0a, 1, b'd', 0x18, 1, // success: delete_range = 3
            0x1a, 2, 0x22, 0, // failure: request_txn = 4
        ],
    );
    let lease_cmp = Compare {
        target: compare::CompareTarget::Lease as i32,
        target_union: Some(compare::TargetUnion::Lease(6)),
        ..Default::default()
    };
    assert_golden(&lease_cmp, &[0x10, 4, 0x40, 6]);
    let versions =
        [(compare::TargetUnion::Version(1), 0x20), (compare::TargetUnion::CreateRevision(1), 0x28)];
    for (union, tag) in versions {
        let cmp = Compare { target_union: Some(union), ..Default::default() };
        assert_golden(&cmp, &[tag, 1]);
    }
}

#[test]
fn key_value_and_event_golden() {
    assert_golden(&kv("k"), &[0x0a, 1, b'k', 0x10, 2, 0x18, 3, 0x20, 4, 0x2a, 1, b'v', 0x30, 7]);
    let event = Event { r#type: 0, kv: None, prev_kv: Some(KeyValue::default()) };
    assert_golden(&event, &[0x1a, 0]);
}

#[test]
fn lease_and_maintenance_golden() {
    assert_golden(&LeaseGrantRequest { ttl: 60, id: 7 }, &[0x08, 60, 0x10, 7]);
    let ttl = LeaseTimeToLiveResponse {
        id: 1,
        ttl: -1,
        granted_ttl: 3,
        keys: vec![b"a".to_vec(), b"b".to_vec()],
        header: None,
    };
    let mut golden = vec![0x10, 1, 0x18];
    golden.extend_from_slice(&[0xff; 9]);
    golden.extend_from_slice(&[0x01, 0x20, 3, 0x2a, 1, b'a', 0x2a, 1, b'b']);
    assert_golden(&ttl, &golden);
    // uint32 hash: five-byte varint at most.
    assert_golden(
        &HashResponse { header: None, hash: u32::MAX },
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f],
    );
    assert_golden(
        &HashKVResponse { header: None, hash: 1, compact_revision: 2, hash_revision: 3 },
        &[0x10, 1, 0x18, 2, 0x20, 3],
    );
    let alarm = AlarmRequest {
        action: alarm_request::AlarmAction::Deactivate as i32,
        member_id: 5,
        alarm: AlarmType::Corrupt as i32,
    };
    assert_golden(&alarm, &[0x08, 2, 0x10, 5, 0x18, 2]);
    let status = StatusResponse {
        version: "3.5.0".to_string(),
        db_size: 1,
        leader: 2,
        raft_index: 3,
        raft_term: 4,
        raft_applied_index: 5,
        errors: vec!["e".to_string()],
        db_size_in_use: 6,
        is_learner: true,
        ..Default::default()
    };
    assert_golden(
        &status,
        &[
            0x12, 5, b'3', b'.', b'5', b'.', b'0', 0x18, 1, 0x20, 2, 0x28, 3, 0x30, 4, 0x38, 5,
            0x42, 1, b'e', 0x48, 6, 0x50, 1,
        ],
    );
    let chunk = SnapshotResponse { remaining_bytes: 1, blob: b"x".to_vec(), ..Default::default() };
    assert_golden(&chunk, &[0x10, 1, 0x1a, 1, b'x']);
}

#[test]
fn cluster_and_auth_golden() {
    let member = Member {
        id: 1,
        name: "n".to_string(),
        peer_urls: vec!["p".to_string()],
        client_urls: vec!["c".to_string()],
        is_learner: true,
    };
    assert_golden(&member, &[0x08, 1, 0x12, 1, b'n', 0x1a, 1, b'p', 0x22, 1, b'c', 0x28, 1]);
    assert_golden(
        &MemberAddRequest { peer_urls: vec!["p".to_string()], is_learner: true },
        &[0x0a, 1, b'p', 0x10, 1],
    );
    assert_golden(&MemberUpdateRequest { id: 2, peer_urls: vec![] }, &[0x08, 2]);
    assert_golden(&MoveLeaderRequest { target_id: 3 }, &[0x08, 3]);
    let grant = AuthRoleGrantPermissionRequest {
        name: "r".to_string(),
        perm: Some(Permission {
            perm_type: permission::Type::Readwrite as i32,
            key: b"k".to_vec(),
            range_end: b"l".to_vec(),
        }),
    };
    assert_golden(&grant, &[0x0a, 1, b'r', 0x12, 8, 0x08, 2, 0x12, 1, b'k', 0x1a, 1, b'l']);
    let add = AuthUserAddRequest {
        name: "u".to_string(),
        password: "p".to_string(),
        options: Some(UserAddOptions { no_password: true }),
        hashed_password: "h".to_string(),
    };
    assert_golden(&add, &[0x0a, 1, b'u', 0x12, 1, b'p', 0x1a, 2, 0x08, 1, 0x22, 1, b'h']);
    let status = AuthStatusResponse { header: None, enabled: true, auth_revision: 9 };
    assert_golden(&status, &[0x10, 1, 0x18, 9]);
    let user = authpb::User {
        name: b"u".to_vec(),
        password: b"h".to_vec(),
        roles: vec!["r".to_string()],
        options: Some(UserAddOptions::default()),
    };
    assert_golden(&user, &[0x0a, 1, b'u', 0x12, 1, b'h', 0x1a, 1, b'r', 0x22, 0]);
    let role = authpb::Role { name: b"r".to_vec(), key_permission: vec![Permission::default()] };
    assert_golden(&role, &[0x0a, 1, b'r', 0x12, 0]);
}

#[test]
fn internal_raft_request_golden_v2() {
    let req = InternalRaftRequest {
        v2: Some(V2Request {
            method: "PUT".to_string(),
            path: "/a".to_string(),
            dir: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    // v2 = 2; inside, Method = 2, Path = 3, Dir = 5.
    assert_golden(&req, &[0x12, 11, 0x12, 3, b'P', b'U', b'T', 0x1a, 2, b'/', b'a', 0x28, 1]);
}

#[test]
fn internal_raft_request_golden_high_field_numbers() {
    let req = InternalRaftRequest {
        header: Some(RequestHeader { id: 1, username: "u".to_string(), auth_revision: 2 }),
        id: 7,
        auth_enable: Some(AuthEnableRequest {}),
        cluster_version_set: Some(ClusterVersionSetRequest { ver: "3.5.0".to_string() }),
        ..Default::default()
    };
    // prost writes fields in tag order; decoding is order-independent.
    let golden = [
        0x08, 7, // ID = 1
        0xa2, 0x06, 7, 0x08, 1, 0x12, 1, b'u', 0x18, 2, // header = 100
        0xc2, 0x3e, 0, // auth_enable = 1000
        0xa2, 0x51, 7, 0x0a, 5, b'3', b'.', b'5', b'.', b'0', // cluster_version_set = 1300
    ];
    assert_golden(&req, &golden);
    let checkpoint = InternalRaftRequest {
        lease_checkpoint: Some(LeaseCheckpointRequest {
            checkpoints: vec![LeaseCheckpoint { id: 1, remaining_ttl: 2 }],
        }),
        ..Default::default()
    };
    assert_golden(&checkpoint, &[0x5a, 6, 0x0a, 4, 0x08, 1, 0x10, 2]);
    let alarm = InternalRaftRequest { alarm: Some(AlarmRequest::default()), ..Default::default() };
    assert_golden(&alarm, &[0x52, 0]);
    let auth = InternalRaftRequest {
        authenticate: Some(InternalAuthenticateRequest {
            name: "a".to_string(),
            password: "b".to_string(),
            simple_token: "c".to_string(),
        }),
        auth_role_revoke_permission: Some(AuthRoleRevokePermissionRequest::default()),
        ..Default::default()
    };
    // 1012 -> (1012 << 3) | 2 = 8098 = a2 3f; 1204 -> 9634 = a2 4b.
    assert_golden(
        &auth,
        &[0xa2, 0x3f, 9, 0x0a, 1, b'a', 0x12, 1, b'b', 0x1a, 1, b'c', 0xa2, 0x4b, 0],
    );
    let attrs = InternalRaftRequest {
        cluster_member_attr_set: Some(ClusterMemberAttrSetRequest {
            member_id: 4,
            member_attributes: Some(Attributes {
                name: "m".to_string(),
                client_urls: vec!["c".to_string()],
            }),
        }),
        ..Default::default()
    };
    // 1301 -> 10410 = aa 51.
    assert_golden(&attrs, &[0xaa, 0x51, 10, 0x08, 4, 0x12, 6, 0x0a, 1, b'm', 0x12, 1, b'c']);
}

#[test]
fn unknown_fields_are_skipped() {
    // A newer client's field 99 (varint) before a known one.
    let bytes = [0x98, 0x06, 1, 0x0a, 1, b'k'];
    assert_eq!(
        DeleteRangeRequest::decode(&bytes[..]).unwrap(),
        DeleteRangeRequest { key: b"k".to_vec(), ..Default::default() }
    );
}

#[test]
fn populated_messages_round_trip() {
    fn round_trip<M: Message + Default + PartialEq + core::fmt::Debug>(m: M) {
        let bytes = m.encode_to_vec();
        assert_eq!(bytes.len(), m.encoded_len());
        assert_eq!(M::decode(&bytes[..]).unwrap(), m);
    }
    let txn = TxnResponse {
        header: header(),
        succeeded: true,
        responses: vec![
            ResponseOp {
                response: Some(response_op::Response::ResponseRange(RangeResponse {
                    header: header(),
                    kvs: vec![kv("a"), kv("b")],
                    more: true,
                    count: 3,
                })),
            },
            ResponseOp {
                response: Some(response_op::Response::ResponsePut(PutResponse {
                    header: header(),
                    prev_kv: Some(kv("p")),
                })),
            },
            ResponseOp {
                response: Some(response_op::Response::ResponseDeleteRange(DeleteRangeResponse {
                    header: header(),
                    deleted: 2,
                    prev_kvs: vec![kv("d")],
                })),
            },
            ResponseOp {
                response: Some(response_op::Response::ResponseTxn(TxnResponse {
                    header: header(),
                    succeeded: false,
                    responses: vec![],
                })),
            },
        ],
    };
    round_trip(txn);
    round_trip(WatchResponse {
        header: header(),
        events: vec![Event {
            r#type: EventType::Put as i32,
            kv: Some(kv("w")),
            prev_kv: Some(kv("w")),
        }],
        ..Default::default()
    });
    round_trip(LeaseKeepAliveResponse { header: header(), id: 1, ttl: 10 });
    round_trip(LeaseLeasesResponse {
        header: header(),
        leases: vec![LeaseStatus { id: 1 }, LeaseStatus { id: i64::MIN }],
    });
    round_trip(MemberListResponse {
        header: header(),
        members: vec![Member { id: u64::MAX, ..Default::default() }],
    });
    round_trip(AlarmResponse {
        header: header(),
        alarms: vec![AlarmMember { member_id: 1, alarm: AlarmType::Nospace as i32 }],
    });
    round_trip(AuthRoleGetResponse { header: header(), perm: vec![Permission::default()] });
    round_trip(AuthUserListResponse { header: header(), users: vec!["root".to_string()] });
    round_trip(DowngradeRequest {
        action: downgrade_request::DowngradeAction::Cancel as i32,
        version: "3.4".to_string(),
    });
    round_trip(StatusResponse {
        downgrade_info: Some(DowngradeInfo { enabled: true, target_version: "3.4".into() }),
        db_size_quota: 1 << 33,
        storage_version: "3.5.0".to_string(),
        ..Default::default()
    });
    round_trip(AuthenticateResponse { header: header(), token: "t.1".to_string() });
}

#[test]
fn enum_accessors_map_unknown_values_to_default() {
    let cmp = Compare { result: 42, ..Default::default() };
    assert_eq!(cmp.result(), compare::CompareResult::Equal);
    assert_eq!(compare::CompareResult::try_from(3), Ok(compare::CompareResult::NotEqual));
    assert!(compare::CompareResult::try_from(4).is_err());
}
