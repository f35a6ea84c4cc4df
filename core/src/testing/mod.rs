//! Helpers for testing the core and its storage implementations without IO.
//!
//! [`backend_conformance::run`] is the suite every [`crate::backend::Backend`] implementation must
//! pass (the in-memory one here, LMDB in `oxcd-storage-lmdb`).

pub mod backend_conformance;
