//! The scenario files under `core/testdata/{mvcc,watch,lease}/`, replayed against a
//! [`KvStore`] over an in-memory backend (`REWRITE=1` regenerates expectations).

use super::kv::{KvConfig, KvStore};
use super::txn::check_txn_request;
use super::{StorageMut, StorageRef};
use crate::backend::{MemBackend, Overlay};
use crate::error::ApiError;
use crate::lease::LessorConfig;
use crate::time::Instant;
use crate::watch::{WatchConfig, WatchStreamId};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use core::time::Duration;
use datadriven::TestCase;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::request_op::Request;
use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::*;
use oxcd_proto::mvccpb::{Event, KeyValue};
use std::format;

struct Harness {
    backend: MemBackend,
    overlay: Overlay,
    kv: KvStore,
    config: KvConfig,
    now: Instant,
    batch_seq: u64,
}

fn show_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_graphic() && c != b'\\' {
            s.push(c as char);
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
    }
    s
}

fn show_kv(kv: &KeyValue) -> String {
    let mut s = format!(
        "{}={} create={} mod={} ver={}",
        show_bytes(&kv.key),
        show_bytes(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    );
    if kv.lease != 0 {
        let _ = write!(s, " lease={}", kv.lease);
    }
    s
}

fn show_event(ev: &Event) -> String {
    let kind = if ev.r#type == 0 { "PUT" } else { "DELETE" };
    let mut s = format!("{kind} {}", ev.kv.as_ref().map(show_kv).unwrap_or_default());
    if let Some(p) = &ev.prev_kv {
        let _ = write!(s, " prev=({})", show_kv(p));
    }
    s
}

fn err_line(e: ApiError) -> String {
    format!("error: {} ({:?})\n", e.message(), e.code())
}

/// Parses scenario bytes: `0x...` is hex (arguments cannot hold escapes), and `\x00`-style
/// escapes work inside inputs.
fn bytes(s: &str) -> Vec<u8> {
    if let Some(hex) = s.strip_prefix("0x") {
        return (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
    }
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            let hex = core::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    alloc::vec![0]
}

fn take_str(tc: &mut TestCase, name: &str) -> Option<String> {
    tc.try_take_arg::<String>(name).unwrap()
}

fn key_and_end(tc: &mut TestCase) -> (Vec<u8>, Vec<u8>) {
    let key = take_str(tc, "k").map(|s| bytes(&s)).unwrap_or_default();
    let end = if tc.take_flag("prefix").unwrap() {
        prefix_end(&key)
    } else {
        take_str(tc, "end").map(|s| bytes(&s)).unwrap_or_default()
    };
    (key, end)
}

fn parse_duration(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().unwrap())
    } else if let Some(sec) = s.strip_suffix('s') {
        Duration::from_secs(sec.parse().unwrap())
    } else if let Some(m) = s.strip_suffix('m') {
        Duration::from_secs(60 * m.parse::<u64>().unwrap())
    } else {
        panic!("bad duration {s}")
    }
}

fn range_request(tc: &mut TestCase) -> RangeRequest {
    let (key, range_end) = key_and_end(tc);
    let mut req = RangeRequest { key, range_end, ..RangeRequest::default() };
    req.revision = tc.try_take_arg("rev").unwrap().unwrap_or(0);
    req.limit = tc.try_take_arg("limit").unwrap().unwrap_or(0);
    req.sort_order = tc.try_take_arg("order").unwrap().unwrap_or(0);
    req.sort_target = tc.try_take_arg("target").unwrap().unwrap_or(0);
    req.keys_only = tc.take_flag("keys-only").unwrap();
    req.count_only = tc.take_flag("count-only").unwrap();
    req.min_mod_revision = tc.try_take_arg("min-mod").unwrap().unwrap_or(0);
    req.max_mod_revision = tc.try_take_arg("max-mod").unwrap().unwrap_or(0);
    req.min_create_revision = tc.try_take_arg("min-create").unwrap().unwrap_or(0);
    req.max_create_revision = tc.try_take_arg("max-create").unwrap().unwrap_or(0);
    req
}

fn show_range(out: &mut String, r: &RangeResponse) {
    let rev = r.header.as_ref().map_or(0, |h| h.revision);
    let _ = writeln!(out, "rev={rev} count={} more={}", r.count, r.more);
    for kv in &r.kvs {
        let _ = writeln!(out, "  {}", show_kv(kv));
    }
}

fn show_txn(out: &mut String, r: &TxnResponse, depth: usize) {
    let pad = "  ".repeat(depth);
    let rev = r.header.as_ref().map_or(0, |h| h.revision);
    let _ = writeln!(out, "{pad}txn succeeded={} rev={rev}", r.succeeded);
    for op in &r.responses {
        match &op.response {
            Some(Response::ResponseRange(rr)) => {
                let mut s = String::new();
                show_range(&mut s, rr);
                for line in s.lines() {
                    let _ = writeln!(out, "{pad}  range {line}");
                }
            }
            Some(Response::ResponsePut(p)) => {
                let rev = p.header.as_ref().map_or(0, |h| h.revision);
                let prev = p
                    .prev_kv
                    .as_ref()
                    .map(|kv| format!(" prev=({})", show_kv(kv)))
                    .unwrap_or_default();
                let _ = writeln!(out, "{pad}  put rev={rev}{prev}");
            }
            Some(Response::ResponseDeleteRange(d)) => {
                let rev = d.header.as_ref().map_or(0, |h| h.revision);
                let _ = writeln!(out, "{pad}  delete rev={rev} deleted={}", d.deleted);
                for kv in &d.prev_kvs {
                    let _ = writeln!(out, "{pad}    prev {}", show_kv(kv));
                }
            }
            Some(Response::ResponseTxn(t)) => show_txn(out, t, depth + 1),
            None => {
                let _ = writeln!(out, "{pad}  (empty)");
            }
        }
    }
}

/// Parses the txn DSL: `compare: <target>(<key>[..<end>]) <op> <value>`, `success: <op>`,
/// `failure: <op>`, where an op is `put k v [lease=N] [prev-kv] [ignore-value] [ignore-lease]`,
/// `get k [end] [rev=N]`, `del k [end] [prev-kv]`, `txn` (its body on the following lines that
/// start with `>`), or `empty`.
fn parse_txn(lines: &[&str]) -> TxnRequest {
    let mut req = TxnRequest::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        let (kind, rest) = line.split_once(':').unwrap_or_else(|| panic!("bad txn line {line}"));
        let rest = rest.trim();
        if kind == "compare" {
            req.compare.push(parse_compare(rest));
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let flag = |f: &str| words.contains(&f);
        let kv_arg = |name: &str| {
            words.iter().find_map(|w| w.strip_prefix(name)).map(|v| v.parse::<i64>().unwrap())
        };
        let op = match words[0] {
            "put" => Request::RequestPut(PutRequest {
                key: bytes(words[1]),
                value: words
                    .get(2)
                    .filter(|w| !w.contains('=') && !w.starts_with("ignore") && **w != "prev-kv")
                    .map(|v| bytes(v))
                    .unwrap_or_default(),
                lease: kv_arg("lease=").unwrap_or(0),
                prev_kv: flag("prev-kv"),
                ignore_value: flag("ignore-value"),
                ignore_lease: flag("ignore-lease"),
            }),
            "get" => Request::RequestRange(RangeRequest {
                key: bytes(words[1]),
                range_end: words
                    .get(2)
                    .filter(|w| !w.contains('='))
                    .map(|v| bytes(v))
                    .unwrap_or_default(),
                revision: kv_arg("rev=").unwrap_or(0),
                ..RangeRequest::default()
            }),
            "del" => Request::RequestDeleteRange(DeleteRangeRequest {
                key: bytes(words[1]),
                range_end: words
                    .get(2)
                    .filter(|w| !w.contains('-'))
                    .map(|v| bytes(v))
                    .unwrap_or_default(),
                prev_kv: flag("prev-kv"),
            }),
            "txn" => {
                let mut body = Vec::new();
                while i < lines.len() && lines[i].trim_start().starts_with('>') {
                    body.push(lines[i].trim_start()[1..].trim_start());
                    i += 1;
                }
                Request::RequestTxn(parse_txn(&body))
            }
            "empty" => {
                let op = RequestOp { request: None };
                if kind == "success" {
                    req.success.push(op)
                } else {
                    req.failure.push(op)
                }
                continue;
            }
            other => panic!("bad txn op {other}"),
        };
        let op = RequestOp { request: Some(op) };
        match kind {
            "success" => req.success.push(op),
            "failure" => req.failure.push(op),
            other => panic!("bad txn branch {other}"),
        }
    }
    req
}

fn parse_compare(s: &str) -> Compare {
    // e.g. `version(k) = 0`, `value(a..c) > x`, `mod(k) != 3`
    let (target, rest) = s.split_once('(').unwrap();
    let (keyspec, rest) = rest.split_once(')').unwrap();
    let mut parts = rest.split_whitespace();
    let op = parts.next().unwrap();
    let value = parts.next().unwrap_or("");
    let (key, range_end) = match keyspec.split_once("..") {
        Some((k, e)) => (bytes(k), bytes(e)),
        None => (bytes(keyspec), Vec::new()),
    };
    let result = match op {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        other => panic!("bad compare op {other}"),
    } as i32;
    let n = || value.parse::<i64>().unwrap();
    let (target, union) = match target {
        "version" => (CompareTarget::Version, TargetUnion::Version(n())),
        "create" => (CompareTarget::Create, TargetUnion::CreateRevision(n())),
        "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(n())),
        "value" => (CompareTarget::Value, TargetUnion::Value(bytes(value))),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(n())),
        other => panic!("bad compare target {other}"),
    };
    Compare { result, target: target as i32, key, target_union: Some(union), range_end }
}

impl Harness {
    fn new() -> Self {
        let config = KvConfig {
            lessor: LessorConfig::for_election_timeout(Duration::from_secs(1)),
            watch: WatchConfig {
                max_queued_responses: 4,
                max_events_per_sync: 3,
                ..WatchConfig::default()
            },
        };
        Harness {
            backend: MemBackend::new(),
            overlay: Overlay::new(),
            kv: KvStore::new(config.clone()),
            config,
            now: Instant::ZERO,
            batch_seq: 0,
        }
    }

    fn persist(&mut self) {
        self.batch_seq += 1;
        let batch = self.overlay.take_batch(self.batch_seq);
        self.backend.apply(&batch);
        self.overlay.persisted(self.batch_seq);
    }

    fn st(&mut self) -> StorageMut<'_> {
        StorageMut::new(&self.backend, &mut self.overlay)
    }

    fn view(&self) -> StorageRef<'_> {
        StorageRef::new(&self.backend, &self.overlay)
    }

    fn handle(&mut self, tc: &mut TestCase) -> String {
        let mut out = String::new();
        match tc.directive.as_str() {
            "put" => {
                let (key, _) = key_and_end(tc);
                let req = PutRequest {
                    key,
                    value: take_str(tc, "v").map(|s| bytes(&s)).unwrap_or_default(),
                    lease: tc.try_take_arg("lease").unwrap().unwrap_or(0),
                    prev_kv: tc.take_flag("prev-kv").unwrap(),
                    ignore_value: tc.take_flag("ignore-value").unwrap(),
                    ignore_lease: tc.take_flag("ignore-lease").unwrap(),
                };
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let r = kv.apply_put(&mut self.st(), &req);
                self.kv = kv;
                match r {
                    Ok(r) => {
                        let _ = write!(out, "rev={}", r.header.map_or(0, |h| h.revision));
                        if let Some(p) = r.prev_kv {
                            let _ = write!(out, " prev=({})", show_kv(&p));
                        }
                        out.push('\n');
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "get" => {
                let req = range_request(tc);
                match self.kv.range(self.view(), &req) {
                    Ok(r) => show_range(&mut out, &r),
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "del" => {
                let (key, range_end) = key_and_end(tc);
                let req = DeleteRangeRequest {
                    key,
                    range_end,
                    prev_kv: tc.take_flag("prev-kv").unwrap(),
                };
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let r = kv.apply_delete_range(&mut self.st(), &req);
                self.kv = kv;
                match r {
                    Ok(r) => {
                        let _ = writeln!(
                            out,
                            "rev={} deleted={}",
                            r.header.map_or(0, |h| h.revision),
                            r.deleted
                        );
                        for kv in &r.prev_kvs {
                            let _ = writeln!(out, "  prev {}", show_kv(kv));
                        }
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "txn" => {
                let lines: Vec<&str> = tc.input.lines().collect();
                let req = parse_txn(&lines);
                let max_ops: usize = tc.try_take_arg("max-ops").unwrap().unwrap_or(128);
                if let Err(e) = check_txn_request(&req, max_ops) {
                    out.push_str(&err_line(e));
                } else {
                    let mut kv =
                        core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                    let r = kv.apply_txn(&mut self.st(), &req);
                    self.kv = kv;
                    match r {
                        Ok(r) => show_txn(&mut out, &r, 0),
                        Err(e) => out.push_str(&err_line(e)),
                    }
                }
            }
            "compact" => {
                let req =
                    CompactionRequest { revision: tc.take_arg("rev").unwrap(), physical: false };
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let r = kv.apply_compaction(&mut self.st(), &req);
                self.kv = kv;
                match r {
                    Ok(r) => {
                        let _ = writeln!(out, "ok rev={}", r.header.map_or(0, |h| h.revision));
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "compaction-step" => {
                let max: usize = tc.try_take_arg("max").unwrap().unwrap_or(usize::MAX);
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let p = kv.compaction_step(&mut self.st(), max);
                self.kv = kv;
                let _ = writeln!(out, "{p:?}");
            }
            "records" => {
                let mut n = 0;
                self.view().scan(crate::backend::Table::Kv, &[], None, &mut |k, _| {
                    let b = super::revision::BucketKey::decode(k).unwrap();
                    let _ = write!(out, "{}{} ", b.rev, if b.tombstone { "t" } else { "" });
                    n += 1;
                    core::ops::ControlFlow::Continue(())
                });
                let _ = writeln!(out, "({n} records)");
            }
            "hash" => {
                let rev = tc.try_take_arg("rev").unwrap().unwrap_or(0);
                match self.kv.hash_kv(self.view(), rev) {
                    Ok(h) => {
                        let _ = writeln!(
                            out,
                            "hash={:#010x} compact={} rev={}",
                            h.hash, h.compact_revision, h.hash_revision
                        );
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "restart" => {
                self.persist();
                self.kv = KvStore::open(
                    self.config.clone(),
                    StorageRef::new(&self.backend, &self.overlay),
                );
                let _ = writeln!(
                    out,
                    "rev={} compact={}",
                    self.kv.current_revision(),
                    self.kv.compact_revision()
                );
            }
            // ----- leases -----
            "grant" => {
                let req = LeaseGrantRequest {
                    id: tc.take_arg("id").unwrap(),
                    ttl: tc.take_arg("ttl").unwrap(),
                };
                let now = self.now;
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let r = kv.apply_lease_grant(&mut self.st(), &req, now);
                self.kv = kv;
                match r {
                    Ok(r) => {
                        let _ = writeln!(out, "id={} ttl={}", r.id, r.ttl);
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "revoke" => {
                let req = LeaseRevokeRequest { id: tc.take_arg("id").unwrap() };
                let mut kv = core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                let r = kv.apply_lease_revoke(&mut self.st(), &req);
                self.kv = kv;
                match r {
                    Ok(r) => {
                        let _ = writeln!(out, "rev={}", r.header.map_or(0, |h| h.revision));
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "keepalive" => {
                let req = LeaseKeepAliveRequest { id: tc.take_arg("id").unwrap() };
                match self.kv.lease_keep_alive(&req, self.now) {
                    Ok(r) => {
                        let _ = writeln!(out, "id={} ttl={}", r.id, r.ttl);
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "ttl" => {
                let req = LeaseTimeToLiveRequest {
                    id: tc.take_arg("id").unwrap(),
                    keys: tc.take_flag("keys").unwrap(),
                };
                match self.kv.lease_time_to_live(&req, self.now) {
                    Ok(r) => {
                        let keys: Vec<String> = r.keys.iter().map(|k| show_bytes(k)).collect();
                        let _ = writeln!(
                            out,
                            "id={} ttl={} granted={} keys=[{}]",
                            r.id,
                            r.ttl,
                            r.granted_ttl,
                            keys.join(" ")
                        );
                    }
                    Err(e) => out.push_str(&err_line(e)),
                }
            }
            "leases" => {
                let ids: Vec<String> =
                    self.kv.lease_leases().leases.iter().map(|l| l.id.to_string()).collect();
                let _ = writeln!(out, "[{}]", ids.join(" "));
            }
            "promote" => {
                let extend =
                    take_str(tc, "extend").map_or(Duration::from_secs(1), |s| parse_duration(&s));
                let now = self.now;
                self.kv.lessor_mut().promote(now, extend);
                out.push_str("ok\n");
            }
            "demote" => {
                self.kv.lessor_mut().demote();
                out.push_str("ok\n");
            }
            "advance" => {
                let d = parse_duration(&tc.take_arg::<String>("by").unwrap());
                self.now += d;
                let _ = writeln!(out, "now={}s", self.now.as_nanos() / 1_000_000_000);
            }
            "expired" => {
                let max = tc.try_take_arg("max").unwrap().unwrap_or(100);
                let now = self.now;
                let ids: Vec<String> = self
                    .kv
                    .lessor_mut()
                    .poll_expired(now, max)
                    .iter()
                    .map(|i| i.to_string())
                    .collect();
                let _ = writeln!(out, "[{}]", ids.join(" "));
            }
            "checkpoints" => {
                let now = self.now;
                let cps = self.kv.lessor_mut().poll_checkpoints(now, 100);
                for cp in &cps {
                    let _ = writeln!(out, "id={} remaining={}", cp.id, cp.remaining_ttl);
                }
                if tc.take_flag("apply").unwrap() && !cps.is_empty() {
                    let req = LeaseCheckpointRequest {
                        checkpoints: cps
                            .iter()
                            .map(|c| LeaseCheckpoint { id: c.id.0, remaining_ttl: c.remaining_ttl })
                            .collect(),
                    };
                    let mut kv =
                        core::mem::replace(&mut self.kv, KvStore::new(self.config.clone()));
                    kv.apply_lease_checkpoint(&mut self.st(), &req, now);
                    self.kv = kv;
                    out.push_str("applied\n");
                }
                if cps.is_empty() {
                    out.push_str("none\n");
                }
            }
            // ----- watches -----
            "watch" => {
                let stream = WatchStreamId(tc.try_take_arg("stream").unwrap().unwrap_or(1));
                let (key, range_end) = key_and_end(tc);
                let mut filters = Vec::new();
                if tc.take_flag("noput").unwrap() {
                    filters.push(0);
                }
                if tc.take_flag("nodelete").unwrap() {
                    filters.push(1);
                }
                let req = WatchCreateRequest {
                    key,
                    range_end,
                    start_revision: tc.try_take_arg("from").unwrap().unwrap_or(0),
                    progress_notify: tc.take_flag("progress-notify").unwrap(),
                    filters,
                    prev_kv: tc.take_flag("prev-kv").unwrap(),
                    watch_id: tc.try_take_arg("id").unwrap().unwrap_or(0),
                    fragment: tc.take_flag("fragment").unwrap(),
                };
                let now = self.now;
                self.kv.watch_create(stream, &req, now);
                self.drain(&mut out);
            }
            "cancel" => {
                let stream = WatchStreamId(tc.try_take_arg("stream").unwrap().unwrap_or(1));
                self.kv.watch_cancel(stream, tc.take_arg("id").unwrap());
                self.drain(&mut out);
            }
            "progress" => {
                let stream = WatchStreamId(tc.try_take_arg("stream").unwrap().unwrap_or(1));
                self.kv.watch_progress(stream);
                self.drain(&mut out);
            }
            "tick" => {
                let now = self.now;
                self.kv.watch_timeout(now);
                self.drain(&mut out);
            }
            "sync" => {
                let steps: usize = tc.try_take_arg("steps").unwrap().unwrap_or(100);
                let mut taken = 0;
                for _ in 0..steps {
                    taken += 1;
                    let (b, o) = (&self.backend, &self.overlay);
                    if !self.kv.sync_watchers(StorageRef::new(b, o)) {
                        break;
                    }
                }
                let _ =
                    writeln!(out, "steps={taken} unsynced={}", self.kv.watches().has_unsynced());
                if !tc.take_flag("no-drain").unwrap() {
                    self.drain(&mut out);
                }
            }
            "drain" => self.drain(&mut out),
            "close" => {
                let stream = WatchStreamId(tc.try_take_arg("stream").unwrap().unwrap_or(1));
                self.kv.watches_mut().close_stream(stream);
                out.push_str("ok\n");
            }
            other => panic!("unknown directive {other}"),
        }
        let quiet = tc.take_flag("quiet").unwrap();
        if !matches!(
            tc.directive.as_str(),
            "watch" | "cancel" | "progress" | "tick" | "sync" | "drain"
        ) && !quiet
            && tc.take_flag("show-watch").unwrap()
        {
            self.drain(&mut out);
        }
        tc.expect_empty().unwrap();
        self.persist();
        if quiet {
            return String::from("ok\n");
        }
        out
    }

    fn drain(&mut self, out: &mut String) {
        let header = ResponseHeader { cluster_id: 1, member_id: 2, raft_term: 3, revision: 0 };
        for _ in 0..10_000 {
            let Some((stream, r)) = self.kv.poll_watch_output(&header) else { return };
            let rev = r.header.as_ref().map_or(0, |h| h.revision);
            let _ = write!(out, "{stream} id={} rev={rev}", r.watch_id);
            if r.created {
                out.push_str(" created");
            }
            if r.canceled {
                out.push_str(" canceled");
            }
            if r.compact_revision != 0 {
                let _ = write!(out, " compact={}", r.compact_revision);
            }
            if !r.cancel_reason.is_empty() {
                let _ = write!(out, " reason=\"{}\"", r.cancel_reason);
            }
            if r.fragment {
                out.push_str(" fragment");
            }
            if r.events.is_empty() && !r.created && !r.canceled {
                out.push_str(" progress");
            }
            out.push('\n');
            for ev in &r.events {
                let _ = writeln!(out, "  {}", show_event(ev));
            }
        }
        panic!("watch output did not drain");
    }
}

fn run_dir(dir: &str) {
    let path = format!("{}/testdata/{dir}", env!("CARGO_MANIFEST_DIR"));
    datadriven::walk(&path, |f| {
        let mut h = Harness::new();
        f.run(|tc| h.handle(tc));
    });
}

#[test]
fn mvcc_scenarios() {
    run_dir("mvcc");
}

#[test]
fn watch_scenarios() {
    run_dir("watch");
}

#[test]
fn lease_scenarios() {
    run_dir("lease");
}
