//! The workloads: closed loops of requests over shared connections (put, range, txn-put,
//! lease-keepalive) and an open-loop watch latency test.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, LeaseClient,
    LeaseKeepAliveStream, LeaseKeeper, TlsOptions, Txn, TxnOp,
};

use crate::report::Report;

/// Where the load goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// Client URLs; connection i goes to `endpoints[i % len]`.
    pub endpoints: Vec<String>,
    /// CA to trust and optional client certificate/key.
    pub tls: Option<(PathBuf, Option<(PathBuf, PathBuf)>)>,
}

/// How much load.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Concurrent clients (tasks).
    pub clients: usize,
    /// Connections they share.
    pub conns: usize,
    /// Requests in all.
    pub total: u64,
}

/// A workload.
#[derive(Clone, Debug)]
pub enum Workload {
    /// Puts of `val_size` bytes to keys of `key_size` bytes among `key_space` keys.
    Put { key_size: usize, val_size: usize, key_space: u64, sequential: bool },
    /// Gets of one key (written once before), linearizable or serializable.
    Range { key: String, val_size: usize, serializable: bool },
    /// Transactions of `ops` puts each.
    TxnPut { key_size: usize, val_size: usize, key_space: u64, ops: usize },
    /// Watchers on one key; puts at `put_rate` per second; latency from put to event.
    WatchLatency { watchers: usize, put_total: u64, put_rate: u64, val_size: usize },
    /// Keep-alive round trips, one lease per client.
    LeaseKeepalive,
    /// Authenticate calls (user and password, bcrypt on the server), auth enabled first.
    Authenticate,
}

impl Workload {
    /// The load's size, for report headers.
    pub fn describe(&self, shape: Shape) -> String {
        match self {
            Self::WatchLatency { watchers, put_total, put_rate, .. } => format!(
                "{watchers} watchers, {put_total} puts at {put_rate}/s, {} conns (req/s counts events)",
                shape.conns
            ),
            _ => format!("{} clients, {} conns, {} requests", shape.clients, shape.conns, shape.total),
        }
    }

    /// The workload's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Put { .. } => "put",
            Self::Range { serializable: false, .. } => "range (linearizable)",
            Self::Range { serializable: true, .. } => "range (serializable)",
            Self::TxnPut { .. } => "txn-put",
            Self::WatchLatency { .. } => "watch-latency",
            Self::LeaseKeepalive => "lease-keepalive",
            Self::Authenticate => "authenticate",
        }
    }
}

fn connect_options(target: &Target) -> Result<ConnectOptions, String> {
    let mut options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(5));
    if let Some((ca, cert)) = &target.tls {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let Some((cert, key)) = cert {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// Opens `conns` connections, spread over the endpoints.
///
/// # Errors
/// A connection failure.
pub async fn connect(target: &Target, conns: usize) -> Result<Vec<Client>, String> {
    let options = connect_options(target)?;
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns.max(1) {
        let endpoint = &target.endpoints[i % target.endpoints.len()];
        let client = Client::connect([endpoint.as_str()], Some(options.clone()))
            .await
            .map_err(|e| format!("connect {endpoint}: {e}"))?;
        clients.push(client);
    }
    Ok(clients)
}

/// A key of `size` bytes encoding `n` (big-endian, zero-padded or truncated to the low bytes).
pub fn make_key(n: u64, size: usize) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut key = vec![0u8; size.saturating_sub(8)];
    key.extend_from_slice(&bytes[8usize.saturating_sub(size)..]);
    key
}

/// xorshift64*: a cheap per-task key picker (not for anything but spreading keys).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// One client's request loop body.
trait Job: Send + 'static {
    fn request(&mut self, index: u64) -> impl Future<Output = Result<(), String>> + Send + '_;
}

struct PutJob {
    kv: KvClient,
    key_size: usize,
    value: Vec<u8>,
    key_space: u64,
    sequential: bool,
    rng: u64,
    txn_ops: Option<usize>,
}

impl PutJob {
    fn key(&mut self, index: u64) -> Vec<u8> {
        let n = if self.sequential { index } else { next_random(&mut self.rng) };
        make_key(n % self.key_space.max(1), self.key_size)
    }
}

impl Job for PutJob {
    async fn request(&mut self, index: u64) -> Result<(), String> {
        match self.txn_ops {
            None => {
                let key = self.key(index);
                self.kv
                    .put(key, self.value.clone(), None)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Some(ops) => {
                // Distinct keys: etcd refuses a txn that writes one key twice.
                let puts: Vec<TxnOp> = (0..ops as u64)
                    .map(|j| {
                        TxnOp::put(
                            make_key(
                                (index * ops as u64 + j) % self.key_space.max(ops as u64),
                                self.key_size,
                            ),
                            self.value.clone(),
                            None,
                        )
                    })
                    .collect();
                self.kv.txn(Txn::new().and_then(puts)).await.map(drop).map_err(|e| e.to_string())
            }
        }
    }
}

struct RangeJob {
    kv: KvClient,
    key: String,
    serializable: bool,
}

impl Job for RangeJob {
    async fn request(&mut self, _index: u64) -> Result<(), String> {
        let options = self.serializable.then(|| GetOptions::new().with_serializable());
        self.kv.get(self.key.as_str(), options).await.map(drop).map_err(|e| e.to_string())
    }
}

struct AuthJob {
    auth: etcd_client::AuthClient,
}

impl Job for AuthJob {
    async fn request(&mut self, _index: u64) -> Result<(), String> {
        let r = self.auth.authenticate(AUTH_USER.to_owned(), AUTH_PASSWORD.to_owned()).await;
        r.map_err(|e| e.to_string()).and_then(|r| {
            if r.token().is_empty() {
                Err("no token".to_owned())
            } else {
                Ok(())
            }
        })
    }
}

/// The user the `authenticate` workload creates (root, so auth can be enabled).
const AUTH_USER: &str = "root";
const AUTH_PASSWORD: &str = "oxcd-bench";

struct KeepaliveJob {
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
}

impl Job for KeepaliveJob {
    async fn request(&mut self, _index: u64) -> Result<(), String> {
        self.keeper.keep_alive().await.map_err(|e| e.to_string())?;
        match self.stream.message().await {
            Ok(Some(resp)) if resp.ttl() > 0 => Ok(()),
            Ok(Some(_)) => Err("lease expired".to_owned()),
            Ok(None) => Err("keep-alive stream ended".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}

struct Partial {
    latencies: Vec<Duration>,
    errors: u64,
    samples: Vec<String>,
}

/// Runs `jobs` concurrently until `total` requests have been issued.
async fn closed_loop<J: Job>(workload: &str, jobs: Vec<J>, total: u64) -> Result<Report, String> {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for mut job in jobs {
        let counter = Arc::clone(&counter);
        handles.push(tokio::spawn(async move {
            let mut partial = Partial { latencies: Vec::new(), errors: 0, samples: Vec::new() };
            loop {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    break;
                }
                let begin = Instant::now();
                match job.request(index).await {
                    Ok(()) => partial.latencies.push(begin.elapsed()),
                    Err(e) => {
                        partial.errors += 1;
                        if partial.samples.len() < 3 {
                            partial.samples.push(e);
                        }
                    }
                }
            }
            partial
        }));
    }
    let mut report = Report {
        workload: workload.to_owned(),
        latencies: Vec::with_capacity(total as usize),
        errors: 0,
        error_samples: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for handle in handles {
        let partial = handle.await.map_err(|e| format!("client task: {e}"))?;
        report.latencies.extend(partial.latencies);
        report.errors += partial.errors;
        for sample in partial.samples {
            if report.error_samples.len() < 5 {
                report.error_samples.push(sample);
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Runs `workload` against `target`.
///
/// # Errors
/// Connection or setup failures (request failures are counted in the report).
pub async fn run(target: &Target, shape: Shape, workload: &Workload) -> Result<Report, String> {
    let conns = connect(target, shape.conns).await?;
    let client_for = |i: usize| conns[i % conns.len()].clone();
    let name = workload.name();
    match workload {
        Workload::Put { key_size, val_size, key_space, sequential } => {
            let jobs = (0..shape.clients)
                .map(|i| PutJob {
                    kv: client_for(i).kv_client(),
                    key_size: *key_size,
                    value: vec![b'v'; *val_size],
                    key_space: *key_space,
                    sequential: *sequential,
                    rng: i as u64 + 1,
                    txn_ops: None,
                })
                .collect();
            closed_loop(name, jobs, shape.total).await
        }
        Workload::TxnPut { key_size, val_size, key_space, ops } => {
            let jobs = (0..shape.clients)
                .map(|i| PutJob {
                    kv: client_for(i).kv_client(),
                    key_size: *key_size,
                    value: vec![b'v'; *val_size],
                    key_space: *key_space,
                    sequential: true,
                    rng: i as u64 + 1,
                    txn_ops: Some((*ops).max(1)),
                })
                .collect();
            closed_loop(name, jobs, shape.total).await
        }
        Workload::Range { key, val_size, serializable } => {
            client_for(0)
                .kv_client()
                .put(key.as_str(), vec![b'v'; *val_size], None)
                .await
                .map_err(|e| format!("writing {key}: {e}"))?;
            let jobs = (0..shape.clients)
                .map(|i| RangeJob {
                    kv: client_for(i).kv_client(),
                    key: key.clone(),
                    serializable: *serializable,
                })
                .collect();
            closed_loop(name, jobs, shape.total).await
        }
        Workload::LeaseKeepalive => {
            let mut jobs = Vec::new();
            for i in 0..shape.clients {
                let mut lease: LeaseClient = client_for(i).lease_client();
                let id = lease.grant(60, None).await.map_err(|e| format!("lease grant: {e}"))?.id();
                let (keeper, stream) =
                    lease.keep_alive(id).await.map_err(|e| format!("keep-alive: {e}"))?;
                jobs.push(KeepaliveJob { keeper, stream });
            }
            closed_loop(name, jobs, shape.total).await
        }
        Workload::WatchLatency { watchers, put_total, put_rate, val_size } => {
            watch_latency(&conns, *watchers, *put_total, *put_rate, *val_size).await
        }
        Workload::Authenticate => {
            let mut auth = client_for(0).auth_client();
            let setup = async {
                auth.user_add(AUTH_USER, AUTH_PASSWORD, None).await?;
                auth.user_grant_role(AUTH_USER, "root").await?;
                auth.auth_enable().await
            };
            setup.await.map_err(|e| format!("enabling auth: {e}"))?;
            let jobs =
                (0..shape.clients).map(|i| AuthJob { auth: client_for(i).auth_client() }).collect();
            closed_loop(name, jobs, shape.total).await
        }
    }
}

/// Bound of the whole watch-latency run after the last put.
const WATCH_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

async fn watch_latency(
    conns: &[Client],
    watchers: usize,
    put_total: u64,
    put_rate: u64,
    val_size: usize,
) -> Result<Report, String> {
    let key = "oxcd-bench/watch-latency";
    let sent: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; put_total as usize]));
    let mut handles = Vec::new();
    for w in 0..watchers.max(1) {
        let mut watch_client = conns[w % conns.len()].watch_client();
        let mut stream = watch_client.watch(key, None).await.map_err(|e| format!("watch: {e}"))?;
        // The first response confirms the watch exists before any put is made.
        stream.message().await.map_err(|e| format!("watch: {e}"))?;
        let sent = Arc::clone(&sent);
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let deadline = tokio::time::Instant::now()
                + WATCH_DRAIN_TIMEOUT
                + Duration::from_secs(put_total / put_rate.max(1));
            while (latencies.len() as u64) < put_total {
                let Ok(Ok(Some(resp))) = tokio::time::timeout_at(deadline, stream.message()).await
                else {
                    break;
                };
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let digits: String =
                        kv.value_str().unwrap_or("").trim_start_matches('0').to_owned();
                    let index: usize =
                        if digits.is_empty() { 0 } else { digits.parse().unwrap_or(usize::MAX) };
                    let start = sent.lock().expect("sent times").get(index).copied().flatten();
                    if let Some(start) = start {
                        latencies.push(start.elapsed());
                    }
                }
            }
            latencies
        }));
    }
    let mut kv = conns[0].kv_client();
    let interval = Duration::from_secs_f64(1.0 / put_rate.max(1) as f64);
    let start = Instant::now();
    let mut errors = 0;
    let mut samples = Vec::new();
    for i in 0..put_total {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + interval * i as u32)).await;
        let value = format!("{:0width$}", i, width = val_size.max(20));
        sent.lock().expect("sent times")[i as usize] = Some(Instant::now());
        if let Err(e) = kv.put(key, value, None).await {
            errors += 1;
            if samples.len() < 3 {
                samples.push(e.to_string());
            }
        }
    }
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.map_err(|e| format!("watcher task: {e}"))?);
    }
    let missing = put_total * watchers.max(1) as u64 - latencies.len() as u64;
    if missing > 0 {
        samples.push(format!("{missing} events never arrived"));
    }
    Ok(Report {
        workload: "watch-latency".to_owned(),
        latencies,
        errors: errors + missing,
        error_samples: samples,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_asked_size() {
        assert_eq!(make_key(0x0102, 8), vec![0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(make_key(0x0102, 2), vec![1, 2]);
        assert_eq!(make_key(1, 10), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut rng = 1;
        let a = next_random(&mut rng);
        assert_ne!(a, next_random(&mut rng));
    }
}
