//! DNS lookups for the peer certificate checks, done off the event loop.
//!
//! The event loop never blocks on DNS: [`DnsWorker`] owns one helper thread that runs the
//! lookups and hands each answer back through a channel, then wakes the loop with its
//! `mio::Waker`; the loop collects answers with [`DnsWorker::poll_answer`] when it handles the
//! wake-up.
//!
//! The real lookups use hickory-resolver 0.26 with the system configuration (`/etc/resolv.conf`,
//! `/etc/hosts` honoured for forward and reverse lookups). hickory is generic over its async
//! runtime; this module gives it a tiny provider on async-io (sockets, timers) with an
//! async-executor running on the helper thread, so no tokio runtime exists in the process. The
//! one cost: async-io starts its own parked fallback thread the first time its reactor is used,
//! and that thread lives as long as the process (smol-based code shares it).
//!
//! Tests point the resolver at their own name server ([`DnsConfig::Nameservers`]) or inject
//! answers without any DNS at all ([`DnsConfig::Custom`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use async_executor::Executor;
use async_io::{Async, Timer};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::{DnsTcpStream, DnsUdpSocket, RuntimeProvider, Spawn, Time};
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::Resolver;

/// One DNS question asked on behalf of a certificate check.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LookupRequest {
    /// A and AAAA records of a name (etcd's `LookupHost`).
    Forward(String),
    /// PTR records of an address (etcd's `LookupAddr`).
    Reverse(IpAddr),
}

impl fmt::Display for LookupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupRequest::Forward(name) => write!(f, "lookup {name}"),
            LookupRequest::Reverse(ip) => write!(f, "lookup PTR {ip}"),
        }
    }
}

/// The answer to a [`LookupRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupAnswer {
    /// Addresses of a forward lookup.
    Addresses(Vec<IpAddr>),
    /// Names of a reverse lookup, as the server gave them (usually with a trailing dot).
    Names(Vec<String>),
}

/// An answer or the reason there is none (no such name, timeout, no server, queue full ...).
pub type LookupResult = Result<LookupAnswer, String>;

/// A lookup in progress; runs on the helper thread's executor.
pub type LookupFuture = Pin<Box<dyn Future<Output = LookupResult> + Send>>;

/// Something that answers lookups. [`DnsConfig::System`] and [`DnsConfig::Nameservers`] use
/// hickory; tests may inject their own through [`DnsConfig::Custom`].
pub trait Lookups: Send + Sync + 'static {
    /// Starts answering `request`. Called on the helper thread.
    fn lookup(&self, request: LookupRequest) -> LookupFuture;
}

/// Where the helper thread gets its answers.
#[derive(Clone)]
pub enum DnsConfig {
    /// The operating system's configuration: `/etc/resolv.conf` and `/etc/hosts`.
    System,
    /// These UDP name servers only, `/etc/hosts` ignored: for tests with their own server.
    Nameservers(Vec<SocketAddr>),
    /// Answers from the caller's own implementation.
    Custom(Arc<dyn Lookups>),
}

impl fmt::Debug for DnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsConfig::System => f.write_str("System"),
            DnsConfig::Nameservers(servers) => f.debug_tuple("Nameservers").field(servers).finish(),
            DnsConfig::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Identifies a lookup between [`DnsWorker::request`] and [`DnsWorker::poll_answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(pub u64);

type Job = (LookupId, LookupRequest);
type Done = (LookupId, LookupRequest, LookupResult);

/// The helper thread that does DNS lookups for the event loop.
///
/// Dropping it closes its queue, cancels the lookups in progress and joins the thread.
pub struct DnsWorker {
    jobs: async_channel::Sender<Job>,
    answers: mpsc::Receiver<Done>,
    thread: Option<thread::JoinHandle<()>>,
}

impl fmt::Debug for DnsWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsWorker").field("queued", &self.jobs.len()).finish()
    }
}

/// How long one name server gets to answer one question.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

impl DnsWorker {
    /// Starts the helper thread. `wake` is called after every answer (the event loop passes a
    /// closure over its `mio::Waker`); at most `queue_max` requests wait to be started.
    ///
    /// # Errors
    /// The system configuration cannot be read, or the thread cannot be spawned.
    pub fn spawn(
        config: DnsConfig,
        wake: Arc<dyn Fn() + Send + Sync>,
        queue_max: usize,
    ) -> io::Result<DnsWorker> {
        assert!(queue_max > 0, "a DNS queue needs room for one request");
        let (jobs, job_rx) = async_channel::bounded::<Job>(queue_max);
        let (answer_tx, answers) = mpsc::channel::<Done>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<io::Result<()>>(1);
        let thread = thread::Builder::new().name("oxcd-dns".into()).spawn(move || {
            let executor = Arc::new(Executor::new());
            let lookups: Arc<dyn Lookups> = match build_lookups(config, &executor) {
                Ok(lookups) => {
                    let _ = ready_tx.send(Ok(()));
                    lookups
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let spawner = executor.clone();
            let main = async move {
                while let Ok((id, request)) = job_rx.recv().await {
                    let lookup = lookups.lookup(request.clone());
                    let answer_tx = answer_tx.clone();
                    let wake = wake.clone();
                    spawner
                        .spawn(async move {
                            let result = lookup.await;
                            if answer_tx.send((id, request, result)).is_ok() {
                                wake();
                            }
                        })
                        .detach();
                }
            };
            // Returns once the queue is closed; dropping the executor cancels what is left.
            async_io::block_on(executor.run(main));
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(DnsWorker { jobs, answers, thread: Some(thread) }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("DNS helper thread ended before it started"))
            }
        }
    }

    /// Queues a lookup without blocking; the answer comes back from [`poll_answer`] with `id`.
    ///
    /// # Errors
    /// Returns the request when the queue is full (or the thread is gone).
    ///
    /// [`poll_answer`]: DnsWorker::poll_answer
    pub fn request(&self, id: LookupId, request: LookupRequest) -> Result<(), LookupRequest> {
        self.jobs.try_send((id, request)).map_err(|e| e.into_inner().1)
    }

    /// The next finished lookup, if any. Call it until `None` after every wake-up.
    #[must_use]
    pub fn poll_answer(&self) -> Option<(LookupId, LookupRequest, LookupResult)> {
        self.answers.try_recv().ok()
    }
}

impl Drop for DnsWorker {
    fn drop(&mut self) {
        self.jobs.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn build_lookups(
    config: DnsConfig,
    executor: &Arc<Executor<'static>>,
) -> io::Result<Arc<dyn Lookups>> {
    let provider = AsyncIoProvider { executor: executor.clone() };
    let hosts_file = matches!(config, DnsConfig::System).then(|| PathBuf::from("/etc/hosts"));
    let mut builder = match config {
        DnsConfig::Custom(lookups) => return Ok(lookups),
        DnsConfig::System => Resolver::builder(provider).map_err(io::Error::other)?,
        DnsConfig::Nameservers(servers) => {
            let name_servers = servers
                .iter()
                .map(|server| {
                    let mut ns = NameServerConfig::udp(server.ip());
                    for connection in &mut ns.connections {
                        connection.port = server.port();
                    }
                    ns
                })
                .collect();
            let mut builder = Resolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                provider,
            );
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        }
    };
    let options: &mut ResolverOpts = builder.options_mut();
    // Every address of a name counts for a SAN check, not just the preferred family.
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = QUERY_TIMEOUT;
    options.attempts = 1;
    // Answers are fresh for every check: a name moved to another member must not be cached.
    options.cache_size = 0;
    let resolver = builder.build().map_err(io::Error::other)?;
    Ok(Arc::new(HickoryLookups { resolver, hosts_file }))
}

struct HickoryLookups {
    resolver: Resolver<AsyncIoProvider>,
    /// Where loopback addresses' names come from (`None`: they have none).
    hosts_file: Option<PathBuf>,
}

/// The names `hosts` (an `/etc/hosts` text) gives `ip`.
fn names_in_hosts(hosts: &str, ip: IpAddr) -> Vec<String> {
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let addr: IpAddr = fields.next()?.parse().ok()?;
            (addr == ip).then(|| fields.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

impl Lookups for HickoryLookups {
    fn lookup(&self, request: LookupRequest) -> LookupFuture {
        let resolver = self.resolver.clone();
        let hosts_file = self.hosts_file.clone();
        Box::pin(async move {
            match request {
                LookupRequest::Forward(name) => {
                    let lookup =
                        resolver.lookup_ip(name.as_str()).await.map_err(|e| e.to_string())?;
                    Ok(LookupAnswer::Addresses(lookup.iter().collect()))
                }
                // hickory answers every 127.0.0.0/8 and ::1 reverse query with a synthetic
                // "localhost." (RFC 6761); etcd (Go's resolver) names a loopback address only
                // from the hosts file. The SAN check must not accept a "localhost" certificate
                // from any loopback source, so loopback names come from the hosts file alone.
                LookupRequest::Reverse(ip) if ip.is_loopback() => {
                    let names = match &hosts_file {
                        Some(path) => std::fs::read_to_string(path)
                            .map(|text| names_in_hosts(&text, ip))
                            .unwrap_or_default(),
                        None => Vec::new(),
                    };
                    Ok(LookupAnswer::Names(names))
                }
                LookupRequest::Reverse(ip) => {
                    let lookup =
                        resolver.reverse_lookup(Name::from(ip)).await.map_err(|e| e.to_string())?;
                    let names = lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::PTR(ptr) => Some(ptr.0.to_string()),
                            _ => None,
                        })
                        .collect();
                    Ok(LookupAnswer::Names(names))
                }
            }
        })
    }
}

/// hickory's runtime on async-io: sockets and timers from async-io, background tasks on the
/// helper thread's executor.
#[derive(Clone)]
struct AsyncIoProvider {
    executor: Arc<Executor<'static>>,
}

#[derive(Clone)]
struct ExecutorHandle(Arc<Executor<'static>>);

impl Spawn for ExecutorHandle {
    fn spawn_bg(&mut self, future: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(future).detach();
    }
}

struct AsyncIoTime;

#[async_trait::async_trait]
impl Time for AsyncIoTime {
    async fn delay_for(duration: Duration) {
        Timer::after(duration).await;
    }

    async fn timeout<F: 'static + Future + Send>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, io::Error> {
        futures_lite::future::or(async { Ok(future.await) }, async {
            Timer::after(duration).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "future timed out"))
        })
        .await
    }
}

struct UdpSocket(Async<std::net::UdpSocket>);

impl DnsUdpSocket for UdpSocket {
    type Time = AsyncIoTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.0.get_ref().recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            match self.0.poll_readable(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.get_ref().send_to(buf, target) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            match self.0.poll_writable(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

struct TcpStream(Async<std::net::TcpStream>);

impl DnsTcpStream for TcpStream {
    type Time = AsyncIoTime;
}

impl futures_lite::AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl RuntimeProvider for AsyncIoProvider {
    type Handle = ExecutorHandle;
    type Timer = AsyncIoTime;
    type Udp = UdpSocket;
    type Tcp = TcpStream;

    fn create_handle(&self) -> ExecutorHandle {
        ExecutorHandle(self.executor.clone())
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<TcpStream>>>> {
        Box::pin(async move {
            let connect = async move {
                let stream = match bind_addr {
                    None => Async::<std::net::TcpStream>::connect(server_addr).await?,
                    Some(bind_addr) => {
                        let socket = socket2::Socket::new(
                            socket2::Domain::for_address(server_addr),
                            socket2::Type::STREAM,
                            Some(socket2::Protocol::TCP),
                        )?;
                        socket.set_nonblocking(true)?;
                        socket.bind(&bind_addr.into())?;
                        match socket.connect(&server_addr.into()) {
                            Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => return Err(e),
                            _ => {}
                        }
                        let stream = Async::new(std::net::TcpStream::from(socket))?;
                        stream.writable().await?;
                        if let Some(e) = stream.get_ref().take_error()? {
                            return Err(e);
                        }
                        stream
                    }
                };
                stream.get_ref().set_nodelay(true)?;
                Ok(TcpStream(stream))
            };
            AsyncIoTime::timeout(timeout.unwrap_or(Duration::from_secs(5)), connect).await?
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<UdpSocket>>>> {
        Box::pin(async move { Ok(UdpSocket(Async::<std::net::UdpSocket>::bind(local_addr)?)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Table(BTreeMap<LookupRequest, LookupResult>);

    impl Lookups for Table {
        fn lookup(&self, request: LookupRequest) -> LookupFuture {
            let answer = self.0.get(&request).cloned().unwrap_or(Err("no such host".into()));
            Box::pin(async move { answer })
        }
    }

    fn wait_answers(worker: &DnsWorker, wakes: &AtomicUsize, n: usize) -> Vec<Done> {
        let mut got = Vec::new();
        for _ in 0..2000 {
            while let Some(done) = worker.poll_answer() {
                got.push(done);
            }
            if got.len() >= n {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        assert!(wakes.load(Ordering::SeqCst) >= n, "every answer wakes the loop");
        got
    }

    #[test]
    fn custom_lookups_are_answered_and_wake_the_loop() {
        let mut table = BTreeMap::new();
        let ip: IpAddr = "127.0.0.12".parse().unwrap();
        table.insert(
            LookupRequest::Forward("m2.test".into()),
            Ok(LookupAnswer::Addresses(vec![ip])),
        );
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let worker = DnsWorker::spawn(
            DnsConfig::Custom(Arc::new(Table(table))),
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
            4,
        )
        .unwrap();
        worker.request(LookupId(1), LookupRequest::Forward("m2.test".into())).unwrap();
        worker.request(LookupId(2), LookupRequest::Reverse(ip)).unwrap();
        let mut got = wait_answers(&worker, &wakes, 2);
        got.sort_by_key(|d| d.0);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, Ok(LookupAnswer::Addresses(vec![ip])));
        assert_eq!(got[1].2, Err("no such host".to_string()));
    }

    #[test]
    fn a_full_queue_hands_the_request_back() {
        // A lookup that never finishes keeps the single slot of the queue busy.
        struct Never;
        impl Lookups for Never {
            fn lookup(&self, _: LookupRequest) -> LookupFuture {
                Box::pin(futures_lite::future::pending())
            }
        }
        let worker =
            DnsWorker::spawn(DnsConfig::Custom(Arc::new(Never)), Arc::new(|| {}), 1).unwrap();
        let mut refused = None;
        for i in 0..100 {
            if let Err(back) = worker.request(LookupId(i), LookupRequest::Forward("x".into())) {
                refused = Some(back);
                break;
            }
        }
        assert_eq!(refused, Some(LookupRequest::Forward("x".into())));
        drop(worker); // joins the thread although lookups never finish
    }

    #[test]
    fn loopback_names_come_from_the_hosts_file_only() {
        let hosts = "127.0.0.1 localhost\n# 127.0.0.14 commented\n127.0.1.1 box box.lan # here\n::1 localhost ip6-localhost\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(names_in_hosts(hosts, ip("127.0.0.1")), ["localhost"]);
        assert_eq!(names_in_hosts(hosts, ip("127.0.1.1")), ["box", "box.lan"]);
        assert_eq!(names_in_hosts(hosts, ip("::1")), ["localhost", "ip6-localhost"]);
        assert!(names_in_hosts(hosts, ip("127.0.0.14")).is_empty(), "no synthetic localhost");
    }

    #[test]
    fn system_resolver_answers_from_the_hosts_file() {
        // "localhost" is in every /etc/hosts; no network is used.
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let worker = DnsWorker::spawn(
            DnsConfig::System,
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
            4,
        )
        .unwrap();
        worker.request(LookupId(7), LookupRequest::Forward("localhost".into())).unwrap();
        let got = wait_answers(&worker, &wakes, 1);
        match &got[0].2 {
            Ok(LookupAnswer::Addresses(ips)) => {
                assert!(ips.iter().any(|ip| ip.is_loopback()), "{ips:?}")
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
}
