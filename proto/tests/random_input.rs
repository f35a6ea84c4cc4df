//! Every decoder must survive arbitrary bytes: random and mutated inputs, fed whole and in
//! random chunks, must give values or errors, never a panic. Seeded, bounded, deterministic.

use oxcd_proto::etcdserverpb::{
    InternalRaftRequest, PutRequest, RangeResponse, TxnRequest, WatchRequest, WatchResponse,
};
use oxcd_proto::grpc::{self, FrameDecoder};
use oxcd_proto::peer::{self, Handshake, PeerFrameDecoder};
use oxcd_proto::Message;

/// xorshift64*: enough randomness for input generation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `seed` with a few bytes flipped, cut or inserted: near-valid input reaches deeper.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            match self.below(3) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = self.next() as u8;
                }
                1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out.truncate(i);
                }
                _ => {
                    let i = self.below(out.len() + 1);
                    out.insert(i, self.next() as u8);
                }
            }
        }
        out
    }

    fn chunks<'a>(&mut self, input: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = 1 + self.below(rest.len().min(16));
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        out
    }
}

const ROUNDS: usize = 20_000;

fn seeds() -> Vec<Vec<u8>> {
    let put = PutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 5,
        prev_kv: true,
        ..Default::default()
    };
    let txn = TxnRequest {
        success: vec![oxcd_proto::etcdserverpb::RequestOp {
            request: Some(oxcd_proto::etcdserverpb::request_op::Request::RequestPut(put.clone())),
        }],
        ..Default::default()
    };
    vec![put.encode_to_vec(), txn.encode_to_vec(), Vec::new()]
}

#[test]
fn protobuf_messages_survive_random_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    for round in 0..ROUNDS {
        let input =
            if round % 2 == 0 { rng.bytes(64) } else { rng.mutate(&seeds[round % seeds.len()]) };
        // Results are irrelevant; reaching the next line is the test. A decoded value must
        // re-encode and decode to itself.
        if let Ok(m) = TxnRequest::decode(&input[..]) {
            assert_eq!(TxnRequest::decode(&m.encode_to_vec()[..]).unwrap(), m);
        }
        let _ = PutRequest::decode(&input[..]);
        let _ = RangeResponse::decode(&input[..]);
        let _ = WatchRequest::decode(&input[..]);
        let _ = WatchResponse::decode(&input[..]);
        let _ = InternalRaftRequest::decode(&input[..]);
    }
}

#[test]
fn grpc_frame_decoder_survives_random_bytes() {
    let mut rng = Rng(7);
    let mut valid = Vec::new();
    for s in seeds() {
        grpc::encode_payload(&s, &mut valid);
    }
    let mut messages = 0;
    for round in 0..ROUNDS {
        let input = if round % 2 == 0 { rng.bytes(80) } else { rng.mutate(&valid) };
        let max = 1 + rng.below(64);
        let mut dec = FrameDecoder::new(max);
        'feed: for chunk in rng.chunks(&input) {
            let mut chunk = chunk;
            while !chunk.is_empty() {
                match dec.decode(&mut chunk) {
                    Ok(Some(payload)) => {
                        messages += 1;
                        assert!(payload.len() <= max);
                        let _ = PutRequest::decode(payload);
                    }
                    Ok(None) => assert!(chunk.is_empty()),
                    Err(e) => {
                        assert_eq!(dec.decode(&mut &[0u8; 5][..]), Err(e));
                        break 'feed;
                    }
                }
            }
        }
    }
    assert!(messages > 0, "mutated valid streams should yield some messages");
}

#[derive(Debug, PartialEq, bincode::Encode, bincode::Decode)]
enum PeerMsg {
    Vote { term: u64, granted: bool },
    Append { entries: Vec<(u64, Vec<u8>)>, note: String, commit: Option<u64> },
}

#[test]
fn peer_frame_decoder_survives_random_bytes() {
    let mut rng = Rng(11);
    let mut valid = Vec::new();
    peer::encode_frame(&PeerMsg::Vote { term: 3, granted: true }, &mut valid).unwrap();
    let append =
        PeerMsg::Append { entries: vec![(1, b"abc".to_vec())], note: "n".into(), commit: Some(9) };
    peer::encode_frame(&append, &mut valid).unwrap();
    let mut values = 0;
    for round in 0..ROUNDS {
        let input = if round % 2 == 0 { rng.bytes(80) } else { rng.mutate(&valid) };
        let mut dec = PeerFrameDecoder::<PeerMsg>::new(1 + rng.below(64));
        'feed: for chunk in rng.chunks(&input) {
            let mut chunk = chunk;
            while !chunk.is_empty() {
                match dec.decode(&mut chunk) {
                    Ok(Some(_)) => values += 1,
                    Ok(None) => assert!(chunk.is_empty()),
                    Err(_) => break 'feed,
                }
            }
        }
        let _ = Handshake::decode(&input);
    }
    assert!(values > 0);
}

#[test]
fn metadata_parsers_survive_random_bytes() {
    let mut rng = Rng(13);
    for _ in 0..ROUNDS {
        let input = rng.bytes(12);
        let _ = grpc::parse_grpc_timeout(&input);
        let _ = grpc::parse_grpc_status(&input);
        let msg = grpc::decode_grpc_message(&input);
        let mut enc = String::new();
        grpc::encode_grpc_message(&msg, &mut enc);
        assert_eq!(grpc::decode_grpc_message(enc.as_bytes()), msg);
    }
}

#[cfg(feature = "json")]
#[test]
fn json_codec_survives_random_bytes() {
    use oxcd_proto::json::{self, desc, UnknownFields};
    let mut rng = Rng(17);
    let json_seeds: [&[u8]; 4] = [
        br#"{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}"#,
        br#"{"create_request":{"key":"Zm9v","filters":["NOPUT"],"start_revision":3}}"#,
        br#"{"key":"Zm9v","range_end":"AA==","limit":10,"sort_order":"DESCEND"}"#,
        br#"{"header":{"cluster_id":"1","revision":"2"},"kvs":[{"key":"YQ=="}],"count":"1"}"#,
    ];
    let pb_seeds = seeds();
    for round in 0..ROUNDS {
        let d = desc::ALL[rng.below(desc::ALL.len())];
        let input = match round % 3 {
            0 => rng.bytes(64),
            1 => rng.mutate(json_seeds[round % json_seeds.len()]),
            _ => rng.mutate(&pb_seeds[round % pb_seeds.len()]),
        };
        let mut out = Vec::new();
        let _ = json::json_to_protobuf(d, &input, UnknownFields::Ignore, &mut out);
        let mut text = String::new();
        if json::protobuf_to_json(d, &input, &mut text).is_ok() {
            // What we print, we read back.
            let mut back = Vec::new();
            json::json_to_protobuf(d, text.as_bytes(), UnknownFields::Reject, &mut back)
                .unwrap_or_else(|e| panic!("{}: {text}: {e}", d.name));
        }
        let _ = json::next_json_value_len(&input);
        let _ = json::from_json::<TxnRequest>(&input);
    }
}
