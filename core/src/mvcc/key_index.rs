//! The in-memory key index: for every key, the revisions of its changes (etcd's treeIndex and
//! keyIndex).
//!
//! Values stay in the backend; the index answers "which revision holds `key` as of revision R"
//! and "which records does compaction to C remove". A key's changes form generations (a
//! generation ends with a tombstone); here they are kept as one flat, ordered list of changes,
//! from which the generation of any revision follows: the change that holds a key as of R is the
//! latest change with main revision <= R, and the key is absent at R if that change is a
//! tombstone.
//!
//! Memory: the common key (one change, sub revision 0) costs the boxed key bytes plus a 32-byte
//! [`KeyIndex`] in the map; older changes and non-zero sub revisions go to a boxed history.

use super::revision::{BucketKey, KvRevision};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::{Bound, ControlFlow};

type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// A set of keys, as requests name them (`key` plus `range_end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpan<'a> {
    /// Exactly one key (empty `range_end`).
    Single(&'a [u8]),
    /// Every key `>= from` (`range_end` is `"\0"`).
    From(&'a [u8]),
    /// Keys in `[from, to)`; empty when `to <= from`.
    Range(&'a [u8], &'a [u8]),
}

impl<'a> KeySpan<'a> {
    /// The span a request names: an empty `range_end` means the key alone, `"\0"` means every
    /// key from `key` on, anything else the half-open interval.
    #[must_use]
    pub fn from_request(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeySpan::Single(key),
            [0] => KeySpan::From(key),
            end => KeySpan::Range(key, end),
        }
    }

    /// True when `k` is in the span.
    #[must_use]
    pub fn contains(&self, k: &[u8]) -> bool {
        match *self {
            KeySpan::Single(key) => k == key,
            KeySpan::From(from) => k >= from,
            KeySpan::Range(from, to) => k >= from && k < to,
        }
    }

    /// The first key of the span.
    #[must_use]
    pub fn start(&self) -> &'a [u8] {
        match *self {
            KeySpan::Single(k) | KeySpan::From(k) | KeySpan::Range(k, _) => k,
        }
    }

    fn bounds(&self) -> Option<KeyBounds<'a>> {
        match *self {
            KeySpan::Single(k) => Some((Bound::Included(k), Bound::Included(k))),
            KeySpan::From(k) => Some((Bound::Included(k), Bound::Unbounded)),
            KeySpan::Range(from, to) if from < to => {
                Some((Bound::Included(from), Bound::Excluded(to)))
            }
            KeySpan::Range(..) => None,
        }
    }
}

/// One recorded change of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    main: i64,
    sub: u32,
    tombstone: bool,
}

impl Change {
    fn rev(self) -> KvRevision {
        KvRevision::new(self.main, i64::from(self.sub))
    }

    fn bucket_key(self) -> BucketKey {
        BucketKey { rev: self.rev(), tombstone: self.tombstone }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct History {
    /// Sub revision of the latest change.
    latest_sub: u32,
    /// Changes before the latest, oldest first.
    older: Vec<Change>,
}

/// The changes of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIndex {
    /// Main revision of the latest change.
    latest_main: i64,
    /// Create revision of the live generation; 0 when the latest change is a tombstone.
    created: i64,
    /// Changes in the live generation; 0 when the latest change is a tombstone.
    version: i64,
    more: Option<Box<History>>,
}

fn sub_u32(rev: KvRevision) -> u32 {
    assert!((0..=i64::from(u32::MAX)).contains(&rev.sub), "sub revision out of range: {rev}");
    rev.sub as u32
}

impl KeyIndex {
    fn first_put(rev: KvRevision) -> Self {
        let mut ki = KeyIndex { latest_main: rev.main, created: rev.main, version: 1, more: None };
        ki.set_latest_sub(sub_u32(rev));
        ki
    }

    fn latest_sub(&self) -> u32 {
        self.more.as_ref().map_or(0, |h| h.latest_sub)
    }

    fn set_latest_sub(&mut self, sub: u32) {
        match &mut self.more {
            Some(h) => h.latest_sub = sub,
            None if sub == 0 => {}
            None => self.more = Some(Box::new(History { latest_sub: sub, older: Vec::new() })),
        }
    }

    fn latest(&self) -> Change {
        Change { main: self.latest_main, sub: self.latest_sub(), tombstone: self.version == 0 }
    }

    fn older(&self) -> &[Change] {
        self.more.as_ref().map_or(&[], |h| h.older.as_slice())
    }

    fn push(&mut self, rev: KvRevision, tombstone: bool) {
        let latest = self.latest();
        assert!(rev > latest.rev(), "key index: change {rev} is not after {}", latest.rev());
        let older = &mut self.more.get_or_insert_with(Box::default).older;
        if older.len() == older.capacity() && older.len() < 4 {
            // Short histories are the common case: grow them one change at a time.
            older.reserve_exact(1);
        }
        older.push(latest);
        self.latest_main = rev.main;
        self.set_latest_sub(sub_u32(rev));
        if tombstone {
            self.created = 0;
            self.version = 0;
        } else if self.version == 0 {
            self.created = rev.main;
            self.version = 1;
        } else {
            self.version += 1;
        }
    }

    /// The live generation's create revision and version, `None` when the key is deleted.
    #[must_use]
    pub fn live(&self) -> Option<(i64, i64)> {
        (self.version != 0).then_some((self.created, self.version))
    }

    /// The change holding the key as of revision `at`, `None` when the key is absent then.
    #[must_use]
    pub fn get(&self, at: i64) -> Option<KvRevision> {
        let change = self.change_at(at)?;
        (!change.tombstone).then(|| change.rev())
    }

    /// The latest change with main revision `<= at`, tombstone or not.
    fn change_at(&self, at: i64) -> Option<Change> {
        if self.latest_main <= at {
            return Some(self.latest());
        }
        let older = self.older();
        let n = older.partition_point(|c| c.main <= at);
        n.checked_sub(1).map(|i| older[i])
    }

    /// The revision that compaction to `at` keeps for this key: the latest change `<= at`
    /// unless it is a tombstone.
    #[must_use]
    pub fn kept_by_compaction(&self, at: i64) -> Option<KvRevision> {
        self.get(at)
    }

    /// Drops every change compaction to `at` removes, reporting their Kv table keys. Returns
    /// true when no change is left (the key leaves the index).
    fn compact(&mut self, at: i64, removed: &mut Vec<BucketKey>) -> bool {
        let Some(boundary) = self.change_at(at) else { return false };
        let drop_boundary = boundary.tombstone;
        let latest = self.latest();
        if let Some(h) = &mut self.more {
            // Older changes before the boundary always go; the boundary goes if a tombstone.
            let keep_from =
                h.older.iter().position(|c| c.main > at || (*c == boundary && !drop_boundary));
            let cut = keep_from.unwrap_or(h.older.len());
            removed.extend(h.older.drain(..cut).map(Change::bucket_key));
            if h.older.is_empty() && h.latest_sub == 0 {
                self.more = None;
            }
        }
        if latest == boundary && drop_boundary {
            removed.push(latest.bucket_key());
            return true;
        }
        false
    }

    /// Number of changes recorded (for tests and memory accounting).
    #[must_use]
    pub fn changes(&self) -> usize {
        self.older().len() + 1
    }
}

/// Keys to their [`KeyIndex`], in key order.
#[derive(Clone, Debug, Default)]
pub struct KeyIndexTree {
    map: BTreeMap<Box<[u8]>, KeyIndex>,
}

impl KeyIndexTree {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys with at least one recorded change.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The index entry of `key`.
    #[must_use]
    pub fn key_index(&self, key: &[u8]) -> Option<&KeyIndex> {
        self.map.get(key)
    }

    /// The change holding `key` as of revision `at`.
    #[must_use]
    pub fn get(&self, key: &[u8], at: i64) -> Option<KvRevision> {
        self.map.get(key)?.get(at)
    }

    /// Records a put of `key` at `rev` (after every recorded change); returns the key's create
    /// revision and version after it, and the change that held the key before, if it was live.
    pub fn put(&mut self, key: &[u8], rev: KvRevision) -> (i64, i64, Option<KvRevision>) {
        match self.map.get_mut(key) {
            Some(ki) => {
                let prev = ki.live().map(|_| ki.latest().rev());
                ki.push(rev, false);
                (ki.created, ki.version, prev)
            }
            None => {
                self.map.insert(Box::from(key), KeyIndex::first_put(rev));
                (rev.main, 1, None)
            }
        }
    }

    /// Records a deletion of `key` at `rev`; the key must be live.
    pub fn tombstone(&mut self, key: &[u8], rev: KvRevision) {
        let ki = self.map.get_mut(key);
        let ki = ki.unwrap_or_else(|| panic!("key index: tombstone of an unknown key at {rev}"));
        assert!(ki.version != 0, "key index: tombstone of a deleted key at {rev}");
        ki.push(rev, true);
    }

    /// Records a change read back from storage (rebuilding the index at open). Changes must
    /// come in revision order.
    pub fn restore(
        &mut self,
        key: &[u8],
        rev: KvRevision,
        tombstone: bool,
        created: i64,
        version: i64,
    ) {
        match self.map.get_mut(key) {
            Some(ki) => {
                ki.push(rev, tombstone);
                if !tombstone {
                    // Compaction may have removed earlier changes: trust the stored record.
                    ki.created = created;
                    ki.version = version;
                }
            }
            None => {
                let mut ki = KeyIndex::first_put(rev);
                if tombstone {
                    ki.created = 0;
                    ki.version = 0;
                } else {
                    ki.created = created;
                    ki.version = version;
                }
                self.map.insert(Box::from(key), ki);
            }
        }
    }

    /// Visits, in key order, the keys of `span` present as of revision `at` with the change
    /// holding each, until `visit` breaks.
    pub fn visit_at(
        &self,
        span: KeySpan<'_>,
        at: i64,
        visit: &mut dyn FnMut(&[u8], KvRevision) -> ControlFlow<()>,
    ) {
        self.visit_entries(span, &mut |key, ki| match ki.get(at) {
            Some(rev) => visit(key, rev),
            None => ControlFlow::Continue(()),
        });
    }

    /// Visits every entry of `span` in key order, until `visit` breaks.
    pub fn visit_entries(
        &self,
        span: KeySpan<'_>,
        visit: &mut dyn FnMut(&[u8], &KeyIndex) -> ControlFlow<()>,
    ) {
        let Some(bounds) = span.bounds() else { return };
        for (key, ki) in self.map.range::<[u8], _>(bounds) {
            if visit(key, ki).is_break() {
                return;
            }
        }
    }

    /// Number of keys of `span` present as of revision `at`.
    #[must_use]
    pub fn count_at(&self, span: KeySpan<'_>, at: i64) -> usize {
        let mut n = 0;
        self.visit_at(span, at, &mut |_, _| {
            n += 1;
            ControlFlow::Continue(())
        });
        n
    }

    /// Compacts up to `max_keys` keys starting at `cursor` (the first key, `None` for the
    /// start) to revision `at`; reports removed records in `removed`. Returns the key to resume
    /// from, `None` when the end of the index was reached.
    pub fn compact_step(
        &mut self,
        cursor: Option<&[u8]>,
        at: i64,
        max_keys: usize,
        removed: &mut Vec<BucketKey>,
    ) -> Option<Box<[u8]>> {
        let lower = cursor.map_or(Bound::Unbounded, Bound::Included);
        let mut emptied = Vec::new();
        let mut next = None;
        for (i, (key, ki)) in self.map.range_mut::<[u8], _>((lower, Bound::Unbounded)).enumerate() {
            if i == max_keys.max(1) {
                next = Some(key.clone());
                break;
            }
            if ki.compact(at, removed) {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.map.remove(&key);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn r(main: i64, sub: i64) -> KvRevision {
        KvRevision::new(main, sub)
    }

    #[test]
    fn spans_from_requests() {
        assert_eq!(KeySpan::from_request(b"a", b""), KeySpan::Single(b"a"));
        assert_eq!(KeySpan::from_request(b"a", b"\0"), KeySpan::From(b"a"));
        assert_eq!(KeySpan::from_request(b"a", b"c"), KeySpan::Range(b"a", b"c"));
        assert!(KeySpan::Range(b"a", b"c").contains(b"b"));
        assert!(!KeySpan::Range(b"a", b"c").contains(b"c"));
        assert!(!KeySpan::Range(b"c", b"a").contains(b"b"));
        assert!(KeySpan::From(b"\0").contains(b"\0"));
    }

    #[test]
    fn get_follows_generations() {
        let mut t = KeyIndexTree::new();
        assert_eq!(t.put(b"k", r(2, 0)), (2, 1, None));
        assert_eq!(t.put(b"k", r(4, 1)), (2, 2, Some(r(2, 0))));
        t.tombstone(b"k", r(6, 0));
        assert_eq!(t.put(b"k", r(8, 0)), (8, 1, None));
        assert_eq!(t.get(b"k", 1), None);
        assert_eq!(t.get(b"k", 2), Some(r(2, 0)));
        assert_eq!(t.get(b"k", 3), Some(r(2, 0)));
        assert_eq!(t.get(b"k", 5), Some(r(4, 1)));
        assert_eq!(t.get(b"k", 6), None);
        assert_eq!(t.get(b"k", 7), None);
        assert_eq!(t.get(b"k", 8), Some(r(8, 0)));
        assert_eq!(t.get(b"k", 100), Some(r(8, 0)));
        assert_eq!(t.key_index(b"k").unwrap().live(), Some((8, 1)));
    }

    #[test]
    fn compaction_keeps_the_latest_live_change_at_the_boundary() {
        let mut t = KeyIndexTree::new();
        t.put(b"a", r(2, 0));
        t.put(b"a", r(3, 0));
        t.put(b"a", r(5, 0));
        t.put(b"b", r(2, 1));
        t.tombstone(b"b", r(4, 0));
        t.put(b"c", r(6, 0));
        let mut removed = Vec::new();
        assert_eq!(t.compact_step(None, 4, 100, &mut removed), None);
        let mut got: Vec<_> = removed.iter().map(|b| (b.rev, b.tombstone)).collect();
        got.sort();
        assert_eq!(got, vec![(r(2, 0), false), (r(2, 1), false), (r(4, 0), true)]);
        assert_eq!(t.get(b"a", 4), Some(r(3, 0)));
        assert_eq!(t.get(b"a", 5), Some(r(5, 0)));
        assert!(
            t.key_index(b"b").is_none(),
            "a key whose last change is a compacted tombstone goes"
        );
        assert_eq!(t.get(b"c", 6), Some(r(6, 0)));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn compaction_proceeds_in_bounded_steps() {
        let mut t = KeyIndexTree::new();
        for (i, k) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
            t.put(*k, r(i as i64 + 2, 0));
            t.put(*k, r(i as i64 + 10, 0));
        }
        let mut removed = Vec::new();
        let mut cursor = None;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10);
            let next = t.compact_step(cursor.as_deref(), 20, 2, &mut removed);
            if next.is_none() {
                break;
            }
            cursor = next;
        }
        assert_eq!(steps, 3);
        assert_eq!(removed.len(), 5);
        assert!(t.map.values().all(|ki| ki.changes() == 1 && ki.more.is_none()));
    }

    #[test]
    fn ranges_and_counts_at_a_revision() {
        let mut t = KeyIndexTree::new();
        t.put(b"a", r(2, 0));
        t.put(b"b", r(3, 0));
        t.tombstone(b"a", r(4, 0));
        t.put(b"c", r(5, 0));
        assert_eq!(t.count_at(KeySpan::From(b"\0"), 3), 2);
        assert_eq!(t.count_at(KeySpan::From(b"\0"), 5), 2);
        assert_eq!(t.count_at(KeySpan::Range(b"a", b"c"), 5), 1);
        assert_eq!(t.count_at(KeySpan::Range(b"c", b"a"), 5), 0);
        assert_eq!(t.count_at(KeySpan::Single(b"a"), 3), 1);
        let mut seen = Vec::new();
        t.visit_at(KeySpan::From(b"b"), 5, &mut |k, rev| {
            seen.push((k.to_vec(), rev));
            ControlFlow::Continue(())
        });
        assert_eq!(seen, vec![(b"b".to_vec(), r(3, 0)), (b"c".to_vec(), r(5, 0))]);
    }

    #[test]
    fn common_key_entry_is_compact() {
        assert_eq!(core::mem::size_of::<KeyIndex>(), 32);
    }
}
