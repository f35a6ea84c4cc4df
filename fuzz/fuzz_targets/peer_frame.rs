//! The peer protocol's frames: bytes through `PeerFrameDecoder` (chunked as the fuzzer says),
//! then every decoded message into a member of a three-member cluster, as if from a member
//! (the first byte picks sender and receiver). Shapes of known findings are dropped unless
//! `OXCD_FUZZ_KNOWN=1`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcd_core::node::PeerMessage;
use oxcd_core::NodeId;
use oxcd_fuzz::{is_known_finding, known, Cluster};
use oxcd_proto::peer::PeerFrameDecoder;

const MAX_FRAME_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut input)) = data.split_first() else { return };
    let from = NodeId(1 + u64::from(selector & 3) % 4); // 4 is not a member
    let to = NodeId(1 + u64::from(selector >> 2 & 3) % 3);
    let chunk = 1 + usize::from(selector >> 4) * 7;
    let mut decoder = PeerFrameDecoder::<PeerMessage>::new(MAX_FRAME_BYTES);
    let mut messages = Vec::new();
    while !input.is_empty() {
        let take = chunk.min(input.len());
        let mut piece = &input[..take];
        input = &input[take..];
        while !piece.is_empty() {
            match decoder.decode(&mut piece) {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => {}
                Err(_) => {
                    input = &[];
                    break;
                }
            }
        }
    }
    if messages.is_empty() {
        return;
    }
    let mut cluster = Cluster::new(3);
    for m in messages {
        if !known() && is_known_finding(&m) {
            continue;
        }
        cluster.peer(from, to, m);
    }
    cluster.run_for(std::time::Duration::from_secs(1));
});
