//! [`write_bbolt_snapshot`]: oxcd's state machine as the stream etcd's Maintenance.Snapshot
//! sends (a bbolt database in etcd 3.4's layout, then a SHA-256 of it).
//!
//! File layout: pages 0 and 1 are the meta pages, page 2 an empty freelist, then the buckets'
//! pages in bucket order (each bucket's leaves, then its branches), and last the root bucket's
//! pages. The meta pages come first in the stream but name the root page and the high-water
//! mark, known only at the end; so the view is walked twice, once counting pages and once
//! writing them. The view is frozen, so both walks see the same records (checked: a view that
//! changes is an error, never a bad file).

use super::etcd::{export_bucket, BUCKETS};
use super::format::{
    meta_page, BucketHeader, Meta, PageHeader, BUCKET_LEAF, FREELIST_PAGE, KEY_BYTES_MAX,
    PAGE_SIZE, VALUE_BYTES_MAX,
};
use super::status::{BboltStatus, StatusHasher};
use super::writer::{BucketBuilder, PageSink, TreeBuilder};
use super::BboltError;
use oxcd_core::backend::{Backend, Table};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// The freelist's page.
const FREELIST_ID: u64 = 2;
/// The first page of data.
const FIRST_DATA_ID: u64 = 3;
/// The transaction id of meta page 0 (meta page 1 gets one less, as bbolt's own copies do).
const TXID: u64 = 1;

/// What a written snapshot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BboltInfo {
    /// What `etcdctl snapshot status` prints for the file.
    pub status: BboltStatus,
    /// Bytes of the bbolt database (without the trailer).
    pub db_bytes: u64,
    /// Bytes written: the database and the 32-byte trailer.
    pub total_bytes: u64,
    /// The SHA-256 trailer: the digest of the database bytes.
    pub sha256: [u8; 32],
    /// Keys per bucket, for every bucket written.
    pub keys: BTreeMap<&'static str, u64>,
}

/// Where the data pages ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    root: u64,
    hwm: u64,
}

struct HashWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn stream_err(source: io::Error) -> BboltError {
    BboltError::Io { path: PathBuf::new(), source }
}

fn table_of(bucket: &str) -> Table {
    match bucket {
        "key" => Table::Kv,
        "lease" => Table::Lease,
        "members" | "members_removed" => Table::Members,
        "alarm" | "meta" => Table::Meta,
        _ => Table::Auth,
    }
}

/// Writes every bucket's pages and then the root bucket's, into `sink`.
fn write_data_pages(
    view: &dyn Backend,
    sink: &mut PageSink<'_>,
    hasher: &mut StatusHasher,
    keys: &mut BTreeMap<&'static str, u64>,
) -> Result<Layout, BboltError> {
    let mut root = TreeBuilder::new();
    for name in BUCKETS {
        hasher.bucket(name.as_bytes());
        let mut bucket = BucketBuilder::new();
        let mut count = 0u64;
        let mut last: Vec<u8> = Vec::new();
        export_bucket(view, name, &mut |k, v| {
            let bad = |reason: &str| BboltError::Record {
                table: table_of(name),
                key: k.to_vec(),
                reason: format!("bucket {name}: {reason}"),
            };
            if k.is_empty() || k.len() > KEY_BYTES_MAX {
                return Err(bad("bbolt keys are 1 to 32768 bytes"));
            }
            if v.len() > VALUE_BYTES_MAX {
                return Err(bad("the value is larger than bbolt allows"));
            }
            if count > 0 && last.as_slice() >= k {
                return Err(bad("keys out of order"));
            }
            last.clear();
            last.extend_from_slice(k);
            hasher.entry(k, v);
            count += 1;
            bucket.push(sink, k, v).map_err(stream_err)
        })?;
        let value = bucket.finish(sink).map_err(stream_err)?;
        root.push(sink, BUCKET_LEAF, name.as_bytes(), &value).map_err(stream_err)?;
        keys.insert(name, count);
    }
    let root = root.finish(sink).map_err(stream_err)?;
    Ok(Layout { root, hwm: sink.next_id() })
}

/// Where a snapshot's pages will go and what it will hold: the first of the writer's two walks
/// over a view, done on its own so that a server knows the stream's size before sending it
/// (etcd's `SnapshotResponse.remaining_bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BboltPlan {
    layout: Layout,
    status: BboltStatus,
    keys: BTreeMap<&'static str, u64>,
}

impl BboltPlan {
    /// Bytes of the bbolt database.
    #[must_use]
    pub fn db_bytes(&self) -> u64 {
        self.layout.hwm * PAGE_SIZE as u64
    }

    /// Bytes of the whole stream: the database and the 32-byte trailer.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.db_bytes() + 32
    }

    /// What `etcdctl snapshot status` will print for the file.
    #[must_use]
    pub fn status(&self) -> BboltStatus {
        self.status
    }
}

/// Walks `view` once and places its pages without writing anything; pass the result with the
/// same view to [`write_planned_bbolt_snapshot`].
///
/// # Errors
/// [`BboltError::Record`] for a record of oxcd's tables that etcd's layout cannot hold.
pub fn plan_bbolt_snapshot(view: &dyn Backend) -> Result<BboltPlan, BboltError> {
    let mut hasher = StatusHasher::default();
    let mut keys = BTreeMap::new();
    let mut sink = PageSink::new(None, FIRST_DATA_ID);
    let layout = write_data_pages(view, &mut sink, &mut hasher, &mut keys)?;
    let status = hasher.finish(layout.hwm * PAGE_SIZE as u64);
    Ok(BboltPlan { layout, status, keys })
}

/// Writes the state-machine tables of `view` to `out` as etcd's snapshot stream: a bbolt
/// database in etcd 3.4's bucket layout (see `docs/snapshots.md`), then the 32-byte SHA-256 of
/// the database, which `etcdctl snapshot restore` verifies. `etcdctl snapshot status` and
/// `restore` accept the result.
///
/// `view` must be frozen ([`Backend::view`]): it is walked twice, first to place the pages
/// ([`plan_bbolt_snapshot`]), then to write them. Memory stays at a few pages per tree level
/// plus the member and alarm lists; pages are written as they fill.
///
/// # Errors
/// [`BboltError::Io`] when `out` fails (the stream is then incomplete); [`BboltError::Record`]
/// for a record of oxcd's tables that etcd's layout cannot hold (nothing is written then);
/// [`BboltError::ViewChanged`] when the two walks differ.
pub fn write_bbolt_snapshot(
    view: &dyn Backend,
    out: &mut dyn Write,
) -> Result<BboltInfo, BboltError> {
    let plan = plan_bbolt_snapshot(view)?;
    write_planned_bbolt_snapshot(view, &plan, out)
}

/// The second half of [`write_bbolt_snapshot`]: writes the stream `plan` describes.
///
/// # Errors
/// As [`write_bbolt_snapshot`]; [`BboltError::ViewChanged`] when `view` is not the view (or
/// an equal one) that `plan` was made from.
pub fn write_planned_bbolt_snapshot(
    view: &dyn Backend,
    plan: &BboltPlan,
    out: &mut dyn Write,
) -> Result<BboltInfo, BboltError> {
    let mut stream = BufWriter::with_capacity(
        256 << 10,
        HashWriter { inner: out, hasher: Sha256::new(), bytes: 0 },
    );
    let meta = Meta {
        page_size: PAGE_SIZE as u32,
        flags: 0,
        root: BucketHeader { root: plan.layout.root, sequence: 0 },
        freelist: FREELIST_ID,
        hwm: plan.layout.hwm,
        txid: TXID,
    };
    stream.write_all(&meta_page(0, &meta)).map_err(stream_err)?;
    stream.write_all(&meta_page(1, &Meta { txid: TXID - 1, ..meta })).map_err(stream_err)?;
    let mut freelist = vec![0; PAGE_SIZE];
    PageHeader { id: FREELIST_ID, flags: FREELIST_PAGE, count: 0, overflow: 0 }
        .encode(&mut freelist);
    stream.write_all(&freelist).map_err(stream_err)?;

    let mut hasher = StatusHasher::default();
    let written = {
        let mut sink = PageSink::new(Some(&mut stream), FIRST_DATA_ID);
        write_data_pages(view, &mut sink, &mut hasher, &mut BTreeMap::new())?
    };
    let db_bytes = plan.db_bytes();
    let status = hasher.finish(db_bytes);
    if written != plan.layout || status != plan.status {
        return Err(BboltError::ViewChanged);
    }
    let hashed = stream.into_inner().map_err(|e| stream_err(e.into_error()))?;
    assert_eq!(hashed.bytes, db_bytes, "the pages written fill the high-water mark");
    let sha256: [u8; 32] = hashed.hasher.finalize().into();
    hashed.inner.write_all(&sha256).map_err(stream_err)?;
    hashed.inner.flush().map_err(stream_err)?;
    Ok(BboltInfo { status, db_bytes, total_bytes: db_bytes + 32, sha256, keys: plan.keys.clone() })
}
