//! The write-ahead log in front of LMDB: a batch is durable once its record is appended here
//! and synced (one `fdatasync` of a preallocated file), long before LMDB commits it (two syncs
//! of scattered pages). LMDB then takes batches in order, off the critical path, and records
//! in the same transaction the sequence number it has reached (its *checkpoint*). At open,
//! the records after the checkpoint are replayed into LMDB; segments wholly at or below the
//! checkpoint are deleted.
//!
//! ```text
//! <data-dir>/member/wal/<first seq, 16 hex digits>.wal   segments, preallocated
//! record: len u32 | crc32 u32 (of seq and payload) | seq u64 | payload (len bytes)
//! ```
//!
//! Segments are zero-filled past their last record, so a zero length ends a segment. A record
//! whose checksum or length is wrong ends the log if it is the last segment's tail (a write
//! torn by a crash: nothing after it was acknowledged); anywhere else it is corruption.

use crate::error::{is_no_space, WriteError};
use crate::layout::{create_private_dir, sync_dir};
use oxcd_core::backend::{Table, WriteBatch, WriteOp};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes preallocated per segment; a larger record gets a segment of its own size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes before each record's payload.
const HEADER_BYTES: usize = 16;
/// A record claiming more than this is garbage, not a batch.
const RECORD_BYTES_MAX: u32 = 1 << 30;
const SUFFIX: &str = ".wal";

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_DELETE_RANGE: u8 = 3;
const OP_INSTALL_STAGED: u8 = 4;

/// What reading the log back found.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Records after the checkpoint, in order.
    pub records: Vec<(u64, WriteBatch)>,
    /// The sequence number the next record gets.
    pub next_seq: u64,
    /// The last segment and where its valid records end, when a torn record follows them.
    pub torn_tail: Option<(PathBuf, u64)>,
}

/// Reads every segment under `dir` and returns the records after `checkpoint`.
///
/// # Errors
/// A segment cannot be read, or a record before the last segment's tail is damaged.
pub(crate) fn recover(dir: &Path, checkpoint: u64) -> io::Result<Recovered> {
    let segments = list_segments(dir)?;
    let mut out = Recovered { records: Vec::new(), next_seq: checkpoint + 1, torn_tail: None };
    let last = segments.len().saturating_sub(1);
    for (i, (first_seq, path)) in segments.iter().enumerate() {
        let bytes = fs::read(path)?;
        let mut expected = *first_seq;
        let mut offset = 0usize;
        loop {
            let (seq, payload, len) = match read_record(&bytes, offset) {
                Slot::End => break,
                Slot::Damaged if i == last => {
                    out.torn_tail = Some((path.clone(), offset as u64));
                    break;
                }
                Slot::Damaged => {
                    return Err(corrupt(path, offset, "damaged record before the log's tail"))
                }
                Slot::Record { seq, payload, len } => (seq, payload, len),
            };
            if seq != expected {
                return Err(corrupt(path, offset, &format!("sequence {seq}, expected {expected}")));
            }
            if seq > checkpoint {
                let batch = decode_batch(payload)
                    .ok_or_else(|| corrupt(path, offset, "record does not decode"))?;
                out.records.push((seq, batch));
            }
            expected += 1;
            offset += len;
        }
        out.next_seq = out.next_seq.max(expected);
    }
    Ok(out)
}

fn corrupt(path: &Path, offset: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("write-ahead log {} at byte {offset}: {what}", path.display()),
    )
}

/// What a segment holds at some offset.
enum Slot<'a> {
    /// Zeros or the file's end: no more records in this segment.
    End,
    /// A record whose length or checksum is wrong.
    Damaged,
    /// A whole record and its total length in the file.
    Record { seq: u64, payload: &'a [u8], len: usize },
}

fn read_record(bytes: &[u8], offset: usize) -> Slot<'_> {
    let Some(header) = bytes.get(offset..offset + HEADER_BYTES) else { return Slot::End };
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    if len == 0 {
        return Slot::End;
    }
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let start = offset + HEADER_BYTES;
    let Some(payload) =
        (len <= RECORD_BYTES_MAX).then(|| bytes.get(start..start + len as usize)).flatten()
    else {
        return Slot::Damaged;
    };
    if checksum(seq, payload) != crc {
        return Slot::Damaged;
    }
    Slot::Record { seq, payload, len: HEADER_BYTES + len as usize }
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Segments under `dir`, oldest first, with the sequence number each starts at.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else { continue };
        if let Ok(first_seq) = u64::from_str_radix(first, 16) {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The appending end of the log. Appends go to a fresh segment started at open (a torn tail
/// left by a crash is never written over).
pub struct WalWriter {
    dir: PathBuf,
    file: File,
    offset: u64,
    capacity: u64,
    next_seq: u64,
    /// Every segment on disk, oldest first, with its first sequence number; the last is the
    /// one appended to.
    segments: VecDeque<(u64, PathBuf)>,
    no_fsync: bool,
    buf: Vec<u8>,
}

impl std::fmt::Debug for WalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalWriter")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

impl WalWriter {
    /// Opens the log under `dir` for appending after what [`recover`] found; segments whose
    /// records are all at or below `checkpoint` are deleted, and a torn tail is cut off (so
    /// it never sits before newer records).
    ///
    /// # Errors
    /// The directory or the first segment cannot be created.
    pub(crate) fn open(
        dir: &Path,
        recovered: &Recovered,
        checkpoint: u64,
        no_fsync: bool,
    ) -> io::Result<WalWriter> {
        create_private_dir(dir)?;
        if let Some((path, valid_bytes)) = &recovered.torn_tail {
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(*valid_bytes)?;
            file.sync_all()?;
        }
        let next_seq = recovered.next_seq;
        let mut segments: VecDeque<_> = list_segments(dir)?.into();
        // A segment starting at `next_seq` holds no valid record (a crash right after it was
        // created, or a torn first record): it is replaced.
        if let Some((first, path)) = segments.back() {
            if *first >= next_seq {
                fs::remove_file(path)?;
                segments.pop_back();
            }
        }
        let (file, capacity, path) = create_segment(dir, next_seq, 0, no_fsync)?;
        segments.push_back((next_seq, path));
        let mut wal = WalWriter {
            dir: dir.to_owned(),
            file,
            offset: 0,
            capacity,
            next_seq,
            segments,
            no_fsync,
            buf: Vec::new(),
        };
        wal.release_through(checkpoint)?;
        Ok(wal)
    }

    /// Appends `batches`, in order, as the next record (replayed as one batch) and makes it
    /// durable with everything before it (one `fdatasync`); returns its sequence number.
    ///
    /// # Errors
    /// [`WriteError::NoSpace`] when the disk or the file size limit is full (nothing was
    /// added: the call may be retried); [`WriteError::Storage`] for other failures, after
    /// which the log must not be used.
    pub fn append_durable(&mut self, batches: &[WriteBatch]) -> Result<u64, WriteError> {
        let seq = self.append(batches).map_err(|e| self.error(e))?;
        self.sync().map_err(|e| self.error(e))?;
        Ok(seq)
    }

    /// Appends `batches` as the next record without syncing: the next
    /// [`WalWriter::append_durable`] makes it durable; a crash before that may lose it.
    ///
    /// # Errors
    /// As [`WalWriter::append_durable`].
    pub fn append_unsynced(&mut self, batches: &[WriteBatch]) -> Result<u64, WriteError> {
        self.append(batches).map_err(|e| self.error(e))
    }

    fn error(&self, source: io::Error) -> WriteError {
        let path = self.dir.clone();
        if is_no_space(&source) {
            WriteError::NoSpace { path, source }
        } else {
            WriteError::Storage { path, source: heed::Error::Io(source) }
        }
    }

    /// Appends `batches` as the next record (not yet durable: see [`WalWriter::sync`]) and
    /// returns its sequence number.
    fn append(&mut self, batches: &[WriteBatch]) -> io::Result<u64> {
        self.buf.clear();
        self.buf.resize(HEADER_BYTES, 0);
        // Encodings concatenate: the record decodes as one batch with every op in order.
        for batch in batches {
            encode_batch(batch, &mut self.buf);
        }
        let len = self.buf.len() - HEADER_BYTES;
        let len32 = u32::try_from(len)
            .ok()
            .filter(|l| *l <= RECORD_BYTES_MAX)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "batch too large"))?;
        let seq = self.next_seq;
        let crc = checksum(seq, &self.buf[HEADER_BYTES..]);
        self.buf[..4].copy_from_slice(&len32.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        self.buf[8..16].copy_from_slice(&seq.to_le_bytes());
        let record = self.buf.len() as u64;
        if self.offset + record > self.capacity {
            self.roll(seq, record)?;
        }
        self.file.write_all_at(&self.buf, self.offset)?;
        self.offset += record;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Makes every appended record durable (one `fdatasync`).
    fn sync(&mut self) -> io::Result<()> {
        if self.no_fsync {
            return Ok(());
        }
        self.file.sync_data()
    }

    /// Deletes the segments whose records are all at or below `checkpoint` (LMDB holds them).
    ///
    /// # Errors
    /// A segment could not be deleted.
    pub fn release_through(&mut self, checkpoint: u64) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[1].0 <= checkpoint + 1 {
            let (_, path) = self.segments.pop_front().expect("two segments");
            fs::remove_file(&path)?;
        }
        Ok(())
    }

    /// Starts a new segment for record `seq` of `record` bytes; the current one is complete.
    fn roll(&mut self, seq: u64, record: u64) -> io::Result<()> {
        // What is in the old segment must be durable before anything lands in the new one,
        // or a crash could keep a later record and lose an earlier one.
        self.sync()?;
        let (file, capacity, path) = create_segment(&self.dir, seq, record, self.no_fsync)?;
        self.file = file;
        self.offset = 0;
        self.capacity = capacity;
        self.segments.push_back((seq, path));
        Ok(())
    }

    /// The directory of the segments.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Creates and preallocates the segment starting at `first_seq` with room for at least
/// `at_least` bytes; the directory entry is made durable.
fn create_segment(
    dir: &Path,
    first_seq: u64,
    at_least: u64,
    no_fsync: bool,
) -> io::Result<(File, u64, PathBuf)> {
    let path = dir.join(format!("{first_seq:016x}{SUFFIX}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    let capacity = SEGMENT_BYTES.max(at_least + HEADER_BYTES as u64);
    // Preallocated blocks make each record's sync a data flush, not a metadata update too.
    // Where preallocation is refused (a file size limit, a filesystem without it), the file
    // grows as records arrive instead.
    let _ = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, capacity);
    if !no_fsync {
        file.sync_all()?;
        sync_dir(dir)?;
    }
    Ok((file, capacity, path))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("keys and values are under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Appends the record payload of `batch` to `out`.
pub(crate) fn encode_batch(batch: &WriteBatch, out: &mut Vec<u8>) {
    out.reserve(batch.size_bytes() + batch.ops.len() * 10);
    for op in &batch.ops {
        match op {
            WriteOp::Put { table, key, value } => {
                out.extend_from_slice(&[OP_PUT, table.tag()]);
                put_bytes(out, key);
                put_bytes(out, value);
            }
            WriteOp::Delete { table, key } => {
                out.extend_from_slice(&[OP_DELETE, table.tag()]);
                put_bytes(out, key);
            }
            WriteOp::DeleteRange { table, from, to } => {
                out.extend_from_slice(&[OP_DELETE_RANGE, table.tag()]);
                put_bytes(out, from);
                match to {
                    Some(to) => {
                        out.push(1);
                        put_bytes(out, to);
                    }
                    None => out.push(0),
                }
            }
            WriteOp::InstallStagedSnapshot => out.push(OP_INSTALL_STAGED),
        }
    }
}

/// Reads a record payload back; `None` when it is malformed.
pub(crate) fn decode_batch(mut bytes: &[u8]) -> Option<WriteBatch> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    fn vec(bytes: &mut &[u8]) -> Option<Vec<u8>> {
        let len = u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?);
        Some(take(bytes, len as usize)?.to_vec())
    }
    fn table(bytes: &mut &[u8]) -> Option<Table> {
        Table::from_tag(take(bytes, 1)?[0])
    }
    let mut batch = WriteBatch::default();
    while let Some(&[tag]) = take(&mut bytes, 1) {
        let op = match tag {
            OP_PUT => {
                let table = table(&mut bytes)?;
                WriteOp::Put { table, key: vec(&mut bytes)?, value: vec(&mut bytes)? }
            }
            OP_DELETE => WriteOp::Delete { table: table(&mut bytes)?, key: vec(&mut bytes)? },
            OP_DELETE_RANGE => {
                let table = table(&mut bytes)?;
                let from = vec(&mut bytes)?;
                let to = match take(&mut bytes, 1)? {
                    [0] => None,
                    [1] => Some(vec(&mut bytes)?),
                    _ => return None,
                };
                WriteOp::DeleteRange { table, from, to }
            }
            OP_INSTALL_STAGED => WriteOp::InstallStagedSnapshot,
            _ => return None,
        };
        batch.ops.push(op);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Recovered {
        Recovered { next_seq: 1, ..Recovered::default() }
    }

    fn batch(n: u8) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.put(Table::RaftLog, vec![n], vec![n; usize::from(n)]);
        b.delete(Table::Kv, vec![n, 1]);
        b.delete_range(Table::Lease, vec![], Some(vec![n]));
        b.delete_range(Table::Meta, vec![n], None);
        if n.is_multiple_of(3) {
            b.ops.push(WriteOp::InstallStagedSnapshot);
        }
        b
    }

    #[test]
    fn batches_round_trip_through_the_encoding() {
        for n in 0..10 {
            let mut out = Vec::new();
            encode_batch(&batch(n), &mut out);
            assert_eq!(decode_batch(&out), Some(batch(n)));
            // Any strict prefix that cuts an op is refused, never misread.
            for cut in 1..out.len() {
                if let Some(b) = decode_batch(&out[..cut]) {
                    assert!(b.ops.len() < batch(n).ops.len());
                }
            }
        }
        assert_eq!(decode_batch(&[9]), None);
        assert_eq!(decode_batch(&[OP_PUT, 99]), None);
    }

    #[test]
    fn records_after_the_checkpoint_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let mut wal = WalWriter::open(&wal_dir, &fresh(), 0, false).unwrap();
        for n in 1..=5 {
            assert_eq!(wal.append(std::slice::from_ref(&batch(n))).unwrap(), u64::from(n));
        }
        wal.sync().unwrap();
        drop(wal);
        let got = recover(&wal_dir, 2).unwrap();
        assert_eq!(got.next_seq, 6);
        let seqs: Vec<u64> = got.records.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(got.records[0].1, batch(3));
        // Reopening appends into a new segment and keeps counting.
        let mut wal = WalWriter::open(&wal_dir, &got, 2, false).unwrap();
        assert_eq!(wal.append(std::slice::from_ref(&batch(6))).unwrap(), 6);
        wal.sync().unwrap();
        drop(wal);
        let got = recover(&wal_dir, 0).unwrap();
        assert_eq!(got.records.len(), 6);
        assert_eq!(got.next_seq, 7);
    }

    #[test]
    fn a_torn_tail_ends_the_log_and_is_never_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let mut wal = WalWriter::open(&wal_dir, &fresh(), 0, false).unwrap();
        for n in 1..=3 {
            wal.append(std::slice::from_ref(&batch(n))).unwrap();
        }
        wal.sync().unwrap();
        drop(wal);
        // Damage the last record's payload, as a crash mid-write would leave it.
        let (_, path) = list_segments(&wal_dir).unwrap().pop().unwrap();
        let bytes = fs::read(&path).unwrap();
        let mut offset = 0;
        for _ in 0..2 {
            let Slot::Record { len, .. } = read_record(&bytes, offset) else { panic!("a record") };
            offset += len;
        }
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0xff], (offset + HEADER_BYTES + 1) as u64).unwrap();
        let got = recover(&wal_dir, 0).unwrap();
        assert_eq!(got.records.len(), 2);
        assert_eq!(got.next_seq, 3);
        let mut wal = WalWriter::open(&wal_dir, &got, 0, false).unwrap();
        assert_eq!(wal.append(std::slice::from_ref(&batch(7))).unwrap(), 3);
        wal.sync().unwrap();
        let got = recover(&wal_dir, 0).unwrap();
        assert_eq!(got.records.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(got.records[2].1, batch(7));
    }

    #[test]
    fn damage_before_the_tail_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let mut wal = WalWriter::open(&wal_dir, &fresh(), 0, false).unwrap();
        wal.append(std::slice::from_ref(&batch(1))).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let mut wal = WalWriter::open(&wal_dir, &recover(&wal_dir, 0).unwrap(), 0, false).unwrap();
        wal.append(std::slice::from_ref(&batch(2))).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, first) = list_segments(&wal_dir).unwrap().remove(0);
        let file = OpenOptions::new().write(true).open(&first).unwrap();
        file.write_all_at(&[0xff], (HEADER_BYTES + 2) as u64).unwrap();
        let err = recover(&wal_dir, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[test]
    fn checkpointed_segments_are_deleted_and_large_records_get_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let mut wal = WalWriter::open(&wal_dir, &fresh(), 0, true).unwrap();
        let mut big = WriteBatch::default();
        big.put(Table::SnapshotStaging, vec![1], vec![7; SEGMENT_BYTES as usize]);
        assert_eq!(wal.append(std::slice::from_ref(&batch(1))).unwrap(), 1);
        assert_eq!(wal.append(std::slice::from_ref(&big)).unwrap(), 2);
        assert_eq!(wal.append(std::slice::from_ref(&batch(3))).unwrap(), 3);
        assert_eq!(list_segments(&wal_dir).unwrap().len(), 3);
        wal.release_through(1).unwrap();
        assert_eq!(list_segments(&wal_dir).unwrap().len(), 2);
        wal.release_through(3).unwrap();
        // The segment being appended to stays.
        assert_eq!(list_segments(&wal_dir).unwrap().len(), 1);
        let got = recover(&wal_dir, 2).unwrap();
        assert_eq!(got.records.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3]);
    }
}
