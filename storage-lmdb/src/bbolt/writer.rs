//! Building bbolt trees bottom-up from keys that arrive in order, writing each page as soon as
//! it is full, so memory holds one partial page per tree level whatever the data size.
//!
//! Pages get consecutive ids from a [`PageSink`] in the order they are completed: leaves first,
//! a branch page once its children are written. A bucket whose page image stays within a quarter
//! page is stored inline in its parent's leaf, as bbolt itself does.

use super::format::{
    BranchElement, BucketHeader, LeafElement, PageHeader, BRANCH_PAGE, ELEMENT_BYTES,
    INLINE_BUCKET_BYTES_MAX, LEAF_PAGE, PAGE_HEADER_BYTES, PAGE_SIZE,
};
use std::io::{self, Write};

/// Most elements on one page: the page's count field is 16 bits and bbolt reserves 0xFFFF.
const ELEMENTS_PER_PAGE_MAX: usize = 0xFFFE;

/// Hands out page ids and writes finished pages (or only counts them, when planning).
pub(crate) struct PageSink<'a> {
    out: Option<&'a mut dyn Write>,
    next_id: u64,
    scratch: Vec<u8>,
}

impl<'a> PageSink<'a> {
    /// A sink whose first page gets id `first_id`; `out: None` only counts.
    pub(crate) fn new(out: Option<&'a mut dyn Write>, first_id: u64) -> PageSink<'a> {
        PageSink { out, next_id: first_id, scratch: Vec::new() }
    }

    /// The id the next page will get: after the last page, the high-water mark.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Encodes `level` as one page (with overflow pages when it is larger than a page) and
    /// writes it; returns its id.
    fn write_page(&mut self, level: &Level) -> io::Result<u64> {
        let id = self.next_id;
        let bytes = level.page_bytes();
        let pages = bytes.div_ceil(PAGE_SIZE).max(1);
        let overflow = u32::try_from(pages - 1)
            .map_err(|_| io::Error::other("a record is too large for a bbolt page"))?;
        self.next_id += pages as u64;
        if let Some(out) = self.out.as_mut() {
            self.scratch.clear();
            self.scratch.resize(pages * PAGE_SIZE, 0);
            level.encode(&mut self.scratch, id, overflow);
            out.write_all(&self.scratch)?;
        }
        Ok(id)
    }
}

#[derive(Clone, Copy, Debug)]
struct Element {
    flags: u32,
    ksize: u32,
    vsize: u32,
    child: u64,
}

/// The elements of one page being filled: headers plus their keys and values back to back.
#[derive(Debug)]
struct Level {
    is_leaf: bool,
    elements: Vec<Element>,
    data: Vec<u8>,
}

impl Level {
    fn new(is_leaf: bool) -> Level {
        Level { is_leaf, elements: Vec::new(), data: Vec::new() }
    }

    /// Bytes of the page image holding the current elements.
    fn page_bytes(&self) -> usize {
        PAGE_HEADER_BYTES + self.elements.len() * ELEMENT_BYTES + self.data.len()
    }

    /// True when one more element of `kv_bytes` would not fit on this page (an empty page
    /// always takes the element, spilling into overflow pages if it must).
    fn is_full_for(&self, kv_bytes: usize, limit: usize) -> bool {
        !self.elements.is_empty()
            && (self.page_bytes() + ELEMENT_BYTES + kv_bytes > limit
                || self.elements.len() >= ELEMENTS_PER_PAGE_MAX)
    }

    fn add(&mut self, flags: u32, key: &[u8], value: &[u8], child: u64) {
        self.elements.push(Element {
            flags,
            ksize: key.len() as u32,
            vsize: value.len() as u32,
            child,
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
    }

    fn first_key(&self) -> &[u8] {
        &self.data[..self.elements[0].ksize as usize]
    }

    fn clear(&mut self) {
        self.elements.clear();
        self.data.clear();
    }

    /// Writes the page image into `out` (at least [`Level::page_bytes`] long, zeroed).
    fn encode(&self, out: &mut [u8], id: u64, overflow: u32) {
        let count = self.elements.len();
        let flags = if self.is_leaf { LEAF_PAGE } else { BRANCH_PAGE };
        PageHeader { id, flags, count: count as u16, overflow }.encode(out);
        let data_start = PAGE_HEADER_BYTES + count * ELEMENT_BYTES;
        out[data_start..data_start + self.data.len()].copy_from_slice(&self.data);
        let mut offset = data_start;
        for (i, e) in self.elements.iter().enumerate() {
            let at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
            let pos = (offset - at) as u32;
            if self.is_leaf {
                LeafElement { flags: e.flags, pos, ksize: e.ksize, vsize: e.vsize }.encode(out, at);
            } else {
                BranchElement { pos, ksize: e.ksize, child: e.child }.encode(out, at);
            }
            offset += e.ksize as usize + e.vsize as usize;
        }
    }

    /// Each element as (flags, key, value).
    fn records(&self) -> impl Iterator<Item = (u32, &[u8], &[u8])> {
        let mut offset = 0;
        self.elements.iter().map(move |e| {
            let k = offset;
            let v = k + e.ksize as usize;
            offset = v + e.vsize as usize;
            (e.flags, &self.data[k..v], &self.data[v..offset])
        })
    }
}

/// A B+tree built from keys pushed in strictly increasing order.
#[derive(Debug)]
pub(crate) struct TreeBuilder {
    /// Level 0 holds leaf elements, each level above the first keys of the pages below.
    levels: Vec<Level>,
}

impl TreeBuilder {
    pub(crate) fn new() -> TreeBuilder {
        TreeBuilder { levels: vec![Level::new(true)] }
    }

    /// Adds a leaf element; the caller guarantees key order.
    pub(crate) fn push(
        &mut self,
        sink: &mut PageSink<'_>,
        flags: u32,
        key: &[u8],
        value: &[u8],
    ) -> io::Result<()> {
        if self.levels[0].is_full_for(key.len() + value.len(), PAGE_SIZE) {
            self.flush(sink, 0)?;
        }
        self.levels[0].add(flags, key, value, 0);
        Ok(())
    }

    /// Writes level `at`'s page and adds its first key to the level above.
    fn flush(&mut self, sink: &mut PageSink<'_>, at: usize) -> io::Result<()> {
        let id = sink.write_page(&self.levels[at])?;
        let key = self.levels[at].first_key().to_vec();
        self.levels[at].clear();
        if self.levels.len() == at + 1 {
            self.levels.push(Level::new(false));
        }
        if self.levels[at + 1].is_full_for(key.len(), PAGE_SIZE) {
            self.flush(sink, at + 1)?;
        }
        self.levels[at + 1].add(0, &key, &[], id);
        Ok(())
    }

    /// Writes every partial page, bottom-up, and returns the root page's id. An empty tree is
    /// one empty leaf page.
    pub(crate) fn finish(mut self, sink: &mut PageSink<'_>) -> io::Result<u64> {
        let mut at = 0;
        loop {
            if at + 1 == self.levels.len() {
                // The top level never filled a page: what it holds is the root.
                return sink.write_page(&self.levels[at]);
            }
            // A lower level always holds the element that made it flush last.
            assert!(!self.levels[at].elements.is_empty(), "a lower level holds its last key");
            self.flush(sink, at)?;
            at += 1;
        }
    }
}

/// A bucket being written: inline while its page image fits in a quarter page, a tree of its
/// own once it grows past that.
#[derive(Debug)]
pub(crate) struct BucketBuilder {
    inline: Option<Level>,
    tree: Option<TreeBuilder>,
}

impl BucketBuilder {
    pub(crate) fn new() -> BucketBuilder {
        BucketBuilder { inline: Some(Level::new(true)), tree: None }
    }

    /// Adds a key; the caller guarantees strictly increasing keys.
    pub(crate) fn push(
        &mut self,
        sink: &mut PageSink<'_>,
        key: &[u8],
        value: &[u8],
    ) -> io::Result<()> {
        if let Some(level) = &mut self.inline {
            if level.page_bytes() + ELEMENT_BYTES + key.len() + value.len()
                <= INLINE_BUCKET_BYTES_MAX
            {
                level.add(0, key, value, 0);
                return Ok(());
            }
            let mut tree = TreeBuilder::new();
            for (flags, k, v) in level.records() {
                tree.push(sink, flags, k, v)?;
            }
            self.inline = None;
            self.tree = Some(tree);
        }
        self.tree.as_mut().expect("a bucket is inline or a tree").push(sink, 0, key, value)
    }

    /// Finishes the bucket and returns the value its parent stores for it: the bucket header,
    /// followed by the page image for an inline bucket.
    pub(crate) fn finish(self, sink: &mut PageSink<'_>) -> io::Result<Vec<u8>> {
        if let Some(level) = self.inline {
            let mut value = BucketHeader { root: 0, sequence: 0 }.encode().to_vec();
            let start = value.len();
            value.resize(start + level.page_bytes(), 0);
            level.encode(&mut value[start..], 0, 0);
            return Ok(value);
        }
        let root = self.tree.expect("a bucket is inline or a tree").finish(sink)?;
        Ok(BucketHeader { root, sequence: 0 }.encode().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbolt::format::BUCKET_HEADER_BYTES;

    /// Page `id` of an image whose first page is `first`.
    fn page(image: &[u8], first: u64, id: u64) -> (PageHeader, &[u8]) {
        let at = ((id - first) as usize) * PAGE_SIZE;
        let header = PageHeader::decode(&image[at..]).unwrap();
        let len = (1 + header.overflow as usize) * PAGE_SIZE;
        (header, &image[at..at + len])
    }

    /// Walks the tree under `id`, checking page ids, sizes and separators; returns its keys
    /// and values in order.
    fn walk(image: &[u8], first: u64, id: u64, out: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
        let (header, bytes) = page(image, first, id);
        assert_eq!(header.id, id);
        let count = usize::from(header.count);
        let mut first_key = None;
        for i in 0..count {
            let at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
            if header.flags == LEAF_PAGE {
                let e = LeafElement::decode(bytes, at);
                let k = at + e.pos as usize;
                let v = k + e.ksize as usize;
                let end = v + e.vsize as usize;
                assert!(header.overflow == 0 || count == 1, "only a lone record overflows");
                out.push((bytes[k..v].to_vec(), bytes[v..end].to_vec()));
                first_key.get_or_insert_with(|| bytes[k..v].to_vec());
            } else {
                assert_eq!(header.flags, BRANCH_PAGE);
                let e = BranchElement::decode(bytes, at);
                let k = at + e.pos as usize;
                let separator = bytes[k..k + e.ksize as usize].to_vec();
                let child_first = walk(image, first, e.child, out);
                assert_eq!(separator, child_first, "a separator is its child's first key");
                first_key.get_or_insert(separator);
            }
        }
        first_key.unwrap_or_default()
    }

    fn build(records: &[(Vec<u8>, Vec<u8>)]) -> (Vec<u8>, u64, u64) {
        let mut image = Vec::new();
        let mut sink = PageSink::new(Some(&mut image), 3);
        let mut tree = TreeBuilder::new();
        for (k, v) in records {
            tree.push(&mut sink, 0, k, v).unwrap();
        }
        let root = tree.finish(&mut sink).unwrap();
        let hwm = sink.next_id();
        (image, root, hwm)
    }

    #[test]
    fn trees_hold_every_record_in_order_with_exact_separators() {
        for (n, size) in
            [(0, 0), (1, 10), (3, 5000), (100, 30), (5000, 60), (20_000, 3), (40, 4047)]
        {
            let records: Vec<_> =
                (0..n).map(|i: u32| (i.to_be_bytes().to_vec(), vec![i as u8; size])).collect();
            let (image, root, hwm) = build(&records);
            assert_eq!(image.len() as u64, (hwm - 3) * PAGE_SIZE as u64, "n {n}");
            let (root_header, _) = page(&image, 3, root);
            assert!(root_header.flags == LEAF_PAGE || root_header.count >= 2, "n {n}");
            let mut out = Vec::new();
            walk(&image, 3, root, &mut out);
            assert_eq!(out, records, "n {n} size {size}");
        }
    }

    #[test]
    fn planning_counts_the_pages_writing_writes() {
        let records: Vec<_> =
            (0..3000u32).map(|i| (i.to_be_bytes().to_vec(), vec![1; 90])).collect();
        let (_, root, hwm) = build(&records);
        let mut sink = PageSink::new(None, 3);
        let mut tree = TreeBuilder::new();
        for (k, v) in &records {
            tree.push(&mut sink, 0, k, v).unwrap();
        }
        assert_eq!((tree.finish(&mut sink).unwrap(), sink.next_id()), (root, hwm));
    }

    #[test]
    fn small_buckets_stay_inline_and_large_ones_get_a_tree() {
        let mut image = Vec::new();
        let mut sink = PageSink::new(Some(&mut image), 3);
        let mut small = BucketBuilder::new();
        small.push(&mut sink, b"a", b"1").unwrap();
        let value = small.finish(&mut sink).unwrap();
        assert_eq!(BucketHeader::decode(&value).unwrap().root, 0);
        let inline = PageHeader::decode(&value[BUCKET_HEADER_BYTES..]).unwrap();
        assert_eq!((inline.flags, inline.count), (LEAF_PAGE, 1));
        assert_eq!(value.len(), BUCKET_HEADER_BYTES + PAGE_HEADER_BYTES + ELEMENT_BYTES + 2);
        let empty = BucketBuilder::new().finish(&mut sink).unwrap();
        assert_eq!(empty.len(), 32, "etcd's empty buckets are 32 bytes");

        // 1024 bytes of page image is the most an inline bucket holds.
        let mut exact = BucketBuilder::new();
        let fill = INLINE_BUCKET_BYTES_MAX - PAGE_HEADER_BYTES - ELEMENT_BYTES - 1;
        exact.push(&mut sink, b"k", &vec![0; fill]).unwrap();
        assert_eq!(BucketHeader::decode(&exact.finish(&mut sink).unwrap()).unwrap().root, 0);
        let mut over = BucketBuilder::new();
        over.push(&mut sink, b"k", &vec![0; fill + 1]).unwrap();
        let root = BucketHeader::decode(&over.finish(&mut sink).unwrap()).unwrap().root;
        assert_eq!(root, 3, "the first page written");
    }
}
