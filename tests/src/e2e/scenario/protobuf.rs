//! Renders `etcdctl -w protobuf` output (raw protobuf bytes) as text lines without a schema,
//! so that ids can be normalized by their field path.
//!
//! A length-delimited field prints as a quoted string when all its bytes are printable ASCII,
//! else as a nested message when it parses as one completely, else as hex. Both servers' bytes
//! go through the same rules, so a difference in rendering is a difference in bytes.

/// Depth beyond which nested fields print as hex (bounds recursion on hostile input).
const DEPTH_MAX: usize = 16;

/// One decoded field.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn parse_message(bytes: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let key = read_varint(bytes, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0 && n < (1 << 29))?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(bytes, &mut pos)?),
            1 => {
                let raw = bytes.get(pos..pos + 8)?;
                pos += 8;
                Value::Fixed64(u64::from_le_bytes(raw.try_into().ok()?))
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut pos)?).ok()?;
                let raw = bytes.get(pos..pos.checked_add(len)?)?;
                pos += len;
                Value::Bytes(raw)
            }
            5 => {
                let raw = bytes.get(pos..pos + 4)?;
                pos += 4;
                Value::Fixed32(u32::from_le_bytes(raw.try_into().ok()?))
            }
            _ => return None,
        };
        fields.push((number, value));
    }
    Some(fields)
}

fn is_printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders `bytes` as one line per field; `varint(path, value)` renders each varint, where
/// `path` is the field numbers from the top message down.
pub fn render(bytes: &[u8], varint: &mut dyn FnMut(&[u32], u64) -> String) -> Vec<String> {
    let mut lines = Vec::new();
    match parse_message(bytes) {
        Some(fields) => render_fields(&fields, &mut Vec::new(), varint, &mut lines),
        None => lines.push(format!("(not protobuf) {}", hex(bytes))),
    }
    lines
}

fn render_fields(
    fields: &[(u32, Value<'_>)],
    path: &mut Vec<u32>,
    varint: &mut dyn FnMut(&[u32], u64) -> String,
    lines: &mut Vec<String>,
) {
    let indent = "  ".repeat(path.len());
    for (number, value) in fields {
        path.push(*number);
        match value {
            Value::Varint(v) => lines.push(format!("{indent}{number}: {}", varint(path, *v))),
            Value::Fixed64(v) => lines.push(format!("{indent}{number}: fixed64 {v}")),
            Value::Fixed32(v) => lines.push(format!("{indent}{number}: fixed32 {v}")),
            Value::Bytes(raw) if is_printable(raw) => {
                lines.push(format!("{indent}{number}: {:?}", String::from_utf8_lossy(raw)));
            }
            Value::Bytes(raw) => match parse_message(raw).filter(|_| path.len() < DEPTH_MAX) {
                Some(inner) => {
                    lines.push(format!("{indent}{number} {{"));
                    render_fields(&inner, path, varint, lines);
                    lines.push(format!("{indent}}}"));
                }
                None => lines.push(format!("{indent}{number}: 0x{}", hex(raw))),
            },
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_range_response() {
        // RangeResponse{header{cluster_id:300, revision:3}, kvs[{key:"foo", value:[0xff]}], count:1}
        let bytes = [
            0x0a, 0x05, 0x08, 0xac, 0x02, 0x18, 0x03, // header
            0x12, 0x08, 0x0a, 0x03, b'f', b'o', b'o', 0x2a, 0x01, 0xff, // kvs
            0x20, 0x01, // count
        ];
        let mut seen = Vec::new();
        let lines = render(&bytes, &mut |path, v| {
            seen.push((path.to_vec(), v));
            if path == [1, 1] {
                "<CLUSTER>".to_owned()
            } else {
                v.to_string()
            }
        });
        assert_eq!(
            lines,
            vec![
                "1 {",
                "  1: <CLUSTER>",
                "  3: 3",
                "}",
                "2 {",
                "  1: \"foo\"",
                "  5: 0xff",
                "}",
                "4: 1"
            ]
        );
        assert_eq!(seen, vec![(vec![1, 1], 300), (vec![1, 3], 3), (vec![4], 1)]);
    }

    #[test]
    fn garbage_is_shown_as_hex() {
        assert_eq!(render(&[0x07], &mut |_, v| v.to_string()), vec!["(not protobuf) 07"]);
        assert!(render(&[], &mut |_, v| v.to_string()).is_empty());
    }
}
