//! oxcd-proto: etcd's v3 wire messages and the codecs around them. Bytes in, values out; no IO.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;
