//! Throughput of the wire codecs on typical messages: `cargo bench -p oxcd-proto`.
//! Prints nanoseconds per operation; compare runs on the same machine, not absolute numbers.

use std::hint::black_box;
use std::time::Instant;

use oxcd_proto::etcdserverpb::{PutRequest, RangeResponse, ResponseHeader};
use oxcd_proto::grpc::{self, FrameDecoder};
use oxcd_proto::json;
use oxcd_proto::mvccpb::KeyValue;
use oxcd_proto::peer::{self, PeerFrameDecoder};
use oxcd_proto::Message;

fn bench(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name:<44} {per:>10.0} ns/op");
}

fn range_response(kvs: usize) -> RangeResponse {
    RangeResponse {
        header: Some(ResponseHeader { cluster_id: 1, member_id: 2, revision: 1000, raft_term: 3 }),
        kvs: (0..kvs)
            .map(|i| KeyValue {
                key: format!("/registry/pods/default/pod-{i:05}").into_bytes(),
                create_revision: 10 + i as i64,
                mod_revision: 900 + i as i64,
                version: 3,
                value: vec![b'x'; 256],
                lease: 0,
            })
            .collect(),
        more: false,
        count: kvs as i64,
    }
}

#[derive(bincode::Encode, bincode::Decode)]
struct Append {
    term: u64,
    index: u64,
    entries: Vec<(u64, Vec<u8>)>,
    commit: u64,
}

fn main() {
    let put = PutRequest {
        key: b"/registry/leases/kube-node-lease/node-1".to_vec(),
        value: vec![7; 256],
        lease: 0,
        ..Default::default()
    };
    let mut buf = Vec::with_capacity(4096);
    bench("grpc: encode_message PutRequest (256 B value)", 1_000_000, || {
        buf.clear();
        grpc::encode_message(black_box(&put), &mut buf);
    });
    let mut framed = Vec::new();
    grpc::encode_message(&put, &mut framed);
    let mut dec = FrameDecoder::new(4 << 20);
    bench("grpc: FrameDecoder + decode PutRequest", 1_000_000, || {
        let mut input = black_box(&framed[..]);
        let payload = dec.decode(&mut input).unwrap().unwrap();
        black_box(PutRequest::decode(payload).unwrap());
    });
    let range = range_response(100);
    let range_bytes = range.encode_to_vec();
    bench("prost: encode RangeResponse (100 kvs)", 20_000, || {
        black_box(black_box(&range).encode_to_vec());
    });
    bench("prost: decode RangeResponse (100 kvs)", 20_000, || {
        black_box(RangeResponse::decode(black_box(&range_bytes[..])).unwrap());
    });
    let mut text = String::new();
    bench("json: RangeResponse (100 kvs) to JSON", 5_000, || {
        text.clear();
        json::write_json(black_box(&range), &mut text);
    });
    let range_json = json::to_json(&range);
    bench("json: RangeResponse (100 kvs) from JSON", 5_000, || {
        black_box(json::from_json::<RangeResponse>(range_json.as_bytes()).unwrap());
    });
    let append = Append {
        term: 5,
        index: 1000,
        entries: (0..64).map(|i| (5, vec![i as u8; 300])).collect(),
        commit: 990,
    };
    bench("peer: encode_frame append (64 x 300 B)", 100_000, || {
        buf.clear();
        peer::encode_frame(black_box(&append), &mut buf).unwrap();
    });
    let mut frame = Vec::new();
    peer::encode_frame(&append, &mut frame).unwrap();
    let mut pdec = PeerFrameDecoder::<Append>::new(1 << 20);
    bench("peer: PeerFrameDecoder append (64 x 300 B)", 100_000, || {
        let mut input = black_box(&frame[..]);
        black_box(pdec.decode(&mut input).unwrap().unwrap());
    });
}
