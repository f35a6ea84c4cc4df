//! Protobuf bytes to grpc-gateway JSON (JSONPb with `OrigName`, defaults omitted).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use base64::Engine;
use prost::encoding::decode_varint;

use super::desc::{FieldDesc, Kind, Label, MessageDesc};
use super::JsonError;

/// Deeper nesting than this is refused rather than risking the stack.
pub(super) const DEPTH_MAX: usize = 64;

/// One occurrence of a field on the wire.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    /// A fixed-width value: no etcd field has one, so it is only ever skipped or refused.
    Fixed,
    Len(&'a [u8]),
}

fn read_raw<'a>(buf: &mut &'a [u8], wire_type: u64) -> Result<Raw<'a>, JsonError> {
    let bad = || JsonError::new("malformed protobuf");
    Ok(match wire_type {
        0 => Raw::Varint(decode_varint(buf).map_err(|_| bad())?),
        1 => {
            let (_, rest) = buf.split_first_chunk::<8>().ok_or_else(bad)?;
            *buf = rest;
            Raw::Fixed
        }
        2 => {
            let len = decode_varint(buf).map_err(|_| bad())?;
            let len = usize::try_from(len).map_err(|_| bad())?;
            if len > buf.len() {
                return Err(bad());
            }
            let (head, rest) = buf.split_at(len);
            *buf = rest;
            Raw::Len(head)
        }
        5 => {
            let (_, rest) = buf.split_first_chunk::<4>().ok_or_else(bad)?;
            *buf = rest;
            Raw::Fixed
        }
        _ => return Err(bad()),
    })
}

/// Writes the message `bytes` of type `desc` as a JSON object to `out`.
pub(super) fn write_message(
    desc: &MessageDesc,
    bytes: &[u8],
    out: &mut String,
    depth: usize,
) -> Result<(), JsonError> {
    if depth > DEPTH_MAX {
        return Err(JsonError::new("message nested too deeply"));
    }
    // Occurrences per field, and the position of each field's last occurrence (a oneof shows
    // the member seen last, as protobuf parsers do).
    let mut seen: Vec<Vec<Raw<'_>>> = vec![Vec::new(); desc.fields.len()];
    let mut last_at: Vec<usize> = vec![0; desc.fields.len()];
    let mut buf = bytes;
    let mut position = 0;
    while !buf.is_empty() {
        position += 1;
        let key = decode_varint(&mut buf).map_err(|_| JsonError::new("malformed protobuf"))?;
        let (number, wire_type) = (key >> 3, key & 7);
        let raw = read_raw(&mut buf, wire_type)?;
        if let Some(i) = desc.fields.iter().position(|f| u64::from(f.number) == number) {
            seen[i].push(raw);
            last_at[i] = position;
        }
    }
    out.push('{');
    let mut first = true;
    for (i, field) in desc.fields.iter().enumerate() {
        if seen[i].is_empty() {
            continue;
        }
        if let Label::Oneof(group) = field.label {
            let newest = desc
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.label == Label::Oneof(group))
                .map(|(j, _)| last_at[j])
                .max();
            if newest != Some(last_at[i]) {
                continue;
            }
        }
        let mut values = String::new();
        if !write_field(field, &seen[i], &mut values, depth)? {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(field.name, out);
        out.push(':');
        out.push_str(&values);
    }
    out.push('}');
    Ok(())
}

/// Writes a field's value; returns false when it has nothing to show (an empty packed list).
fn write_field(
    field: &FieldDesc,
    raws: &[Raw<'_>],
    out: &mut String,
    depth: usize,
) -> Result<bool, JsonError> {
    if field.label != Label::Repeated {
        if let Kind::Msg(desc) = field.kind {
            // Repeated occurrences of an embedded message merge: parse them as one.
            let mut merged = Vec::new();
            for raw in raws {
                match raw {
                    Raw::Len(b) => merged.extend_from_slice(b),
                    _ => return Err(wire_mismatch(field)),
                }
            }
            write_message(desc, &merged, out, depth + 1)?;
            return Ok(true);
        }
        let last = raws.last().copied().ok_or_else(|| wire_mismatch(field))?;
        write_scalar(field, last, out)?;
        return Ok(true);
    }
    let mut items = Vec::new();
    for raw in raws {
        match (*raw, field.kind) {
            // Packed varints (enums here).
            (Raw::Len(mut b), Kind::Enum(_) | Kind::I64 | Kind::U64 | Kind::U32 | Kind::Bool) => {
                while !b.is_empty() {
                    let v = decode_varint(&mut b).map_err(|_| wire_mismatch(field))?;
                    items.push(Raw::Varint(v));
                }
            }
            (raw, _) => items.push(raw),
        }
    }
    if items.is_empty() {
        return Ok(false);
    }
    out.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        match (field.kind, item) {
            (Kind::Msg(desc), Raw::Len(b)) => write_message(desc, b, out, depth + 1)?,
            (Kind::Msg(_), _) => return Err(wire_mismatch(field)),
            _ => write_scalar(field, *item, out)?,
        }
    }
    out.push(']');
    Ok(true)
}

fn wire_mismatch(field: &FieldDesc) -> JsonError {
    JsonError::new(alloc::format!("wrong wire type for field {}", field.name))
}

fn write_scalar(field: &FieldDesc, raw: Raw<'_>, out: &mut String) -> Result<(), JsonError> {
    match (field.kind, raw) {
        // 64-bit integers are strings in proto3 JSON: JavaScript numbers cannot hold them.
        (Kind::I64, Raw::Varint(v)) => {
            let _ = write!(out, "\"{}\"", v as i64);
        }
        (Kind::U64, Raw::Varint(v)) => {
            let _ = write!(out, "\"{v}\"");
        }
        (Kind::U32, Raw::Varint(v)) => {
            let _ = write!(out, "{}", v as u32);
        }
        (Kind::Bool, Raw::Varint(v)) => out.push_str(if v != 0 { "true" } else { "false" }),
        (Kind::Enum(e), Raw::Varint(v)) => match e.name_of(v as i32) {
            Some(name) => write_str(name, out),
            None => {
                let _ = write!(out, "{}", v as i32);
            }
        },
        (Kind::Str, Raw::Len(b)) => write_str(&String::from_utf8_lossy(b), out),
        (Kind::Bytes, Raw::Len(b)) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        _ => return Err(wire_mismatch(field)),
    }
    Ok(())
}

/// A JSON string with Go's `encoding/json` escaping (`<`, `>`, `&`, U+2028 and U+2029 as
/// `\u` escapes), so output matches etcd's gateway byte for byte.
pub(super) fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
