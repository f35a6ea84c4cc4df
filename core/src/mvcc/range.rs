//! Range requests: etcd's request checks, revision filters, sorting, limit and `more`.

use super::key_index::KeySpan;
use super::store::RangeResult;
use crate::error::ApiError;
use alloc::vec::Vec;
use oxcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use oxcd_proto::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use oxcd_proto::mvccpb::KeyValue;

/// The checks etcd's gRPC layer makes before serving a range.
///
/// # Errors
/// `EmptyKey`; `InvalidSortOption` for a sort order or target etcd does not define.
pub fn check_range_request(req: &RangeRequest) -> Result<(), ApiError> {
    if req.key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    if SortOrder::try_from(req.sort_order).is_err()
        || SortTarget::try_from(req.sort_target).is_err()
    {
        return Err(ApiError::InvalidSortOption);
    }
    Ok(())
}

/// A header carrying only a revision; the Node fills in cluster, member and term.
#[must_use]
pub fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader { revision, ..ResponseHeader::default() })
}

/// Serves `req` with `read(span, revision, limit, count_only)` doing the index and storage
/// work, as etcd's applier does: filters and sorting need every key, `limit + 1` keys tell
/// whether there are `more`.
///
/// # Errors
/// The request checks of [`check_range_request`], and whatever `read` reports (`Compacted`,
/// `FutureRev`).
pub fn serve_range(
    req: &RangeRequest,
    read: impl FnOnce(KeySpan<'_>, i64, i64, bool) -> Result<RangeResult, ApiError>,
) -> Result<RangeResponse, ApiError> {
    check_range_request(req)?;
    let filtered = req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    let mut limit = req.limit;
    if req.sort_order != SortOrder::None as i32 || filtered {
        limit = 0;
    }
    if limit > 0 {
        limit = limit.saturating_add(1);
    }
    let span = KeySpan::from_request(&req.key, &req.range_end);
    let RangeResult { mut kvs, count, rev } = read(span, req.revision, limit, req.count_only)?;

    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }

    // etcd: results come in ascending key order already; a non-key target with no order
    // sorts ascending, key ascending is left as is.
    let target = SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key);
    let mut order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
    if target != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    } else if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    if order != SortOrder::None {
        sort_kvs(&mut kvs, target, order == SortOrder::Descend);
    }

    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit) {
        if limit > 0 && kvs.len() > limit {
            kvs.truncate(limit);
            more = true;
        }
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value = Vec::new();
        }
    }
    Ok(RangeResponse { header: header(rev), kvs, more, count })
}

/// Sorts by `target`. The sort is stable, so pairs with equal targets stay in ascending key
/// order (etcd's sort is not stable: their order there is unspecified).
fn sort_kvs(kvs: &mut [KeyValue], target: SortTarget, descending: bool) {
    let cmp = |a: &KeyValue, b: &KeyValue| match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    };
    if descending {
        kvs.sort_by(|a, b| cmp(b, a));
    } else {
        kvs.sort_by(cmp);
    }
}
