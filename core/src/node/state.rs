//! The Node's own records in the state machine's `Meta` table: the applied index (with its term)
//! and the Raft configuration as of it. They are written in the same batch as the writes of the
//! entries they describe, so after a crash the durable state says exactly which entry it ends
//! at, and a snapshot taken from a frozen view says what it covers.

use crate::backend::{Backend, Overlay, Table};
use crate::codec;
use crate::ids::{LogIndex, Term};
use crate::raft::ConfState;

const APPLIED_KEY: &[u8] = b"node.applied";
const CONF_STATE_KEY: &[u8] = b"node.conf_state";
/// Every `Meta` record this module owns.
pub(crate) const NODE_KEYS: [&[u8]; 2] = [APPLIED_KEY, CONF_STATE_KEY];

/// What a durable state machine covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotPoint {
    /// The last applied entry.
    pub index: LogIndex,
    /// Its term.
    pub term: Term,
    /// The configuration as of it.
    pub conf_state: ConfState,
}

/// Reads the applied point from `backend`; `None` when nothing was ever applied.
pub(crate) fn snapshot_point(backend: &dyn Backend) -> Option<SnapshotPoint> {
    let (index, term) =
        codec::decode::<(LogIndex, Term)>(&backend.get(Table::Meta, APPLIED_KEY)?).ok()?;
    let conf_state = match backend.get(Table::Meta, CONF_STATE_KEY) {
        Some(bytes) => codec::decode::<ConfState>(&bytes).ok()?,
        None => ConfState::default(),
    };
    Some(SnapshotPoint { index, term, conf_state })
}

/// Like [`snapshot_point`], but a record that is present and does not decode is an error.
pub(crate) fn load_point(backend: &dyn Backend) -> Result<SnapshotPoint, codec::DecodeError> {
    let (index, term) = match backend.get(Table::Meta, APPLIED_KEY) {
        Some(bytes) => codec::decode::<(LogIndex, Term)>(&bytes)?,
        None => (LogIndex::ZERO, Term::ZERO),
    };
    let conf_state = match backend.get(Table::Meta, CONF_STATE_KEY) {
        Some(bytes) => codec::decode::<ConfState>(&bytes)?,
        None => ConfState::default(),
    };
    Ok(SnapshotPoint { index, term, conf_state })
}

/// True when a Meta record is one this module reads and it decodes, or one it does not read.
pub(crate) fn meta_record_is_sound(key: &[u8], value: &[u8]) -> bool {
    match key {
        APPLIED_KEY => codec::decode::<(LogIndex, Term)>(value).is_ok(),
        CONF_STATE_KEY => codec::decode::<ConfState>(value).is_ok(),
        _ => crate::v2store::meta_record_is_sound(key, value),
    }
}

/// The applied point a staged snapshot records, if it records a sound one.
pub(crate) fn staged_applied(backend: &dyn Backend) -> Option<(LogIndex, Term)> {
    let mut key = alloc::vec![Table::Meta.tag()];
    key.extend_from_slice(APPLIED_KEY);
    codec::decode::<(LogIndex, Term)>(&backend.get(Table::SnapshotStaging, &key)?).ok()
}

/// Records that the state machine now includes entry `(index, term)`.
pub(crate) fn record_applied(overlay: &mut Overlay, index: LogIndex, term: Term) {
    overlay.put(Table::Meta, APPLIED_KEY.to_vec(), codec::encode(&(index, term)));
}

/// Records the configuration in force after a configuration change was applied.
pub(crate) fn record_conf_state(overlay: &mut Overlay, conf_state: &ConfState) {
    overlay.put(Table::Meta, CONF_STATE_KEY.to_vec(), codec::encode(conf_state));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemBackend;
    use crate::ids::NodeId;

    #[test]
    fn the_applied_point_round_trips_and_corruption_is_an_error() {
        let backend = MemBackend::new();
        assert_eq!(snapshot_point(&backend), None);
        assert_eq!(load_point(&backend).unwrap(), SnapshotPoint::default());
        let mut overlay = Overlay::new();
        record_applied(&mut overlay, LogIndex(7), Term(2));
        let conf = ConfState::with_voters([NodeId(1), NodeId(2)]);
        record_conf_state(&mut overlay, &conf);
        backend.apply(&overlay.take_batch(1));
        let point = snapshot_point(&backend).unwrap();
        assert_eq!((point.index, point.term, point.conf_state), (LogIndex(7), Term(2), conf));
        let mut bad = crate::backend::WriteBatch::default();
        bad.put(Table::Meta, APPLIED_KEY.to_vec(), alloc::vec![0xff; 3]);
        backend.apply(&bad);
        assert!(load_point(&backend).is_err());
    }
}
