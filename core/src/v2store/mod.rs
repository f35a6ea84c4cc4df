//! etcd v2's keys API (`/v2/keys`, behind `--enable-v2`): a tree of directories and files,
//! separate from the v3 key space, as etcd 3.4 keeps it.
//!
//! The tree is replicated state: writes travel through Raft as `InternalRaftRequest.v2` and are
//! applied by [`apply`] on every member; reads ([`get`]) are served from the local copy (etcd's
//! v2 GET without `quorum=true` is the same). Nodes are records of the `Meta` table under
//! `v2/n` + their path, so they are persisted with the applied writes and travel in snapshots;
//! the bbolt export of `etcdctl snapshot save` does not carry them (etcd keeps v2 data outside
//! its bbolt file too).
//!
//! Indexes: etcd numbers v2 changes with its own store counter; oxcd uses the Raft index of the
//! applying entry, so `modifiedIndex`, `createdIndex` and `X-Etcd-Index` increase monotonically
//! and agree on every member. Not implemented: TTLs, compare-and-swap (`prevValue`,
//! `prevIndex`, `prevExist`), `wait`/watch, quorum reads.

use crate::backend::{Backend, Overlay, Table};
use crate::codec;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use oxcd_proto::etcdserverpb as pb;

#[cfg(test)]
mod tests;

/// Node records: this prefix, then the node's clean path (`/a/b`). The root is not stored.
const NODE_PREFIX: &[u8] = b"v2/n";
/// The index of the last successful v2 write.
const INDEX_KEY: &[u8] = b"v2/index";

/// etcd v2's error codes that oxcd answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2ErrorCode {
    /// 100 "Key not found".
    KeyNotFound = 100,
    /// 102 "Not a file".
    NotFile = 102,
    /// 104 "Not a directory".
    NotDir = 104,
    /// 107 "Root is read only".
    RootReadOnly = 107,
    /// 108 "Directory not empty".
    DirNotEmpty = 108,
    /// 209 "Invalid field".
    InvalidField = 209,
    /// 300 "Raft Internal Error".
    RaftInternal = 300,
}

impl V2ErrorCode {
    /// etcd's message for the code.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            V2ErrorCode::KeyNotFound => "Key not found",
            V2ErrorCode::NotFile => "Not a file",
            V2ErrorCode::NotDir => "Not a directory",
            V2ErrorCode::RootReadOnly => "Root is read only",
            V2ErrorCode::DirNotEmpty => "Directory not empty",
            V2ErrorCode::InvalidField => "Invalid field",
            V2ErrorCode::RaftInternal => "Raft Internal Error",
        }
    }

    /// The HTTP status etcd answers the code with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            V2ErrorCode::KeyNotFound => 404,
            V2ErrorCode::NotFile | V2ErrorCode::DirNotEmpty => 403,
            V2ErrorCode::RaftInternal => 500,
            V2ErrorCode::NotDir | V2ErrorCode::RootReadOnly | V2ErrorCode::InvalidField => 400,
        }
    }
}

/// A v2 error: `{"errorCode":…,"message":…,"cause":…,"index":…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Error {
    /// What went wrong.
    pub code: V2ErrorCode,
    /// The path (or field) it concerns.
    pub cause: String,
    /// The store's index when it happened.
    pub index: u64,
}

/// A node as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Node {
    /// Its clean path; `None` for the root (etcd shows no key there).
    pub key: Option<String>,
    /// True for a directory.
    pub dir: bool,
    /// A file's value (`None` for directories and for deleted nodes).
    pub value: Option<String>,
    /// The index that created it (0 for the root).
    pub created_index: u64,
    /// The index that last changed it (0 for the root).
    pub modified_index: u64,
    /// A directory's listed children, in key order (empty: not shown).
    pub nodes: Vec<V2Node>,
}

/// What happened, as etcd's `action` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Action {
    /// `get`.
    Get,
    /// `set` (PUT).
    Set,
    /// `create` (POST: an in-order key).
    Create,
    /// `delete`.
    Delete,
}

impl V2Action {
    /// etcd's name for the action.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            V2Action::Get => "get",
            V2Action::Set => "set",
            V2Action::Create => "create",
            V2Action::Delete => "delete",
        }
    }
}

/// A successful answer: `{"action":…,"node":…,"prevNode":…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Event {
    /// What happened.
    pub action: V2Action,
    /// The node after it.
    pub node: V2Node,
    /// The node before a write, if it existed.
    pub prev_node: Option<V2Node>,
}

impl V2Event {
    /// True when the write created the node (etcd answers 201 Created then).
    #[must_use]
    pub fn created(&self) -> bool {
        match self.action {
            V2Action::Create => true,
            V2Action::Set => self.prev_node.is_none(),
            V2Action::Get | V2Action::Delete => false,
        }
    }
}

/// The answer to a v2 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Response {
    /// The v3 response header the Node fills (cluster id, member id, Raft term).
    pub header: Option<pb::ResponseHeader>,
    /// The store's index after the request (`X-Etcd-Index`).
    pub index: u64,
    /// The Raft index the answer reflects (`X-Raft-Index`).
    pub raft_index: u64,
    /// The event, or etcd's v2 error.
    pub result: Result<V2Event, V2Error>,
}

/// A stored node: (dir, value, created index, modified index).
type Record = (bool, String, u64, u64);

/// The record key of a clean path.
fn node_key(path: &str) -> Vec<u8> {
    let mut key = NODE_PREFIX.to_vec();
    key.extend_from_slice(path.as_bytes());
    key
}

/// A path as etcd's v2 API understands it: empty, `.` segments dropped, `..` resolved, always
/// starting with `/`; `/` is the root.
#[must_use]
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::new();
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// True when a `Meta` record under `v2/` decodes (snapshot and restart checks).
pub(crate) fn meta_record_is_sound(key: &[u8], value: &[u8]) -> bool {
    if key == INDEX_KEY {
        codec::decode::<u64>(value).is_ok()
    } else if key.starts_with(NODE_PREFIX) {
        codec::decode::<Record>(value).is_ok()
    } else {
        true
    }
}

/// Reads through pending writes.
struct View<'a> {
    backend: &'a dyn Backend,
    overlay: &'a Overlay,
}

impl View<'_> {
    fn record(&self, path: &str) -> Option<Record> {
        let bytes = self.overlay.get(self.backend, Table::Meta, &node_key(path))?;
        // A record that does not decode is treated as absent (never produced by oxcd).
        codec::decode::<Record>(&bytes).ok()
    }

    fn index(&self) -> u64 {
        self.overlay
            .get(self.backend, Table::Meta, INDEX_KEY)
            .and_then(|b| codec::decode::<u64>(&b).ok())
            .unwrap_or(0)
    }

    /// Every descendant of `dir` (a clean path; `/` for the root), by path.
    fn descendants(&self, dir: &str) -> BTreeMap<String, Record> {
        let base = if dir == "/" { "" } else { dir };
        let from = node_key(&format!("{base}/"));
        // '0' follows '/': the range holds exactly the paths under `dir/`.
        let to = node_key(&format!("{base}0"));
        let mut out = BTreeMap::new();
        self.overlay.scan(self.backend, Table::Meta, &from, Some(&to), &mut |k, v| {
            if let (Ok(path), Ok(rec)) =
                (core::str::from_utf8(&k[NODE_PREFIX.len()..]), codec::decode::<Record>(v))
            {
                out.insert(String::from(path), rec);
            }
            ControlFlow::Continue(())
        });
        out
    }

    /// Checks the ancestors of `path`: a file among them is "Not a directory"; a missing one
    /// is returned (first missing first) for writes to create.
    fn ancestors(&self, path: &str, index: u64) -> Result<Vec<String>, V2Error> {
        let mut missing = Vec::new();
        for (i, _) in path.match_indices('/').skip(1) {
            let ancestor = &path[..i];
            match self.record(ancestor) {
                Some((true, ..)) => {}
                Some((false, ..)) => {
                    return Err(error(V2ErrorCode::NotDir, ancestor, index));
                }
                None => missing.push(String::from(ancestor)),
            }
        }
        Ok(missing)
    }
}

fn error(code: V2ErrorCode, cause: &str, index: u64) -> V2Error {
    V2Error { code, cause: String::from(cause), index }
}

fn to_node(path: &str, rec: &Record) -> V2Node {
    let (dir, value, created, modified) = rec;
    V2Node {
        key: Some(String::from(path)),
        dir: *dir,
        value: (!dir).then(|| value.clone()),
        created_index: *created,
        modified_index: *modified,
        nodes: Vec::new(),
    }
}

fn is_hidden(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|name| name.starts_with('_'))
}

/// The children of `dir` among `all` (its descendants), hidden ones (`_name`) left out, their
/// own children too when `recursive`.
fn list(dir: &str, all: &BTreeMap<String, Record>, recursive: bool) -> Vec<V2Node> {
    let prefix = if dir == "/" { String::from("/") } else { format!("{dir}/") };
    let mut out = Vec::new();
    for (path, rec) in all.range(prefix.clone()..) {
        if !path.starts_with(&prefix) {
            break;
        }
        if path[prefix.len()..].contains('/') || is_hidden(path) {
            continue;
        }
        let mut node = to_node(path, rec);
        if recursive && rec.0 {
            node.nodes = list(path, all, true);
        }
        out.push(node);
    }
    out
}

/// Serves a GET of `path` from the local store. `raft_index` is the member's applied index.
#[must_use]
pub fn get(
    backend: &dyn Backend,
    overlay: &Overlay,
    path: &str,
    recursive: bool,
    raft_index: u64,
) -> V2Response {
    let view = View { backend, overlay };
    let index = view.index();
    let path = clean_path(path);
    let result = (|| {
        if path == "/" {
            let all = view.descendants("/");
            let node = V2Node {
                key: None,
                dir: true,
                value: None,
                created_index: 0,
                modified_index: 0,
                nodes: list("/", &all, recursive),
            };
            return Ok(V2Event { action: V2Action::Get, node, prev_node: None });
        }
        let missing = view.ancestors(&path, index)?;
        if !missing.is_empty() {
            return Err(error(V2ErrorCode::KeyNotFound, &path, index));
        }
        let rec =
            view.record(&path).ok_or_else(|| error(V2ErrorCode::KeyNotFound, &path, index))?;
        let mut node = to_node(&path, &rec);
        if rec.0 {
            node.nodes = list(&path, &view.descendants(&path), recursive);
        }
        Ok(V2Event { action: V2Action::Get, node, prev_node: None })
    })();
    V2Response { header: None, index, raft_index, result }
}

/// Applies a v2 write (`PUT`, `POST`, `DELETE`) carried by the entry at `raft_index`.
/// Deterministic: every member makes the same writes and gives the same answer.
pub fn apply(
    backend: &dyn Backend,
    overlay: &mut Overlay,
    raft_index: u64,
    request: &pb::V2Request,
) -> V2Response {
    let view = View { backend, overlay };
    let before = view.index();
    let path = clean_path(&request.path);
    let planned = match request.method.as_str() {
        "PUT" => plan_set(&view, &path, request, raft_index, before),
        "POST" => plan_create(&view, &path, request, raft_index, before),
        "DELETE" => plan_delete(&view, &path, request, raft_index, before),
        _ => Err(error(V2ErrorCode::InvalidField, "method", before)),
    };
    let (index, result) = match planned {
        Ok((writes, event)) => {
            for (key, rec) in writes {
                match rec {
                    Some(rec) => overlay.put(Table::Meta, key, codec::encode(&rec)),
                    None => overlay.delete(Table::Meta, key),
                }
            }
            overlay.put(Table::Meta, INDEX_KEY.to_vec(), codec::encode(&raft_index));
            (raft_index, Ok(event))
        }
        Err(e) => (before, Err(e)),
    };
    V2Response { header: None, index, raft_index, result }
}

/// Record writes (`None`: delete).
type Writes = Vec<(Vec<u8>, Option<Record>)>;

/// Record writes and the event they make.
type Plan = (Writes, V2Event);

fn new_dirs(missing: Vec<String>, index: u64) -> Writes {
    missing.into_iter().map(|p| (node_key(&p), Some((true, String::new(), index, index)))).collect()
}

/// The writes that create the `missing` directories and put the request's node at `path`
/// (a file with its value, or an empty directory), and that node.
fn write_node(
    path: &str,
    request: &pb::V2Request,
    index: u64,
    missing: Vec<String>,
) -> (Writes, V2Node) {
    let value = if request.dir { String::new() } else { request.val.clone() };
    let rec: Record = (request.dir, value, index, index);
    let mut writes = new_dirs(missing, index);
    let node = to_node(path, &rec);
    writes.push((node_key(path), Some(rec)));
    (writes, node)
}

fn plan_set(
    view: &View<'_>,
    path: &str,
    request: &pb::V2Request,
    index: u64,
    before: u64,
) -> Result<Plan, V2Error> {
    if path == "/" {
        return Err(error(V2ErrorCode::RootReadOnly, "/", before));
    }
    let missing = view.ancestors(path, before)?;
    let prev = view.record(path);
    if prev.as_ref().is_some_and(|r| r.0) {
        return Err(error(V2ErrorCode::NotFile, path, before));
    }
    let (writes, node) = write_node(path, request, index, missing);
    let prev_node = prev.map(|r| to_node(path, &r));
    Ok((writes, V2Event { action: V2Action::Set, node, prev_node }))
}

fn plan_create(
    view: &View<'_>,
    dir: &str,
    request: &pb::V2Request,
    index: u64,
    before: u64,
) -> Result<Plan, V2Error> {
    let mut missing = Vec::new();
    if dir != "/" {
        missing = view.ancestors(dir, before)?;
        match view.record(dir) {
            Some((false, ..)) => return Err(error(V2ErrorCode::NotDir, dir, before)),
            Some((true, ..)) => {}
            None => missing.push(String::from(dir)),
        }
    }
    let base = if dir == "/" { "" } else { dir };
    let path = format!("{base}/{index:020}");
    let (writes, node) = write_node(&path, request, index, missing);
    Ok((writes, V2Event { action: V2Action::Create, node, prev_node: None }))
}

fn plan_delete(
    view: &View<'_>,
    path: &str,
    request: &pb::V2Request,
    index: u64,
    before: u64,
) -> Result<Plan, V2Error> {
    if path == "/" {
        return Err(error(V2ErrorCode::RootReadOnly, "/", before));
    }
    if !view.ancestors(path, before)?.is_empty() {
        return Err(error(V2ErrorCode::KeyNotFound, path, before));
    }
    let prev = view.record(path).ok_or_else(|| error(V2ErrorCode::KeyNotFound, path, before))?;
    let mut writes = Vec::new();
    if prev.0 {
        if !request.dir && !request.recursive {
            return Err(error(V2ErrorCode::NotFile, path, before));
        }
        let below = view.descendants(path);
        if !request.recursive && !below.is_empty() {
            return Err(error(V2ErrorCode::DirNotEmpty, path, before));
        }
        writes.extend(below.into_keys().map(|p| (node_key(&p), None)));
    }
    writes.push((node_key(path), None));
    let prev_node = to_node(path, &prev);
    let node = V2Node { value: None, modified_index: index, ..prev_node.clone() };
    Ok((writes, V2Event { action: V2Action::Delete, node, prev_node: Some(prev_node) }))
}
