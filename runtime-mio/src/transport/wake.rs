//! Wakers for the hand-driven h2 futures.
//!
//! No executor exists: when h2 wants a connection or a stream polled again it wakes a [`TaskWaker`],
//! which records what to poll in a shared ready set and wakes the event loop through the
//! `mio::Waker` (at most once until the transport next drains the set).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use super::types::{CallId, ConnId, ListenerId};

/// What a waker asks to poll again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WakeKey {
    /// A listener with connections left to accept.
    Listener(ListenerId),
    /// The connection itself (h2's connection task: IO and frame processing).
    Conn(ConnId),
    /// One call (stream) on a connection.
    Call(ConnId, CallId),
}

/// The ready set, shared with every waker handed to h2.
pub(crate) struct WakeShared {
    ready: Mutex<Vec<WakeKey>>,
    /// True while a wake of the loop is already in flight (or the transport is draining the set):
    /// further wakes only record their key.
    loop_woken: AtomicBool,
    mio_waker: Arc<mio::Waker>,
}

impl WakeShared {
    pub(crate) fn new(mio_waker: Arc<mio::Waker>) -> Arc<Self> {
        Arc::new(Self {
            ready: Mutex::new(Vec::new()),
            loop_woken: AtomicBool::new(false),
            mio_waker,
        })
    }

    /// Records `key` and wakes the loop unless a wake is already pending.
    pub(crate) fn wake(&self, key: WakeKey) {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).push(key);
        if !self.loop_woken.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.mio_waker.wake() {
                tracing::warn!(error = %e, "transport: cannot wake the event loop");
            }
        }
    }

    /// Marks the start of a drain: wakes during it only record keys.
    pub(crate) fn begin_drain(&self) {
        self.loop_woken.store(true, Ordering::Release);
    }

    /// Takes the recorded keys, sorted and without duplicates.
    pub(crate) fn take(&self) -> Vec<WakeKey> {
        let mut keys = std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()));
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Ends a drain. If keys are still recorded (the drain stopped early to stay fair to other
    /// sources of work), the loop is woken so that it comes back for them.
    pub(crate) fn end_drain(&self) {
        let pending = !self.ready.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        if pending {
            if let Err(e) = self.mio_waker.wake() {
                tracing::warn!(error = %e, "transport: cannot wake the event loop");
            }
        } else {
            self.loop_woken.store(false, Ordering::Release);
        }
    }

    /// Builds a waker that records `key`.
    pub(crate) fn waker(self: &Arc<Self>, key: WakeKey) -> Waker {
        Waker::from(Arc::new(TaskWaker { key, shared: Arc::clone(self) }))
    }
}

struct TaskWaker {
    key: WakeKey,
    shared: Arc<WakeShared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.shared.wake(self.key);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.wake(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_record_keys_and_wake_the_loop_once() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(7)).unwrap());
        let shared = WakeShared::new(waker);
        let a = ConnId::new(1, 1);
        shared.waker(WakeKey::Conn(a)).wake_by_ref();
        shared.waker(WakeKey::Call(a, CallId(3))).wake();
        shared.waker(WakeKey::Conn(a)).wake();
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(events.iter().filter(|e| e.token() == mio::Token(7)).count(), 1);
        shared.begin_drain();
        assert_eq!(shared.take(), vec![WakeKey::Conn(a), WakeKey::Call(a, CallId(3))]);
        shared.end_drain();
        assert!(shared.take().is_empty());
    }
}
