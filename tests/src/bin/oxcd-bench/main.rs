//! `oxcd-bench`: a load generator for etcd-compatible servers (the etcd-client crate over
//! tokio), in the spirit of etcd's own `benchmark` tool, and a side-by-side runner that measures
//! the real etcd and another server binary with the same load and the same cluster shape.
//!
//! ```sh
//! cargo run -p oxcd-tests --features bench --release --bin oxcd-bench -- \
//!     --endpoints http://127.0.0.1:2379 --clients 100 --conns 10 --total 100000 \
//!     put --key-size 8 --val-size 256 --sequential-keys
//! # etcd 3.4 against another binary, 3 members with TLS on 127.0.0.11-13:
//! cargo run -p oxcd-tests --features bench --release --bin oxcd-bench -- \
//!     --clients 50 --conns 5 --total 20000 compare --server target/release/oxcd --shape three-tls put
//! # etcd alone (the baseline), 3 rounds:
//! ... compare --rounds 3 --shape one range --consistency s
//! ```

mod load;
mod report;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use oxcd_tests::e2e::{Cluster, ClusterConfig, ServerBinary, ServerKind};

use crate::load::{Shape, Target, Workload};
use crate::report::{Report, Summary};

#[derive(Parser, Debug)]
#[command(name = "oxcd-bench", about = "Load generator for etcd-compatible servers")]
struct Cli {
    /// Client URLs, comma-separated (ignored by `compare`, which starts its own clusters).
    #[arg(long, global = true, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// Concurrent clients.
    #[arg(long, global = true, default_value_t = 1)]
    clients: usize,
    /// Connections (gRPC channels) the clients share.
    #[arg(long, global = true, default_value_t = 1)]
    conns: usize,
    /// Requests in all.
    #[arg(long, global = true, default_value_t = 10_000)]
    total: u64,
    /// CA certificate to trust (TLS).
    #[arg(long, global = true)]
    cacert: Option<PathBuf>,
    /// Client certificate (TLS).
    #[arg(long, global = true, requires = "key")]
    cert: Option<PathBuf>,
    /// Client key (TLS).
    #[arg(long, global = true, requires = "cert")]
    key: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Load(LoadCommand),
    /// Starts clusters of etcd (and of `--server`) with the same shape, runs one workload on
    /// each, and prints both results and their ratios.
    Compare(CompareArgs),
}

#[derive(Subcommand, Debug, Clone)]
enum LoadCommand {
    /// Puts.
    Put(PutArgs),
    /// Gets of one key.
    Range {
        /// The key (written once before the run).
        #[arg(value_name = "KEY", default_value = "foo")]
        range_key: String,
        /// Size of its value.
        #[arg(long, default_value_t = 8)]
        val_size: usize,
        /// l: linearizable, s: serializable.
        #[arg(long, default_value = "l")]
        consistency: Consistency,
    },
    /// Transactions of puts.
    TxnPut {
        #[command(flatten)]
        put: PutArgs,
        /// Puts per transaction.
        #[arg(long, default_value_t = 1)]
        txn_ops: usize,
    },
    /// Latency from a put to its watch event, for many watchers of one key.
    WatchLatency {
        /// Watchers (spread over the connections).
        #[arg(long, default_value_t = 10)]
        watchers: usize,
        /// Puts in all (`--total` is not used).
        #[arg(long, default_value_t = 1000)]
        put_total: u64,
        /// Puts per second.
        #[arg(long, default_value_t = 100)]
        put_rate: u64,
        /// Size of the values (at least 20: they carry the put's number).
        #[arg(long, default_value_t = 32)]
        val_size: usize,
    },
    /// Lease keep-alive round trips (one lease per client).
    LeaseKeepalive,
    /// Authenticate calls with a user and password (enables auth with a root user first).
    Authenticate,
}

#[derive(Args, Debug, Clone)]
struct PutArgs {
    /// Key size in bytes.
    #[arg(long, default_value_t = 8)]
    key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 8)]
    val_size: usize,
    /// Number of distinct keys (etcd's benchmark defaults to 1).
    #[arg(long, default_value_t = 1)]
    key_space_size: u64,
    /// Keys 0, 1, 2, … instead of random ones.
    #[arg(long)]
    sequential_keys: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Consistency {
    /// Linearizable.
    L,
    /// Serializable.
    S,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum ClusterShape {
    /// One plaintext member on 127.0.0.1.
    One,
    /// Three members on 127.0.0.11-13, client and peer TLS with client certificates.
    ThreeTls,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// The server binary to measure (takes etcd's flags); without it only the baseline runs.
    #[arg(long)]
    server: Option<PathBuf>,
    /// The baseline binary.
    #[arg(long, default_value = "/usr/bin/etcd")]
    baseline: PathBuf,
    /// Cluster shape, the same for both.
    #[arg(long, value_enum, default_value_t = ClusterShape::One)]
    shape: ClusterShape,
    /// Alternating rounds (baseline, server, baseline, …); the median of each side is reported.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    #[command(subcommand)]
    workload: LoadCommand,
}

fn workload_of(command: &LoadCommand) -> Workload {
    // With --sequential-keys and no key space, every request writes a new key.
    let key_space = |p: &PutArgs| {
        if p.sequential_keys && p.key_space_size <= 1 {
            u64::MAX
        } else {
            p.key_space_size
        }
    };
    match command {
        LoadCommand::Put(p) => Workload::Put {
            key_size: p.key_size,
            val_size: p.val_size,
            key_space: key_space(p),
            sequential: p.sequential_keys,
        },
        LoadCommand::TxnPut { put: p, txn_ops } => {
            // Keys are always sequential: one transaction must not write a key twice.
            let key_space = if p.key_space_size <= 1 { u64::MAX } else { p.key_space_size };
            Workload::TxnPut {
                key_size: p.key_size,
                val_size: p.val_size,
                key_space,
                ops: *txn_ops,
            }
        }
        LoadCommand::Range { range_key, val_size, consistency } => Workload::Range {
            key: range_key.clone(),
            val_size: *val_size,
            serializable: *consistency == Consistency::S,
        },
        LoadCommand::WatchLatency { watchers, put_total, put_rate, val_size } => {
            Workload::WatchLatency {
                watchers: *watchers,
                put_total: *put_total,
                put_rate: *put_rate,
                val_size: *val_size,
            }
        }
        LoadCommand::LeaseKeepalive => Workload::LeaseKeepalive,
        LoadCommand::Authenticate => Workload::Authenticate,
    }
}

fn shape_of(cli: &Cli) -> Shape {
    Shape { clients: cli.clients.max(1), conns: cli.conns.max(1), total: cli.total }
}

fn main() {
    let cli = Cli::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = match &cli.command {
        Command::Load(command) => {
            let target = Target {
                endpoints: cli.endpoints.clone(),
                tls: cli.cacert.clone().map(|ca| (ca, cli.cert.clone().zip(cli.key.clone()))),
            };
            runtime.block_on(load::run(&target, shape_of(&cli), &workload_of(command))).map(
                |mut report| {
                    if cli.json {
                        println!("{}", report.json());
                    } else {
                        print!("{}", report.text());
                    }
                },
            )
        }
        Command::Compare(args) => compare(&runtime, &cli, args),
    };
    if let Err(e) = result {
        eprintln!("oxcd-bench: {e}");
        std::process::exit(1);
    }
}

/// Starts a cluster of `binary` in `shape`, runs the workload, stops the cluster.
fn measure(
    runtime: &tokio::runtime::Runtime,
    binary: &ServerBinary,
    shape: ClusterShape,
    load: Shape,
    workload: &Workload,
) -> Result<(Report, f64), String> {
    let config = match shape {
        ClusterShape::One => ClusterConfig::new(1),
        ClusterShape::ThreeTls => ClusterConfig::three_tls(),
    };
    let cluster = Cluster::start(binary, config).map_err(|e| e.to_string())?;
    let tls = cluster.client_tls().map(|t| (t.ca, t.cert));
    let target = Target { endpoints: cluster.client_urls(), tls };
    let cpu_before = cluster_cpu_seconds(&cluster);
    let report = runtime.block_on(load::run(&target, load, workload));
    let cpu = cluster_cpu_seconds(&cluster) - cpu_before;
    drop(cluster);
    report.map(|report| (report, cpu))
}

/// CPU time (user + system, every thread) the cluster's processes used so far, in seconds,
/// from `/proc/<pid>/stat`.
fn cluster_cpu_seconds(cluster: &Cluster) -> f64 {
    let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
    let ticks: u64 = cluster
        .members()
        .iter()
        .filter_map(|m| m.pid())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the command name (which may hold spaces) start after its `)`.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `)`.
            fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
                + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum();
    ticks as f64 / ticks_per_second
}

/// Server CPU per successful request, in microseconds.
fn cpu_us_per_request(summary: &Summary, cpu_seconds: f64) -> f64 {
    if summary.requests == 0 {
        return f64::NAN;
    }
    cpu_seconds * 1e6 / summary.requests as f64
}

fn median(mut values: Vec<Summary>) -> Summary {
    values.sort_by(|a, b| a.qps.total_cmp(&b.qps));
    values[values.len() / 2]
}

impl ClusterShape {
    fn label(self) -> &'static str {
        match self {
            Self::One => "1 member (plaintext)",
            Self::ThreeTls => "3 members (TLS, 127.0.0.11-13)",
        }
    }
}

fn summary_json(s: &Summary) -> serde_json::Value {
    serde_json::json!({"requests": s.requests, "errors": s.errors, "seconds": s.seconds, "qps": s.qps,
        "latency_ms": {"mean": s.mean_ms, "p50": s.p50_ms, "p90": s.p90_ms, "p99": s.p99_ms, "p99_9": s.p999_ms, "max": s.max_ms}})
}

fn print_row(label: &str, s: &Summary) {
    println!(
        "{:<32} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7}",
        label, s.qps, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.errors
    );
}

fn compare(runtime: &tokio::runtime::Runtime, cli: &Cli, args: &CompareArgs) -> Result<(), String> {
    let baseline = ServerBinary { kind: ServerKind::Etcd, path: args.baseline.clone() };
    let server = args.server.clone().map(|path| ServerBinary { kind: ServerKind::Other, path });
    for binary in std::iter::once(&baseline).chain(server.as_ref()) {
        if !binary.path.is_file() {
            return Err(format!("{} does not exist", binary.path.display()));
        }
    }
    let workload = workload_of(&args.workload);
    let load = shape_of(cli);
    let rounds = args.rounds.max(1);
    let (mut base_runs, mut server_runs) = (Vec::new(), Vec::new());
    let (mut base_cpu, mut server_cpu) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (mut report, cpu) = measure(runtime, &baseline, args.shape, load, &workload)?;
        let summary = report.summary();
        base_cpu.push(cpu_us_per_request(&summary, cpu));
        base_runs.push(summary);
        if let Some(server) = &server {
            let (mut report, cpu) = measure(runtime, server, args.shape, load, &workload)?;
            let summary = report.summary();
            server_cpu.push(cpu_us_per_request(&summary, cpu));
            server_runs.push(summary);
        }
    }
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (base_cpu_us, server_cpu_us) = (median_of(base_cpu), median_of(server_cpu));
    let base_qps: Vec<f64> = base_runs.iter().map(|s| s.qps).collect();
    let server_qps: Vec<f64> = server_runs.iter().map(|s| s.qps).collect();
    let base = median(base_runs);
    let other = (!server_runs.is_empty()).then(|| median(server_runs));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    if cli.json {
        let mut json = serde_json::json!({
            "workload": workload.name(), "shape": args.shape.label(), "rounds": rounds,
            "clients": load.clients, "conns": load.conns, "total": load.total,
            "baseline": {"binary": baseline.path, "median": summary_json(&base), "qps_per_round": base_qps,
                "cpu_us_per_request": base_cpu_us},
        });
        if let (Some(server), Some(other)) = (&server, &other) {
            json["server"] = serde_json::json!({"binary": server.path, "median": summary_json(other), "qps_per_round": server_qps,
                "cpu_us_per_request": server_cpu_us});
            json["ratio_server_over_baseline"] = serde_json::json!({"qps": ratio(other.qps, base.qps),
                "p50": ratio(other.p50_ms, base.p50_ms), "p99": ratio(other.p99_ms, base.p99_ms),
                "p99_9": ratio(other.p999_ms, base.p999_ms)});
        }
        println!("{json}");
        return Ok(());
    }
    println!(
        "{} on {}: {}, median of {rounds} round(s)",
        workload.name(),
        args.shape.label(),
        workload.describe(load)
    );
    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors"
    );
    print_row(&baseline.path.display().to_string(), &base);
    println!("  req/s per round: {base_qps:.0?}; server CPU per request {base_cpu_us:.1} µs");
    if let (Some(server), Some(other)) = (&server, &other) {
        print_row(&server.path.display().to_string(), other);
        println!(
            "  req/s per round: {server_qps:.0?}; server CPU per request {server_cpu_us:.1} µs"
        );
        println!(
            "{:<32} {:>10.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            "ratio server/baseline",
            ratio(other.qps, base.qps),
            ratio(other.p50_ms, base.p50_ms),
            ratio(other.p90_ms, base.p90_ms),
            ratio(other.p99_ms, base.p99_ms),
            ratio(other.p999_ms, base.p999_ms)
        );
        println!(
            "server CPU per request (all members, median round): ratio {:.2}",
            ratio(server_cpu_us, base_cpu_us)
        );
    }
    Ok(())
}
