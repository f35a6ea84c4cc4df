//! The grpc-gateway JSON mapping: a body for a fuzzer-chosen method is turned into protobuf
//! bytes (as `/v3/*` does), which are decoded and handled by a single-member leader; and the
//! same bytes, read as a response, are written back as JSON. No panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcd_core::NodeId;
use oxcd_fuzz::{decode_request, method, Cluster};
use oxcd_proto::json;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let method = method(selector);
    let mut out = String::new();
    let _ = json::response_to_json(method, body, &mut out);
    let _ = json::stream_result_to_json(method, body, &mut out);
    let _ = json::next_json_value_len(body);
    let mut bytes = Vec::new();
    if json::request_to_protobuf(method, body, &mut bytes).is_err() {
        return;
    }
    let Some(decoded) = decode_request(method, &bytes) else { return };
    // The gateway produced these bytes from the body: they must decode as its message.
    let input = decoded.expect("the JSON mapping wrote protobuf that does not decode");
    if selector & 0x80 != 0 {
        let mut cluster = Cluster::new(1);
        cluster.feed(NodeId(1), input);
    }
});
