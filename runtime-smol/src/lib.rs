//! oxcd-runtime-smol: drives the core with sockets, TLS, timers and storage.
