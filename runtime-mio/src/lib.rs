//! oxcd-runtime-mio: drives the core with sockets, TLS, timers and storage.

pub mod dns;
pub mod peer;
pub mod tls;
pub mod transport;
