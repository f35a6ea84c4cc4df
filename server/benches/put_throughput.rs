//! Put throughput and latency of the `oxcd` binary and, side by side, of etcd 3.4 (Debian's
//! `/usr/bin/etcd`, when installed), driven by the same `etcd-client` load generator on the
//! same machine: one member each, data on disk with fsync, 256-byte values.
//!
//! `cargo bench -p oxcd --bench put_throughput` (release build). Prints one line per server and
//! concurrency, then the oxcd/etcd ratios.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::Client;

const OPS: usize = 4000;
const CONCURRENCY: [usize; 3] = [1, 16, 128];

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(bin: &str, dir: &Path, client: u16, peer: u16) -> Proc {
    let c = format!("http://127.0.0.1:{client}");
    let p = format!("http://127.0.0.1:{peer}");
    let child = Command::new(bin)
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["--listen-client-urls", &c, "--advertise-client-urls", &c])
        .args(["--listen-peer-urls", &p, "--initial-advertise-peer-urls", &p])
        .args(["--initial-cluster", &format!("default={p}")])
        .env("ETCD_UNSUPPORTED_ARCH", "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

async fn connect(port: u16) -> Client {
    let start = Instant::now();
    loop {
        if let Ok(mut c) = Client::connect([format!("http://127.0.0.1:{port}")], None).await {
            if c.put("warmup", "x", None).await.is_ok() {
                return c;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `OPS` puts from `workers` concurrent tasks; (ops per second, p50, p99).
async fn load(client: &Client, workers: usize) -> (f64, Duration, Duration) {
    let value = vec![b'v'; 256];
    let per = OPS / workers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let mut c = client.clone();
            let value = value.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per);
                for i in 0..per {
                    let t = Instant::now();
                    c.put(format!("key/{w}/{i}"), value.clone(), None).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed.as_secs_f64(), pct(0.5), pct(0.99))
}

fn bench(name: &str, bin: &str) -> Vec<f64> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (client, peer) = (free_port(), free_port());
    let _p = start(bin, &dir.path().join("data"), client, peer);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let c = connect(client).await;
        let mut rates = Vec::new();
        for workers in CONCURRENCY {
            let (rate, p50, p99) = load(&c, workers).await;
            println!("{name:5} concurrency={workers:4} puts/s={rate:8.0} p50={p50:?} p99={p99:?}");
            rates.push(rate);
        }
        rates
    })
}

fn main() {
    let oxcd = bench("oxcd", env!("CARGO_BIN_EXE_oxcd"));
    if Path::new("/usr/bin/etcd").exists() {
        let etcd = bench("etcd", "/usr/bin/etcd");
        for (i, workers) in CONCURRENCY.iter().enumerate() {
            println!("ratio oxcd/etcd concurrency={workers:4}: {:.2}", oxcd[i] / etcd[i]);
        }
    } else {
        println!("etcd is not installed: no comparison");
    }
}
