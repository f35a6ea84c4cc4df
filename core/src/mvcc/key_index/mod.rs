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
//! Memory: the common key (one change, sub revision 0) costs its bytes inline in a leaf, a
//! 4-byte offset, an 8-byte search head and a 32-byte [`KeyIndex`]; older changes and non-zero
//! sub revisions go to a boxed history.

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

/// Keys a leaf holds at most; a fuller leaf splits in two.
const LEAF_MAX_KEYS: usize = 64;
/// A leaf left with fewer keys by compaction takes in its successor when both fit.
const LEAF_MIN_KEYS: usize = LEAF_MAX_KEYS / 4;

/// A run of consecutive keys, stored inline: searching a leaf reads contiguous arrays instead
/// of following a pointer per compared key. Keys in a leaf are close in key order and often
/// share a long prefix (`/registry/pods/...`): the search compares that prefix once, then
/// 8-byte numbers taken right after it, and reads key bytes only to break ties. A key costs
/// its bytes plus 12.
#[derive(Clone, Debug, Default)]
struct Leaf {
    /// Length of a prefix every key of the leaf starts with (not always the longest one).
    prefix: u32,
    /// The 8 bytes after the prefix of each key, zero-padded, as numbers (see [`head8`]).
    heads: Vec<u64>,
    /// The keys' bytes, concatenated in key order.
    bytes: Vec<u8>,
    /// Where each key ends in `bytes` (key `i` starts where key `i - 1` ends).
    ends: Vec<u32>,
    /// Each key's changes.
    entries: Vec<KeyIndex>,
}

/// The first 8 bytes of `bytes`, zero-padded, as a number: numbers that differ order as their
/// byte strings do (equal ones say nothing).
fn head8(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    let n = bytes.len().min(8);
    out[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(out)
}

impl Leaf {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// `Ok(i)`: key `i` is `key`; `Err(i)`: `key` would be inserted at `i`.
    fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let n = self.len();
        if n == 0 {
            return Err(0);
        }
        let p = self.prefix as usize;
        if p > 0 {
            // Every key starts with the prefix: one comparison places keys that do not.
            match key[..p.min(key.len())].cmp(&self.key(0)[..p]) {
                core::cmp::Ordering::Less => return Err(0),
                core::cmp::Ordering::Greater => return Err(n),
                core::cmp::Ordering::Equal => {}
            }
        }
        let rest = &key[p..];
        let head = head8(rest);
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let order = match self.heads[mid].cmp(&head) {
                core::cmp::Ordering::Equal => self.key(mid)[p..].cmp(rest),
                other => other,
            };
            match order {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// The first position whose key is inside `lower`.
    fn lower_position(&self, lower: Bound<&[u8]>) -> usize {
        match lower {
            Bound::Unbounded => 0,
            Bound::Included(k) => self.search(k).unwrap_or_else(|i| i),
            Bound::Excluded(k) => self.search(k).map_or_else(|i| i, |i| i + 1),
        }
    }

    /// Recomputes the prefix (the one the first and last keys share, which every key between
    /// them shares too) and the heads.
    fn reindex(&mut self) {
        let n = self.len();
        self.prefix = 0;
        if n > 1 {
            let (first, last) = (self.key(0), self.key(n - 1));
            let shared = first.iter().zip(last).take_while(|(a, b)| a == b).count();
            self.prefix = u32::try_from(shared).expect("key index: key longer than 4 GiB");
        }
        let p = self.prefix as usize;
        let heads: Vec<u64> = (0..n).map(|i| head8(&self.key(i)[p..])).collect();
        self.heads = heads;
    }

    fn insert(&mut self, i: usize, key: &[u8], entry: KeyIndex) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let added = u32::try_from(key.len()).expect("key index: key longer than 4 GiB");
        let p = self.prefix as usize;
        let shares_prefix = self.len() == 0 || key.get(..p) == Some(&self.key(0)[..p]);
        grow(&mut self.bytes, key.len());
        grow(&mut self.ends, 1);
        grow(&mut self.entries, 1);
        grow(&mut self.heads, 1);
        self.bytes.extend_from_slice(key);
        self.bytes[start..].rotate_right(key.len());
        for end in &mut self.ends[i..] {
            *end += added;
        }
        self.ends.insert(i, start as u32 + added);
        self.entries.insert(i, entry);
        if shares_prefix {
            self.heads.insert(i, head8(&key[p..]));
        } else {
            self.reindex();
        }
    }

    fn shrink_to_fit(&mut self) {
        self.heads.shrink_to_fit();
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.entries.shrink_to_fit();
    }

    /// Moves keys `at..` into a new leaf.
    fn split_off(&mut self, at: usize) -> Leaf {
        let cut = if at == 0 { 0 } else { self.ends[at - 1] };
        let bytes = self.bytes.split_off(cut as usize);
        let ends = self.ends.split_off(at).into_iter().map(|e| e - cut).collect();
        let entries = self.entries.split_off(at);
        let mut right = Leaf { prefix: 0, heads: self.heads.split_off(at), bytes, ends, entries };
        self.reindex();
        right.reindex();
        right
    }

    /// Appends every key of `other` (all greater than this leaf's).
    fn append(&mut self, other: Leaf) {
        let base = self.bytes.len() as u32;
        self.bytes.reserve_exact(other.bytes.len());
        self.ends.reserve_exact(other.len());
        self.entries.reserve_exact(other.len());
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        self.entries.extend(other.entries);
        self.reindex();
    }

    /// Keeps the keys for which `keep` holds.
    fn retain(&mut self, keep: &[bool]) {
        let mut out = Leaf {
            prefix: 0,
            heads: Vec::new(),
            bytes: Vec::with_capacity(self.bytes.len()),
            ends: Vec::with_capacity(self.len()),
            entries: Vec::with_capacity(self.len()),
        };
        for (i, entry) in core::mem::take(&mut self.entries).into_iter().enumerate() {
            if keep[i] {
                let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
                out.bytes.extend_from_slice(&self.bytes[start..self.ends[i] as usize]);
                out.ends.push(out.bytes.len() as u32);
                out.entries.push(entry);
            }
        }
        out.reindex();
        *self = out;
    }
}

/// Makes room for `additional` more items, growing by half at a time (not doubling):
/// leaves are many and small, so spare capacity would cost more than the occasional copy.
fn grow<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 2).max(4));
    }
}

/// A leaf's lower bound (its first key when it was made; the empty key for the first leaf),
/// with the bound's first 16 bytes inline: comparisons that those bytes decide never leave the
/// map's node, which is most of them for short keys.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LeafBound {
    head: u128,
    key: Box<[u8]>,
}

impl LeafBound {
    fn new(key: &[u8]) -> Self {
        LeafBound { head: head_of(key), key: Box::from(key) }
    }
}

/// The first 16 bytes of `key`, zero-padded, as a number: numbers that differ order as their
/// keys do (equal ones say nothing).
fn head_of(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

/// What the leaf map compares: owned bounds, and borrowed keys looked up without a copy.
trait BoundKey {
    fn head(&self) -> u128;
    fn bytes(&self) -> &[u8];
}

impl BoundKey for LeafBound {
    fn head(&self) -> u128 {
        self.head
    }
    fn bytes(&self) -> &[u8] {
        &self.key
    }
}

/// A key being looked up.
struct Probe<'k> {
    head: u128,
    key: &'k [u8],
}

impl BoundKey for Probe<'_> {
    fn head(&self) -> u128 {
        self.head
    }
    fn bytes(&self) -> &[u8] {
        self.key
    }
}

fn compare_bounds(a: &dyn BoundKey, b: &dyn BoundKey) -> core::cmp::Ordering {
    a.head().cmp(&b.head()).then_with(|| a.bytes().cmp(b.bytes()))
}

impl PartialEq for dyn BoundKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        compare_bounds(self, other).is_eq()
    }
}

impl Eq for dyn BoundKey + '_ {}

impl PartialOrd for dyn BoundKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn BoundKey + '_ {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        compare_bounds(self, other)
    }
}

impl PartialOrd for LeafBound {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LeafBound {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        compare_bounds(self, other)
    }
}

impl<'a> core::borrow::Borrow<dyn BoundKey + 'a> for LeafBound {
    fn borrow(&self) -> &(dyn BoundKey + 'a) {
        self
    }
}

type Leaves = BTreeMap<LeafBound, Leaf>;

/// The leaf `key` belongs to: the one with the greatest bound not above it.
fn leaf_of<'m>(leaves: &'m Leaves, key: &[u8]) -> Option<(&'m LeafBound, &'m Leaf)> {
    let probe = Probe { head: head_of(key), key };
    let probe: &dyn BoundKey = &probe;
    leaves.range::<dyn BoundKey, _>((Bound::Unbounded, Bound::Included(probe))).next_back()
}

/// [`leaf_of`], for changing the leaf.
fn leaf_of_mut<'m>(leaves: &'m mut Leaves, key: &[u8]) -> Option<(&'m LeafBound, &'m mut Leaf)> {
    let probe = Probe { head: head_of(key), key };
    let probe: &dyn BoundKey = &probe;
    leaves.range_mut::<dyn BoundKey, _>((Bound::Unbounded, Bound::Included(probe))).next_back()
}

/// Keys to their [`KeyIndex`], in key order.
///
/// A two-level ordered structure: leaves of up to [`LEAF_MAX_KEYS`] inline keys, found through
/// an ordered map by their lower bound. The first leaf's bound is the empty key, so every key
/// has exactly one leaf: the one with the greatest bound not above it.
#[derive(Clone, Debug, Default)]
pub struct KeyIndexTree {
    leaves: Leaves,
    len: usize,
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
        self.len
    }

    /// True when no key is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn leaf(&self, key: &[u8]) -> Option<&Leaf> {
        leaf_of(&self.leaves, key).map(|(_, l)| l)
    }

    /// Finds `key`'s entry and passes it to `present`, or adds the entry `absent` makes: one
    /// search either way.
    fn upsert<R>(
        &mut self,
        key: &[u8],
        present: impl FnOnce(&mut KeyIndex) -> R,
        absent: impl FnOnce() -> (KeyIndex, R),
    ) -> R {
        let Some((bound, leaf)) = leaf_of_mut(&mut self.leaves, key) else {
            let (entry, result) = absent();
            let mut leaf = Leaf::default();
            leaf.insert(0, key, entry);
            self.leaves.insert(LeafBound::new(&[]), leaf);
            self.len += 1;
            return result;
        };
        let i = match leaf.search(key) {
            Ok(i) => return present(&mut leaf.entries[i]),
            Err(i) => i,
        };
        let (entry, result) = absent();
        leaf.insert(i, key, entry);
        self.len += 1;
        if leaf.len() > LEAF_MAX_KEYS {
            let appended = i == leaf.len() - 1;
            let bound = bound.clone();
            self.split(bound, appended);
        }
        result
    }

    /// Splits the leaf at `bound`, which has one key too many; `appended`: the last key was
    /// the one added.
    fn split(&mut self, bound: LeafBound, appended: bool) {
        // Keys arriving in order fill the last leaf completely; others split leaves in two.
        let last = self
            .leaves
            .range::<LeafBound, _>((Bound::Excluded(&bound), Bound::Unbounded))
            .next()
            .is_none();
        let Some(leaf) = self.leaves.get_mut(&bound) else { return };
        let at = if appended && last { leaf.len() - 1 } else { leaf.len() / 2 };
        let right = leaf.split_off(at);
        leaf.shrink_to_fit();
        let right_bound = LeafBound::new(right.key(0));
        self.leaves.insert(right_bound, right);
    }

    /// The index entry of `key`.
    #[must_use]
    pub fn key_index(&self, key: &[u8]) -> Option<&KeyIndex> {
        let leaf = self.leaf(key)?;
        leaf.search(key).ok().map(|i| &leaf.entries[i])
    }

    /// The change holding `key` as of revision `at`.
    #[must_use]
    pub fn get(&self, key: &[u8], at: i64) -> Option<KvRevision> {
        self.key_index(key)?.get(at)
    }

    /// Records a put of `key` at `rev` (after every recorded change); returns the key's create
    /// revision and version after it, and the change that held the key before, if it was live.
    pub fn put(&mut self, key: &[u8], rev: KvRevision) -> (i64, i64, Option<KvRevision>) {
        self.upsert(
            key,
            |ki| {
                let prev = ki.live().map(|_| ki.latest().rev());
                ki.push(rev, false);
                (ki.created, ki.version, prev)
            },
            || (KeyIndex::first_put(rev), (rev.main, 1, None)),
        )
    }

    /// Records a deletion of `key` at `rev`; the key must be live.
    pub fn tombstone(&mut self, key: &[u8], rev: KvRevision) {
        self.upsert(
            key,
            |ki| {
                assert!(ki.version != 0, "key index: tombstone of a deleted key at {rev}");
                ki.push(rev, true);
            },
            || panic!("key index: tombstone of an unknown key at {rev}"),
        );
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
        self.upsert(
            key,
            |ki| {
                ki.push(rev, tombstone);
                if !tombstone {
                    // Compaction may have removed earlier changes: trust the stored record.
                    ki.created = created;
                    ki.version = version;
                }
            },
            || {
                let mut ki = KeyIndex::first_put(rev);
                if tombstone {
                    ki.created = 0;
                    ki.version = 0;
                } else {
                    ki.created = created;
                    ki.version = version;
                }
                (ki, ())
            },
        );
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
        let Some((lower, upper)) = span.bounds() else { return };
        let first = match lower {
            Bound::Included(k) | Bound::Excluded(k) => leaf_of(&self.leaves, k).map(|(b, _)| b),
            Bound::Unbounded => None,
        };
        let from = first.map_or(Bound::Unbounded, Bound::Included);
        let mut start = Some(lower);
        for leaf in self.leaves.range::<LeafBound, _>((from, Bound::Unbounded)).map(|(_, l)| l) {
            let begin = start.take().map_or(0, |lower| leaf.lower_position(lower));
            for i in begin..leaf.len() {
                let key = leaf.key(i);
                let inside = match upper {
                    Bound::Included(to) => key <= to,
                    Bound::Excluded(to) => key < to,
                    Bound::Unbounded => true,
                };
                if !inside || visit(key, &leaf.entries[i]).is_break() {
                    return;
                }
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
        let budget = max_keys.max(1);
        let from = cursor.and_then(|c| leaf_of(&self.leaves, c)).map(|(b, _)| b.clone());
        let lower = from.as_ref().map_or(Bound::Unbounded, Bound::Included);
        let mut done = 0;
        let mut resume = None;
        let mut touched: Vec<LeafBound> = Vec::new();
        let mut keep = Vec::new();
        let mut dropped = 0;
        for (bound, leaf) in self.leaves.range_mut::<LeafBound, _>((lower, Bound::Unbounded)) {
            let begin = match (touched.is_empty(), cursor) {
                (true, Some(c)) => leaf.lower_position(Bound::Included(c)),
                _ => 0,
            };
            keep.clear();
            keep.resize(leaf.len(), true);
            let mut emptied = false;
            let mut next = None;
            for (i, entry) in leaf.entries.iter_mut().enumerate().skip(begin) {
                if done == budget {
                    next = Some(i);
                    break;
                }
                done += 1;
                if entry.compact(at, removed) {
                    keep[i] = false;
                    emptied = true;
                    dropped += 1;
                }
            }
            // The resume key is read before the leaf drops anything (it is not compacted yet).
            let next = next.map(|i| Box::<[u8]>::from(leaf.key(i)));
            if emptied {
                leaf.retain(&keep);
                leaf.shrink_to_fit();
            }
            touched.push(bound.clone());
            if next.is_some() {
                resume = next;
                break;
            }
        }
        self.len -= dropped;
        self.tidy(&touched);
        resume
    }

    /// Merges the leaves `bounds` (consecutive, in order) that compaction left small into a
    /// neighbour, and drops empty ones (except the first leaf, whose bound is empty).
    fn tidy(&mut self, bounds: &[LeafBound]) {
        for bound in bounds {
            // Each round removes a leaf, so this ends.
            while let Some(leaf) = self.leaves.get(bound) {
                if leaf.len() >= LEAF_MIN_KEYS {
                    break;
                }
                if leaf.len() == 0 && !bound.key.is_empty() {
                    self.leaves.remove(bound);
                    break;
                }
                let into_previous = self
                    .leaves
                    .range::<LeafBound, _>((Bound::Unbounded, Bound::Excluded(bound)))
                    .next_back()
                    .filter(|(_, p)| p.len() + leaf.len() <= LEAF_MAX_KEYS)
                    .map(|(b, _)| b.clone());
                if let Some(previous) = into_previous {
                    if let Some(leaf) = self.leaves.remove(bound) {
                        if let Some(p) = self.leaves.get_mut(&previous) {
                            p.append(leaf);
                        }
                    }
                    break;
                }
                let next = self
                    .leaves
                    .range::<LeafBound, _>((Bound::Excluded(bound), Bound::Unbounded))
                    .next()
                    .filter(|(_, n)| n.len() + leaf.len() <= LEAF_MAX_KEYS)
                    .map(|(b, _)| b.clone());
                let Some(successor) = next.and_then(|next| self.leaves.remove(&next)) else {
                    break;
                };
                if let Some(leaf) = self.leaves.get_mut(bound) {
                    leaf.append(successor);
                }
            }
        }
        if self.len == 0 {
            self.leaves.clear();
        }
    }

    /// Every entry, in key order (tests).
    #[cfg(test)]
    fn entries(&self) -> impl Iterator<Item = (&[u8], &KeyIndex)> {
        self.leaves.values().flat_map(|l| (0..l.len()).map(move |i| (l.key(i), &l.entries[i])))
    }
}

#[cfg(test)]
mod tests;
