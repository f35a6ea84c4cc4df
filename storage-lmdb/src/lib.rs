//! oxcd-storage-lmdb: LMDB storage behind the core's `Backend` and `BackendWriter` traits.

#![forbid(unsafe_code)]
