//! Gateway JSON in the shapes of etcd's documented `/v3` examples, and a check of every field
//! table against its prost struct.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::desc::{Kind, Label, MessageDesc};
use super::*;
use crate::etcdserverpb::*;
use crate::mvccpb::KeyValue;
use prost::Message;

const CLUSTER: u64 = 14841639068965178418;
const MEMBER: u64 = 10276657743932975437;
const HEADER_JSON: &str = r#"{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"}"#;

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader { cluster_id: CLUSTER, member_id: MEMBER, revision, raft_term: 2 })
}

#[test]
fn put_request_and_response() {
    let put: PutRequest = from_json(br#"{"key": "Zm9v", "value": "YmFy"}"#).unwrap();
    assert_eq!(
        put,
        PutRequest { key: b"foo".to_vec(), value: b"bar".to_vec(), ..Default::default() }
    );
    assert_eq!(to_json(&put), r#"{"key":"Zm9v","value":"YmFy"}"#);
    let resp = PutResponse { header: header(2), prev_kv: None };
    assert_eq!(to_json(&resp), alloc::format!(r#"{{"header":{HEADER_JSON}}}"#));
    assert_eq!(from_json::<PutResponse>(to_json(&resp).as_bytes()).unwrap(), resp);
}

#[test]
fn range_response_shape() {
    let resp = RangeResponse {
        header: header(2),
        kvs: vec![KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"bar".to_vec(),
            lease: 0,
        }],
        more: false,
        count: 1,
    };
    assert_eq!(
        to_json(&resp),
        alloc::format!(
            r#"{{"header":{HEADER_JSON},"kvs":[{{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}],"count":"1"}}"#
        )
    );
    let req: RangeRequest =
        from_json(br#"{"key":"Zm9v","range_end":"Zm9w","sort_order":"DESCEND","sort_target":2,"limit":"10","revision":5}"#)
            .unwrap();
    assert_eq!(req.range_end, b"fop");
    assert_eq!(req.sort_order(), range_request::SortOrder::Descend);
    assert_eq!(req.sort_target(), range_request::SortTarget::Create);
    assert_eq!((req.limit, req.revision), (10, 5));
    assert_eq!(
        to_json(&req),
        r#"{"key":"Zm9v","range_end":"Zm9w","limit":"10","revision":"5","sort_order":"DESCEND","sort_target":"CREATE"}"#
    );
}

#[test]
fn txn_from_etcd_docs_with_camel_case_names() {
    // The shape etcd's gateway guide sends (lowerCamel names are accepted too).
    let body = br#"{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}"#;
    let txn: TxnRequest = from_json(body).unwrap();
    assert_eq!(
        txn.compare,
        vec![Compare {
            target: compare::CompareTarget::Create as i32,
            key: b"foo".to_vec(),
            target_union: Some(compare::TargetUnion::CreateRevision(2)),
            ..Default::default()
        }]
    );
    assert_eq!(
        txn.success[0].request,
        Some(request_op::Request::RequestPut(PutRequest {
            key: b"foo".to_vec(),
            value: b"bar".to_vec(),
            ..Default::default()
        }))
    );
    assert_eq!(
        to_json(&txn),
        r#"{"compare":[{"target":"CREATE","key":"Zm9v","create_revision":"2"}],"success":[{"request_put":{"key":"Zm9v","value":"YmFy"}}]}"#
    );
    let resp = TxnResponse {
        header: header(3),
        succeeded: true,
        responses: vec![ResponseOp {
            response: Some(response_op::Response::ResponsePut(PutResponse {
                header: Some(ResponseHeader { revision: 3, ..Default::default() }),
                prev_kv: None,
            })),
        }],
    };
    let json = to_json(&resp);
    assert!(
        json.ends_with(
            r#""succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]}"#
        ),
        "{json}"
    );
}

#[test]
fn oneof_default_value_is_kept_and_conflicts_refused() {
    let cmp = Compare {
        target: compare::CompareTarget::Mod as i32,
        target_union: Some(compare::TargetUnion::ModRevision(0)),
        ..Default::default()
    };
    assert_eq!(to_json(&cmp), r#"{"target":"MOD","mod_revision":"0"}"#);
    assert_eq!(from_json::<Compare>(to_json(&cmp).as_bytes()).unwrap(), cmp);
    let op =
        RequestOp { request: Some(request_op::Request::RequestRange(RangeRequest::default())) };
    assert_eq!(to_json(&op), r#"{"request_range":{}}"#);
    let err = from_json::<Compare>(br#"{"version":"1","value":"YQ=="}"#).unwrap_err();
    assert!(err.message.contains("oneof target_union"), "{err}");
    // `null` leaves a field unset, even inside a oneof.
    let cmp: Compare = from_json(br#"{"version":null,"value":"YQ=="}"#).unwrap();
    assert_eq!(cmp.target_union, Some(compare::TargetUnion::Value(b"a".to_vec())));
}

#[test]
fn watch_request_and_stream_result() {
    let req: WatchRequest =
        from_json(br#"{"create_request": {"key":"Zm9v","filters":["NOPUT",1],"prev_kv":true}}"#)
            .unwrap();
    let Some(watch_request::RequestUnion::CreateRequest(create)) = &req.request_union else {
        panic!("{req:?}")
    };
    assert_eq!(create.filters, vec![0, 1]);
    assert_eq!(
        to_json(&req),
        r#"{"create_request":{"key":"Zm9v","filters":["NOPUT","NODELETE"],"prev_kv":true}}"#
    );
    let resp = WatchResponse {
        header: header(2),
        created: true,
        events: vec![crate::mvccpb::Event {
            r#type: crate::mvccpb::event::EventType::Delete as i32,
            kv: Some(KeyValue { key: b"foo".to_vec(), mod_revision: 3, ..Default::default() }),
            prev_kv: None,
        }],
        ..Default::default()
    };
    let mut out = String::new();
    stream_result_to_json(Method::Watch, &resp.encode_to_vec(), &mut out).unwrap();
    assert_eq!(
        out,
        alloc::format!(
            "{{\"result\":{{\"header\":{HEADER_JSON},\"created\":true,\"events\":[{{\"type\":\"DELETE\",\"kv\":{{\"key\":\"Zm9v\",\"mod_revision\":\"3\"}}}}]}}}}\n"
        )
    );
}

#[test]
fn lease_member_maintenance_auth_names() {
    let grant: LeaseGrantRequest = from_json(br#"{"TTL": 30, "ID": 0}"#).unwrap();
    assert_eq!(grant, LeaseGrantRequest { ttl: 30, id: 0 });
    let resp =
        LeaseGrantResponse { header: None, id: 7587838224452829188, ttl: 30, error: String::new() };
    assert_eq!(to_json(&resp), r#"{"ID":"7587838224452829188","TTL":"30"}"#);
    let ttl = LeaseTimeToLiveResponse {
        id: 1,
        ttl: -1,
        granted_ttl: 5,
        keys: vec![b"foo".to_vec()],
        header: None,
    };
    assert_eq!(to_json(&ttl), r#"{"ID":"1","TTL":"-1","grantedTTL":"5","keys":["Zm9v"]}"#);
    let members = MemberListResponse {
        header: None,
        members: vec![Member {
            id: MEMBER,
            name: "infra1".to_string(),
            peer_urls: vec!["https://10.0.0.1:2380".to_string()],
            client_urls: vec![],
            is_learner: true,
        }],
    };
    assert_eq!(
        to_json(&members),
        r#"{"members":[{"ID":"10276657743932975437","name":"infra1","peerURLs":["https://10.0.0.1:2380"],"isLearner":true}]}"#
    );
    let add: MemberAddRequest =
        from_json(br#"{"peerURLs":["http://a:2380"],"isLearner":true}"#).unwrap();
    assert_eq!(add.peer_urls, vec!["http://a:2380"]);
    let hash = HashKVResponse { hash: u32::MAX, compact_revision: 1, ..Default::default() };
    assert_eq!(to_json(&hash), r#"{"hash":4294967295,"compact_revision":"1"}"#);
    let alarm: AlarmRequest =
        from_json(br#"{"action":"GET","memberID":"0","alarm":"NOSPACE"}"#).unwrap();
    assert_eq!(alarm.alarm(), AlarmType::Nospace);
    let status = StatusResponse {
        version: "3.5.0".to_string(),
        db_size: 20480,
        leader: MEMBER,
        raft_index: 4,
        raft_term: 2,
        raft_applied_index: 4,
        db_size_in_use: 16384,
        ..Default::default()
    };
    assert_eq!(
        to_json(&status),
        r#"{"version":"3.5.0","dbSize":"20480","leader":"10276657743932975437","raftIndex":"4","raftTerm":"2","raftAppliedIndex":"4","dbSizeInUse":"16384"}"#
    );
    let auth: AuthenticateRequest = from_json(br#"{"name": "root", "password": "pass"}"#).unwrap();
    assert_eq!((auth.name.as_str(), auth.password.as_str()), ("root", "pass"));
    let token = AuthenticateResponse { header: None, token: "sssvIpwfnLAcWAQH.9".to_string() };
    assert_eq!(to_json(&token), r#"{"token":"sssvIpwfnLAcWAQH.9"}"#);
    let grant: AuthRoleGrantPermissionRequest = from_json(
        br#"{"name":"r","perm":{"permType":"READWRITE","key":"YQ==","range_end":"Yg=="}}"#,
    )
    .unwrap();
    assert_eq!(grant.perm.unwrap().perm_type, 2);
    let role = AuthRoleGetResponse {
        header: None,
        perm: vec![crate::authpb::Permission {
            perm_type: 0,
            key: b"a".to_vec(),
            range_end: vec![],
        }],
    };
    assert_eq!(to_json(&role), r#"{"perm":[{"key":"YQ=="}]}"#);
    assert_eq!(
        to_json(&AuthStatusResponse { header: None, enabled: true, auth_revision: 3 }),
        r#"{"enabled":true,"authRevision":"3"}"#
    );
}

#[test]
fn input_leniency_and_errors() {
    // Unknown fields are ignored by default (grpc-gateway v1), refused on request.
    let body = br#"{"key":"Zm9v","no_such_field":{"x":[1]}}"#;
    assert_eq!(from_json::<PutRequest>(body).unwrap().key, b"foo");
    assert!(from_json_with::<PutRequest>(body, UnknownFields::Reject).is_err());
    // Empty body is the default message.
    assert_eq!(from_json::<StatusRequest>(b"").unwrap(), StatusRequest {});
    assert_eq!(from_json::<RangeRequest>(b" \n").unwrap(), RangeRequest::default());
    // URL-safe and unpadded base64.
    assert_eq!(from_json::<PutRequest>(br#"{"key":"-_8"}"#).unwrap().key, [0xfb, 0xff]);
    assert_eq!(from_json::<PutRequest>(br#"{"key":"Zm9vYg"}"#).unwrap().key, b"foob");
    // Integers: strings, numbers, integral floats, ranges.
    assert_eq!(from_json::<PutRequest>(br#"{"lease":"-5"}"#).unwrap().lease, -5);
    assert_eq!(from_json::<PutRequest>(br#"{"lease":1e3}"#).unwrap().lease, 1000);
    assert_eq!(
        from_json::<MemberRemoveRequest>(br#"{"ID":"18446744073709551615"}"#).unwrap().id,
        u64::MAX
    );
    for bad in [
        &br#"{"lease":1.5}"#[..],
        br#"{"lease":"9223372036854775808"}"#,
        br#"{"lease":"0x10"}"#,
        br#"{"lease":true}"#,
        br#"{"key":"%%%"}"#,
        br#"{"key":5}"#,
        br#"{"prev_kv":"true"}"#,
        br#"[]"#,
        br#"{"key":"Zm9v""#,
        br#"null"#,
    ] {
        let err = from_json::<PutRequest>(bad).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    assert!(from_json::<MemberRemoveRequest>(br#"{"ID":-1}"#).is_err());
    assert!(from_json::<HashKVResponse>(br#"{"hash":4294967296}"#).is_err());
    assert!(from_json::<RangeRequest>(br#"{"sort_order":"SIDEWAYS"}"#).is_err());
    assert!(from_json::<TxnRequest>(br#"{"success":{"request_put":{}}}"#).is_err());
    // Unknown enum numbers survive and print as numbers.
    let req: RangeRequest = from_json(br#"{"sort_order":7}"#).unwrap();
    assert_eq!(to_json(&req), r#"{"sort_order":7}"#);
}

#[test]
fn strings_are_escaped_like_go() {
    let resp =
        AuthenticateResponse { header: None, token: "a\"b\\c<d>&\n\u{1}\u{2028}é".to_string() };
    let json = to_json(&resp);
    assert_eq!(json, r#"{"token":"a\"b\\c\u003cd\u003e\u0026\n\u0001\u2028é"}"#);
    assert_eq!(from_json::<AuthenticateResponse>(json.as_bytes()).unwrap(), resp);
}

#[test]
fn gateway_error_bodies() {
    let mut out = String::new();
    error_body(Code::InvalidArgument, "etcdserver: key is not provided", &mut out);
    assert_eq!(
        out,
        r#"{"error":"etcdserver: key is not provided","code":3,"message":"etcdserver: key is not provided"}"#
    );
    out.clear();
    stream_error_body(Code::Unavailable, "etcdserver: no leader", &mut out);
    assert_eq!(
        out,
        "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}\n"
    );
}

#[test]
fn streamed_request_bodies_split() {
    let body = br#" {"create_request":{"key":"YQ=="}} {"progress_request":{}}"#;
    let first = next_json_value_len(body).unwrap().unwrap();
    assert_eq!(&body[..first], br#" {"create_request":{"key":"YQ=="}}"#);
    let second = next_json_value_len(&body[first..]).unwrap().unwrap();
    assert_eq!(first + second, body.len());
    let mut out = Vec::new();
    request_to_protobuf(Method::Watch, &body[first..], &mut out).unwrap();
    assert_eq!(out, [0x1a, 0]);
    assert_eq!(next_json_value_len(br#"{"create_req"#), Ok(None));
    assert_eq!(next_json_value_len(b"  "), Ok(None));
    assert!(next_json_value_len(b"}").is_err());
}

#[test]
fn every_method_has_tables() {
    for m in Method::ALL {
        assert_eq!(request_descriptor(*m).name, m.info().request_type);
        assert_eq!(response_descriptor(*m).name, m.info().response_type);
    }
    let mut out = String::new();
    response_to_json(Method::Range, &[0x20, 1], &mut out).unwrap();
    assert_eq!(out, r#"{"count":"1"}"#);
    out.clear();
    assert!(response_to_json(Method::Range, &[0x22, 5], &mut out).is_err());
    assert!(out.is_empty());
}

/// Protobuf bytes that set every field of `desc` to a non-default value (one member per oneof,
/// two elements per repeated field, nested messages empty).
fn populated(desc: &MessageDesc) -> Vec<u8> {
    use prost::encoding::encode_varint;
    let mut out = Vec::new();
    let mut oneofs = Vec::new();
    for f in desc.fields {
        if let Label::Oneof(group) = f.label {
            if oneofs.contains(&group) {
                continue;
            }
            oneofs.push(group);
        }
        let times = if f.label == Label::Repeated { 2 } else { 1 };
        for _ in 0..times {
            let n = u64::from(f.number);
            match f.kind {
                Kind::I64 | Kind::U64 | Kind::U32 | Kind::Bool | Kind::Enum(_) => {
                    encode_varint(n << 3, &mut out);
                    let v = match f.kind {
                        Kind::I64 => (-(n as i64)) as u64,
                        Kind::U64 => n + 1_000_000_000_000,
                        Kind::Bool | Kind::Enum(_) => 1,
                        _ => n,
                    };
                    encode_varint(v, &mut out);
                }
                Kind::Str => {
                    encode_varint(n << 3 | 2, &mut out);
                    out.extend_from_slice(&[1, b'a' + (n % 26) as u8]);
                }
                // Not UTF-8, so a `String` field in the struct refuses it.
                Kind::Bytes => {
                    encode_varint(n << 3 | 2, &mut out);
                    out.extend_from_slice(&[2, 0xff, n as u8]);
                }
                Kind::Msg(_) => {
                    encode_varint(n << 3 | 2, &mut out);
                    out.push(0);
                }
            }
        }
    }
    out
}

#[test]
fn every_table_matches_its_prost_struct() {
    let all = all_messages();
    assert_eq!(all.len(), desc::ALL.len());
    for (desc, reencode) in all {
        assert!(desc::ALL.iter().any(|d| core::ptr::eq(*d, desc)));
        let bytes = populated(desc);
        let mut want = String::new();
        protobuf_to_json(desc, &bytes, &mut want).unwrap();
        for f in desc.fields {
            let first_of_group = match f.label {
                Label::Oneof(g) => {
                    desc.fields.iter().find(|o| o.label == Label::Oneof(g)).map(|o| o.number)
                        == Some(f.number)
                }
                _ => true,
            };
            if first_of_group {
                assert!(want.contains(&alloc::format!("\"{}\":", f.name)), "{} {want}", desc.name);
            }
        }
        // A field the struct lacks, or holds with another type, changes the result.
        let again = reencode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", desc.name));
        let mut got = String::new();
        protobuf_to_json(desc, &again, &mut got).unwrap();
        assert_eq!(got, want, "{}", desc.name);
        // And JSON reads back to the same bytes.
        let mut back = Vec::new();
        json_to_protobuf(desc, want.as_bytes(), UnknownFields::Reject, &mut back).unwrap();
        assert_eq!(reencode(&back).unwrap(), again, "{}", desc.name);
        // Every oneof member, one at a time.
        for f in desc.fields.iter().filter(|f| matches!(f.label, Label::Oneof(_))) {
            let single = MessageDesc { name: desc.name, fields: core::slice::from_ref(f) };
            let bytes = populated(&single);
            let again = reencode(&bytes).unwrap();
            let (mut a, mut b) = (String::new(), String::new());
            protobuf_to_json(desc, &bytes, &mut a).unwrap();
            protobuf_to_json(desc, &again, &mut b).unwrap();
            assert_eq!(a, b, "{} {}", desc.name, f.name);
            assert!(a.contains(f.name));
        }
    }
}
