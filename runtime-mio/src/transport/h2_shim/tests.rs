//! The filter on byte streams: what h2 would read, frame by frame, for well-behaved clients,
//! etcdctl's URL authorities, split and padded blocks, and broken input.

use std::task::Poll;

use super::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const LIMIT: usize = 64 << 10;

/// A client-side HPACK block writer: literals with incremental indexing and indexed fields.
#[derive(Default)]
struct Block(Vec<u8>);

impl Block {
    fn indexed(mut self, index: u8) -> Self {
        assert!(index < 127);
        self.0.push(0x80 | index);
        self
    }

    /// A literal with incremental indexing and a literal name (plain strings, < 127 bytes).
    fn insert(mut self, name: &str, value: &str) -> Self {
        self.0.push(0x40);
        for s in [name, value] {
            assert!(s.len() < 127);
            self.0.push(s.len() as u8);
            self.0.extend_from_slice(s.as_bytes());
        }
        self
    }

    /// A literal without indexing, any length.
    fn literal(mut self, name: &str, value: &str) -> Self {
        hpack::encode_field(
            &mut self.0,
            Field { name: name.as_bytes(), value: value.as_bytes(), never_indexed: false },
        );
        self
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_frame_head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

fn headers(stream: u32, block: &Block) -> Vec<u8> {
    frame(TYPE_HEADERS, FLAG_END_HEADERS, stream, &block.0)
}

/// A header block as HEADERS + CONTINUATIONs of at most `chunk` bytes.
fn headers_split(stream: u32, block: &Block, chunk: usize) -> Vec<u8> {
    let parts: Vec<&[u8]> = block.0.chunks(chunk).collect();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let kind = if i == 0 { TYPE_HEADERS } else { TYPE_CONTINUATION };
        let flags = if i == parts.len() - 1 { FLAG_END_HEADERS } else { 0 };
        out.extend(frame(kind, flags, stream, part));
    }
    out
}

fn data(stream: u32, payload: &[u8]) -> Vec<u8> {
    frame(0x0, FLAG_END_STREAM, stream, payload)
}

/// The bytes h2 reads, with the input fed `feed` bytes at a time and read `read` at a time.
struct Run {
    out: Vec<u8>,
    abort: Option<Reason>,
    shim: H2InputShim,
}

fn run_with(shim: H2InputShim, input: &[u8], feed: usize, read: usize, eof: bool) -> Run {
    let mut shim = shim;
    let mut p = Pipes::new(LIMIT);
    let mut out = Vec::new();
    let mut buf = vec![0u8; read];
    let mut fed = 0;
    for _ in 0..100_000 {
        let mut rb = ReadBuf::new(&mut buf);
        match shim.poll_read(&mut p, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
            Poll::Ready(Ok(())) => out.extend_from_slice(rb.filled()),
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending if fed < input.len() => {
                let n = feed.min(input.len() - fed);
                p.input.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Poll::Pending if eof && !p.input_eof => p.input_eof = true,
            Poll::Pending => break,
        }
    }
    Run { out, abort: p.h2_abort, shim }
}

fn run(input: &[u8]) -> Run {
    run_with(H2InputShim::new(LIMIT, LIMIT), input, usize::MAX, 1 << 16, false)
}

/// Splits what h2 read into frames (after the preface): (type, flags, stream, payload).
fn frames(out: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    assert_eq!(&out[..PREFACE.len()], PREFACE);
    let mut rest = &out[PREFACE.len()..];
    let mut list = Vec::new();
    while !rest.is_empty() {
        let head = frame_head(rest);
        let end = FRAME_HEADER_BYTES + head.len;
        list.push((head.kind, head.flags, head.stream, rest[FRAME_HEADER_BYTES..end].to_vec()));
        rest = &rest[end..];
    }
    list
}

/// What h2's decoder makes of the header blocks it reads: one list of "name: value" per block.
fn h2_view(out: &[u8]) -> Vec<Vec<String>> {
    let mut decoder = hpack::Decoder::new(H2_HEADER_TABLE_BYTES);
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    for (kind, flags, _, payload) in frames(out) {
        match kind {
            TYPE_HEADERS => {
                assert_eq!(flags & FLAG_PADDED, 0);
                let skip = if flags & FLAG_PRIORITY != 0 { PRIORITY_FIELDS_BYTES } else { 0 };
                block = payload[skip..].to_vec();
            }
            TYPE_CONTINUATION => block.extend_from_slice(&payload),
            _ => continue,
        }
        if flags & FLAG_END_HEADERS != 0 {
            let mut list = Vec::new();
            decoder
                .decode(&block, |f| {
                    list.push(format!(
                        "{}: {}",
                        String::from_utf8_lossy(f.name),
                        String::from_utf8_lossy(f.value)
                    ));
                })
                .unwrap();
            blocks.push(list);
        }
    }
    blocks
}

fn request(authority: &str) -> Block {
    Block::default()
        .indexed(3) // :method POST
        .indexed(6) // :scheme http
        .insert(":path", "/etcdserverpb.Maintenance/Status")
        .insert(":authority", authority)
        .insert("content-type", "application/grpc")
        .insert("token", "abc")
}

fn with_preface(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

#[test]
fn authorities_are_repaired_as_etcd_would_read_them() {
    assert_eq!(repair_authority(b"127.0.0.1:2379"), Repair::Keep);
    assert_eq!(repair_authority(b"[::1]:2379"), Repair::Keep);
    assert_eq!(repair_authority(b"user@host:1"), Repair::Keep);
    assert_eq!(repair_authority(b"http://127.0.0.1:2379"), Repair::Replace(b"127.0.0.1:2379"));
    assert_eq!(repair_authority(b"https://[::1]:2379/"), Repair::Replace(b"[::1]:2379"));
    assert_eq!(repair_authority(b"unix://localhost:123?x"), Repair::Replace(b"localhost:123"));
    assert_eq!(repair_authority(b"h:1/path"), Repair::Replace(b"h:1"));
    assert_eq!(repair_authority(b"unix:///tmp/etcd.sock"), Repair::Drop);
    assert_eq!(repair_authority(b""), Repair::Drop);
    assert_eq!(repair_authority(b"a b"), Repair::Drop);
    assert_eq!(repair_authority(b"http://a b/"), Repair::Drop);
}

#[test]
fn well_behaved_clients_pass_byte_for_byte() {
    let input = with_preface(&[
        frame(0x4, 0, 0, &[]),
        headers(1, &request("127.0.0.1:2379")),
        data(1, b"\0\0\0\0\0"),
        // The second request refers to the first one's entries (62.. in the client's table).
        headers(
            3,
            &Block::default().indexed(3).indexed(6).indexed(65).indexed(64).indexed(63).indexed(62),
        ),
        frame(0x8, 0, 0, &[0, 0, 1, 0]),
    ]);
    let r = run(&input);
    assert_eq!(r.out, input);
    assert_eq!(r.abort, None);
    assert_eq!(r.shim.repaired_blocks(), 0);
    assert_eq!(r.shim.mode, Mode::Tracking);
}

fn etcdctl_like() -> (Vec<u8>, Vec<u8>) {
    let body = b"\0\0\0\0\x02\x08\x01".to_vec();
    let input = with_preface(&[
        frame(0x4, 0, 0, &[0, 4, 0, 0, 0x10, 0]),
        headers(1, &request("http://127.0.0.1:2379")),
        data(1, &body),
        headers(
            3,
            &Block::default().indexed(3).indexed(6).indexed(65).indexed(64).indexed(63).indexed(62),
        ),
        data(3, &body),
    ]);
    (input, body)
}

#[test]
fn url_authorities_are_repaired_and_later_blocks_keep_their_meaning() {
    let (input, body) = etcdctl_like();
    let r = run(&input);
    assert_eq!(r.abort, None);
    assert_eq!(r.shim.repaired_blocks(), 2);
    let expected = vec![
        ":method: POST",
        ":scheme: http",
        ":path: /etcdserverpb.Maintenance/Status",
        ":authority: 127.0.0.1:2379",
        "content-type: application/grpc",
        "token: abc",
    ];
    assert_eq!(h2_view(&r.out), vec![expected.clone(), expected]);
    let f = frames(&r.out);
    let kinds: Vec<_> = f.iter().map(|(k, fl, s, _)| (*k, *fl, *s)).collect();
    assert_eq!(
        kinds,
        [
            (0x4, 0, 0),
            (1, FLAG_END_HEADERS, 1),
            (0, FLAG_END_STREAM, 1),
            (1, FLAG_END_HEADERS, 3),
            (0, FLAG_END_STREAM, 3)
        ]
    );
    assert_eq!(f[2].3, body);
}

#[test]
fn any_split_of_the_input_gives_the_same_output() {
    let (input, _) = etcdctl_like();
    let whole = run(&input).out;
    for (feed, read) in [(1, 1), (1, 7), (5, 3), (9, 4096), (100, 1)] {
        let r = run_with(H2InputShim::new(LIMIT, LIMIT), &input, feed, read, false);
        assert_eq!(r.out, whole, "feed {feed} read {read}");
    }
}

#[test]
fn padding_priority_and_continuations_are_understood() {
    let block = request("http://h:1").0;
    let (a, b) = block.split_at(10);
    let (b, c) = b.split_at(7);
    // HEADERS: padded (3 bytes), with priority, end of stream; then two CONTINUATIONs.
    let mut payload = vec![3];
    payload.extend_from_slice(&[0x80, 0, 0, 0, 42]);
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    let input = with_preface(&[
        frame(TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY | FLAG_END_STREAM, 5, &payload),
        frame(TYPE_CONTINUATION, 0, 5, b),
        frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 5, c),
    ]);
    let r = run(&input);
    let f = frames(&r.out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].1, FLAG_PRIORITY | FLAG_END_STREAM | FLAG_END_HEADERS);
    assert_eq!(f[0].2, 5);
    assert_eq!(&f[0].3[..5], &[0x80, 0, 0, 0, 42]);
    assert!(h2_view(&r.out)[0].contains(&":authority: h:1".to_owned()));
}

#[test]
fn long_blocks_are_split_within_the_frame_size() {
    let big = "v".repeat(40_000);
    let block =
        Block::default().indexed(3).literal(":authority", "http://h:1").literal("x-big", &big);
    let input = with_preface(&[headers_split(1, &block, 10_000)]);
    let r = run(&input);
    let f = frames(&r.out);
    assert!(f.len() >= 3, "{}", f.len());
    for (i, (kind, flags, _, payload)) in f.iter().enumerate() {
        assert!(payload.len() <= H2_MAX_FRAME_BYTES);
        assert_eq!(*kind, if i == 0 { TYPE_HEADERS } else { TYPE_CONTINUATION });
        assert_eq!(flags & FLAG_END_HEADERS != 0, i == f.len() - 1);
    }
    let view = h2_view(&r.out);
    assert_eq!(view[0][1], ":authority: h:1");
    assert_eq!(view[0][2], format!("x-big: {big}"));
}

#[test]
fn unrepairable_authorities_are_dropped() {
    let input = with_preface(&[headers(1, &request("unix:///tmp/sock"))]);
    let view = h2_view(&run(&input).out);
    assert!(!view[0].iter().any(|l| l.starts_with(":authority")), "{view:?}");
    assert_eq!(view[0].len(), 5);
}

#[test]
fn broken_input_goes_to_h2_unchanged_before_any_repair() {
    let bad_hpack = frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &[0x80]);
    let interleaved = [frame(TYPE_HEADERS, 0, 1, &request("h:1").0), data(1, b"x")].concat();
    let orphan = frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, &[0x82]);
    let too_long = frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &vec![0x82; H2_MAX_FRAME_BYTES + 1]);
    for bad in [bad_hpack, interleaved, orphan, too_long] {
        let input = with_preface(&[bad, headers(3, &request("http://h:1"))]);
        let r = run(&input);
        assert_eq!(r.out, input);
        assert_eq!(r.abort, None);
        assert_eq!(r.shim.mode, Mode::Raw);
    }
}

#[test]
fn broken_input_after_a_repair_is_a_connection_error() {
    let cases = [
        (frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &[0x80]), Reason::PROTOCOL_ERROR),
        (
            [frame(TYPE_HEADERS, 0, 3, &request("h:1").0), data(3, b"x")].concat(),
            Reason::PROTOCOL_ERROR,
        ),
        (
            frame(TYPE_PUSH_PROMISE, FLAG_END_HEADERS, 3, &[0, 0, 0, 2, 0x82]),
            Reason::PROTOCOL_ERROR,
        ),
        (frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &vec![0; 20_000]), Reason::FRAME_SIZE_ERROR),
        (
            [
                frame(TYPE_HEADERS, 0, 3, &[0x82]),
                frame(TYPE_CONTINUATION, 0, 3, &[0x82; 16_000]).repeat(5),
            ]
            .concat(),
            Reason::ENHANCE_YOUR_CALM,
        ),
    ];
    for (bad, reason) in cases {
        let first = headers(1, &request("http://h:1"));
        let input = with_preface(&[first.clone(), bad, data(1, b"after")]);
        let r = run_with(H2InputShim::new(LIMIT, LIMIT), &input, 1000, 4096, false);
        assert_eq!(r.abort, Some(reason));
        // h2 got the repaired first request and nothing after the bad frame.
        assert_eq!(h2_view(&r.out).len(), 1);
        assert!(!r.out.ends_with(b"after"));
    }
}

#[test]
fn an_over_long_header_list_stays_over_h2s_limit() {
    let limit = 8192;
    let block = Block::default()
        .indexed(3)
        .literal(":authority", "http://h:1")
        .literal("x", &"y".repeat(9000));
    let input = with_preface(&[headers_split(1, &block, H2_MAX_FRAME_BYTES)]);
    let r = run_with(H2InputShim::new(LIMIT, limit), &input, usize::MAX, 1 << 16, false);
    let view = h2_view(&r.out);
    assert_eq!(view[0][1], ":authority: h:1");
    let size: usize = view[0].iter().map(|l| l.len() - 2 + hpack::ENTRY_OVERHEAD_BYTES).sum();
    assert!(size >= limit, "{size}");
    // Four times the limit: h2 would end the connection, and so does the filter.
    let block =
        Block::default().literal(":authority", "http://h:1").literal("x", &"y".repeat(4 * limit));
    let input = with_preface(&[headers_split(1, &block, H2_MAX_FRAME_BYTES)]);
    let r = run_with(H2InputShim::new(LIMIT, limit), &input, usize::MAX, 1 << 16, false);
    assert_eq!(r.abort, Some(Reason::ENHANCE_YOUR_CALM));
}

#[test]
fn the_end_of_input_inside_a_block() {
    let block = headers(1, &request("http://h:1"));
    let input = with_preface(&[block[..20].to_vec()]);
    let r = run_with(H2InputShim::new(LIMIT, LIMIT), &input, usize::MAX, 4096, true);
    // Before any repair, h2 sees the truncated frame and then the end.
    assert_eq!(r.out, input);
    let input = with_preface(&[block.clone(), block[..20].to_vec()]);
    let r = run_with(H2InputShim::new(LIMIT, LIMIT), &input, usize::MAX, 4096, true);
    assert_eq!(h2_view(&r.out).len(), 1);
}

#[test]
fn random_frames_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let mut input = PREFACE.to_vec();
        if round % 2 == 0 {
            input.extend(headers(1, &request("http://h:1")));
        }
        for _ in 0..(next() % 8) {
            let kind = [0, 1, 1, 5, 9, 4, 8][(next() % 7) as usize];
            let flags = next() as u8;
            let len = (next() % 40) as usize;
            let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            input.extend(frame(kind, flags, (next() % 4) as u32, &payload));
        }
        let feed = 1 + (next() % 50) as usize;
        let read = 1 + (next() % 100) as usize;
        let r = run_with(H2InputShim::new(1024, 512), &input, feed, read, round % 3 == 0);
        assert!(r.out.len() <= input.len() + 4096);
    }
}
