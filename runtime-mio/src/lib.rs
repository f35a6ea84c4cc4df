//! oxcd-runtime-mio: drives the core with sockets, TLS, timers and storage.

pub mod api;
pub mod dns;
pub mod driver;
pub mod peer;
pub mod tls;
pub mod transport;
