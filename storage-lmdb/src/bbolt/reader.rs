//! Reading bbolt files (etcd's `member/snap/db` and the files of `etcdctl snapshot save`),
//! page by page with positioned reads, so memory stays at a few pages whatever the file size.
//!
//! Everything is checked before it is used: both meta pages (magic, version, FNV checksum; the
//! valid one with the higher txid wins, as bbolt picks), the SHA-256 trailer etcd appends to a
//! snapshot, page ids against the high-water mark, page types, element bounds, key order within
//! each bucket, and that no page is reached twice or is both reachable and free. A damaged file
//! is an error naming the page, never a panic.

use super::format::{
    BranchElement, BucketHeader, LeafElement, Meta, MetaError, PageHeader, BRANCH_PAGE,
    BUCKET_HEADER_BYTES, BUCKET_LEAF, ELEMENT_BYTES, FREELIST_COUNT_IN_DATA, FREELIST_PAGE,
    LEAF_PAGE, MAGIC, META_PAGE, NO_FREELIST, PAGE_HEADER_BYTES, PAGE_SIZE, VERSION,
};
use super::BboltError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Deepest tree accepted (a 1 TiB bucket of 4 KiB pages is about 6 levels deep).
const DEPTH_MAX: usize = 32;
/// Bytes of the SHA-256 trailer of a snapshot.
const TRAILER_BYTES: u64 = 32;

/// What the meta pages and the file's size say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BboltFileInfo {
    /// Page size of the file.
    pub page_size: u32,
    /// Transaction id of the meta in use.
    pub txid: u64,
    /// High-water mark: the database is pages `0..hwm`.
    pub hwm: u64,
    /// Bytes of the database (`hwm * page_size`, etcdctl's `totalSize`).
    pub db_bytes: u64,
    /// Size of the file (the trailer and any preallocated space included).
    pub file_bytes: u64,
    /// The SHA-256 trailer of a snapshot, verified against the bytes before it; `None` for a
    /// file without one (a copied `member/snap/db`).
    pub sha256_trailer: Option<[u8; 32]>,
    /// Pages the freelist holds.
    pub free_pages: u64,
}

/// One key of a top-level bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BboltEntry {
    /// The bucket's name.
    pub bucket: Vec<u8>,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// What walking the file finds, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A top-level bucket begins (its entries follow).
    Bucket(Vec<u8>),
    /// A key of the current bucket.
    Entry(BboltEntry),
}

/// Verified meta, file and freelist; entries are read lazily by iterating.
///
/// Yields every key of every top-level bucket in bbolt's order (buckets by name, keys in byte
/// order). After the first error the iterator ends. Nested buckets and keys outside of any bucket
/// (which etcd never writes) are errors.
pub struct BboltReader {
    src: PageSource,
    info: BboltFileInfo,
    outer: TreeCursor,
    inner: Option<(Vec<u8>, TreeCursor)>,
    freelist_stored: bool,
    finished: bool,
}

struct Bitset(Vec<u64>);

impl Bitset {
    fn new(bits: u64) -> Bitset {
        Bitset(vec![0; usize::try_from(bits.div_ceil(64)).expect("bounded by the file size")])
    }
    fn get(&self, i: u64) -> bool {
        self.0[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: u64) {
        self.0[(i / 64) as usize] |= 1 << (i % 64);
    }
}

/// Reads pages, remembering which were reached so none is reached twice.
struct PageSource {
    file: File,
    path: PathBuf,
    page_size: u64,
    hwm: u64,
    reached: Bitset,
    free: Bitset,
}

fn corrupt(reason: impl Into<String>) -> BboltError {
    BboltError::Corrupt { reason: reason.into() }
}

impl PageSource {
    fn io(&self, source: io::Error) -> BboltError {
        BboltError::Io { path: self.path.clone(), source }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), BboltError> {
        self.file.read_exact_at(buf, offset).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt(format!(
                "the file ends inside the {} bytes at offset {offset} (truncated)",
                buf.len()
            )),
            _ => self.io(e),
        })
    }

    /// Reads page `id` with its overflow pages and marks them reached.
    fn read_page(&mut self, id: u64, what: &str) -> Result<(PageHeader, Vec<u8>), BboltError> {
        if id >= self.hwm {
            return Err(corrupt(format!(
                "{what} page {id} is beyond the high-water mark {}",
                self.hwm
            )));
        }
        let mut head = [0; PAGE_HEADER_BYTES];
        self.read_at(&mut head, id * self.page_size)?;
        let header = PageHeader::decode(&head).expect("16 bytes");
        if header.id != id {
            return Err(corrupt(format!("{what} page {id} says it is page {}", header.id)));
        }
        let pages = 1 + u64::from(header.overflow);
        if id + pages > self.hwm {
            return Err(corrupt(format!(
                "{what} page {id} overflows {} pages past the high-water mark {}",
                header.overflow, self.hwm
            )));
        }
        for p in id..id + pages {
            if self.free.get(p) {
                return Err(corrupt(format!("{what} page {p} is reachable and free")));
            }
            if self.reached.get(p) {
                return Err(corrupt(format!("{what} page {p} is referenced twice")));
            }
            self.reached.set(p);
        }
        let len = usize::try_from(pages * self.page_size)
            .map_err(|_| corrupt(format!("{what} page {id} is too large")))?;
        let mut page = vec![0; len];
        self.read_at(&mut page, id * self.page_size)?;
        Ok((header, page))
    }
}

/// One page on a cursor's path.
struct Frame {
    page: Vec<u8>,
    /// Where the page came from, for error messages.
    id: Option<u64>,
    is_leaf: bool,
    count: usize,
    next: usize,
    /// The range the parent's separators give this page's keys: `[low, high)`. bbolt finds
    /// keys by these separators, so a key outside them could not be found.
    low: Option<Vec<u8>>,
    high: Option<Vec<u8>>,
}

/// A leaf element read from a page.
struct LeafItem {
    flags: u32,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Frame {
    fn new(header: PageHeader, page: Vec<u8>, id: Option<u64>) -> Result<Frame, BboltError> {
        let name = page_name(id);
        let is_leaf = match header.flags {
            LEAF_PAGE => true,
            BRANCH_PAGE => false,
            other => return Err(corrupt(format!("{name} has type {other:#x}, not a tree page"))),
        };
        let count = usize::from(header.count);
        if PAGE_HEADER_BYTES + count * ELEMENT_BYTES > page.len() {
            return Err(corrupt(format!("{name}: {count} elements do not fit in the page")));
        }
        if !is_leaf && count == 0 {
            return Err(corrupt(format!("{name} is an empty branch")));
        }
        Ok(Frame { page, id, is_leaf, count, next: 0, low: None, high: None })
    }

    /// The bytes `[start, start + len)` of the page, checked.
    fn slice(&self, start: u64, len: u64, index: usize) -> Result<&[u8], BboltError> {
        let end = start + len;
        if end > self.page.len() as u64 {
            return Err(corrupt(format!(
                "{}: element {index} points past the end of the page",
                page_name(self.id)
            )));
        }
        Ok(&self.page[start as usize..end as usize])
    }

    fn leaf(&self, index: usize) -> Result<LeafItem, BboltError> {
        let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
        let e = LeafElement::decode(&self.page, at);
        let kv = self.slice(
            at as u64 + u64::from(e.pos),
            u64::from(e.ksize) + u64::from(e.vsize),
            index,
        )?;
        let (key, value) = kv.split_at(e.ksize as usize);
        Ok(LeafItem { flags: e.flags, key: key.to_vec(), value: value.to_vec() })
    }

    fn branch(&self, index: usize) -> Result<(Vec<u8>, u64), BboltError> {
        let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
        let e = BranchElement::decode(&self.page, at);
        let key = self.slice(at as u64 + u64::from(e.pos), u64::from(e.ksize), index)?;
        Ok((key.to_vec(), e.child))
    }
}

fn page_name(id: Option<u64>) -> String {
    id.map_or_else(|| "inline page".to_owned(), |id| format!("page {id}"))
}

/// Walks one bucket's tree in key order.
struct TreeCursor {
    stack: Vec<Frame>,
    last_key: Option<Vec<u8>>,
    /// The bucket's name, for error messages.
    name: String,
}

impl TreeCursor {
    fn new(root: Frame, name: String) -> TreeCursor {
        TreeCursor { stack: vec![root], last_key: None, name }
    }

    fn next(&mut self, src: &mut PageSource) -> Result<Option<LeafItem>, BboltError> {
        loop {
            let Some(top) = self.stack.last_mut() else { return Ok(None) };
            if top.next >= top.count {
                self.stack.pop();
                continue;
            }
            let index = top.next;
            top.next += 1;
            if top.is_leaf {
                let item = top.leaf(index)?;
                if item.key.is_empty() {
                    return Err(corrupt(format!(
                        "{}: bucket {}: an empty key",
                        page_name(top.id),
                        self.name
                    )));
                }
                if self.last_key.as_ref().is_some_and(|last| *last >= item.key) {
                    return Err(corrupt(format!(
                        "{}: bucket {}: keys out of order",
                        page_name(top.id),
                        self.name
                    )));
                }
                let below = top.low.as_ref().is_some_and(|low| item.key < *low);
                if below || top.high.as_ref().is_some_and(|high| item.key >= *high) {
                    return Err(corrupt(format!(
                        "{}: bucket {}: a key outside its parent's separators",
                        page_name(top.id),
                        self.name
                    )));
                }
                self.last_key = Some(item.key.clone());
                return Ok(Some(item));
            }
            let (key, child) = top.branch(index)?;
            // The first separator may be stale (bbolt routes smaller keys to the first child
            // anyway); the others bound their child from below, and the next one from above.
            let low = if index == 0 { top.low.clone() } else { Some(key) };
            let high = if index + 1 < top.count {
                Some(top.branch(index + 1)?.0)
            } else {
                top.high.clone()
            };
            if let (Some(l), Some(h)) = (&low, &high) {
                if l >= h {
                    return Err(corrupt(format!(
                        "{}: bucket {}: separators out of order",
                        page_name(top.id),
                        self.name
                    )));
                }
            }
            if self.stack.len() >= DEPTH_MAX {
                return Err(corrupt(format!("bucket {}: tree deeper than {DEPTH_MAX}", self.name)));
            }
            let (header, page) = src.read_page(child, "tree")?;
            let mut frame = Frame::new(header, page, Some(child))?;
            frame.low = low;
            frame.high = high;
            self.stack.push(frame);
        }
    }
}

fn read_meta(file: &File, offset: u64) -> Result<Meta, String> {
    let mut buf = [0; PAGE_HEADER_BYTES + super::format::META_BYTES];
    file.read_exact_at(&mut buf, offset).map_err(|e| format!("unreadable ({e})"))?;
    let header = PageHeader::decode(&buf).expect("16 bytes");
    if header.flags != META_PAGE {
        return Err(format!("not a meta page (type {:#x})", header.flags));
    }
    Meta::decode(&buf[PAGE_HEADER_BYTES..]).map_err(|e| match e {
        MetaError::Magic => "not a bbolt meta page (bad magic)".to_owned(),
        MetaError::Version(v) => format!("bbolt format version {v}, this build reads 2"),
        MetaError::Checksum => "checksum mismatch".to_owned(),
    })
}

fn valid_page_size(meta: &Meta) -> bool {
    meta.page_size.is_power_of_two() && (1024..=65536).contains(&meta.page_size)
}

/// Picks the meta bbolt would use: the valid one with the higher txid.
fn choose_meta(file: &File) -> Result<Meta, BboltError> {
    let meta0 = read_meta(file, 0).and_then(|m| {
        if valid_page_size(&m) {
            Ok(m)
        } else {
            Err(format!("page size {} is not supported", m.page_size))
        }
    });
    // bbolt reads the second meta at the first one's page size, or its default without it.
    let page_size = meta0.as_ref().map_or(PAGE_SIZE as u64, |m| u64::from(m.page_size));
    let meta1 = read_meta(file, page_size).and_then(|m| {
        if u64::from(m.page_size) == page_size {
            Ok(m)
        } else {
            Err(format!("page size {} differs from the file's {page_size}", m.page_size))
        }
    });
    match (meta0, meta1) {
        (Ok(a), Ok(b)) => Ok(if b.txid > a.txid { b } else { a }),
        (Ok(m), Err(_)) | (Err(_), Ok(m)) => Ok(m),
        (Err(a), Err(b)) => {
            Err(corrupt(format!("not a valid bbolt file: meta page 0: {a}; meta page 1: {b}")))
        }
    }
}

/// Hashes the first `len` bytes of `file` (positioned reads: the file's cursor is not used).
fn sha256_prefix(file: &File, path: &Path, len: u64) -> Result<[u8; 32], BboltError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        file.read_exact_at(&mut buf[..n], at).map_err(|source| match source.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("the file shrank while it was read"),
            _ => BboltError::Io { path: path.to_owned(), source },
        })?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize().into())
}

/// True when the file at `path` starts with a bbolt meta page (its magic and version; nothing
/// else is checked): how a restore tells etcd's snapshots from oxcd's own `OXCDSNAP` files.
///
/// # Errors
/// [`BboltError::Io`] when the file cannot be opened or read.
pub fn is_bbolt_file(path: &Path) -> Result<bool, BboltError> {
    let io_err = |source| BboltError::Io { path: path.to_owned(), source };
    let mut head = [0; PAGE_HEADER_BYTES + 8];
    let mut file = File::open(path).map_err(io_err)?;
    match file.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(io_err(e)),
    }
    let word = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().expect("4 bytes"));
    Ok(word(PAGE_HEADER_BYTES) == MAGIC && word(PAGE_HEADER_BYTES + 4) == VERSION)
}

/// Opens the bbolt file at `path` (a snapshot with etcd's SHA-256 trailer, or a plain db file)
/// and checks its meta pages, size, trailer and freelist. Iterate the result for the entries.
///
/// # Errors
/// [`BboltError::Corrupt`] for a file that is not a valid bbolt database (naming what is
/// wrong), [`BboltError::Io`] when it cannot be read.
pub fn read_bbolt(path: &Path) -> Result<BboltReader, BboltError> {
    let io_err = |source| BboltError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io_err)?;
    let file_bytes = file.metadata().map_err(io_err)?.len();
    let meta = choose_meta(&file)?;
    let page_size = u64::from(meta.page_size);
    if file_bytes < 2 * page_size {
        return Err(corrupt(format!("the file of {file_bytes} bytes is too small")));
    }
    // etcd's rule for telling a snapshot from a copied db file.
    let has_trailer = file_bytes % 512 == TRAILER_BYTES;
    let data_bytes = if has_trailer { file_bytes - TRAILER_BYTES } else { file_bytes };
    let db_bytes =
        meta.hwm.checked_mul(page_size).filter(|&b| b <= data_bytes).ok_or_else(|| {
            corrupt(format!(
                "the high-water mark {} pages is beyond the file's {data_bytes} bytes (truncated)",
                meta.hwm
            ))
        })?;
    let sha256_trailer = if has_trailer {
        let mut trailer = [0; 32];
        file.read_exact_at(&mut trailer, data_bytes).map_err(io_err)?;
        if sha256_prefix(&file, path, data_bytes)? != trailer {
            return Err(corrupt("SHA-256 mismatch: the snapshot is damaged"));
        }
        Some(trailer)
    } else {
        None
    };
    let mut src = PageSource {
        file,
        path: path.to_owned(),
        page_size,
        hwm: meta.hwm,
        reached: Bitset::new(meta.hwm),
        free: Bitset::new(meta.hwm),
    };
    if meta.hwm < 3 {
        return Err(corrupt(format!("the high-water mark {} is too low", meta.hwm)));
    }
    src.reached.set(0);
    src.reached.set(1);
    let free_pages =
        if meta.freelist == NO_FREELIST { 0 } else { read_freelist(&mut src, meta.freelist)? };
    let (header, page) = src.read_page(meta.root.root, "root bucket")?;
    let outer = TreeCursor::new(Frame::new(header, page, Some(meta.root.root))?, "(root)".into());
    let info = BboltFileInfo {
        page_size: meta.page_size,
        txid: meta.txid,
        hwm: meta.hwm,
        db_bytes,
        file_bytes,
        sha256_trailer,
        free_pages,
    };
    let freelist_stored = meta.freelist != NO_FREELIST;
    Ok(BboltReader { src, info, outer, inner: None, freelist_stored, finished: false })
}

/// Reads the freelist page, marking its pages reached and its ids free; returns the id count.
fn read_freelist(src: &mut PageSource, id: u64) -> Result<u64, BboltError> {
    let (header, page) = src.read_page(id, "freelist")?;
    if header.flags != FREELIST_PAGE {
        return Err(corrupt(format!("freelist page {id} has type {:#x}", header.flags)));
    }
    let mut at = PAGE_HEADER_BYTES;
    let mut count = u64::from(header.count);
    if header.count == FREELIST_COUNT_IN_DATA {
        let head = page.get(at..at + 8).ok_or_else(|| corrupt("freelist count is missing"))?;
        count = u64::from_le_bytes(head.try_into().expect("8 bytes"));
        at += 8;
    }
    if count > src.hwm || (at as u64 + count * 8) > page.len() as u64 {
        return Err(corrupt(format!("freelist page {id}: {count} ids do not fit")));
    }
    for chunk in page[at..at + count as usize * 8].chunks_exact(8) {
        let free = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if free < 2 || free >= src.hwm {
            return Err(corrupt(format!("freelist page {id}: free page {free} is out of range")));
        }
        if src.free.get(free) || src.reached.get(free) {
            return Err(corrupt(format!("freelist page {id}: page {free} freed twice or in use")));
        }
        src.free.set(free);
    }
    Ok(count)
}

impl BboltReader {
    /// What the meta pages and the file size say.
    #[must_use]
    pub fn info(&self) -> &BboltFileInfo {
        &self.info
    }

    fn open_bucket(&mut self, name: &[u8], value: &[u8]) -> Result<TreeCursor, BboltError> {
        let label = String::from_utf8_lossy(name).into_owned();
        let header = BucketHeader::decode(value)
            .ok_or_else(|| corrupt(format!("bucket {label}: the bucket header is truncated")))?;
        let frame = if header.root == 0 {
            let image = value[BUCKET_HEADER_BYTES..].to_vec();
            let page = PageHeader::decode(&image)
                .ok_or_else(|| corrupt(format!("bucket {label}: the inline page is truncated")))?;
            if page.flags != LEAF_PAGE {
                return Err(corrupt(format!("bucket {label}: the inline page is not a leaf")));
            }
            Frame::new(page, image, None)?
        } else {
            let (page, bytes) = self.src.read_page(header.root, "bucket root")?;
            Frame::new(page, bytes, Some(header.root))?
        };
        Ok(TreeCursor::new(frame, label))
    }

    fn step(&mut self) -> Result<Option<Event>, BboltError> {
        loop {
            if let Some((name, cursor)) = &mut self.inner {
                match cursor.next(&mut self.src)? {
                    Some(item) if item.flags & BUCKET_LEAF != 0 => {
                        return Err(BboltError::Unsupported {
                            reason: format!("bucket {} holds a nested bucket", cursor.name),
                        });
                    }
                    Some(item) => {
                        let entry =
                            BboltEntry { bucket: name.clone(), key: item.key, value: item.value };
                        return Ok(Some(Event::Entry(entry)));
                    }
                    None => self.inner = None,
                }
                continue;
            }
            let Some(item) = self.outer.next(&mut self.src)? else {
                self.check_all_pages_accounted()?;
                return Ok(None);
            };
            if item.flags & BUCKET_LEAF == 0 {
                return Err(corrupt(format!(
                    "key {:?} of the root bucket is not a bucket",
                    String::from_utf8_lossy(&item.key)
                )));
            }
            let cursor = self.open_bucket(&item.key, &item.value)?;
            self.inner = Some((item.key.clone(), cursor));
            return Ok(Some(Event::Bucket(item.key)));
        }
    }

    /// Like bbolt's consistency check: every page below the high-water mark is reachable or
    /// free (unless the freelist is not stored, when unreachable pages are the free ones).
    fn check_all_pages_accounted(&self) -> Result<(), BboltError> {
        if !self.freelist_stored {
            return Ok(());
        }
        for p in 0..self.src.hwm {
            if !self.src.reached.get(p) && !self.src.free.get(p) {
                return Err(corrupt(format!("page {p} is neither reachable nor free")));
            }
        }
        Ok(())
    }

    /// The next bucket start or entry.
    pub(crate) fn next_event(&mut self) -> Option<Result<Event, BboltError>> {
        if self.finished {
            return None;
        }
        match self.step() {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for BboltReader {
    type Item = Result<BboltEntry, BboltError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_event()? {
                Ok(Event::Bucket(_)) => {}
                Ok(Event::Entry(entry)) => return Some(Ok(entry)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
