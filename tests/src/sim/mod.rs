//! A deterministic simulator of whole oxcd clusters (work in progress).

pub mod check;
pub mod disk;
pub mod history;
pub mod net;
pub mod queue;
