//! Revisions and their storage encoding.
//!
//! Every mutating request that changes something gets one *main* revision; the changes it makes
//! are numbered by *sub* revision from 0. A record of the Kv table is keyed by the revision of
//! its change, encoded as etcd does: main as 8 bytes big-endian, `_`, sub as 8 bytes big-endian,
//! and a trailing `t` when the change is a deletion (a tombstone). Keys therefore sort in
//! revision order, which is what watch replay and compaction scan in.

use core::fmt;

/// A main revision: the store's logical clock, one step per mutating request that changed
/// something. A fresh store is at revision 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub i64);

impl Revision {
    /// The raw number.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The revision of one change: the request's main revision and the change's position in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KvRevision {
    /// The request's main revision.
    pub main: i64,
    /// The change's position within its request, from 0.
    pub sub: i64,
}

impl KvRevision {
    /// Revision `main`, change `sub`.
    #[must_use]
    pub const fn new(main: i64, sub: i64) -> Self {
        KvRevision { main, sub }
    }
}

impl fmt::Display for KvRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

/// Length of an encoded revision without the tombstone mark.
pub const REV_KEY_LEN: usize = 17;
/// Length of an encoded revision with the tombstone mark.
pub const TOMBSTONE_KEY_LEN: usize = 18;

/// A Kv table key: the change's revision and whether it deleted its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BucketKey {
    /// The change's revision.
    pub rev: KvRevision,
    /// True for a deletion.
    pub tombstone: bool,
}

impl BucketKey {
    /// Encodes as etcd does (17 bytes, 18 for a tombstone).
    #[must_use]
    pub fn encode(self) -> ([u8; TOMBSTONE_KEY_LEN], usize) {
        let mut out = [0u8; TOMBSTONE_KEY_LEN];
        out[..8].copy_from_slice(&(self.rev.main as u64).to_be_bytes());
        out[8] = b'_';
        out[9..17].copy_from_slice(&(self.rev.sub as u64).to_be_bytes());
        if self.tombstone {
            out[17] = b't';
            (out, TOMBSTONE_KEY_LEN)
        } else {
            (out, REV_KEY_LEN)
        }
    }

    /// The encoding as an owned vector.
    #[must_use]
    pub fn to_vec(self) -> alloc::vec::Vec<u8> {
        let (bytes, len) = self.encode();
        bytes[..len].to_vec()
    }

    /// Decodes a Kv table key; `None` for anything that is not one.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<BucketKey> {
        let tombstone = match bytes.len() {
            REV_KEY_LEN => false,
            TOMBSTONE_KEY_LEN if bytes[17] == b't' => true,
            _ => return None,
        };
        if bytes[8] != b'_' {
            return None;
        }
        let main = u64::from_be_bytes(bytes[..8].try_into().ok()?) as i64;
        let sub = u64::from_be_bytes(bytes[9..17].try_into().ok()?) as i64;
        Some(BucketKey { rev: KvRevision { main, sub }, tombstone })
    }
}

/// The smallest Kv table key of main revision `main` (a scan bound).
#[must_use]
pub fn main_rev_lower_bound(main: i64) -> [u8; REV_KEY_LEN] {
    let (bytes, _) = BucketKey { rev: KvRevision::new(main, 0), tombstone: false }.encode();
    let mut out = [0u8; REV_KEY_LEN];
    out.copy_from_slice(&bytes[..REV_KEY_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_etcd_layout_and_round_trips() {
        let key = BucketKey { rev: KvRevision::new(0x0102, 3), tombstone: false };
        let bytes = key.to_vec();
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(BucketKey::decode(&bytes), Some(key));
        let tomb = BucketKey { rev: KvRevision::new(7, 0), tombstone: true };
        let bytes = tomb.to_vec();
        assert_eq!(bytes.len(), 18);
        assert_eq!(bytes[17], b't');
        assert_eq!(BucketKey::decode(&bytes), Some(tomb));
        assert_eq!(BucketKey::decode(b"short"), None);
        let mut bad = key.to_vec();
        bad[8] = b'-';
        assert_eq!(BucketKey::decode(&bad), None);
    }

    #[test]
    fn encoded_keys_sort_in_revision_order() {
        let revs = [(1, 0, false), (1, 1, true), (2, 0, false), (256, 0, true), (256, 2, false)];
        let encoded: alloc::vec::Vec<_> = revs
            .iter()
            .map(|&(m, s, t)| BucketKey { rev: KvRevision::new(m, s), tombstone: t }.to_vec())
            .collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        assert!(main_rev_lower_bound(2).as_slice() > encoded[1].as_slice());
        assert!(main_rev_lower_bound(2).as_slice() <= encoded[2].as_slice());
    }
}
