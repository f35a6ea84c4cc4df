//! The key index's unit tests.

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
    assert!(t.key_index(b"b").is_none(), "a key whose last change is a compacted tombstone goes");
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
    assert!(t.entries().all(|(_, ki)| ki.changes() == 1 && ki.more.is_none()));
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

/// The reference: every key's entry in an ordered map, compacted the way the index was
/// before it kept keys in leaves.
#[derive(Default)]
struct Model(BTreeMap<Vec<u8>, KeyIndex>);

impl Model {
    fn put(&mut self, key: &[u8], rev: KvRevision) -> (i64, i64, Option<KvRevision>) {
        match self.0.get_mut(key) {
            Some(ki) => {
                let prev = ki.live().map(|_| ki.latest().rev());
                ki.push(rev, false);
                (ki.created, ki.version, prev)
            }
            None => {
                self.0.insert(key.to_vec(), KeyIndex::first_put(rev));
                (rev.main, 1, None)
            }
        }
    }

    fn compact_step(
        &mut self,
        cursor: Option<&[u8]>,
        at: i64,
        max_keys: usize,
        removed: &mut Vec<BucketKey>,
    ) -> Option<Box<[u8]>> {
        let lower = cursor.map_or(Bound::Unbounded, Bound::Included);
        let mut emptied = Vec::new();
        let mut next = None;
        for (i, (key, ki)) in self.0.range_mut::<[u8], _>((lower, Bound::Unbounded)).enumerate() {
            if i == max_keys.max(1) {
                next = Some(Box::from(key.as_slice()));
                break;
            }
            if ki.compact(at, removed) {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.0.remove(&key);
        }
        next
    }
}

fn spans_of(t: &KeyIndexTree, span: KeySpan<'_>) -> Vec<(Vec<u8>, KeyIndex)> {
    let mut out = Vec::new();
    t.visit_entries(span, &mut |k, ki| {
        out.push((k.to_vec(), ki.clone()));
        ControlFlow::Continue(())
    });
    out
}

fn model_span(m: &Model, span: KeySpan<'_>) -> Vec<(Vec<u8>, KeyIndex)> {
    m.0.iter().filter(|(k, _)| span.contains(k)).map(|(k, ki)| (k.clone(), ki.clone())).collect()
}

#[test]
fn leaves_behave_like_one_ordered_map() {
    for seed in 0..20u64 {
        let mut rng = crate::rng::Rng::from_seed(seed);
        let mut t = KeyIndexTree::new();
        let mut m = Model::default();
        let mut main = 1;
        // Few distinct keys in some seeds (deep histories), many in others (many leaves).
        let key_space = [8, 300, 3000][(seed % 3) as usize];
        // Short keys are ordered by their inline head; long shared prefixes by the rest.
        let prefix = if seed % 2 == 0 { "k" } else { "/registry/pods/namespace-7/" };
        let key = |n: u64| alloc::format!("{prefix}{:05}", n % key_space).into_bytes();
        for step in 0..4000 {
            main += 1;
            let k = key(rng.next_u64());
            let live = m.0.get(&k).is_some_and(|ki| ki.live().is_some());
            let roll = rng.range_u64(0, 100);
            if live && roll < 20 {
                t.tombstone(&k, r(main, 0));
                m.0.get_mut(&k).unwrap().push(r(main, 0), true);
            } else if roll < 97 {
                assert_eq!(t.put(&k, r(main, 0)), m.put(&k, r(main, 0)), "seed {seed}");
            } else {
                let at = rng.range_u64(1, main as u64 + 1) as i64;
                let max_keys = rng.range_u64(0, 200) as usize;
                let (mut got, mut want) = (Vec::new(), Vec::new());
                let mut c1: Option<Box<[u8]>> = None;
                let mut c2: Option<Box<[u8]>> = None;
                for _ in 0..10_000 {
                    c1 = t.compact_step(c1.as_deref(), at, max_keys, &mut got);
                    c2 = m.compact_step(c2.as_deref(), at, max_keys, &mut want);
                    assert_eq!(c1, c2, "seed {seed} step {step}: compaction cursor");
                    if c1.is_none() {
                        break;
                    }
                }
                assert_eq!(got, want, "seed {seed} step {step}: removed records");
            }
            if step % 97 == 0 || step == 3999 {
                assert_eq!(t.len(), m.0.len(), "seed {seed} step {step}");
                let all: Vec<_> = t.entries().map(|(k, ki)| (k.to_vec(), ki.clone())).collect();
                assert_eq!(all, model_span(&m, KeySpan::From(b"")), "seed {seed} step {step}");
                let (a, b) = (key(rng.next_u64()), key(rng.next_u64()));
                for span in [
                    KeySpan::Single(&a),
                    KeySpan::From(&a),
                    KeySpan::Range(&a, &b),
                    KeySpan::Range(&b, &a),
                    KeySpan::Range(b"", &a),
                    KeySpan::From(b"\xff"),
                    KeySpan::From(b"/registry/pods/namespace-7/"),
                ] {
                    assert_eq!(spans_of(&t, span), model_span(&m, span), "seed {seed} {span:?}");
                }
                assert_eq!(t.key_index(&a), m.0.get(&a), "seed {seed}");
            }
        }
    }
}

#[test]
fn keys_in_order_fill_leaves_and_compaction_merges_them() {
    let mut t = KeyIndexTree::new();
    for i in 0..1000i64 {
        t.put(alloc::format!("k{i:04}").as_bytes(), r(i + 2, 0));
    }
    let full = t.leaves.values().filter(|l| l.len() == LEAF_MAX_KEYS).count();
    assert_eq!(full, 1000 / LEAF_MAX_KEYS, "sequential keys fill every leaf but the last");
    for i in (0..1000i64).filter(|i| i % 10 != 0) {
        t.tombstone(alloc::format!("k{i:04}").as_bytes(), r(2000 + i, 0));
    }
    let mut removed = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        cursor = t.compact_step(cursor.as_deref(), 5000, 50, &mut removed);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(t.len(), 100);
    assert_eq!(removed.len(), 900 * 2);
    let sizes: Vec<usize> = t.leaves.values().map(Leaf::len).collect();
    assert!(sizes.iter().all(|n| *n >= LEAF_MIN_KEYS), "sparse leaves merged: {sizes:?}");
    assert_eq!(t.get(b"k0990", 5000), Some(r(992, 0)));
    assert_eq!(t.count_at(KeySpan::From(b""), 5000), 100);
    for i in (0..1000i64).filter(|i| i % 10 == 0) {
        t.tombstone(alloc::format!("k{i:04}").as_bytes(), r(6000 + i, 0));
    }
    assert_eq!(t.compact_step(None, 8000, 1000, &mut removed), None);
    assert!(t.is_empty() && t.leaves.is_empty());
    t.put(b"again", r(9000, 0));
    assert_eq!(t.get(b"again", 9000), Some(r(9000, 0)));
}
