//! Each etcd request message, decoded with prost from fuzzer bytes (the first byte picks the
//! method), then handled by a member (a single-member leader, or a follower of three): no
//! panic, whatever the fields say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcd_core::NodeId;
use oxcd_fuzz::{decode_request, method, Cluster};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let Some(Ok(input)) = decode_request(method(selector), bytes) else { return };
    let (n, on) = if selector & 0x80 == 0 { (1, NodeId(1)) } else { (3, NodeId(2)) };
    let mut cluster = Cluster::new(n);
    cluster.feed(on, input);
});
