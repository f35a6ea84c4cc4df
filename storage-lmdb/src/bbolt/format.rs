//! bbolt's on-disk structures, as plain encode/decode functions over byte slices.
//!
//! A bbolt file is an array of fixed-size pages; page `n` starts at byte `n * page_size`. Every
//! page begins with a 16-byte header; a page whose content is longer than one page spills into
//! the `overflow` pages that follow it. Integers are little-endian (bbolt writes its structs in
//! native order, and every platform etcd ships for is little-endian).
//!
//! ```text
//! page header   u64 id  u16 flags  u16 count  u32 overflow
//! meta          u32 magic  u32 version  u32 page_size  u32 flags
//!               u64 root page  u64 root sequence  u64 freelist page  u64 high-water mark
//!               u64 txid  u64 FNV-1a 64 of the 56 bytes before it
//! branch elem   u32 pos  u32 key size  u64 child page            (pos: from the element)
//! leaf elem     u32 flags  u32 pos  u32 key size  u32 value size  (flags 1: a bucket)
//! bucket value  u64 root page  u64 sequence, then for root 0 (inline) a leaf page image
//! freelist      count page ids (u64); a count of 0xFFFF means the first u64 holds the count
//! ```

/// The page size the writer uses (bbolt's default on Linux/x86-64).
pub const PAGE_SIZE: usize = 4096;
/// Bytes of a page header.
pub const PAGE_HEADER_BYTES: usize = 16;
/// Bytes of a branch or leaf element header.
pub const ELEMENT_BYTES: usize = 16;
/// Bytes of a bucket header (root page, sequence).
pub const BUCKET_HEADER_BYTES: usize = 16;
/// bbolt's magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// bbolt's data format version.
pub const VERSION: u32 = 2;
/// Bytes of the meta structure covered by its checksum.
const META_SUMMED_BYTES: usize = 56;
/// Bytes of the meta structure, checksum included.
pub const META_BYTES: usize = 64;

/// Page flag: a branch page.
pub const BRANCH_PAGE: u16 = 0x01;
/// Page flag: a leaf page.
pub const LEAF_PAGE: u16 = 0x02;
/// Page flag: a meta page.
pub const META_PAGE: u16 = 0x04;
/// Page flag: the freelist page.
pub const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a bucket header.
pub const BUCKET_LEAF: u32 = 0x01;
/// A meta's freelist id when the freelist is not stored (bbolt's `NoFreelistSync`).
pub const NO_FREELIST: u64 = u64::MAX;
/// Page count value that says the real freelist count is in the first u64.
pub const FREELIST_COUNT_IN_DATA: u16 = 0xFFFF;
/// bbolt refuses longer keys.
pub const KEY_BYTES_MAX: usize = 32768;
/// bbolt refuses longer values.
pub const VALUE_BYTES_MAX: usize = (1 << 31) - 2;
/// bbolt keeps a bucket inline in its parent's leaf while its page image fits in this share of a
/// page.
pub const INLINE_BUCKET_BYTES_MAX: usize = PAGE_SIZE / 4;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// FNV-1a, 64 bits: bbolt's meta checksum.
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A page header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageHeader {
    /// The page's own id.
    pub id: u64,
    /// What the page holds.
    pub flags: u16,
    /// Elements (or freelist ids) on the page.
    pub count: u16,
    /// Pages after this one that belong to it.
    pub overflow: u32,
}

impl PageHeader {
    /// Reads a header from the first 16 bytes of `b` (`None` if shorter).
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<PageHeader> {
        if b.len() < PAGE_HEADER_BYTES {
            return None;
        }
        Some(PageHeader {
            id: u64_at(b, 0),
            flags: u16_at(b, 8),
            count: u16_at(b, 10),
            overflow: u32_at(b, 12),
        })
    }

    /// Writes the header into the first 16 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.id.to_le_bytes());
        b[8..10].copy_from_slice(&self.flags.to_le_bytes());
        b[10..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..16].copy_from_slice(&self.overflow.to_le_bytes());
    }
}

/// A bucket header: its root page (0 for an inline bucket) and its sequence counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketHeader {
    /// Root page, or 0 when the bucket's leaf is stored inline after this header.
    pub root: u64,
    /// The bucket's `NextSequence` counter.
    pub sequence: u64,
}

impl BucketHeader {
    /// Reads a bucket header from the start of `b` (`None` if shorter).
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<BucketHeader> {
        if b.len() < BUCKET_HEADER_BYTES {
            return None;
        }
        Some(BucketHeader { root: u64_at(b, 0), sequence: u64_at(b, 8) })
    }

    /// The 16 header bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; BUCKET_HEADER_BYTES] {
        let mut b = [0; BUCKET_HEADER_BYTES];
        b[..8].copy_from_slice(&self.root.to_le_bytes());
        b[8..].copy_from_slice(&self.sequence.to_le_bytes());
        b
    }
}

/// The meta structure of a meta page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Page size of the file.
    pub page_size: u32,
    /// bbolt's meta flags (unused, 0).
    pub flags: u32,
    /// The root bucket (its `root` is never 0).
    pub root: BucketHeader,
    /// The freelist page, or [`NO_FREELIST`].
    pub freelist: u64,
    /// The high-water mark: pages `0..hwm` make up the database.
    pub hwm: u64,
    /// The transaction that wrote this meta.
    pub txid: u64,
}

/// Why a meta page was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// Not a bbolt meta page.
    Magic,
    /// A bbolt file of another format version.
    Version(u32),
    /// The checksum does not match: a torn or damaged meta page.
    Checksum,
}

impl Meta {
    /// Decodes the meta structure at the start of `b` (the bytes after a page header).
    ///
    /// # Errors
    /// A wrong magic, version or checksum (or too few bytes, reported as [`MetaError::Magic`]).
    pub fn decode(b: &[u8]) -> Result<Meta, MetaError> {
        if b.len() < META_BYTES || u32_at(b, 0) != MAGIC {
            return Err(MetaError::Magic);
        }
        let version = u32_at(b, 4);
        if version != VERSION {
            return Err(MetaError::Version(version));
        }
        if u64_at(b, META_SUMMED_BYTES) != fnv1a64(&b[..META_SUMMED_BYTES]) {
            return Err(MetaError::Checksum);
        }
        Ok(Meta {
            page_size: u32_at(b, 8),
            flags: u32_at(b, 12),
            root: BucketHeader { root: u64_at(b, 16), sequence: u64_at(b, 24) },
            freelist: u64_at(b, 32),
            hwm: u64_at(b, 40),
            txid: u64_at(b, 48),
        })
    }

    /// The 64 bytes of the meta structure, checksum included.
    #[must_use]
    pub fn encode(&self) -> [u8; META_BYTES] {
        let mut b = [0; META_BYTES];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.page_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..32].copy_from_slice(&self.root.encode());
        b[32..40].copy_from_slice(&self.freelist.to_le_bytes());
        b[40..48].copy_from_slice(&self.hwm.to_le_bytes());
        b[48..56].copy_from_slice(&self.txid.to_le_bytes());
        let sum = fnv1a64(&b[..META_SUMMED_BYTES]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }
}

/// A leaf element header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafElement {
    /// [`BUCKET_LEAF`] for a nested bucket.
    pub flags: u32,
    /// Offset of the key from the start of this element header.
    pub pos: u32,
    /// Key length.
    pub ksize: u32,
    /// Value length.
    pub vsize: u32,
}

impl LeafElement {
    /// Decodes the element header at `b[at..at + 16]` (the caller checked the bounds).
    #[must_use]
    pub fn decode(b: &[u8], at: usize) -> LeafElement {
        LeafElement {
            flags: u32_at(b, at),
            pos: u32_at(b, at + 4),
            ksize: u32_at(b, at + 8),
            vsize: u32_at(b, at + 12),
        }
    }

    /// Writes the element header at `b[at..at + 16]`.
    pub fn encode(&self, b: &mut [u8], at: usize) {
        b[at..at + 4].copy_from_slice(&self.flags.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&self.pos.to_le_bytes());
        b[at + 8..at + 12].copy_from_slice(&self.ksize.to_le_bytes());
        b[at + 12..at + 16].copy_from_slice(&self.vsize.to_le_bytes());
    }
}

/// A branch element header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchElement {
    /// Offset of the key from the start of this element header.
    pub pos: u32,
    /// Key length.
    pub ksize: u32,
    /// The child page.
    pub child: u64,
}

impl BranchElement {
    /// Decodes the element header at `b[at..at + 16]` (the caller checked the bounds).
    #[must_use]
    pub fn decode(b: &[u8], at: usize) -> BranchElement {
        BranchElement { pos: u32_at(b, at), ksize: u32_at(b, at + 4), child: u64_at(b, at + 8) }
    }

    /// Writes the element header at `b[at..at + 16]`.
    pub fn encode(&self, b: &mut [u8], at: usize) {
        b[at..at + 4].copy_from_slice(&self.pos.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&self.ksize.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&self.child.to_le_bytes());
    }
}

/// A full meta page (`page_size` bytes) for page `id` (0 or 1).
#[must_use]
pub fn meta_page(id: u64, meta: &Meta) -> Vec<u8> {
    let mut page = vec![0; meta.page_size as usize];
    PageHeader { id, flags: META_PAGE, count: 0, overflow: 0 }.encode(&mut page);
    page[PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + META_BYTES].copy_from_slice(&meta.encode());
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn meta_round_trips_and_refuses_damage() {
        let meta = Meta {
            page_size: 4096,
            flags: 0,
            root: BucketHeader { root: 7, sequence: 0 },
            freelist: 2,
            hwm: 9,
            txid: 5,
        };
        let bytes = meta.encode();
        assert_eq!(Meta::decode(&bytes), Ok(meta));
        let mut bad = bytes;
        bad[41] ^= 1;
        assert_eq!(Meta::decode(&bad), Err(MetaError::Checksum));
        let mut bad = bytes;
        bad[4] = 1;
        assert_eq!(Meta::decode(&bad), Err(MetaError::Version(1)));
        let mut bad = bytes;
        bad[0] ^= 0xff;
        assert_eq!(Meta::decode(&bad), Err(MetaError::Magic));
        assert_eq!(Meta::decode(&bytes[..10]), Err(MetaError::Magic));
        let page = meta_page(1, &meta);
        assert_eq!(page.len(), 4096);
        let header = PageHeader::decode(&page).unwrap();
        assert_eq!((header.id, header.flags), (1, META_PAGE));
        assert_eq!(Meta::decode(&page[PAGE_HEADER_BYTES..]), Ok(meta));
    }

    #[test]
    fn headers_round_trip() {
        let mut b = [0u8; 40];
        let h = PageHeader { id: 0x0102_0304_0506_0708, flags: LEAF_PAGE, count: 3, overflow: 2 };
        h.encode(&mut b);
        assert_eq!(PageHeader::decode(&b), Some(h));
        assert_eq!(PageHeader::decode(&b[..15]), None);
        let l = LeafElement { flags: BUCKET_LEAF, pos: 48, ksize: 3, vsize: 9 };
        l.encode(&mut b, 16);
        assert_eq!(LeafElement::decode(&b, 16), l);
        let br = BranchElement { pos: 32, ksize: 17, child: 77 };
        br.encode(&mut b, 8);
        assert_eq!(BranchElement::decode(&b, 8), br);
        let bh = BucketHeader { root: 0, sequence: 4 };
        assert_eq!(BucketHeader::decode(&bh.encode()), Some(bh));
    }
}
