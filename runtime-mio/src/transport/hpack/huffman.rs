//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical, so the bit lengths
//! of the 257 symbols (bytes and EOS) determine every code word; the tables below are built
//! from them at compile time.

/// Bit length of the code of each symbol: bytes 0..=255, then EOS (256). RFC 7541 Appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

const EOS: u16 = 256;
const MAX_BITS: usize = 30;

/// The canonical code: within a length, code words count up in symbol order; each longer
/// length continues from the next value shifted left.
const fn build_codes() -> [u32; 257] {
    let mut codes = [0u32; 257];
    let mut next: u32 = 0;
    let mut len = 1;
    while len <= MAX_BITS {
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                codes[sym] = next;
                next += 1;
            }
            sym += 1;
        }
        next <<= 1;
        len += 1;
    }
    codes
}

/// Per length: the first code word, how many code words, and where their symbols start in
/// `SYMBOLS`.
struct Canonical {
    first: [u32; MAX_BITS + 1],
    count: [u32; MAX_BITS + 1],
    offset: [u16; MAX_BITS + 1],
    symbols: [u16; 257],
}

const fn build_canonical() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_BITS + 1],
        count: [0; MAX_BITS + 1],
        offset: [0; MAX_BITS + 1],
        symbols: [0; 257],
    };
    let mut next: u32 = 0;
    let mut placed: u16 = 0;
    let mut len = 1;
    while len <= MAX_BITS {
        c.first[len] = next;
        c.offset[len] = placed;
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                c.symbols[placed as usize] = sym as u16;
                placed += 1;
                c.count[len] += 1;
                next += 1;
            }
            sym += 1;
        }
        next <<= 1;
        len += 1;
    }
    c
}

const CODES: [u32; 257] = build_codes();
const CANONICAL: Canonical = build_canonical();

/// Bytes that `encode` would produce for `s`.
pub(crate) fn encoded_len(s: &[u8]) -> usize {
    let bits: usize = s.iter().map(|&b| usize::from(LENGTHS[usize::from(b)])).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `s`, padded with the most significant bits of EOS (ones).
pub(crate) fn encode(s: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &b in s {
        let len = u32::from(LENGTHS[usize::from(b)]);
        acc = (acc << len) | u64::from(CODES[usize::from(b)]);
        pending += len;
        while pending >= 8 {
            pending -= 8;
            out.push((acc >> pending) as u8);
        }
        acc &= (1u64 << pending) - 1;
    }
    if pending > 0 {
        let pad = 8 - pending;
        out.push(((acc << pad) | ((1u64 << pad) - 1)) as u8);
    }
}

/// Why a Huffman string was refused (RFC 7541 §5.2: each is a decoding error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The EOS symbol inside the string.
    Eos,
    /// Padding longer than 7 bits, or not all ones.
    BadPadding,
}

/// Appends the decoding of the Huffman string `data` to `out`.
pub(crate) fn decode(data: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let c = &CANONICAL;
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in data {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            // A canonical code: a prefix of a longer code word is above this length's range.
            let index = code.wrapping_sub(c.first[len]);
            if index < c.count[len] {
                let sym = c.symbols[usize::from(c.offset[len]) + index as usize];
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
            // The code is complete (every 30-bit pattern ends a word), so `len` stays ≤ 30.
        }
    }
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn the_code_is_complete_and_matches_rfc_code_words() {
        // Kraft's sum is exactly one: every bit string decodes, no code word is a prefix.
        let kraft: u64 = LENGTHS.iter().map(|&l| 1u64 << (MAX_BITS - usize::from(l))).sum();
        assert_eq!(kraft, 1u64 << MAX_BITS);
        // Code words as printed in RFC 7541 Appendix B, across all lengths.
        for (sym, code) in [
            (0usize, 0x1ff8u32),
            (1, 0x7f_ffd8),
            (9, 0xff_ffea),
            (10, 0x3fff_fffc),
            (22, 0x3fff_fffe),
            (32, 0x14),
            (47, 0x18),
            (48, 0x0),
            (58, 0x5c),
            (92, 0x7_fff0),
            (123, 0x7ffe),
            (127, 0xfff_fffc),
            (153, 0x1f_ffdc),
            (199, 0x1ff_ffec),
            (203, 0x7ff_ffde),
            (220, 0xfff_fffd),
            (254, 0x7ff_fff0),
            (255, 0x3ff_ffee),
            (256, 0x3fff_ffff),
        ] {
            assert_eq!(CODES[sym], code, "symbol {sym}");
        }
    }

    #[test]
    fn rfc_7541_appendix_c_strings() {
        for (plain, coded) in [
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("302", "6402"),
            ("307", "640e ff"),
            ("private", "aec3 771a 4b"),
            (
                "Mon, 21 Oct 2013 20:13:21 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            ),
            ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
            ("gzip", "9bd9 ab"),
            (
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 \
                 3160 65c0 03ed 4ee5 b106 3d50 07",
            ),
        ] {
            let mut out = Vec::new();
            encode(plain.as_bytes(), &mut out);
            assert_eq!(out, hex(coded), "{plain}");
            assert_eq!(encoded_len(plain.as_bytes()), out.len());
            let mut back = Vec::new();
            decode(&out, &mut back).unwrap();
            assert_eq!(back, plain.as_bytes());
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        let mut coded = Vec::new();
        encode(&all, &mut coded);
        let mut back = Vec::new();
        decode(&coded, &mut back).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        let mut out = Vec::new();
        // 'a' is 00011: padding "000" is not EOS's prefix.
        assert_eq!(decode(&[0b0001_1000], &mut out), Err(HuffmanError::BadPadding));
        // Eight bits of padding are too many.
        assert_eq!(decode(&[0b0001_1111, 0xff], &mut out), Err(HuffmanError::BadPadding));
        // EOS itself (30 ones), then two bits of padding.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff], &mut out), Err(HuffmanError::Eos));
        // The empty string is fine.
        out.clear();
        decode(&[], &mut out).unwrap();
        assert!(out.is_empty());
    }
}
