//! Invariant checkers, one per file.

pub mod linearizability;
