//! How Raft's persistent state maps onto the backend tables, and how it is read back.
//!
//! - [`Table::RaftLog`]: one record per entry, key = the index as 8 big-endian bytes (so key
//!   order is log order), value = the bincode-encoded [`Entry`].
//! - [`Table::RaftState`]: `hard_state` ([`HardState`]), `compacted` (the compaction point
//!   `(index, term)`), `snapshot` (the [`SnapshotMeta`] last installed).
//!
//! Every value is encoded with [`CODEC`]: bincode 2's standard configuration (little-endian,
//! variable-length integers) with a 64 MiB limit per record, so a corrupt length prefix yields
//! an error instead of a huge allocation. This is the one place that choice is made.
//!
//! The applied index and the configuration as of it belong to the state machine, which the
//! Node persists in its own tables in the same transaction as the applied writes; the Node
//! passes them to [`RecoveredLog::into_recovered`].

use super::output::PersistRequest;
use super::raw::RaftRecovered;
use super::types::{ConfState, Entry, HardState, SnapshotMeta};
use crate::backend::{Backend, Table, WriteBatch};
use crate::ids::{LogIndex, Term};
use alloc::vec::Vec;
use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use core::fmt;
use core::ops::ControlFlow;

/// Largest record (entry or state value) the codec decodes.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// The bincode configuration of every Raft record (and of [`ConfChange`](super::ConfChange)
/// data in entries).
pub const CODEC: Configuration<LittleEndian, Varint, Limit<MAX_RECORD_BYTES>> =
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>();

const HARD_STATE_KEY: &[u8] = b"hard_state";
const COMPACTED_KEY: &[u8] = b"compacted";
const SNAPSHOT_KEY: &[u8] = b"snapshot";

/// The key of the log record for `index`.
#[must_use]
pub fn log_key(index: LogIndex) -> [u8; 8] {
    index.0.to_be_bytes()
}

fn encode<T: bincode::Encode>(value: &T) -> Vec<u8> {
    // Encoding these plain types into a Vec cannot fail.
    bincode::encode_to_vec(value, CODEC).expect("raft records always encode")
}

/// Appends to `batch` the writes that carry out `req`, in the order `PersistRequest` documents.
/// The Node adds its own part (e.g. installing the staged snapshot) to the same batch.
pub fn persist_ops(req: &PersistRequest, batch: &mut WriteBatch) {
    if let Some(meta) = &req.install_snapshot {
        batch.delete_range(Table::RaftLog, Vec::new(), None);
        batch.put(Table::RaftState, COMPACTED_KEY.to_vec(), encode(&(meta.index, meta.term)));
        batch.put(Table::RaftState, SNAPSHOT_KEY.to_vec(), encode(meta));
    }
    if let Some(from) = req.truncate_from {
        batch.delete_range(Table::RaftLog, log_key(from).to_vec(), None);
    }
    for e in &req.append {
        batch.put(Table::RaftLog, log_key(e.index).to_vec(), encode(e));
    }
    if let Some((index, term)) = req.compact_to {
        batch.delete_range(Table::RaftLog, Vec::new(), Some(log_key(index.next()).to_vec()));
        batch.put(Table::RaftState, COMPACTED_KEY.to_vec(), encode(&(index, term)));
    }
    if let Some(hs) = &req.hard_state {
        batch.put(Table::RaftState, HARD_STATE_KEY.to_vec(), encode(hs));
    }
}

/// Raft's durable state as read back from storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredLog {
    /// The last hard state written (default if none).
    pub hard_state: HardState,
    /// The compaction point (`(0, 0)` if never compacted).
    pub compacted: (LogIndex, Term),
    /// The entries after the compaction point.
    pub entries: Vec<Entry>,
    /// The snapshot last installed, if any.
    pub snapshot: Option<SnapshotMeta>,
}

impl RecoveredLog {
    /// Completes the picture with what the state machine knows: its durable applied index and
    /// the configuration as of it.
    #[must_use]
    pub fn into_recovered(self, conf_state: ConfState, applied: LogIndex) -> RaftRecovered {
        RaftRecovered {
            hard_state: self.hard_state,
            compacted: self.compacted,
            entries: self.entries,
            conf_state,
            applied,
        }
    }
}

/// Why stored Raft state could not be read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoverError {
    /// A record does not decode.
    Corrupt {
        /// The table.
        table: Table,
        /// What the record is (a state key, or `entry` with the index).
        record: &'static str,
        /// The index, for log records.
        index: Option<u64>,
    },
    /// Log records are missing or out of place: `expected` was the next index, `found` the key
    /// (or entry index) seen.
    Gap {
        /// The index expected next.
        expected: LogIndex,
        /// What was found.
        found: LogIndex,
    },
}

impl fmt::Display for RecoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoverError::Corrupt { table, record, index: Some(i) } => {
                write!(f, "raft storage: corrupt {record} {i} in table {table}")
            }
            RecoverError::Corrupt { table, record, index: None } => {
                write!(f, "raft storage: corrupt {record} in table {table}")
            }
            RecoverError::Gap { expected, found } => {
                write!(f, "raft storage: log gap: expected entry {expected}, found {found}")
            }
        }
    }
}

fn decode_state<T: bincode::Decode<()>>(
    backend: &dyn Backend,
    key: &'static [u8],
    name: &'static str,
) -> Result<Option<T>, RecoverError> {
    let Some(bytes) = backend.get(Table::RaftState, key) else { return Ok(None) };
    match bincode::decode_from_slice::<T, _>(&bytes, CODEC) {
        Ok((value, used)) if used == bytes.len() => Ok(Some(value)),
        _ => Err(RecoverError::Corrupt { table: Table::RaftState, record: name, index: None }),
    }
}

/// Reads Raft's durable state back.
///
/// # Errors
/// A record that does not decode, or log records that are not consecutive after the
/// compaction point.
pub fn recover(backend: &dyn Backend) -> Result<RecoveredLog, RecoverError> {
    let hard_state =
        decode_state::<HardState>(backend, HARD_STATE_KEY, "hard_state")?.unwrap_or_default();
    let compacted = decode_state::<(LogIndex, Term)>(backend, COMPACTED_KEY, "compacted")?
        .unwrap_or((LogIndex::ZERO, Term::ZERO));
    let snapshot = decode_state::<SnapshotMeta>(backend, SNAPSHOT_KEY, "snapshot")?;
    let mut entries = Vec::new();
    let mut error = None;
    let mut expected = compacted.0.next();
    backend.scan(Table::RaftLog, &log_key(expected), None, &mut |key, value| {
        let index = match <[u8; 8]>::try_from(key) {
            Ok(k) => LogIndex(u64::from_be_bytes(k)),
            Err(_) => {
                error = Some(RecoverError::Corrupt {
                    table: Table::RaftLog,
                    record: "entry key",
                    index: None,
                });
                return ControlFlow::Break(());
            }
        };
        if index != expected {
            error = Some(RecoverError::Gap { expected, found: index });
            return ControlFlow::Break(());
        }
        match bincode::decode_from_slice::<Entry, _>(value, CODEC) {
            Ok((e, used)) if used == value.len() && e.index == index => {
                entries.push(e);
                expected = expected.next();
                ControlFlow::Continue(())
            }
            _ => {
                error = Some(RecoverError::Corrupt {
                    table: Table::RaftLog,
                    record: "entry",
                    index: Some(index.0),
                });
                ControlFlow::Break(())
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    Ok(RecoveredLog { hard_state, compacted, entries, snapshot })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemBackend;
    use crate::raft::types::EntryKind;
    use alloc::vec;

    fn e(term: u64, index: u64, data: &[u8]) -> Entry {
        Entry {
            term: Term(term),
            index: LogIndex(index),
            kind: EntryKind::Normal,
            data: data.into(),
        }
    }

    fn write(backend: &MemBackend, req: &PersistRequest) {
        let mut batch = WriteBatch::default();
        persist_ops(req, &mut batch);
        backend.apply(&batch);
    }

    #[test]
    fn round_trips_appends_truncation_compaction_and_snapshots() {
        let backend = MemBackend::new();
        assert_eq!(recover(&backend), Ok(RecoveredLog::default()));
        let hs = HardState { term: Term(2), vote: crate::ids::NodeId(1), commit: LogIndex(2) };
        write(
            &backend,
            &PersistRequest {
                seq: 1,
                hard_state: Some(hs),
                append: vec![e(1, 1, b"a"), e(1, 2, b"b"), e(2, 3, b"c")],
                ..PersistRequest::default()
            },
        );
        write(
            &backend,
            &PersistRequest {
                seq: 2,
                truncate_from: Some(LogIndex(3)),
                append: vec![e(2, 3, b"d")],
                ..PersistRequest::default()
            },
        );
        let got = recover(&backend).unwrap();
        assert_eq!(got.hard_state, hs);
        assert_eq!(got.entries, vec![e(1, 1, b"a"), e(1, 2, b"b"), e(2, 3, b"d")]);
        write(
            &backend,
            &PersistRequest {
                seq: 3,
                compact_to: Some((LogIndex(2), Term(1))),
                ..PersistRequest::default()
            },
        );
        let got = recover(&backend).unwrap();
        assert_eq!((got.compacted, got.entries), ((LogIndex(2), Term(1)), vec![e(2, 3, b"d")]));
        let meta =
            SnapshotMeta { index: LogIndex(9), term: Term(3), conf_state: ConfState::default() };
        write(
            &backend,
            &PersistRequest {
                seq: 4,
                install_snapshot: Some(meta.clone()),
                append: vec![e(3, 10, b"x")],
                ..PersistRequest::default()
            },
        );
        let got = recover(&backend).unwrap();
        assert_eq!(got.compacted, (LogIndex(9), Term(3)));
        assert_eq!(got.entries, vec![e(3, 10, b"x")]);
        assert_eq!(got.snapshot, Some(meta));
    }

    #[test]
    fn corrupt_records_and_gaps_are_errors_not_panics() {
        let backend = MemBackend::new();
        let mut batch = WriteBatch::default();
        batch.put(Table::RaftLog, log_key(LogIndex(1)).to_vec(), vec![0xff; 3]);
        backend.apply(&batch);
        assert_eq!(
            recover(&backend),
            Err(RecoverError::Corrupt { table: Table::RaftLog, record: "entry", index: Some(1) })
        );

        let backend = MemBackend::new();
        write(
            &backend,
            &PersistRequest {
                seq: 1,
                append: vec![e(1, 1, b""), e(1, 3, b"")],
                ..PersistRequest::default()
            },
        );
        assert_eq!(
            recover(&backend),
            Err(RecoverError::Gap { expected: LogIndex(2), found: LogIndex(3) })
        );

        let backend = MemBackend::new();
        let mut batch = WriteBatch::default();
        batch.put(Table::RaftState, HARD_STATE_KEY.to_vec(), vec![0xfc, 0xff, 0xff, 0xff, 0xff]);
        backend.apply(&batch);
        assert!(matches!(
            recover(&backend),
            Err(RecoverError::Corrupt { record: "hard_state", .. })
        ));

        // A huge length prefix is refused by the limit instead of allocating.
        let backend = MemBackend::new();
        let mut batch = WriteBatch::default();
        let mut value = vec![1, 1, 0];
        value.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        batch.put(Table::RaftLog, log_key(LogIndex(1)).to_vec(), value);
        backend.apply(&batch);
        assert!(matches!(recover(&backend), Err(RecoverError::Corrupt { index: Some(1), .. })));
    }
}
