//! Handles to the member's storage, as the key-value modules read and write it.
//!
//! The Node owns the [`Backend`] (what is durable) and the [`Overlay`] (what was written but not
//! yet confirmed durable); it lends both for each call. Reads see the overlay over the backend;
//! writes go to the overlay, and the Node hands them to the runtime with `Overlay::take_batch`.

use crate::backend::{Backend, Overlay, Table, Visit};
use alloc::vec::Vec;

/// Read access: the backend with the pending writes over it.
#[derive(Clone, Copy)]
pub struct StorageRef<'a> {
    /// Durable storage.
    pub backend: &'a dyn Backend,
    /// Writes not yet confirmed durable.
    pub overlay: &'a Overlay,
}

/// Read and write access.
pub struct StorageMut<'a> {
    /// Durable storage.
    pub backend: &'a dyn Backend,
    /// Where writes go.
    pub overlay: &'a mut Overlay,
}

impl<'a> StorageRef<'a> {
    /// Both handles.
    #[must_use]
    pub fn new(backend: &'a dyn Backend, overlay: &'a Overlay) -> Self {
        StorageRef { backend, overlay }
    }

    /// The value of `key` in `table`.
    #[must_use]
    pub fn get(&self, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        self.overlay.get(self.backend, table, key)
    }

    /// Visits `[from, to)` of `table` in key order until `visit` breaks.
    pub fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, visit: &mut Visit<'_>) {
        self.overlay.scan(self.backend, table, from, to, visit);
    }
}

impl<'a> StorageMut<'a> {
    /// Both handles.
    #[must_use]
    pub fn new(backend: &'a dyn Backend, overlay: &'a mut Overlay) -> Self {
        StorageMut { backend, overlay }
    }

    /// Read access to the same storage.
    #[must_use]
    pub fn as_ref(&self) -> StorageRef<'_> {
        StorageRef { backend: self.backend, overlay: self.overlay }
    }

    /// Sets `key` in `table`.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.put(table, key, value);
    }

    /// Removes `key` from `table`.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.overlay.delete(table, key);
    }
}
