//! The gRPC metadata oxcd reads or writes itself: `grpc-status`, `grpc-message` (percent-encoded
//! per the gRPC HTTP/2 spec) and `grpc-timeout`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::time::Duration;

use super::Code;

/// Appends `message` percent-encoded for the `grpc-message` trailer: bytes outside printable
/// ASCII (0x20..=0x7E), and `%` itself, become `%XX` with upper-case hex, as grpc-go writes.
pub fn encode_grpc_message(message: &str, out: &mut String) {
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Decodes a `grpc-message` value: valid `%XX` escapes become bytes, anything else is kept as
/// is, and invalid UTF-8 is replaced (gRPC tells receivers to be lenient here).
pub fn decode_grpc_message(value: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && i + 2 < value.len() {
            if let (Some(hi), Some(lo)) = (hex(value[i + 1]), hex(value[i + 2])) {
                bytes.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        bytes.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a `grpc-status` value (a decimal code). Codes above 16 read as `Unknown`.
pub fn parse_grpc_status(value: &[u8]) -> Option<Code> {
    if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n =
        value.iter().try_fold(0u32, |n, &d| n.checked_mul(10)?.checked_add(u32::from(d - b'0')));
    n.map(Code::from_u32)
}

/// Why a `grpc-timeout` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutError {
    /// Not 1 to 8 ASCII digits followed by one of `H M S m u n`.
    Malformed,
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit (`H`ours, `M`inutes,
/// `S`econds, `m`illis, `u` micros, `n`anos).
///
/// # Errors
/// [`TimeoutError::Malformed`] for anything else.
pub fn parse_grpc_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let (&unit, digits) = value.split_last().ok_or(TimeoutError::Malformed)?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TimeoutError::Malformed);
    }
    let n = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(TimeoutError::Malformed),
    })
}

/// Appends `timeout` as a `grpc-timeout` value in the finest unit that fits 8 digits, rounded
/// up so the peer never sees a shorter deadline.
pub fn encode_grpc_timeout(timeout: Duration, out: &mut String) {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(char, u128); 6] = [
        ('n', 1),
        ('u', 1_000),
        ('m', 1_000_000),
        ('S', 1_000_000_000),
        ('M', 60_000_000_000),
        ('H', 3_600_000_000_000),
    ];
    for (unit, per) in units {
        let value = nanos.div_ceil(per);
        if value <= MAX {
            let _ = write!(out, "{value}{unit}");
            return;
        }
    }
    let _ = write!(out, "{MAX}H");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = String::new();
        encode_grpc_message(s, &mut out);
        out
    }

    #[test]
    fn grpc_message_percent_encoding() {
        assert_eq!(enc("etcdserver: key not found"), "etcdserver: key not found");
        assert_eq!(enc("100% \u{e9}\n"), "100%25 %C3%A9%0A");
        assert_eq!(decode_grpc_message(b"100%25 %C3%A9%0A"), "100% \u{e9}\n");
        // Invalid escapes pass through; a trailing `%` too.
        assert_eq!(decode_grpc_message(b"%zz%4"), "%zz%4");
        assert_eq!(decode_grpc_message(b"a%"), "a%");
        assert_eq!(decode_grpc_message(b"%ff"), "\u{fffd}");
        for s in ["", "plain", "%", "\u{1F600} x %% \t", "~ \x7f"] {
            assert_eq!(decode_grpc_message(enc(s).as_bytes()), s);
        }
    }

    #[test]
    fn grpc_status_parsing() {
        assert_eq!(parse_grpc_status(b"0"), Some(Code::Ok));
        assert_eq!(parse_grpc_status(b"8"), Some(Code::ResourceExhausted));
        assert_eq!(parse_grpc_status(b"16"), Some(Code::Unauthenticated));
        assert_eq!(parse_grpc_status(b"17"), Some(Code::Unknown));
        assert_eq!(parse_grpc_status(b"99999999999"), None);
        assert_eq!(parse_grpc_status(b""), None);
        assert_eq!(parse_grpc_status(b"-1"), None);
        assert_eq!(parse_grpc_status(b"4294967296"), None);
    }

    #[test]
    fn grpc_timeout_parsing() {
        assert_eq!(parse_grpc_timeout(b"1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout(b"2M"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout(b"3S"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout(b"4m"), Ok(Duration::from_millis(4)));
        assert_eq!(parse_grpc_timeout(b"5u"), Ok(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout(b"99999999n"), Ok(Duration::from_nanos(99_999_999)));
        assert_eq!(parse_grpc_timeout(b"99999999H"), Ok(Duration::from_secs(99_999_999 * 3600)));
        for bad in [&b""[..], b"S", b"5", b"5s", b"123456789S", b"-1S", b" 1S", b"1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), Err(TimeoutError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn grpc_timeout_encoding_round_trips_without_shortening() {
        let cases = [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_millis(100), "100000u"),
            (Duration::from_secs(5), "5000000u"),
            (Duration::from_nanos(100_000_001), "100001u"),
            (Duration::from_secs(200_000), "200000S"),
            (Duration::MAX, "99999999H"),
        ];
        for (d, want) in cases {
            let mut s = String::new();
            encode_grpc_timeout(d, &mut s);
            assert_eq!(s, want);
            let back = parse_grpc_timeout(s.as_bytes()).unwrap();
            assert!(back >= d || d == Duration::MAX);
        }
    }
}
