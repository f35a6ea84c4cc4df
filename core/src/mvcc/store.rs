//! The revisioned store: the key index, the current and compacted revisions, reads at any
//! revision and the write transaction that gives one request one main revision.

use super::key_index::{KeyIndexTree, KeySpan};
use super::revision::{main_rev_lower_bound, BucketKey, KvRevision};
use super::storage::{StorageMut, StorageRef};
use crate::backend::Table;
use crate::error::ApiError;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::mvccpb::event::EventType;
use oxcd_proto::mvccpb::KeyValue;
use prost::Message;

/// Meta table key of the revision the last accepted compaction targets (etcd's name).
pub const SCHEDULED_COMPACT_KEY: &[u8] = b"scheduledCompactRev";
/// Meta table key of the revision the last finished compaction reached (etcd's name).
pub const FINISHED_COMPACT_KEY: &[u8] = b"finishedCompactRev";

/// One change made by a write, as watchers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Put or delete.
    pub kind: EventType,
    /// After a put: the new pair. After a delete: the key with the deletion's mod revision.
    pub kv: KeyValue,
    /// Where the key's previous pair is stored, if it existed (for `prev_kv`).
    pub prev: Option<KvRevision>,
}

/// Keys read by a range, before the request's filters and sorting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResult {
    /// The pairs read (at most the limit).
    pub kvs: Vec<KeyValue>,
    /// Keys in the range at the revision read, regardless of the limit.
    pub count: i64,
    /// The store revision the read ran at (the response header's revision).
    pub rev: i64,
}

/// A compaction whose physical part is still running.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CompactionJob {
    target: i64,
    cursor: Option<Box<[u8]>>,
}

/// What [`Store::compaction_step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionProgress {
    /// No compaction is running.
    Idle,
    /// Work remains for the compaction to this revision.
    Running(i64),
    /// The compaction to this revision finished in this step (its deletions and the
    /// finished mark are in the overlay).
    Finished(i64),
}

/// The revisioned store.
#[derive(Debug)]
pub struct Store {
    index: KeyIndexTree,
    current_rev: i64,
    compact_rev: i64,
    finished_compact_rev: i64,
    job: Option<CompactionJob>,
    /// The change list of the last write, emptied, for the next one (saves an allocation).
    spare_changes: Vec<Change>,
}

/// Change lists up to this capacity are kept for reuse; larger ones are freed.
const SPARE_CHANGES_MAX: usize = 64;

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

/// Encodes a revision the way etcd stores compaction marks.
fn rev_mark(rev: i64) -> Vec<u8> {
    main_rev_lower_bound(rev).to_vec()
}

fn read_rev_mark(bytes: &[u8]) -> Option<i64> {
    BucketKey::decode(bytes).map(|b| b.rev.main)
}

/// Reads the pair stored at `rev`.
///
/// # Panics
/// When the record is missing or undecodable: the index and storage disagree.
pub(crate) fn read_kv(storage: StorageRef<'_>, rev: KvRevision) -> KeyValue {
    let key = BucketKey { rev, tombstone: false }.encode();
    let bytes = storage.get(Table::Kv, &key.0[..key.1]);
    let bytes = bytes
        .unwrap_or_else(|| panic!("mvcc: no record at revision {rev} although the index has it"));
    KeyValue::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("mvcc: corrupt record at {rev}: {e}"))
}

impl Store {
    /// An empty store at revision 1.
    #[must_use]
    pub fn new() -> Self {
        Store {
            index: KeyIndexTree::new(),
            current_rev: 1,
            compact_rev: -1,
            finished_compact_rev: -1,
            job: None,
            spare_changes: Vec::new(),
        }
    }

    /// Rebuilds the index from storage. `visit_put` is called, in revision order, for every
    /// stored change with the key and the lease it carries (0 for deletions), so the lessor
    /// can re-attach keys. An unfinished compaction resumes (see [`Store::compaction_step`]).
    ///
    /// # Panics
    /// When a Kv record is corrupt.
    pub fn open(storage: StorageRef<'_>, visit_change: &mut dyn FnMut(&[u8], i64)) -> Self {
        let mut store = Store::new();
        let finished =
            storage.get(Table::Meta, FINISHED_COMPACT_KEY).and_then(|b| read_rev_mark(&b));
        let scheduled =
            storage.get(Table::Meta, SCHEDULED_COMPACT_KEY).and_then(|b| read_rev_mark(&b));
        let mut max_main = 1;
        storage.scan(Table::Kv, &[], None, &mut |k, v| {
            let bucket =
                BucketKey::decode(k).unwrap_or_else(|| panic!("mvcc: malformed Kv key {k:?}"));
            let kv = KeyValue::decode(v)
                .unwrap_or_else(|e| panic!("mvcc: corrupt record at {}: {e}", bucket.rev));
            store.index.restore(
                &kv.key,
                bucket.rev,
                bucket.tombstone,
                kv.create_revision,
                kv.version,
            );
            visit_change(&kv.key, if bucket.tombstone { 0 } else { kv.lease });
            max_main = max_main.max(bucket.rev.main);
            ControlFlow::Continue(())
        });
        store.current_rev = max_main;
        if let Some(f) = finished {
            store.compact_rev = f;
            store.finished_compact_rev = f;
        }
        if let Some(s) = scheduled {
            store.current_rev = store.current_rev.max(s);
            if s > store.finished_compact_rev {
                store.compact_rev = s;
                store.job = Some(CompactionJob { target: s, cursor: None });
            }
        }
        store.current_rev = store.current_rev.max(store.compact_rev);
        store
    }

    /// The current revision (of the last change; 1 for a fresh store).
    #[must_use]
    pub fn current_revision(&self) -> i64 {
        self.current_rev
    }

    /// The revision of the last accepted compaction; -1 before any.
    #[must_use]
    pub fn compact_revision(&self) -> i64 {
        self.compact_rev
    }

    /// The revision the last finished physical compaction reached; -1 before any.
    #[must_use]
    pub fn finished_compact_revision(&self) -> i64 {
        self.finished_compact_rev
    }

    /// The key index (read only).
    #[must_use]
    pub fn index(&self) -> &KeyIndexTree {
        &self.index
    }

    /// Reads `span` as of revision `rev` (`<= 0`: `cur_rev`), where `cur_rev` is the revision
    /// the reader stands at. Reads at most `limit` pairs (`<= 0`: all); `count_only` reads
    /// none and only counts.
    ///
    /// # Errors
    /// `FutureRev` when `rev > cur_rev`, `Compacted` when `rev` is below the compacted
    /// revision.
    pub fn range_keys(
        &self,
        storage: StorageRef<'_>,
        span: KeySpan<'_>,
        rev: i64,
        cur_rev: i64,
        limit: i64,
        count_only: bool,
    ) -> Result<RangeResult, ApiError> {
        if rev > cur_rev {
            return Err(ApiError::FutureRev);
        }
        let at = if rev <= 0 { cur_rev } else { rev };
        if at < self.compact_rev {
            return Err(ApiError::Compacted);
        }
        if count_only {
            return Ok(RangeResult {
                kvs: Vec::new(),
                count: self.index.count_at(span, at) as i64,
                rev: cur_rev,
            });
        }
        let limit = usize::try_from(limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut revs = Vec::new();
        let mut count = 0i64;
        self.index.visit_at(span, at, &mut |_, r| {
            count += 1;
            if revs.len() < limit {
                revs.push(r);
            }
            ControlFlow::Continue(())
        });
        let kvs = revs.into_iter().map(|r| read_kv(storage, r)).collect();
        Ok(RangeResult { kvs, count, rev: cur_rev })
    }

    /// The pair holding `key` as of revision `at`, if any (no compaction check).
    #[must_use]
    pub fn get_at(&self, storage: StorageRef<'_>, key: &[u8], at: i64) -> Option<KeyValue> {
        self.index.get(key, at).map(|r| read_kv(storage, r))
    }

    /// Starts a write: the request's changes get revision `current + 1`.
    pub fn write<'s, 'b>(&'s mut self, storage: &'s mut StorageMut<'b>) -> Writer<'s, 'b> {
        let begin_rev = self.current_rev;
        let changes = core::mem::take(&mut self.spare_changes);
        Writer { store: self, storage, begin_rev, changes }
    }

    /// Gives back the change list a [`Writer::finish`] returned, once read, for reuse.
    pub fn recycle(&mut self, mut changes: Vec<Change>) {
        if changes.capacity() <= SPARE_CHANGES_MAX {
            changes.clear();
            self.spare_changes = changes;
        }
    }

    /// Accepts a compaction to `rev`: reads below it fail from now on, and the physical
    /// removal runs in [`Store::compaction_step`]s. The mark is written to storage.
    ///
    /// # Errors
    /// `Compacted` when `rev` is not above the compacted revision, `FutureRev` when above the
    /// current one.
    pub fn compact(&mut self, storage: &mut StorageMut<'_>, rev: i64) -> Result<(), ApiError> {
        if rev <= self.compact_rev {
            return Err(ApiError::Compacted);
        }
        if rev > self.current_rev {
            return Err(ApiError::FutureRev);
        }
        self.compact_rev = rev;
        storage.put(Table::Meta, SCHEDULED_COMPACT_KEY.to_vec(), rev_mark(rev));
        // A later compaction covers an earlier one still running: restart from the first key.
        self.job = Some(CompactionJob { target: rev, cursor: None });
        Ok(())
    }

    /// True while a physical compaction has work left.
    #[must_use]
    pub fn compaction_pending(&self) -> bool {
        self.job.is_some()
    }

    /// Removes what the running compaction drops for up to `max_keys` keys.
    pub fn compaction_step(
        &mut self,
        storage: &mut StorageMut<'_>,
        max_keys: usize,
    ) -> CompactionProgress {
        let Some(job) = &mut self.job else { return CompactionProgress::Idle };
        let target = job.target;
        let mut removed = Vec::new();
        let next = self.index.compact_step(job.cursor.as_deref(), target, max_keys, &mut removed);
        for bucket in removed {
            storage.delete(Table::Kv, bucket.to_vec());
        }
        match next {
            Some(cursor) => {
                job.cursor = Some(cursor);
                CompactionProgress::Running(target)
            }
            None => {
                self.job = None;
                self.finished_compact_rev = target;
                storage.put(Table::Meta, FINISHED_COMPACT_KEY.to_vec(), rev_mark(target));
                CompactionProgress::Finished(target)
            }
        }
    }
}

/// A write in progress: every change gets main revision `begin + 1` and the next sub
/// revision. Reads through the writer see its own changes. [`Writer::finish`] moves the store
/// to the new revision if anything changed.
pub struct Writer<'s, 'b> {
    store: &'s mut Store,
    storage: &'s mut StorageMut<'b>,
    begin_rev: i64,
    changes: Vec<Change>,
}

impl Writer<'_, '_> {
    /// The revision reads inside this write stand at.
    #[must_use]
    pub fn rev(&self) -> i64 {
        if self.changes.is_empty() {
            self.begin_rev
        } else {
            self.begin_rev + 1
        }
    }

    /// The store (read only).
    #[must_use]
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Read access to storage, including this write's changes.
    #[must_use]
    pub fn storage(&self) -> StorageRef<'_> {
        self.storage.as_ref()
    }

    /// Reads `span` as a range inside this write would.
    ///
    /// # Errors
    /// As [`Store::range_keys`].
    pub fn range_keys(
        &self,
        span: KeySpan<'_>,
        rev: i64,
        limit: i64,
        count_only: bool,
    ) -> Result<RangeResult, ApiError> {
        self.store.range_keys(self.storage.as_ref(), span, rev, self.rev(), limit, count_only)
    }

    fn next_rev(&self) -> KvRevision {
        KvRevision::new(self.begin_rev + 1, self.changes.len() as i64)
    }

    /// Puts `key` = `value` with `lease`; returns the new revision.
    pub fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> i64 {
        self.put_owned(key.to_vec(), value, lease)
    }

    /// [`Writer::put`] of a key the caller gives away (it becomes the change's key: no copy).
    pub fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>, lease: i64) -> i64 {
        let rev = self.next_rev();
        let (create_revision, version, prev) = self.store.index.put(&key, rev);
        let kv = KeyValue { key, create_revision, mod_revision: rev.main, version, value, lease };
        let bucket = BucketKey { rev, tombstone: false };
        self.storage.put(Table::Kv, bucket.to_vec(), kv.encode_to_vec());
        self.changes.push(Change { kind: EventType::Put, kv, prev });
        rev.main
    }

    /// Deletes the keys of `span` present now; returns how many, and the revision of the
    /// response (etcd's rule: the new revision once anything changed in this write).
    pub fn delete_range(&mut self, span: KeySpan<'_>) -> (i64, i64) {
        let at = self.rev();
        let mut doomed: Vec<(Box<[u8]>, KvRevision)> = Vec::new();
        self.store.index.visit_at(span, at, &mut |k, r| {
            doomed.push((Box::from(k), r));
            ControlFlow::Continue(())
        });
        for (key, prev) in &doomed {
            let rev = self.next_rev();
            self.store.index.tombstone(key, rev);
            let kv = KeyValue { key: key.to_vec(), ..KeyValue::default() };
            let bucket = BucketKey { rev, tombstone: true };
            self.storage.put(Table::Kv, bucket.to_vec(), kv.encode_to_vec());
            let event_kv =
                KeyValue { key: key.to_vec(), mod_revision: rev.main, ..KeyValue::default() };
            self.changes.push(Change { kind: EventType::Delete, kv: event_kv, prev: Some(*prev) });
        }
        let deleted = doomed.len() as i64;
        let rev = if deleted != 0 || !self.changes.is_empty() {
            self.begin_rev + 1
        } else {
            self.begin_rev
        };
        (deleted, rev)
    }

    /// Ends the write: returns the store's revision after it and the changes made.
    pub fn finish(self) -> (i64, Vec<Change>) {
        if !self.changes.is_empty() {
            self.store.current_rev = self.begin_rev + 1;
        }
        (self.store.current_rev, self.changes)
    }
}
