//! Golden etcdctl transcripts: scenario files under `tests/testdata/etcdctl/`, recorded from
//! the real etcd 3.4 and replayed against any server.
//!
//! The file format is in [`format`]; normalization in [`normalize`]. Steps:
//!
//! - `cluster size=N [tls] [ips=127.0.0.11,…] [arg=--flag=value]…` starts a fresh cluster (and
//!   forgets all names); member i listens on the i-th address (default 127.0.0.1).
//!   With `tls`, client and peer URLs are https with client certificates required; etcdctl
//!   presents a certificate with CN `root` unless a command says `@cert=NAME`.
//! - `$ etcdctl ARGS…` runs etcdctl with `--endpoints` (every member) and the TLS flags put
//!   first. `{name}` in an argument stands for a named value (see [`normalize`]); naming
//!   `{mN.peer_url}` or `{mN.client_url}` of a member that does not exist yet reserves ports
//!   for it (for `member add`). Harness options, removed before etcdctl runs:
//!   `@bg=NAME` (run in the background, see `wait`/`send`), `@cert=CN` (a client certificate
//!   with that CN), `@endpoint=m1[,m2]` (only those members), `@timeout=10s` (bound, default
//!   20 s), `@retry=20s` (rerun until it exits 0 or the time passes; the last run is recorded),
//!   `@exit-only` (record only how it exited: for outputs that depend on timing).
//!   `{name}` works in `<` input lines too.
//! - `send NAME` writes its `<` lines to background NAME's stdin (it stays open).
//! - `wait NAME [lines=N] [timeout=10s]` waits until NAME printed N lines (or the timeout),
//!   stops it with SIGTERM and records its output.
//! - `sleep 2s`.
//! - `start-member NAME [ready]` starts a member added with `member add NAME` (its
//!   `--initial-cluster` is the one etcdctl printed; state `existing`); `ready` waits for
//!   `/health`. `stop-member NAME` and `restart-member NAME` (waits for `/health`).
//!
//! `REWRITE=1` re-records every expectation (only against the real etcd).

pub mod format;
pub mod normalize;
pub mod protobuf;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

use self::format::{Item, Step};
use self::normalize::{CommandInfo, Normalizer};
use super::{
    Background, CertFiles, Cluster, ClusterConfig, E2eError, Etcdctl, MemberSpec, ServerBinary,
    ServerKind,
};

/// Set (to anything) to re-record expectations from the real etcd.
pub const REWRITE_ENV: &str = "REWRITE";
/// Set to a substring of file names to run only those scenarios.
pub const FILTER_ENV: &str = "OXCD_E2E_SCENARIO";

/// Replay or record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Compare with the recorded expectations.
    Check,
    /// Replace the expectations with what the server printed (the real etcd only).
    Record,
}

impl Mode {
    /// `Record` when `REWRITE` is set.
    pub fn from_env() -> Self {
        if std::env::var_os(REWRITE_ENV).is_some() {
            Self::Record
        } else {
            Self::Check
        }
    }
}

/// One step whose output differed from the expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The scenario file.
    pub file: PathBuf,
    /// The step's line.
    pub line: usize,
    /// The step's first line.
    pub head: String,
    /// What was recorded.
    pub expected: Vec<String>,
    /// What came out (normalized), or the harness error.
    pub actual: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}:{}: {}", self.file.display(), self.line, self.head)?;
        writeln!(f, "  expected:")?;
        for line in &self.expected {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  actual:")?;
        for line in &self.actual {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// The result of one scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file.
    pub path: PathBuf,
    /// Steps run.
    pub steps: usize,
    /// Steps whose output differed (empty in record mode).
    pub failures: Vec<Failure>,
    /// Whether record mode changed the file.
    pub rewritten: bool,
}

/// The directory of the recorded scenarios.
pub fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("etcdctl")
}

/// Runs every `*.txt` scenario in `dir` (filtered by `OXCD_E2E_SCENARIO`) in name order.
///
/// # Errors
/// Recording against anything but etcd, or an unreadable directory or file.
pub fn run_dir(
    binary: &ServerBinary,
    dir: &Path,
    mode: Mode,
) -> Result<Vec<FileOutcome>, E2eError> {
    if mode == Mode::Record && binary.kind != ServerKind::Etcd {
        return Err(E2eError(format!(
            "{REWRITE_ENV}=1 records expectations from the real etcd only; set OXCD_E2E_SERVER=etcd (selected: {})",
            binary.label()
        )));
    }
    let filter = std::env::var(FILTER_ENV).ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| E2eError(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .filter(|p| {
            filter
                .as_deref()
                .is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f)))
        })
        .collect();
    files.sort();
    files.iter().map(|path| run_file(binary, path, mode)).collect()
}

/// Runs one scenario file.
///
/// # Errors
/// An unreadable or unparsable file, or (record mode) a failure to write it back.
pub fn run_file(binary: &ServerBinary, path: &Path, mode: Mode) -> Result<FileOutcome, E2eError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| E2eError(format!("{}: {e}", path.display())))?;
    let mut items =
        format::parse(&text).map_err(|e| E2eError(format!("{}: {e}", path.display())))?;
    let mut runner = Runner::new(binary);
    let mut outcome =
        FileOutcome { path: path.to_owned(), steps: 0, failures: Vec::new(), rewritten: false };
    for item in &mut items {
        let Item::Step(step) = item else { continue };
        outcome.steps += 1;
        let (actual, fatal) = match runner.run_step(step) {
            Ok(lines) => (lines, false),
            Err(e) => (vec![format!("harness error: {e}")], true),
        };
        if fatal || (mode == Mode::Check && actual != step.expected) {
            outcome.failures.push(Failure {
                file: path.to_owned(),
                line: step.line,
                head: step.head.clone(),
                expected: step.expected.clone(),
                actual: actual.clone(),
            });
        }
        if fatal {
            break;
        }
        if mode == Mode::Record {
            step.expected = actual;
        }
    }
    // Also after a harness error: what was recorded up to it helps to see why.
    if mode == Mode::Record {
        let new_text = format::write(&items);
        if new_text != text {
            std::fs::write(path, new_text)
                .map_err(|e| E2eError(format!("{}: {e}", path.display())))?;
            outcome.rewritten = true;
        }
    }
    Ok(outcome)
}

/// Per-command harness options (`@name=value` words).
#[derive(Debug, Default)]
struct Options {
    background: Option<String>,
    cert: Option<String>,
    endpoints: Option<Vec<String>>,
    timeout: Option<Duration>,
    retry: Option<Duration>,
    exit_only: bool,
}

static MEMBER_REF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{(m\d+)\.(client|peer)_(url|addr)\}").expect("regex"));
static MEMBER_ADDED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Member +([0-9a-f]+) added to cluster").expect("regex"));
static INITIAL_CLUSTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"ETCD_INITIAL_CLUSTER="([^"]*)""#).expect("regex"));
static MEMBER_JSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""ID":(\d+),"name":"([^"]+)""#).expect("regex"));
static CLUSTER_ID_JSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""cluster_id":(\d+)"#).expect("regex"));

/// Default bound of one etcdctl run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Default bound of `wait`.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

struct Runner<'a> {
    binary: &'a ServerBinary,
    cluster: Option<Cluster>,
    normalizer: Normalizer,
    backgrounds: BTreeMap<String, (Background, CommandInfo)>,
    pending: BTreeMap<String, MemberSpec>,
    initial_clusters: BTreeMap<String, String>,
    client_certs: BTreeMap<String, CertFiles>,
}

fn parse_duration(text: &str) -> Result<Duration, E2eError> {
    let (number, unit) =
        text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| E2eError(format!("bad duration {text:?}")))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(E2eError(format!("bad duration {text:?} (use ms or s)"))),
    }
}

impl<'a> Runner<'a> {
    fn new(binary: &'a ServerBinary) -> Self {
        Self {
            binary,
            cluster: None,
            normalizer: Normalizer::new(),
            backgrounds: BTreeMap::new(),
            pending: BTreeMap::new(),
            initial_clusters: BTreeMap::new(),
            client_certs: BTreeMap::new(),
        }
    }

    fn cluster(&self) -> Result<&Cluster, E2eError> {
        self.cluster
            .as_ref()
            .ok_or_else(|| E2eError("no cluster: start one with `cluster size=N`".to_owned()))
    }

    fn run_step(&mut self, step: &Step) -> Result<Vec<String>, E2eError> {
        if step.is_etcdctl() {
            return self.run_etcdctl(step);
        }
        let words = format::split_words(&step.head).map_err(E2eError)?;
        let args: BTreeMap<&str, &str> =
            words[1..].iter().map(|w| w.split_once('=').unwrap_or((w.as_str(), ""))).collect();
        match words[0].as_str() {
            "cluster" => self.start_cluster(&words[1..]).map(|()| Vec::new()),
            "sleep" => {
                std::thread::sleep(parse_duration(words.get(1).map_or("", String::as_str))?);
                Ok(Vec::new())
            }
            "send" => {
                let name = words.get(1).ok_or_else(|| E2eError("send NAME".to_owned()))?;
                let (bg, _) = self
                    .backgrounds
                    .get_mut(name)
                    .ok_or_else(|| E2eError(format!("no background {name}")))?;
                bg.write_stdin(&step.input_bytes())?;
                Ok(Vec::new())
            }
            "wait" => {
                let name = words.get(1).ok_or_else(|| E2eError("wait NAME".to_owned()))?;
                let (mut bg, info) = self
                    .backgrounds
                    .remove(name)
                    .ok_or_else(|| E2eError(format!("no background {name}")))?;
                let timeout =
                    args.get("timeout").map_or(Ok(WAIT_TIMEOUT), |t| parse_duration(t))?;
                let lines = match args.get("lines") {
                    Some(n) => n.parse().map_err(|_| E2eError(format!("bad lines={n}")))?,
                    None => usize::MAX,
                };
                bg.wait_for_lines(lines, timeout);
                let out = bg.stop();
                Ok(self.normalizer.normalize(&info, &out, true))
            }
            "start-member" => {
                let name = words.get(1).ok_or_else(|| E2eError("start-member NAME".to_owned()))?;
                let spec = self
                    .pending
                    .remove(name)
                    .ok_or_else(|| E2eError(format!("{name} was not named in a command")))?;
                let initial = self.initial_clusters.get(name).cloned().ok_or_else(|| {
                    E2eError(format!("no `member add {name}` printed ETCD_INITIAL_CLUSTER"))
                })?;
                let cluster =
                    self.cluster.as_mut().ok_or_else(|| E2eError("no cluster".to_owned()))?;
                let probe = cluster.client_tls();
                let member = cluster.launch_added_member(spec, &initial)?;
                if args.contains_key("ready") {
                    member.wait_ready(probe.as_ref(), Duration::from_secs(30))?;
                }
                Ok(Vec::new())
            }
            "stop-member" | "restart-member" => {
                let name = words.get(1).ok_or_else(|| E2eError("stop-member NAME".to_owned()))?;
                let cluster =
                    self.cluster.as_mut().ok_or_else(|| E2eError("no cluster".to_owned()))?;
                let probe = cluster.client_tls();
                let index = cluster
                    .members()
                    .iter()
                    .position(|m| m.spec().name == *name)
                    .ok_or_else(|| E2eError(format!("no member {name}")))?;
                let member = cluster.member_mut(index);
                member.stop();
                if words[0] == "restart-member" {
                    member.start()?;
                    member.wait_ready(probe.as_ref(), Duration::from_secs(30))?;
                }
                Ok(Vec::new())
            }
            other => Err(E2eError(format!("unknown directive {other}"))),
        }
    }

    fn start_cluster(&mut self, words: &[String]) -> Result<(), E2eError> {
        self.backgrounds.clear();
        self.cluster = None;
        self.normalizer = Normalizer::new();
        self.pending.clear();
        self.initial_clusters.clear();
        self.client_certs.clear();
        let mut size = 1;
        let mut tls = false;
        let mut extra = Vec::new();
        let mut ips = Vec::new();
        for word in words {
            match word.split_once('=') {
                Some(("size", n)) => {
                    size = n.parse().map_err(|_| E2eError(format!("bad size {n}")))?
                }
                Some(("arg", flag)) => extra.push(flag.to_owned()),
                Some(("ips", list)) => {
                    ips = list
                        .split(',')
                        .map(|ip| ip.parse().map_err(|_| E2eError(format!("bad ip {ip}"))))
                        .collect::<Result<_, _>>()?;
                }
                None if word == "tls" => tls = true,
                _ => return Err(E2eError(format!("cluster: unknown option {word}"))),
            }
        }
        let mut config = ClusterConfig::new(size);
        if tls {
            config = config.with_tls();
        }
        config.extra_args = extra;
        if !ips.is_empty() {
            config.ips = ips;
        }
        let cluster = Cluster::start(self.binary, config)?;
        self.normalizer.add_literal(&cluster.dir().display().to_string(), "dir");
        for member in cluster.members() {
            register_member(&mut self.normalizer, member.spec());
        }
        // Name the members' ids and the cluster id.
        let out = cluster.etcdctl().run_args(&["member", "list", "-w", "json"])?;
        let text = out.stdout_text();
        if !out.exit.success() {
            return Err(E2eError(format!("member list failed: {text} {}", out.stderr_text())));
        }
        for caps in MEMBER_JSON.captures_iter(&text) {
            if let Ok(value) = caps[1].parse() {
                self.normalizer.name_id(value, &format!("{}.id", &caps[2]));
            }
        }
        if let Some(value) = CLUSTER_ID_JSON.captures(&text).and_then(|c| c[1].parse().ok()) {
            self.normalizer.name_id(value, "cluster_id");
        }
        self.cluster = Some(cluster);
        Ok(())
    }

    /// Reserves ports (and a certificate) for members a command names before they exist.
    fn reserve_members(&mut self, text: &str) -> Result<(), E2eError> {
        for caps in MEMBER_REF.captures_iter(text) {
            let name = caps[1].to_owned();
            let cluster = self.cluster()?;
            if cluster.members().iter().any(|m| m.spec().name == name)
                || self.pending.contains_key(&name)
            {
                continue;
            }
            let ips = &cluster.config().ips;
            let number: usize = name[1..].parse().unwrap_or(1);
            let ip: IpAddr = ips[(number.max(1) - 1) % ips.len()];
            let spec = cluster.new_member_spec(&name, ip)?;
            register_member(&mut self.normalizer, &spec);
            self.pending.insert(name, spec);
        }
        Ok(())
    }

    fn etcdctl_for(&mut self, options: &Options) -> Result<Etcdctl, E2eError> {
        let cluster = self.cluster()?;
        let mut etcdctl =
            cluster.etcdctl().with_timeout(options.timeout.unwrap_or(COMMAND_TIMEOUT));
        if let Some(names) = &options.endpoints {
            let urls = names
                .iter()
                .map(|name| {
                    cluster
                        .members()
                        .iter()
                        .find(|m| m.spec().name == *name)
                        .map(|m| m.spec().client_url())
                        .ok_or_else(|| E2eError(format!("no member {name}")))
                })
                .collect::<Result<_, _>>()?;
            etcdctl = etcdctl.with_endpoints(urls);
        }
        if let Some(cn) = &options.cert {
            let mut tls = cluster
                .client_tls()
                .ok_or_else(|| E2eError("@cert needs a tls cluster".to_owned()))?;
            if !self.client_certs.contains_key(cn) {
                let pki = cluster.pki().expect("a tls cluster has a pki");
                let files = pki
                    .ca
                    .client_cert(&format!("client-{cn}"), cn)
                    .map_err(|e| E2eError(e.to_string()))?;
                self.client_certs.insert(cn.clone(), files);
            }
            let files = &self.client_certs[cn];
            tls.cert = Some((files.cert.clone(), files.key.clone()));
            etcdctl = etcdctl.with_tls(tls);
        }
        Ok(etcdctl)
    }

    fn run_etcdctl(&mut self, step: &Step) -> Result<Vec<String>, E2eError> {
        let words = format::split_words(&step.head[2..]).map_err(E2eError)?;
        if words.first().map(String::as_str) != Some("etcdctl") {
            return Err(E2eError("a `$` line runs etcdctl".to_owned()));
        }
        let mut options = Options::default();
        let mut args = Vec::new();
        for word in &words[1..] {
            let Some(option) = word.strip_prefix('@') else {
                self.reserve_members(word)?;
                args.push(self.normalizer.substitute(word).map_err(E2eError)?);
                continue;
            };
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            match key {
                "bg" => options.background = Some(value.to_owned()),
                "cert" => options.cert = Some(value.to_owned()),
                "endpoint" => {
                    options.endpoints = Some(value.split(',').map(str::to_owned).collect())
                }
                "timeout" => options.timeout = Some(parse_duration(value)?),
                "retry" => options.retry = Some(parse_duration(value)?),
                "exit-only" => options.exit_only = true,
                _ => return Err(E2eError(format!("unknown option @{key}"))),
            }
        }
        let info = CommandInfo::from_args(&args);
        let etcdctl = self.etcdctl_for(&options)?;
        if let Some(name) = options.background {
            let mut bg = etcdctl.spawn(&args)?;
            if !step.input.is_empty() {
                let input = self
                    .normalizer
                    .substitute(&String::from_utf8_lossy(&step.input_bytes()))
                    .map_err(E2eError)?;
                bg.write_stdin(input.as_bytes())?;
            }
            self.backgrounds.insert(name, (bg, info));
            return Ok(Vec::new());
        }
        let input = self
            .normalizer
            .substitute(&String::from_utf8_lossy(&step.input_bytes()))
            .map_err(E2eError)?;
        let input = input.into_bytes();
        let deadline = options.retry.map(|r| Instant::now() + r);
        let out = loop {
            let out = etcdctl.run(&args, &input)?;
            match deadline {
                Some(deadline) if !out.exit.success() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                _ => break out,
            }
        };
        if info.family == "member add" && out.exit.success() {
            self.learn_added_member(&args, &out.stdout_text());
        }
        let lines = self.normalizer.normalize(&info, &out, false);
        if options.exit_only {
            return Ok(lines.into_iter().filter(|l| l.starts_with("exit ")).collect());
        }
        Ok(lines)
    }

    fn learn_added_member(&mut self, args: &[String], stdout: &str) {
        let Some(name) = args.get(2) else { return };
        if let Some(value) =
            MEMBER_ADDED.captures(stdout).and_then(|c| u64::from_str_radix(&c[1], 16).ok())
        {
            self.normalizer.name_id(value, &format!("{name}.id"));
        }
        if let Some(caps) = INITIAL_CLUSTER.captures(stdout) {
            self.initial_clusters.insert(name.clone(), caps[1].to_owned());
        }
    }
}

fn register_member(normalizer: &mut Normalizer, spec: &MemberSpec) {
    let name = &spec.name;
    normalizer.add_literal(&spec.client_url(), &format!("{name}.client_url"));
    normalizer.add_literal(&spec.peer_url(), &format!("{name}.peer_url"));
    normalizer
        .add_literal(&format!("{}:{}", spec.ip, spec.client_port), &format!("{name}.client_addr"));
    normalizer
        .add_literal(&format!("{}:{}", spec.ip, spec.peer_port), &format!("{name}.peer_addr"));
}
