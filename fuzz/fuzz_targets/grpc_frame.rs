//! gRPC message framing: a byte stream fed in chunks of fuzzer-chosen sizes must give payloads
//! or an error, never a panic, and never a payload above the limit; each payload is then
//! decoded as the request type of a fuzzer-chosen method.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcd_proto::grpc::FrameDecoder;

const MAX_MESSAGE_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Some((&chunk, mut input)) = rest.split_first() else { return };
    let chunk = 1 + chunk as usize;
    let method = oxcd_fuzz::method(selector);
    let mut decoder = FrameDecoder::new(MAX_MESSAGE_BYTES);
    while !input.is_empty() {
        let take = chunk.min(input.len());
        let mut piece = &input[..take];
        input = &input[take..];
        while !piece.is_empty() {
            match decoder.decode(&mut piece) {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= MAX_MESSAGE_BYTES, "payload over the limit");
                    let _ = oxcd_fuzz::decode_request(method, payload);
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    }
});
