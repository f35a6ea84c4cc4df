//! The one place where the core turns its own records into bytes and back: bincode 2 with a
//! fixed configuration (standard varint encoding, little endian, a size limit on decode so a
//! corrupt length cannot ask for gigabytes). etcd's own messages use protobuf instead (prost), as
//! etcd stores them.

use alloc::vec::Vec;
use core::fmt;

/// The largest record the core decodes (a snapshot chunk or a batch of entries fits well below).
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// A record that does not decode: corrupt storage or a malformed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub alloc::string::String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed record: {}", self.0)
    }
}

/// Encodes `value`.
#[must_use]
pub fn encode<T: bincode::Encode>(value: &T) -> Vec<u8> {
    // Encoding into a Vec only fails when a value refuses itself, which ours never do.
    bincode::encode_to_vec(value, config()).unwrap_or_default()
}

/// Decodes a whole record: trailing bytes are an error, like missing ones.
///
/// # Errors
/// The bytes are not a valid encoding of `T`.
pub fn decode<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    match bincode::decode_from_slice(bytes, config()) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok((_, used)) => Err(DecodeError(alloc::format!("{} trailing bytes", bytes.len() - used))),
        Err(e) => Err(DecodeError(alloc::format!("{e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let v: (u64, alloc::string::String) = (7, "x".into());
        let bytes = encode(&v);
        assert_eq!(decode::<(u64, alloc::string::String)>(&bytes).unwrap(), v);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<(u64, alloc::string::String)>(&longer).is_err());
        assert!(decode::<(u64, alloc::string::String)>(&bytes[..1]).is_err());
        assert!(decode::<Vec<u8>>(&[0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
