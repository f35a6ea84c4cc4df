//! Puts, deletes and transactions, with etcd's request checks, compare rules and responses.

use super::key_index::KeySpan;
use super::range::{check_range_request, header, serve_range};
use super::storage::StorageRef;
use super::store::{RangeResult, Store, Writer};
use crate::error::ApiError;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::request_op::Request;
use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RequestOp,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use oxcd_proto::mvccpb::KeyValue;

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// The checks etcd's gRPC layer makes on a put.
///
/// # Errors
/// `EmptyKey`, `ValueProvided` (a value with `ignore_value`), `LeaseProvided` (a lease with
/// `ignore_lease`).
pub fn check_put_request(req: &PutRequest) -> Result<(), ApiError> {
    if req.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(ApiError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(ApiError::LeaseProvided);
    }
    Ok(())
}

/// The checks etcd's gRPC layer makes on a delete.
///
/// # Errors
/// `EmptyKey`.
pub fn check_delete_range_request(req: &DeleteRangeRequest) -> Result<(), ApiError> {
    if req.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    Ok(())
}

/// The checks etcd's gRPC layer makes on a transaction: operation counts against
/// `max_txn_ops` (nested transactions get what their parent leaves), every operation's own
/// checks, and the duplicate-key rule (no key put twice, or put and deleted, in one path).
///
/// # Errors
/// `TooManyOps`, `EmptyKey`, `InvalidSortOption`, `ValueProvided`, `LeaseProvided`,
/// `DuplicateKey`.
pub fn check_txn_request(req: &TxnRequest, max_txn_ops: usize) -> Result<(), ApiError> {
    check_txn_ops(req, i64::try_from(max_txn_ops).unwrap_or(i64::MAX))?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

fn check_txn_ops(req: &TxnRequest, max_ops: i64) -> Result<(), ApiError> {
    let opc = req.compare.len().max(req.success.len()).max(req.failure.len()) as i64;
    if opc > max_ops {
        return Err(ApiError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(ApiError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => check_range_request(r)?,
            Some(Request::RequestPut(r)) => check_put_request(r)?,
            Some(Request::RequestDeleteRange(r)) => check_delete_range_request(r)?,
            Some(Request::RequestTxn(r)) => check_txn_ops(r, max_ops - opc)?,
            None => {}
        }
    }
    Ok(())
}

/// A deletion's key interval, compared as etcd's interval tree does: an empty end means
/// "to infinity", and `"\0"` is an ordinary (tiny) end.
struct DelInterval<'a> {
    begin: &'a [u8],
    /// `None`: the single key `begin`.
    end: Option<&'a [u8]>,
}

impl DelInterval<'_> {
    fn contains(&self, k: &[u8]) -> bool {
        match self.end {
            None => k == self.begin,
            Some(end) => self.begin <= k && (end.is_empty() || k < end),
        }
    }
}

type PutsAndDels<'a> = (BTreeSet<&'a [u8]>, Vec<DelInterval<'a>>);

fn check_intervals(reqs: &[RequestOp]) -> Result<PutsAndDels<'_>, ApiError> {
    let mut dels: Vec<DelInterval<'_>> = reqs
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(DelInterval {
                begin: &d.key,
                end: (!d.range_end.is_empty()).then_some(d.range_end.as_slice()),
            }),
            _ => None,
        })
        .collect();
    let mut puts: BTreeSet<&[u8]> = BTreeSet::new();
    let intersects = |dels: &[DelInterval<'_>], k: &[u8]| dels.iter().any(|d| d.contains(k));
    for op in reqs {
        let Some(Request::RequestTxn(t)) = &op.request else { continue };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || intersects(&dels, k) {
                return Err(ApiError::DuplicateKey);
            }
            puts.insert(k);
        }
        for k in &puts_else {
            // Then and else never both run: the same key in both is fine.
            if puts.contains(k) && !puts_then.contains(k) {
                return Err(ApiError::DuplicateKey);
            }
            if intersects(&dels, k) {
                return Err(ApiError::DuplicateKey);
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in reqs {
        let Some(Request::RequestPut(p)) = &op.request else { continue };
        let k = p.key.as_slice();
        if puts.contains(k) || intersects(&dels, k) {
            return Err(ApiError::DuplicateKey);
        }
        puts.insert(k);
    }
    Ok((puts, dels))
}

/// True when no branch of `req`, at any depth, writes.
#[must_use]
pub fn is_txn_read_only(req: &TxnRequest) -> bool {
    req.success.iter().chain(&req.failure).all(|op| match &op.request {
        Some(Request::RequestPut(_) | Request::RequestDeleteRange(_)) => false,
        Some(Request::RequestTxn(t)) => is_txn_read_only(t),
        Some(Request::RequestRange(_)) | None => true,
    })
}

/// What a transaction runs against: reads, and writes for transactions that write.
pub(crate) trait TxnTarget {
    /// A range read at the target's current revision.
    fn read(
        &self,
        span: KeySpan<'_>,
        rev: i64,
        limit: i64,
        count_only: bool,
    ) -> Result<RangeResult, ApiError>;
    /// A put (checked already).
    fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> i64;
    /// A delete; (deleted, response revision).
    fn delete_range(&mut self, span: KeySpan<'_>) -> (i64, i64);
    /// The compacted revision.
    fn compact_rev(&self) -> i64;
    /// The revision reads stand at.
    fn rev(&self) -> i64;
}

impl TxnTarget for Writer<'_, '_> {
    fn read(
        &self,
        span: KeySpan<'_>,
        rev: i64,
        limit: i64,
        count_only: bool,
    ) -> Result<RangeResult, ApiError> {
        self.range_keys(span, rev, limit, count_only)
    }
    fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> i64 {
        Writer::put(self, key, value, lease)
    }
    fn delete_range(&mut self, span: KeySpan<'_>) -> (i64, i64) {
        Writer::delete_range(self, span)
    }
    fn compact_rev(&self) -> i64 {
        self.store().compact_revision()
    }
    fn rev(&self) -> i64 {
        Writer::rev(self)
    }
}

/// A read-only view for transactions without writes.
pub(crate) struct ReadTarget<'a> {
    pub store: &'a Store,
    pub storage: StorageRef<'a>,
}

impl TxnTarget for ReadTarget<'_> {
    fn read(
        &self,
        span: KeySpan<'_>,
        rev: i64,
        limit: i64,
        count_only: bool,
    ) -> Result<RangeResult, ApiError> {
        let cur = self.store.current_revision();
        self.store.range_keys(self.storage, span, rev, cur, limit, count_only)
    }
    fn put(&mut self, _: &[u8], _: Vec<u8>, _: i64) -> i64 {
        panic!("mvcc: write in a read-only transaction");
    }
    fn delete_range(&mut self, _: KeySpan<'_>) -> (i64, i64) {
        panic!("mvcc: write in a read-only transaction");
    }
    fn compact_rev(&self) -> i64 {
        self.store.compact_revision()
    }
    fn rev(&self) -> i64 {
        self.store.current_revision()
    }
}

/// Applies a put to `target`, as etcd's applier does (the lease was checked by the caller).
pub(crate) fn put_op(
    target: &mut dyn TxnTarget,
    req: &PutRequest,
) -> Result<PutResponse, ApiError> {
    let mut prev = None;
    if req.ignore_value || req.ignore_lease || req.prev_kv {
        prev = target.read(KeySpan::Single(&req.key), 0, 0, false)?.kvs.pop();
    }
    let (mut value, mut lease) = (None, req.lease);
    if req.ignore_value || req.ignore_lease {
        let Some(p) = &prev else { return Err(ApiError::KeyNotFound) };
        if req.ignore_value {
            value = Some(p.value.clone());
        }
        if req.ignore_lease {
            lease = p.lease;
        }
    }
    let value = value.unwrap_or_else(|| req.value.clone());
    let rev = target.put(&req.key, value, lease);
    Ok(PutResponse { header: header(rev), prev_kv: if req.prev_kv { prev } else { None } })
}

/// Applies a delete to `target`.
pub(crate) fn delete_op(
    target: &mut dyn TxnTarget,
    req: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse, ApiError> {
    let span = KeySpan::from_request(&req.key, &req.range_end);
    let prev_kvs = if req.prev_kv { target.read(span, 0, 0, false)?.kvs } else { Vec::new() };
    let (deleted, rev) = target.delete_range(span);
    Ok(DeleteRangeResponse { header: header(rev), deleted, prev_kvs })
}

/// Evaluates every compare on the chosen path before anything is written: `path[0]` is this
/// transaction's outcome, followed by the outcomes of the nested transactions it runs, in
/// order.
pub(crate) fn compare_path(target: &dyn TxnTarget, req: &TxnRequest, path: &mut Vec<bool>) {
    let ok = req.compare.iter().all(|c| compare_holds(target, c));
    path.push(ok);
    let ops = if ok { &req.success } else { &req.failure };
    for op in ops {
        if let Some(Request::RequestTxn(t)) = &op.request {
            compare_path(target, t, path);
        }
    }
}

fn compare_holds(target: &dyn TxnTarget, c: &Compare) -> bool {
    let span = KeySpan::from_request(&c.key, &c.range_end);
    let Ok(read) = target.read(span, 0, 0, false) else { return false };
    if read.kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            // A missing key has no value to compare: always false.
            return false;
        }
        return compare_kv(c, &KeyValue::default());
    }
    read.kvs.iter().all(|kv| compare_kv(c, kv))
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let number =
        |want: fn(&TargetUnion) -> Option<i64>| c.target_union.as_ref().and_then(want).unwrap_or(0);
    let ord = match CompareTarget::try_from(c.target) {
        Ok(CompareTarget::Value) => {
            let empty = Vec::new();
            let v = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &empty,
            };
            kv.value.as_slice().cmp(v.as_slice())
        }
        Ok(CompareTarget::Create) => kv.create_revision.cmp(&number(|t| {
            if let TargetUnion::CreateRevision(r) = t {
                Some(*r)
            } else {
                None
            }
        })),
        Ok(CompareTarget::Mod) => kv.mod_revision.cmp(&number(|t| {
            if let TargetUnion::ModRevision(r) = t {
                Some(*r)
            } else {
                None
            }
        })),
        Ok(CompareTarget::Version) => {
            kv.version
                .cmp(&number(|t| if let TargetUnion::Version(r) = t { Some(*r) } else { None }))
        }
        Ok(CompareTarget::Lease) => {
            kv.lease.cmp(&number(|t| if let TargetUnion::Lease(r) = t { Some(*r) } else { None }))
        }
        Err(_) => core::cmp::Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord.is_eq(),
        Ok(CompareResult::NotEqual) => ord.is_ne(),
        Ok(CompareResult::Greater) => ord.is_gt(),
        Ok(CompareResult::Less) => ord.is_lt(),
        Err(_) => true,
    }
}

/// etcd's pre-write checks of a writing transaction's chosen path: puts name existing leases
/// and (with `ignore_*`) existing keys; ranges name readable revisions. Returns how many
/// nested transactions the path covered.
pub(crate) fn check_path(
    target: &dyn TxnTarget,
    req: &TxnRequest,
    path: &[bool],
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<usize, ApiError> {
    let mut nested = 0;
    let ops = if path[0] { &req.success } else { &req.failure };
    let mut rest = &path[1..];
    for op in ops {
        match &op.request {
            Some(Request::RequestTxn(t)) => {
                let n = check_path(target, t, rest, lease_exists)?;
                nested += n + 1;
                rest = &rest[n + 1..];
            }
            Some(Request::RequestPut(p)) => {
                if (p.ignore_value || p.ignore_lease)
                    && target.read(KeySpan::Single(&p.key), 0, 0, false)?.kvs.is_empty()
                {
                    return Err(ApiError::KeyNotFound);
                }
                if p.lease != 0 && !lease_exists(p.lease) {
                    return Err(ApiError::LeaseNotFound);
                }
            }
            Some(Request::RequestRange(r)) => {
                if r.revision != 0 && r.revision > target.rev() {
                    return Err(ApiError::FutureRev);
                }
                if r.revision != 0 && r.revision < target.compact_rev() {
                    return Err(ApiError::Compacted);
                }
            }
            Some(Request::RequestDeleteRange(_)) | None => {}
        }
    }
    Ok(nested)
}

/// Runs the operations of the chosen branches, filling responses as etcd does: nested
/// transaction responses carry an empty header, each operation's response its own revision.
/// Returns how many nested transactions the path covered.
pub(crate) fn run_path(
    target: &mut dyn TxnTarget,
    req: &TxnRequest,
    path: &[bool],
    resp: &mut TxnResponse,
) -> Result<usize, ApiError> {
    let mut nested = 0;
    let ops = if path[0] { &req.success } else { &req.failure };
    resp.succeeded = path[0];
    let mut rest = &path[1..];
    for op in ops {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => {
                let read = |span: KeySpan<'_>, rev, limit, count_only| {
                    target.read(span, rev, limit, count_only)
                };
                Some(Response::ResponseRange(serve_range(r, read)?))
            }
            Some(Request::RequestPut(p)) => Some(Response::ResponsePut(put_op(target, p)?)),
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(delete_op(target, d)?))
            }
            Some(Request::RequestTxn(t)) => {
                let mut inner = TxnResponse {
                    header: Some(ResponseHeader::default()),
                    ..TxnResponse::default()
                };
                let n = run_path(target, t, rest, &mut inner)?;
                nested += n + 1;
                rest = &rest[n + 1..];
                Some(Response::ResponseTxn(inner))
            }
            None => None,
        };
        resp.responses.push(ResponseOp { response });
    }
    Ok(nested)
}
