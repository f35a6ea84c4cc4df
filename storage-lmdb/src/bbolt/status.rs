//! What `etcdctl snapshot status` prints about a bbolt file, computed the same way.

use super::reader::{read_bbolt, Event};
use super::BboltError;
use oxcd_core::mvcc::crc32c::Crc32c;
use std::path::Path;

/// etcdctl's snapshot status fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BboltStatus {
    /// CRC-32C over, bucket by bucket in order, the bucket's name then each key and value.
    pub hash: u32,
    /// The main revision of the last key of the `key` bucket (0 without one).
    pub revision: i64,
    /// Keys in all buckets.
    pub total_keys: u64,
    /// Bytes of the database (high-water mark times page size; the trailer excluded).
    pub total_size: u64,
}

/// Feeds records the way etcdctl's status hashes them.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatusHasher {
    crc: Crc32c,
    revision: i64,
    total_keys: u64,
    in_key_bucket: bool,
}

impl StatusHasher {
    pub(crate) fn bucket(&mut self, name: &[u8]) {
        self.crc.update(name);
        self.in_key_bucket = name == b"key";
    }

    pub(crate) fn entry(&mut self, key: &[u8], value: &[u8]) {
        self.crc.update(key);
        self.crc.update(value);
        if self.in_key_bucket {
            if let Some(main) = key.get(..8) {
                self.revision = i64::from_be_bytes(main.try_into().expect("8 bytes"));
            }
        }
        self.total_keys += 1;
    }

    pub(crate) fn finish(&self, total_size: u64) -> BboltStatus {
        BboltStatus {
            hash: self.crc.finish(),
            revision: self.revision,
            total_keys: self.total_keys,
            total_size,
        }
    }
}

/// Reads and validates the bbolt file at `path` and computes what `etcdctl snapshot status`
/// prints for it.
///
/// # Errors
/// As [`read_bbolt`], for the whole file.
pub fn bbolt_status(path: &Path) -> Result<BboltStatus, BboltError> {
    let mut reader = read_bbolt(path)?;
    let mut hasher = StatusHasher::default();
    while let Some(event) = reader.next_event() {
        match event? {
            Event::Bucket(name) => hasher.bucket(&name),
            Event::Entry(entry) => hasher.entry(&entry.key, &entry.value),
        }
    }
    Ok(hasher.finish(reader.info().db_bytes))
}
