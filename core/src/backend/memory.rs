//! An in-memory backend: the tests' and the simulator's "disk", and a store for `no_std` users.

use super::{Backend, BackendWriter, Table, WriteBatch, WriteOp};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::convert::Infallible;
use core::ops::Bound;

type Records = BTreeMap<Vec<u8>, Vec<u8>>;

/// Ordered byte tables in memory. Clones share the same tables, so a simulator can keep one
/// handle as the disk it writes and give another to the node that reads it.
#[derive(Clone, Debug, Default)]
pub struct MemBackend {
    tables: Rc<RefCell<BTreeMap<Table, Records>>>,
}

impl MemBackend {
    /// Empty storage.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An independent copy of the current contents (not shared with `self`).
    #[must_use]
    pub fn deep_copy(&self) -> Self {
        MemBackend { tables: Rc::new(RefCell::new(self.tables.borrow().clone())) }
    }

    /// Number of records in `table`.
    #[must_use]
    pub fn len(&self, table: Table) -> usize {
        self.tables.borrow().get(&table).map_or(0, BTreeMap::len)
    }

    /// Total bytes of keys and values held.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.tables
            .borrow()
            .values()
            .flat_map(|records| records.iter())
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }

    /// Applies `batch`; infallible, so callers that own a `MemBackend` need no error handling.
    pub fn apply(&self, batch: &WriteBatch) {
        let mut tables = self.tables.borrow_mut();
        for op in &batch.ops {
            match op {
                WriteOp::Put { table, key, value } => {
                    tables.entry(*table).or_default().insert(key.clone(), value.clone());
                }
                WriteOp::Delete { table, key } => {
                    if let Some(records) = tables.get_mut(table) {
                        records.remove(key);
                    }
                }
                WriteOp::DeleteRange { table, from, to } => {
                    let Some(records) = tables.get_mut(table) else { continue };
                    if from.is_empty() {
                        // A prefix of the table (Raft log compaction): split, no key copies.
                        *records = match to {
                            Some(to) => records.split_off(to.as_slice()),
                            None => Records::new(),
                        };
                    } else if to.is_none() {
                        // A suffix (a conflicting log tail).
                        drop(records.split_off(from.as_slice()));
                    } else {
                        let doomed: Vec<Vec<u8>> = records
                            .range::<[u8], _>(bounds(from, to.as_deref()))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for key in doomed {
                            records.remove(&key);
                        }
                    }
                }
                WriteOp::InstallStagedSnapshot => {
                    let staged = tables.remove(&Table::SnapshotStaging).unwrap_or_default();
                    for table in Table::STATE_MACHINE {
                        tables.remove(&table);
                    }
                    for (key, value) in staged {
                        let Some((&tag, record_key)) = key.split_first() else { continue };
                        let Some(table) = Table::from_tag(tag) else { continue };
                        if Table::STATE_MACHINE.contains(&table) {
                            tables.entry(table).or_default().insert(record_key.to_vec(), value);
                        }
                    }
                }
            }
        }
    }
}

fn bounds<'a>(from: &'a [u8], to: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(from), to.map_or(Bound::Unbounded, Bound::Excluded))
}

impl Backend for MemBackend {
    fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        self.tables.borrow().get(&table).and_then(|records| records.get(key).cloned())
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut super::Visit<'_>) {
        if to.is_some_and(|to| to <= from) {
            return;
        }
        let tables = self.tables.borrow();
        let Some(records) = tables.get(&table) else { return };
        for (key, value) in records.range::<[u8], _>(bounds(from, to)) {
            if visit(key, value).is_break() {
                return;
            }
        }
    }

    fn view(&self) -> Box<dyn Backend> {
        Box::new(self.deep_copy())
    }
}

impl BackendWriter for MemBackend {
    type Error = Infallible;

    fn write(&mut self, batch: &WriteBatch) -> Result<(), Infallible> {
        self.apply(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_backend_conformance_suite() {
        crate::testing::backend_conformance::run(MemBackend::new);
    }

    #[test]
    fn range_deletes_from_the_start_keep_the_rest() {
        let b = MemBackend::new();
        let mut batch = WriteBatch::default();
        for i in 0u8..10 {
            batch.put(Table::RaftLog, alloc::vec![i], alloc::vec![i]);
            batch.put(Table::Meta, alloc::vec![i], alloc::vec![i]);
        }
        b.apply(&batch);
        let mut batch = WriteBatch::default();
        batch.delete_range(Table::RaftLog, Vec::new(), Some(alloc::vec![4]));
        batch.delete_range(Table::Meta, Vec::new(), Some(Vec::new()));
        b.apply(&batch);
        assert_eq!(b.len(Table::RaftLog), 6);
        assert_eq!(b.get(Table::RaftLog, &[3]), None);
        assert_eq!(b.get(Table::RaftLog, &[4]), Some(alloc::vec![4]));
        assert_eq!(b.len(Table::Meta), 10, "an empty range deletes nothing");
        let mut batch = WriteBatch::default();
        batch.delete_range(Table::Meta, Vec::new(), None);
        b.apply(&batch);
        assert_eq!(b.len(Table::Meta), 0);
        assert_eq!(b.len(Table::RaftLog), 6);
    }
}
