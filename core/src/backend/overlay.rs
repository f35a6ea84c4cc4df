//! Writes the core has made but storage has not yet confirmed, layered over the durable backend.
//!
//! The state machine reads and writes through an [`Overlay`]: reads see its own pending writes
//! first, then the backend. [`Overlay::take_batch`] hands the pending writes to the runtime as a
//! [`WriteBatch`] (tagged with a sequence number); [`Overlay::persisted`] drops them from memory
//! once the runtime confirms that batch (and every earlier one) is durable. A key written again
//! after its batch was taken stays in memory until its newer batch is confirmed.

use super::{Backend, Table, WriteBatch, WriteOp};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::ops::{Bound, ControlFlow};

#[derive(Debug)]
struct Pending {
    /// `None`: deleted.
    value: Option<Vec<u8>>,
    /// The batch that carries this value to storage, once taken.
    taken_in: Option<u64>,
}

/// Pending writes of one table, by key (looked up by borrowed slices: no key copies).
type TableWrites = BTreeMap<Vec<u8>, Pending>;

/// Pending writes over a [`Backend`].
#[derive(Debug, Default)]
pub struct Overlay {
    /// One map per table, in [`Table::ALL`] order.
    pending: [TableWrites; Table::ALL.len()],
    untaken: WriteBatch,
    /// Sequence numbers of batches taken and not yet confirmed, oldest first.
    taken: VecDeque<u64>,
}

/// The position of `table` in [`Table::ALL`].
fn slot(table: Table) -> usize {
    match table {
        Table::RaftLog => 0,
        Table::RaftState => 1,
        Table::Kv => 2,
        Table::Lease => 3,
        Table::Auth => 4,
        Table::Members => 5,
        Table::Meta => 6,
        Table::SnapshotStaging => 7,
    }
}

impl Overlay {
    /// No pending writes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing is waiting to be taken.
    #[must_use]
    pub fn has_untaken(&self) -> bool {
        !self.untaken.is_empty()
    }

    /// Bytes held in memory for writes not yet confirmed durable.
    #[must_use]
    pub fn pending_bytes(&self) -> usize {
        self.pending
            .iter()
            .flat_map(|writes| writes.iter())
            .map(|(k, p)| k.len() + p.value.as_ref().map_or(0, Vec::len))
            .sum()
    }

    /// Sets `key` in `table`.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.untaken.put(table, key.clone(), value.clone());
        self.pending[slot(table)].insert(key, Pending { value: Some(value), taken_in: None });
    }

    /// Removes `key` from `table`.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.untaken.delete(table, key.clone());
        self.pending[slot(table)].insert(key, Pending { value: None, taken_in: None });
    }

    /// The value of `key`: the pending write if any, else the backend's.
    #[must_use]
    pub fn get(&self, backend: &dyn Backend, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        match self.pending[slot(table)].get(key) {
            Some(pending) => pending.value.clone(),
            None => backend.get(table, key),
        }
    }

    /// Visits `[from, to)` of `table` in key order, pending writes merged over the backend.
    pub fn scan(
        &self,
        backend: &dyn Backend,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        visit: &mut super::Visit<'_>,
    ) {
        if to.is_some_and(|to| to <= from) {
            return;
        }
        let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
        let mut pending =
            self.pending[slot(table)].range::<[u8], _>((Bound::Included(from), upper)).peekable();
        let mut stopped = false;
        backend.scan(table, from, to, &mut |key, value| {
            // Pending keys that sort before this backend key come first.
            while let Some((pkey, p)) = pending.peek() {
                if pkey.as_slice() > key {
                    break;
                }
                let same = pkey.as_slice() == key;
                if let Some(v) = &p.value {
                    if visit(pkey, v).is_break() {
                        stopped = true;
                        return ControlFlow::Break(());
                    }
                }
                pending.next();
                if same {
                    return ControlFlow::Continue(());
                }
            }
            if visit(key, value).is_break() {
                stopped = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if stopped {
            return;
        }
        for (pkey, p) in pending {
            if let Some(v) = &p.value {
                if visit(pkey, v).is_break() {
                    return;
                }
            }
        }
    }

    /// Hands every write made since the last call to storage as one batch tagged `seq`
    /// (increasing from call to call). The writes stay readable until [`Overlay::persisted`].
    pub fn take_batch(&mut self, seq: u64) -> WriteBatch {
        let batch = core::mem::take(&mut self.untaken);
        for op in &batch.ops {
            let (table, key) = match op {
                WriteOp::Put { table, key, .. } | WriteOp::Delete { table, key } => (*table, key),
                _ => continue,
            };
            if let Some(p) = self.pending[slot(table)].get_mut(key.as_slice()) {
                p.taken_in = Some(seq);
            }
        }
        self.taken.push_back(seq);
        batch
    }

    /// Storage confirmed every batch up to and including `seq`: forget those writes unless a
    /// later write to the same key is still pending.
    pub fn persisted(&mut self, seq: u64) {
        let mut confirmed = false;
        while self.taken.front().is_some_and(|s| *s <= seq) {
            self.taken.pop_front();
            confirmed = true;
        }
        if !confirmed {
            return;
        }
        // Every write was taken in some batch or is still untaken (`None`): one pass over the
        // pending writes drops the confirmed ones, in key order, without copying keys.
        for writes in &mut self.pending {
            writes.retain(|_, p| p.taken_in.is_none_or(|s| s > seq));
        }
    }

    /// Forgets every pending write (after a snapshot replaced the state wholesale).
    pub fn clear(&mut self) {
        *self = Overlay::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemBackend;
    use alloc::string::String;
    use alloc::vec;

    fn scan_all(overlay: &Overlay, backend: &MemBackend, table: Table) -> Vec<(String, String)> {
        let mut out = Vec::new();
        overlay.scan(backend, table, b"", None, &mut |k, v| {
            out.push((
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ));
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn reads_see_pending_writes_over_the_backend() {
        let backend = MemBackend::new();
        let mut durable = WriteBatch::default();
        durable.put(Table::Kv, b"a".to_vec(), b"1".to_vec());
        durable.put(Table::Kv, b"c".to_vec(), b"3".to_vec());
        durable.put(Table::Lease, b"x".to_vec(), b"lease".to_vec());
        backend.apply(&durable);

        let mut overlay = Overlay::new();
        overlay.put(Table::Kv, b"b".to_vec(), b"2".to_vec());
        overlay.delete(Table::Kv, b"c".to_vec());
        overlay.put(Table::Kv, b"d".to_vec(), b"4".to_vec());
        overlay.put(Table::Members, b"m".to_vec(), b"member".to_vec());

        assert_eq!(overlay.get(&backend, Table::Kv, b"c"), None);
        assert_eq!(overlay.get(&backend, Table::Kv, b"a"), Some(b"1".to_vec()));
        let all = scan_all(&overlay, &backend, Table::Kv);
        assert_eq!(
            all,
            vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("d".into(), "4".into())]
        );
        assert_eq!(scan_all(&overlay, &backend, Table::Lease), vec![("x".into(), "lease".into())]);
    }

    #[test]
    fn scan_stops_when_the_visitor_breaks() {
        let backend = MemBackend::new();
        let mut overlay = Overlay::new();
        for k in [b"a", b"b", b"c"] {
            overlay.put(Table::Kv, k.to_vec(), b"v".to_vec());
        }
        let mut seen = 0;
        overlay.scan(&backend, Table::Kv, b"", None, &mut |_, _| {
            seen += 1;
            if seen == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(seen, 2);
    }

    #[test]
    fn confirmed_batches_leave_memory_but_newer_writes_stay() {
        let backend = MemBackend::new();
        let mut overlay = Overlay::new();
        overlay.put(Table::Kv, b"k".to_vec(), b"1".to_vec());
        overlay.put(Table::Kv, b"j".to_vec(), b"1".to_vec());
        let first = overlay.take_batch(1);
        assert_eq!(first.ops.len(), 2);
        overlay.put(Table::Kv, b"k".to_vec(), b"2".to_vec());
        backend.apply(&first);
        overlay.persisted(1);
        // "k" was rewritten after batch 1 was taken: the newer value must still be visible.
        assert_eq!(overlay.get(&backend, Table::Kv, b"k"), Some(b"2".to_vec()));
        assert_eq!(overlay.pending.iter().map(BTreeMap::len).sum::<usize>(), 1);
        let second = overlay.take_batch(2);
        backend.apply(&second);
        overlay.persisted(2);
        assert!(overlay.pending.iter().all(BTreeMap::is_empty));
        assert_eq!(overlay.get(&backend, Table::Kv, b"k"), Some(b"2".to_vec()));
    }

    #[test]
    fn confirming_one_batch_keeps_the_writes_of_later_batches() {
        let backend = MemBackend::new();
        let mut overlay = Overlay::new();
        overlay.put(Table::Kv, b"a".to_vec(), b"1".to_vec());
        overlay.put(Table::Meta, b"m".to_vec(), b"1".to_vec());
        let first = overlay.take_batch(1);
        overlay.put(Table::Kv, b"b".to_vec(), b"2".to_vec());
        overlay.delete(Table::Meta, b"m".to_vec());
        let second = overlay.take_batch(2);
        overlay.put(Table::Kv, b"c".to_vec(), b"3".to_vec());
        backend.apply(&first);
        overlay.persisted(1);
        // Batch 2 (not confirmed) and the untaken write stay readable; "m" stays deleted.
        assert_eq!(overlay.pending.iter().map(BTreeMap::len).sum::<usize>(), 3);
        assert_eq!(overlay.get(&backend, Table::Meta, b"m"), None);
        let all = scan_all(&overlay, &backend, Table::Kv);
        assert_eq!(
            all,
            vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("c".into(), "3".into())]
        );
        // A repeated or older confirmation changes nothing.
        overlay.persisted(1);
        assert_eq!(overlay.pending.iter().map(BTreeMap::len).sum::<usize>(), 3);
        backend.apply(&second);
        overlay.persisted(2);
        assert_eq!(overlay.pending.iter().map(BTreeMap::len).sum::<usize>(), 1);
        assert!(overlay.has_untaken());
        assert_eq!(overlay.get(&backend, Table::Meta, b"m"), None);
    }
}
