//! grpc-gateway JSON to protobuf bytes, accepting what golang/protobuf's `jsonpb` accepts:
//! proto or lowerCamel field names, 64-bit integers as numbers or strings, enums as names or
//! numbers, bytes as standard or URL-safe base64 with or without padding, `null` as unset.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine;
use prost::encoding::encode_varint;
use serde_json::{Map, Value};

use super::desc::{FieldDesc, Kind, Label, MessageDesc};
use super::to_json::DEPTH_MAX;
use super::{JsonError, UnknownFields};

/// Appends the protobuf encoding of the JSON object `value` (of type `desc`) to `out`.
pub(super) fn encode_message(
    desc: &MessageDesc,
    value: &Value,
    unknown: UnknownFields,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), JsonError> {
    if depth > DEPTH_MAX {
        return Err(JsonError::new("message nested too deeply"));
    }
    let object = match value {
        Value::Object(object) => object,
        _ => return Err(JsonError::new(format!("{}: expected a JSON object", desc.name))),
    };
    encode_object(desc, object, unknown, out, depth)
}

fn encode_object(
    desc: &MessageDesc,
    object: &Map<String, Value>,
    unknown: UnknownFields,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), JsonError> {
    let mut oneofs_set: Vec<&str> = Vec::new();
    for (key, value) in object {
        let Some(field) = desc.fields.iter().find(|f| name_matches(f.name, key)) else {
            match unknown {
                UnknownFields::Ignore => continue,
                UnknownFields::Reject => {
                    return Err(JsonError::new(format!("unknown field {key:?} in {}", desc.name)))
                }
            }
        };
        if value.is_null() {
            continue;
        }
        match field.label {
            Label::Repeated => {
                let Value::Array(items) = value else {
                    return Err(field_error(field, "expected an array"));
                };
                for item in items {
                    encode_value(field, item, unknown, out, depth)?;
                }
            }
            Label::Oneof(group) => {
                if oneofs_set.contains(&group) {
                    return Err(JsonError::new(format!(
                        "more than one field of oneof {group} set in {}",
                        desc.name
                    )));
                }
                oneofs_set.push(group);
                encode_value(field, value, unknown, out, depth)?;
            }
            Label::Single => encode_value(field, value, unknown, out, depth)?,
        }
    }
    Ok(())
}

/// `jsonpb` accepts the proto name and the lowerCamel JSON name (`range_end`, `rangeEnd`).
fn name_matches(proto_name: &str, key: &str) -> bool {
    if proto_name == key {
        return true;
    }
    let mut want = key.chars();
    let mut upper_next = false;
    for c in proto_name.chars() {
        if c == '_' {
            upper_next = true;
            continue;
        }
        let expected = if upper_next { c.to_ascii_uppercase() } else { c };
        upper_next = false;
        if want.next() != Some(expected) {
            return false;
        }
    }
    want.next().is_none()
}

fn field_error(field: &FieldDesc, why: &str) -> JsonError {
    JsonError::new(format!("field {}: {why}", field.name))
}

fn key(field: &FieldDesc, wire_type: u64, out: &mut Vec<u8>) {
    encode_varint(u64::from(field.number) << 3 | wire_type, out);
}

fn encode_value(
    field: &FieldDesc,
    value: &Value,
    unknown: UnknownFields,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), JsonError> {
    match field.kind {
        Kind::I64 => {
            let v = integer(field, value, i128::from(i64::MIN), i128::from(i64::MAX))?;
            key(field, 0, out);
            encode_varint(v as i64 as u64, out);
        }
        Kind::U64 => {
            let v = integer(field, value, 0, i128::from(u64::MAX))?;
            key(field, 0, out);
            encode_varint(v as u64, out);
        }
        Kind::U32 => {
            let v = integer(field, value, 0, i128::from(u32::MAX))?;
            key(field, 0, out);
            encode_varint(v as u64, out);
        }
        Kind::Bool => {
            let Value::Bool(b) = value else {
                return Err(field_error(field, "expected true or false"));
            };
            key(field, 0, out);
            encode_varint(u64::from(*b), out);
        }
        Kind::Enum(e) => {
            let v = match value {
                Value::String(name) => e.value_of(name).ok_or_else(|| {
                    field_error(field, &format!("unknown {} value {name:?}", e.name))
                })?,
                _ => integer(field, value, i128::from(i32::MIN), i128::from(i32::MAX))? as i32,
            };
            key(field, 0, out);
            encode_varint(v as i64 as u64, out);
        }
        Kind::Str => {
            let Value::String(s) = value else {
                return Err(field_error(field, "expected a string"));
            };
            key(field, 2, out);
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Kind::Bytes => {
            let Value::String(s) = value else {
                return Err(field_error(field, "expected a base64 string"));
            };
            let bytes = decode_base64(s).ok_or_else(|| field_error(field, "invalid base64"))?;
            key(field, 2, out);
            encode_varint(bytes.len() as u64, out);
            out.extend_from_slice(&bytes);
        }
        Kind::Msg(desc) => {
            let mut inner = Vec::new();
            encode_message(desc, value, unknown, &mut inner, depth + 1)?;
            key(field, 2, out);
            encode_varint(inner.len() as u64, out);
            out.extend_from_slice(&inner);
        }
    }
    Ok(())
}

/// An integer given as a JSON number (integral, possibly written `1e3` or `5.0`) or a decimal
/// string, within `[min, max]`.
fn integer(field: &FieldDesc, value: &Value, min: i128, max: i128) -> Result<i128, JsonError> {
    let v = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Some(i128::from(u))
            } else {
                // `f64::fract` needs std: an integral float survives the cast unchanged.
                n.as_f64()
                    .filter(|f| (-1.8e19..1.8e19).contains(f))
                    .map(|f| (f, f as i128))
                    .filter(|(f, i)| *i as f64 == *f)
                    .map(|(_, i)| i)
            }
        }
        Value::String(s) => parse_decimal(s),
        _ => None,
    };
    match v {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(field_error(field, "integer out of range")),
        None => Err(field_error(field, "expected an integer")),
    }
}

fn parse_decimal(s: &str) -> Option<i128> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = digits.bytes().fold(0i128, |v, d| v * 10 + i128::from(d - b'0'));
    Some(if negative { -v } else { v })
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    STANDARD_PAD_INDIFFERENT.decode(s).ok().or_else(|| URL_SAFE_PAD_INDIFFERENT.decode(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_names_match() {
        assert!(name_matches("range_end", "range_end"));
        assert!(name_matches("range_end", "rangeEnd"));
        assert!(name_matches("remaining_TTL", "remainingTTL"));
        assert!(name_matches("peerURLs", "peerURLs"));
        assert!(!name_matches("range_end", "rangeend"));
        assert!(!name_matches("range_end", "range_endx"));
        assert!(!name_matches("key", "ke"));
    }

    #[test]
    fn decimal_strings() {
        assert_eq!(parse_decimal("-9223372036854775808"), Some(i128::from(i64::MIN)));
        assert_eq!(parse_decimal("18446744073709551615"), Some(i128::from(u64::MAX)));
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("-"), None);
        assert_eq!(parse_decimal("1.5"), None);
        assert_eq!(parse_decimal("+1"), None);
    }
}
