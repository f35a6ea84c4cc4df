//! Free loopback ports.
//!
//! The kernel picks a free ephemeral port (bind to port 0), and a process-wide set makes sure
//! this process never hands the same port out twice. Another process can still take the port
//! between our probe and the server's bind; [`crate::e2e::Cluster::start`] retries with fresh
//! ports when a member reports the address in use.

use std::collections::BTreeSet;
use std::net::{IpAddr, TcpListener};
use std::sync::Mutex;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// How many kernel picks to try before giving up.
const ATTEMPTS_MAX: usize = 64;

/// A TCP port that is free on `ip` right now and was not handed out before by this process.
///
/// # Errors
/// When `ip` cannot be bound (not a local address) or no fresh port turns up.
pub fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    for _ in 0..ATTEMPTS_MAX {
        let listener = TcpListener::bind((ip, 0))?;
        let port = listener.local_addr()?.port();
        drop(listener);
        if HANDED_OUT.lock().expect("port set").insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no fresh free port found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_not_handed_out_twice() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ports: Vec<u16> = (0..20).map(|_| free_port(ip).unwrap()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports.iter().all(|&p| p != 0));
    }
}
