//! Where a member's files live under `--data-dir`, the lock that keeps a second process out,
//! and the directory operations that make swaps crash-safe.
//!
//! ```text
//! <data-dir>/member/           created 0700
//! <data-dir>/member/LOCK       flock()ed exclusively while a process has the store open
//! <data-dir>/member/db/        the LMDB environment (data.mdb, lock.mdb)
//! <data-dir>/member/wal/       the write-ahead log in front of it (see `wal`)
//! <data-dir>/member/db.tmp-*   scratch of a defragmentation or restore; removed at open
//! ```

use crate::error::OpenError;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The paths of one member's store.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `<data-dir>/member`.
    pub member_dir: PathBuf,
    /// `<data-dir>/member/LOCK`.
    pub lock_file: PathBuf,
    /// `<data-dir>/member/db`.
    pub db_dir: PathBuf,
    /// `<data-dir>/member/wal`.
    pub wal_dir: PathBuf,
}

const TMP_PREFIX: &str = "db.tmp-";

impl Layout {
    /// The layout under `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path) -> Layout {
        let member_dir = data_dir.join("member");
        Layout {
            lock_file: member_dir.join("LOCK"),
            db_dir: member_dir.join("db"),
            wal_dir: member_dir.join("wal"),
            member_dir,
        }
    }

    /// A fresh scratch directory path, unique within this process.
    pub(crate) fn scratch_dir(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.member_dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()))
    }

    /// Removes scratch directories a crashed defragmentation or restore left behind. Only
    /// called with the lock held, so no live process owns them.
    pub(crate) fn remove_scratch(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.member_dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Creates `path` (and parents) with mode 0700, like etcd does for its data dir.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// An exclusive `flock` on the member's LOCK file, released when dropped or when the process
/// dies (SIGKILL included), so a crash never leaves a stale lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting.
    pub(crate) fn acquire(path: &Path) -> Result<DirLock, OpenError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| OpenError::Unusable { path: path.to_owned(), source })?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                Err(OpenError::Locked { path: path.to_owned() })
            }
            Err(e) => Err(OpenError::Unusable { path: path.to_owned(), source: e.into() }),
        }
    }
}

/// Makes the directory entries of `dir` durable (after creating or renaming in it).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically swaps two directories that share a parent (`renameat2(RENAME_EXCHANGE)`), so a
/// crash at any moment leaves a complete environment at both names.
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let cwd = rustix::fs::CWD;
    rustix::fs::renameat_with(cwd, a, cwd, b, rustix::fs::RenameFlags::EXCHANGE)
        .map_err(io::Error::from)
}
