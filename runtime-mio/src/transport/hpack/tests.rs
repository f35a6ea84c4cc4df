//! The decoder against RFC 7541 Appendix C, the encoder through the decoder, and garbage.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String, bool)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, |f| {
        out.push((
            String::from_utf8_lossy(f.name).into_owned(),
            String::from_utf8_lossy(f.value).into_owned(),
            f.never_indexed,
        ));
    })?;
    Ok(out)
}

fn fields(d: &mut Decoder, block: &[u8]) -> Vec<String> {
    decode_all(d, block).unwrap().into_iter().map(|(n, v, _)| format!("{n}: {v}")).collect()
}

fn table(d: &Decoder) -> Vec<String> {
    d.entries
        .iter()
        .map(|e| {
            format!("{}: {}", String::from_utf8_lossy(&e.name), String::from_utf8_lossy(&e.value))
        })
        .collect()
}

#[test]
fn c1_integers() {
    let mut out = Vec::new();
    encode_int(&mut out, 0, 5, 10);
    assert_eq!(out, [0b0000_1010]);
    out.clear();
    encode_int(&mut out, 0, 5, 1337);
    assert_eq!(out, [0b0001_1111, 0b1001_1010, 0b0000_1010]);
    let mut pos = 0;
    assert_eq!(decode_int(&out, &mut pos, 5), Ok(1337));
    assert_eq!(pos, 3);
    out.clear();
    // C.1.3 uses an 8-bit prefix; HPACK itself never does, 7 is our widest.
    encode_int(&mut out, 0, 7, 42);
    assert_eq!(out, [42]);
    // Truncated and overlong integers.
    assert_eq!(decode_int(&[0x1f, 0x9a], &mut 0, 5), Err(HpackError::Truncated));
    assert_eq!(
        decode_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut 0, 5),
        Err(HpackError::Overflow)
    );
}

#[test]
fn c2_field_representations() {
    let mut d = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(fields(&mut d, &block), ["custom-key: custom-header"]);
    assert_eq!(table(&d), ["custom-key: custom-header"]);
    assert_eq!(d.table_size(), 55);

    let mut d = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(fields(&mut d, &block), [":path: /sample/path"]);
    assert!(table(&d).is_empty());

    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(decode_all(&mut d, &block).unwrap(), [("password".into(), "secret".into(), true)]);
    assert!(table(&d).is_empty());

    let mut d = Decoder::new(4096);
    assert_eq!(fields(&mut d, &hex("82")), [":method: GET"]);
    assert!(table(&d).is_empty());
}

/// C.3 (plain literals) and C.4 (Huffman): the same three requests on one connection.
#[test]
fn c3_c4_requests() {
    for blocks in [
        [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
        [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(
            fields(&mut d, &hex(blocks[0])),
            [":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com"]
        );
        assert_eq!(table(&d), [":authority: www.example.com"]);
        assert_eq!(d.table_size(), 57);
        assert_eq!(
            fields(&mut d, &hex(blocks[1])),
            [
                ":method: GET",
                ":scheme: http",
                ":path: /",
                ":authority: www.example.com",
                "cache-control: no-cache"
            ]
        );
        assert_eq!(table(&d), ["cache-control: no-cache", ":authority: www.example.com"]);
        assert_eq!(d.table_size(), 110);
        assert_eq!(
            fields(&mut d, &hex(blocks[2])),
            [
                ":method: GET",
                ":scheme: https",
                ":path: /index.html",
                ":authority: www.example.com",
                "custom-key: custom-value"
            ]
        );
        assert_eq!(
            table(&d),
            ["custom-key: custom-value", "cache-control: no-cache", ":authority: www.example.com"]
        );
        assert_eq!(d.table_size(), 164);
    }
}

/// C.5 (plain) and C.6 (Huffman): three responses with a 256-byte table, with evictions.
#[test]
fn c5_c6_responses_with_evictions() {
    for blocks in [
        [
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
             3d31",
        ],
        [
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ],
    ] {
        let mut d = Decoder::new(256);
        let date1 = "date: Mon, 21 Oct 2013 20:13:21 GMT";
        let location = "location: https://www.example.com";
        assert_eq!(
            fields(&mut d, &hex(blocks[0])),
            [":status: 302", "cache-control: private", date1, location]
        );
        assert_eq!(table(&d), [location, date1, "cache-control: private", ":status: 302"]);
        assert_eq!(d.table_size(), 222);
        assert_eq!(
            fields(&mut d, &hex(blocks[1])),
            [":status: 307", "cache-control: private", date1, location]
        );
        assert_eq!(table(&d), [":status: 307", location, date1, "cache-control: private"]);
        assert_eq!(d.table_size(), 222);
        let date2 = "date: Mon, 21 Oct 2013 20:13:22 GMT";
        let cookie = "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        assert_eq!(
            fields(&mut d, &hex(blocks[2])),
            [
                ":status: 200",
                "cache-control: private",
                date2,
                location,
                "content-encoding: gzip",
                cookie
            ]
        );
        assert_eq!(table(&d), [cookie, "content-encoding: gzip", date2]);
        assert_eq!(d.table_size(), 215);
    }
}

#[test]
fn size_updates() {
    let mut d = Decoder::new(4096);
    fields(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    // Size 0 empties the table; then back to 4096, then a field: fine.
    assert_eq!(fields(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]), [":method: GET"]);
    assert!(table(&d).is_empty());
    assert_eq!(decode_all(&mut d, &hex("be")), Err(HpackError::BadIndex));
    // Above the advertised limit, or after a field: refused.
    let mut d = Decoder::new(4096);
    assert_eq!(decode_all(&mut d, &[0x3f, 0xe2, 0x1f]), Err(HpackError::BadSizeUpdate));
    let mut d = Decoder::new(4096);
    assert_eq!(decode_all(&mut d, &[0x82, 0x20]), Err(HpackError::BadSizeUpdate));
    // An entry larger than the table empties it without error.
    let mut d = Decoder::new(64);
    fields(&mut d, &hex("4003 6162 6303 6465 66"));
    assert_eq!(table(&d), ["abc: def"]);
    let mut big = vec![0x40, 0x01, b'n', 0x20];
    big.extend([b'v'; 32]);
    assert_eq!(fields(&mut d, &big).len(), 1);
    assert!(table(&d).is_empty());
}

#[test]
fn malformed_blocks_are_errors() {
    for (block, err) in [
        (&[0x80][..], HpackError::BadIndex),
        (&[0xbe], HpackError::BadIndex),
        (&[0x40], HpackError::Truncated),
        (&[0x40, 0x05, b'a'], HpackError::Truncated),
        (&[0x04, 0x81], HpackError::Truncated),
        (&[0x04, 0x81, 0x00], HpackError::BadHuffman),
        (&[0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], HpackError::Overflow),
    ] {
        assert_eq!(decode_all(&mut Decoder::new(4096), block), Err(err), "{block:x?}");
    }
}

#[test]
fn encoded_fields_decode_to_the_same_and_leave_the_table_alone() {
    let long = "x".repeat(300);
    let cases: Vec<(&[u8], &[u8], bool)> = vec![
        (b":authority", b"127.0.0.1:2379", false),
        (b":path", b"/etcdserverpb.Maintenance/Status", false),
        (b"content-type", b"application/grpc", false),
        (b"token", b"secret", true),
        (b"x-custom", long.as_bytes(), false),
        (b"bin", &[0, 1, 2, 255], false),
        (b"empty", b"", false),
    ];
    let mut block = Vec::new();
    for &(name, value, never_indexed) in &cases {
        encode_field(&mut block, Field { name, value, never_indexed });
    }
    let mut d = Decoder::new(4096);
    let decoded = decode_all(&mut d, &block).unwrap();
    assert_eq!(decoded.len(), cases.len());
    for ((n, v, s), &(name, value, never_indexed)) in decoded.iter().zip(&cases) {
        assert_eq!(n.as_bytes(), name);
        assert_eq!(v.as_bytes(), &*String::from_utf8_lossy(value).into_owned().into_bytes());
        assert_eq!(*s, never_indexed);
    }
    assert!(table(&d).is_empty());
    // Static names go by index: ":authority" is one byte.
    let mut one = Vec::new();
    encode_field(&mut one, Field { name: b":authority", value: b"", never_indexed: false });
    assert_eq!(one, [0x01, 0x00]);
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut d = Decoder::new(4096);
    let mut ok = 0;
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let block: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if d.decode(&block, |_| {}).is_ok() {
            ok += 1;
        } else {
            d = Decoder::new(4096);
        }
        assert!(d.size <= d.max_size && d.max_size <= 4096);
    }
    assert!(ok > 0);
}
