//! Read transactions: counted by a gate (so the map can be resized while none is open) and the
//! frozen [`LmdbView`] that Raft snapshots stream from while writes go on.

use crate::store::{Store, Visitor};

use heed::{RoTxn, WithoutTls};
use oxcd_core::backend::{Backend, Table};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Counts the read transactions of one environment; closing it makes new readers wait and lets
/// the closer wait (bounded) until the open ones end.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    readers: usize,
    closed: bool,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self) {
        let mut state = self.lock();
        while state.closed {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.readers += 1;
    }

    fn leave(&self) {
        let mut state = self.lock();
        state.readers -= 1;
        if state.readers == 0 {
            self.changed.notify_all();
        }
    }

    /// Closes the gate and waits up to `wait_max` for the readers inside to leave. On time out
    /// the gate opens again and `false` is returned.
    pub fn close(&self, wait_max: Duration) -> bool {
        let deadline = Instant::now() + wait_max;
        let mut state = self.lock();
        state.closed = true;
        while state.readers > 0 {
            let now = Instant::now();
            if now >= deadline {
                state.closed = false;
                self.changed.notify_all();
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Lets readers in again.
    pub fn open(&self) {
        self.lock().closed = false;
        self.changed.notify_all();
    }

    pub fn is_closed_and_idle(&self) -> bool {
        let state = self.lock();
        state.closed && state.readers == 0
    }
}

/// A read transaction that owns its environment handle and is counted by the gate.
pub(crate) struct ReadTxn {
    /// Always `Some` until dropped; taken first in `drop` so the transaction ends before the
    /// gate hears that it left.
    txn: Option<RoTxn<'static, WithoutTls>>,
    pub store: Arc<Store>,
}

impl ReadTxn {
    pub fn begin(store: Arc<Store>) -> Result<ReadTxn, heed::Error> {
        store.gate.enter();
        match store.env.clone().static_read_txn() {
            Ok(txn) => Ok(ReadTxn { txn: Some(txn), store }),
            Err(e) => {
                store.gate.leave();
                Err(e)
            }
        }
    }

    pub fn txn(&self) -> &RoTxn<'static> {
        self.txn.as_ref().expect("a live read transaction")
    }

    pub fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        self.store
            .get(self.txn(), table, key)
            .unwrap_or_else(|e| read_failed(&self.store, &e))
            .map(<[u8]>::to_vec)
    }

    pub fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visitor<'_>) {
        self.store
            .scan(self.txn(), table, from, to, visit)
            .unwrap_or_else(|e| read_failed(&self.store, &e));
    }
}

impl Drop for ReadTxn {
    fn drop(&mut self) {
        drop(self.txn.take());
        self.store.gate.leave();
    }
}

/// The [`Backend`] trait has no error channel: a read LMDB cannot serve (reader table full,
/// environment in a fatal state) means the store is unusable, so the member stops loudly.
pub(crate) fn read_failed(store: &Store, e: &heed::Error) -> ! {
    panic!("oxcd-storage-lmdb: read from {} failed: {e}", store.dir.display())
}

/// A consistent, frozen view of the store at the moment it was taken: later writes do not
/// change it, and it never blocks them. Cheap to clone (clones share one LMDB read
/// transaction); used on the thread that took it (LMDB forbids sharing a transaction between
/// threads at once). Hold it only as long as needed: LMDB cannot reuse pages freed after a view
/// was taken while it lives, and a map resize waits for views to end.
#[derive(Clone)]
pub struct LmdbView {
    txn: Rc<ReadTxn>,
}

impl LmdbView {
    pub(crate) fn new(txn: ReadTxn) -> LmdbView {
        LmdbView { txn: Rc::new(txn) }
    }
}

impl std::fmt::Debug for LmdbView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbView").field("dir", &self.txn.store.dir).finish()
    }
}

impl Backend for LmdbView {
    fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        self.txn.get(table, key)
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visitor<'_>) {
        self.txn.scan(table, from, to, visit);
    }

    fn view(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}
