//! oxcd-runtime-mio: drives the core with sockets, TLS, timers and storage.
