//! oxcd-tests: the deterministic simulator and the project-level tests.

pub mod e2e;
pub mod sim;
