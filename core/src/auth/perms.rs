//! The merged range permissions of one user (etcd's `unifiedRangePermissions`) and the checks
//! against them.
//!
//! etcd inserts every permission of every role of a user into two interval trees (read, write)
//! and asks whether the union of the stored intervals covers the requested one. Here the same
//! union is kept as sorted, disjoint, non-touching intervals, so a check is one binary search.
//! The encoding of permissions is etcd's:
//! - `range_end` empty: the single key `key`;
//! - `range_end == [0]`: every key from `key` on (open-ended);
//! - otherwise `[key, range_end)`.
//!
//! Requests use the same encoding; an empty request key is never permitted (etcd treats it as
//! past every key), and a request range with `range_end <= key` is permitted exactly when its
//! `key` alone would be (what etcd's interval tree answers for such ranges).

use alloc::vec::Vec;
use core::cmp::Ordering;

/// etcd's `authpb.Permission.Type` values.
pub const PERM_READ: i32 = 0;
/// Write access.
pub const PERM_WRITE: i32 = 1;
/// Read and write access.
pub const PERM_READWRITE: i32 = 2;

/// The end of an interval: a key (exclusive) or past every key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Key(Vec<u8>),
    Unbounded,
}

impl End {
    fn cmp_key(&self, key: &[u8]) -> Ordering {
        match self {
            End::Key(k) => k.as_slice().cmp(key),
            End::Unbounded => Ordering::Greater,
        }
    }

    fn covers(&self, other: &End) -> bool {
        match (self, other) {
            (End::Unbounded, _) => true,
            (End::Key(_), End::Unbounded) => false,
            (End::Key(a), End::Key(b)) => a >= b,
        }
    }
}

/// The interval a permission or request names, `None` when it names no key at all.
fn interval(key: &[u8], range_end: &[u8]) -> Option<(Vec<u8>, End)> {
    if key.is_empty() {
        return None;
    }
    let end = match range_end {
        [] => {
            let mut next = key.to_vec();
            next.push(0);
            End::Key(next)
        }
        [0] => End::Unbounded,
        end => End::Key(end.to_vec()),
    };
    if end.cmp_key(key) != Ordering::Greater {
        return None;
    }
    Some((key.to_vec(), end))
}

/// A union of key intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    /// Sorted by start, disjoint and not touching.
    ranges: Vec<(Vec<u8>, End)>,
}

impl KeySet {
    fn from_intervals(mut list: Vec<(Vec<u8>, End)>) -> KeySet {
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ranges: Vec<(Vec<u8>, End)> = Vec::with_capacity(list.len());
        for (start, end) in list {
            if let Some((_, last_end)) = ranges.last_mut() {
                // Touching intervals merge too: etcd's cover test accepts them as contiguous.
                if last_end.cmp_key(&start) != Ordering::Less {
                    if !last_end.covers(&end) {
                        *last_end = end;
                    }
                    continue;
                }
            }
            ranges.push((start, end));
        }
        KeySet { ranges }
    }

    /// The interval holding `key`, if any.
    fn find(&self, key: &[u8]) -> Option<&End> {
        let after = self.ranges.partition_point(|(start, _)| start.as_slice() <= key);
        let (_, end) = self.ranges.get(after.checked_sub(1)?)?;
        (end.cmp_key(key) == Ordering::Greater).then_some(end)
    }

    /// True when every key the request `(key, range_end)` names is in the set (see the module
    /// doc for the encoding).
    #[must_use]
    pub fn permits(&self, key: &[u8], range_end: &[u8]) -> bool {
        if key.is_empty() {
            return false;
        }
        let Some(found) = self.find(key) else { return false };
        match range_end {
            // One key: its interval holds it, so it holds the key's successor's bound too.
            [] => true,
            [0] => *found == End::Unbounded,
            // A range ending at or before its key: etcd answers as for the key alone.
            end if end <= key => true,
            end => found.cmp_key(end) != Ordering::Less,
        }
    }

    /// Number of disjoint intervals.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when no key is in the set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// What one user may read and write, merged over all its roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPerms {
    /// Keys the user may read.
    pub read: KeySet,
    /// Keys the user may write.
    pub write: KeySet,
}

impl UserPerms {
    /// Merges permissions given as `(perm_type, key, range_end)`. Unknown types and permissions
    /// naming no key are ignored, as etcd does.
    pub fn merge<'a>(perms: impl IntoIterator<Item = (i32, &'a [u8], &'a [u8])>) -> UserPerms {
        let mut read = Vec::new();
        let mut write = Vec::new();
        for (perm_type, key, range_end) in perms {
            let Some(ivl) = interval(key, range_end) else { continue };
            match perm_type {
                PERM_READ => read.push(ivl),
                PERM_WRITE => write.push(ivl),
                PERM_READWRITE => {
                    read.push(ivl.clone());
                    write.push(ivl);
                }
                _ => {}
            }
        }
        UserPerms { read: KeySet::from_intervals(read), write: KeySet::from_intervals(write) }
    }
}

/// etcd's `isValidPermissionRange`: a non-empty key, and a range end that is empty (one key),
/// `[0]` (open-ended) or after the key.
#[must_use]
pub fn is_valid_permission_range(key: &[u8], range_end: &[u8]) -> bool {
    !key.is_empty() && (range_end.is_empty() || range_end == [0] || key < range_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (granted permissions, request key, request range_end, may read, may write)
    type Case<'a> = (&'a [(i32, &'a str, &'a str)], &'a str, &'a str, bool, bool);

    fn perms(list: &[(i32, &str, &str)]) -> UserPerms {
        UserPerms::merge(list.iter().map(|(t, k, e)| (*t, k.as_bytes(), e.as_bytes())))
    }

    #[test]
    fn permission_table() {
        const R: i32 = PERM_READ;
        const W: i32 = PERM_WRITE;
        const RW: i32 = PERM_READWRITE;
        // (granted permissions, request key, request range_end, may read, may write)
        let cases: &[Case<'_>] = &[
            // Single-key permission.
            (&[(RW, "foo", "")], "foo", "", true, true),
            (&[(RW, "foo", "")], "fo", "", false, false),
            (&[(RW, "foo", "")], "foo0", "", false, false),
            (&[(RW, "foo", "")], "foo", "foo\0", true, true),
            (&[(RW, "foo", "")], "foo", "fop", false, false),
            // Types.
            (&[(R, "foo", "")], "foo", "", true, false),
            (&[(W, "foo", "")], "foo", "", false, true),
            (&[(R, "foo", ""), (W, "foo", "")], "foo", "", true, true),
            (&[(7, "foo", "")], "foo", "", false, false),
            // Ranges and prefixes.
            (&[(R, "a", "c")], "b", "", true, false),
            (&[(R, "a", "c")], "c", "", false, false),
            (&[(R, "a", "c")], "a", "c", true, false),
            (&[(R, "a", "c")], "a", "d", false, false),
            (&[(R, "a", "c")], "b", "bz", true, false),
            (&[(R, "/dir/", "/dir0")], "/dir/x/y", "", true, false),
            (&[(R, "/dir/", "/dir0")], "/dir/", "/dir0", true, false),
            (&[(R, "/dir/", "/dir0")], "/dir", "", false, false),
            // Open-ended permission and requests.
            (&[(RW, "m", "\0")], "zzz", "", true, true),
            (&[(RW, "m", "\0")], "m", "\0", true, true),
            (&[(RW, "m", "\0")], "l", "\0", false, false),
            (&[(RW, "a", "z")], "b", "\0", false, false),
            (&[(RW, "\0", "\0")], "\0", "\0", true, true),
            (&[(RW, "\0", "\0")], "anything", "", true, true),
            // Merging across permissions: touching and overlapping ranges cover a request.
            (&[(R, "a", "c"), (R, "c", "e")], "b", "d", true, false),
            (&[(R, "a", "c"), (R, "b", "e")], "a", "e", true, false),
            (&[(R, "a", "c"), (R, "d", "e")], "b", "d", false, false),
            (&[(R, "a", ""), (R, "a\0", "b")], "a", "b", true, false),
            (&[(R, "c", "e"), (R, "a", "c"), (R, "e", "\0")], "a", "\0", true, false),
            // Read and write are merged separately.
            (&[(R, "a", "c"), (W, "c", "e")], "b", "d", false, false),
            (&[(RW, "a", "c"), (W, "c", "e")], "b", "d", false, true),
            // Empty request keys are never permitted.
            (&[(RW, "\0", "\0")], "", "", false, false),
            (&[(RW, "\0", "\0")], "", "\0", false, false),
            // A request ending at or before its key is judged by its key alone.
            (&[(R, "b", "")], "b", "a", true, false),
            (&[(R, "a", "c")], "d", "b", false, false),
            // Permissions that name no key are ignored.
            (&[(RW, "", "\0")], "a", "", false, false),
            (&[(RW, "c", "a")], "b", "", false, false),
            (&[(RW, "c", "c")], "c", "", false, false),
        ];
        for (granted, key, end, read, write) in cases {
            let p = perms(granted);
            assert_eq!(
                p.read.permits(key.as_bytes(), end.as_bytes()),
                *read,
                "read {granted:?} {key:?} {end:?}"
            );
            assert_eq!(
                p.write.permits(key.as_bytes(), end.as_bytes()),
                *write,
                "write {granted:?} {key:?} {end:?}"
            );
        }
    }

    #[test]
    fn merged_sets_are_disjoint() {
        let p = perms(&[(R, "a", "c"), (R, "b", "d"), (R, "d", "e"), (R, "x", ""), (R, "y", "\0")]);
        assert_eq!(p.read.len(), 3);
        assert!(p.write.is_empty());
        const R: i32 = PERM_READ;
    }

    #[test]
    fn valid_permission_ranges() {
        assert!(is_valid_permission_range(b"a", b""));
        assert!(is_valid_permission_range(b"a", b"\0"));
        assert!(is_valid_permission_range(b"a", b"b"));
        assert!(is_valid_permission_range(b"\0", b"\0"));
        assert!(!is_valid_permission_range(b"", b""));
        assert!(!is_valid_permission_range(b"", b"\0"));
        assert!(!is_valid_permission_range(b"b", b"a"));
        assert!(!is_valid_permission_range(b"b", b"b"));
    }
}
