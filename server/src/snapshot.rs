//! `oxcd snapshot restore|status`: etcdutl's snapshot commands for oxcd data dirs.
//!
//! `restore` takes what `etcdctl snapshot save` stored (from oxcd or etcd: a bbolt file with
//! its SHA-256) or oxcd's own `OXCDSNAP` file and makes the data dir of one founding member of
//! a new cluster: the keys, leases, auth and alarms of the snapshot, the membership of
//! `--initial-cluster`. Start the member with the same `--name`, `--initial-cluster` and
//! `--initial-cluster-token`, as etcd's restore guide does. `status` prints what
//! `etcdctl snapshot status` prints.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};
use oxcd_core::node::restore::reset_for_new_cluster;
use oxcd_storage_lmdb::bbolt::{
    bbolt_status, is_bbolt_file, restore_from_etcd_snapshot, EtcdRestoreOptions,
};
use oxcd_storage_lmdb::{
    restore_snapshot, snapshot_status, LmdbStorage, MemberIdentity, OpenOptions,
};

use crate::config::parse_config;
use crate::run::{founding_start, RunError};

fn command() -> Command {
    let file = Arg::new("file").required(true).value_name("FILENAME");
    let restore_flag = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name).long(name).default_value(default).help(help)
    };
    Command::new("oxcd snapshot")
        .about("Restores an etcd or oxcd snapshot into a new data dir, or prints its status.")
        .subcommand_required(true)
        .subcommand(
            Command::new("restore")
                .about("Restores a snapshot into the data dir of a new cluster's member.")
                .arg(file.clone())
                .arg(restore_flag("name", "default", "Human-readable name for this member."))
                .arg(Arg::new("data-dir").long("data-dir").help(
                    "Path to the data directory (default: <name>.oxcd, which must not exist).",
                ))
                .arg(restore_flag(
                    "initial-cluster",
                    "default=http://localhost:2380",
                    "Initial cluster configuration for restore bootstrap.",
                ))
                .arg(restore_flag(
                    "initial-cluster-token",
                    "etcd-cluster",
                    "Initial cluster token for the etcd cluster during restore bootstrap.",
                ))
                .arg(restore_flag(
                    "initial-advertise-peer-urls",
                    "http://localhost:2380",
                    "List of this member's peer URLs to advertise to the rest of the cluster.",
                ))
                .arg(
                    Arg::new("skip-hash-check")
                        .long("skip-hash-check")
                        .action(ArgAction::SetTrue)
                        .help("Accept a file without SHA-256 (such as a copied member/snap/db)."),
                ),
        )
        .subcommand(
            Command::new("status").about("Prints a snapshot file's status.").arg(file).arg(
                Arg::new("write-out")
                    .short('w')
                    .long("write-out")
                    .default_value("simple")
                    .value_parser(["simple", "table", "json"])
                    .help("Output format."),
            ),
        )
}

/// Runs `oxcd snapshot …` with `args` (after `snapshot`); returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let matches = match command().no_binary_name(true).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match matches.subcommand() {
        Some(("restore", m)) => restore(m),
        Some(("status", m)) => status(m),
        _ => Err(RunError("expected `restore` or `status`".into())),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

fn text<'a>(m: &'a ArgMatches, name: &str) -> &'a str {
    m.get_one::<String>(name).map_or("", String::as_str)
}

fn restore(m: &ArgMatches) -> Result<(), RunError> {
    let file = PathBuf::from(text(m, "file"));
    let name = text(m, "name");
    let data_dir =
        m.get_one::<String>("data-dir").cloned().unwrap_or_else(|| format!("{name}.oxcd"));
    // The member's flags, parsed and checked as the server parses them.
    let flags = [
        ("name", name),
        ("data-dir", data_dir.as_str()),
        ("initial-cluster", text(m, "initial-cluster")),
        ("initial-cluster-token", text(m, "initial-cluster-token")),
        ("initial-advertise-peer-urls", text(m, "initial-advertise-peer-urls")),
    ];
    let args = std::iter::once("oxcd".to_owned())
        .chain(flags.iter().map(|(k, v)| format!("--{k}={v}")))
        .map(Into::into);
    let config = parse_config(args, |_| None).map_err(|e| RunError(e.to_string()))?;
    let start = founding_start(&config)?;
    let dir = Path::new(&data_dir);
    if LmdbStorage::exists(dir) {
        return Err(RunError(format!("data-dir {data_dir:?} exists")));
    }
    let options = OpenOptions::default();
    let bbolt = is_bbolt_file(&file).map_err(|e| RunError(e.to_string()))?;
    let storage = if bbolt {
        let restore = EtcdRestoreOptions { skip_hash_check: m.get_flag("skip-hash-check") };
        restore_from_etcd_snapshot(&file, dir, options, restore)
            .map(|(storage, _)| storage)
            .map_err(|e| RunError(e.to_string()))?
    } else {
        restore_snapshot(&file, dir, options).map_err(|e| RunError(e.to_string()))?
    };
    storage.write_batch(&reset_for_new_cluster()).map_err(|e| RunError(e.to_string()))?;
    let identity = MemberIdentity {
        cluster_id: start.cluster_id,
        member_id: start.id,
        member_name: name.to_owned(),
    };
    storage.bootstrap(&identity).map_err(|e| RunError(e.to_string()))?;
    eprintln!(
        "restored snapshot {} into {data_dir} as member {:x} of new cluster {:x}",
        file.display(),
        start.id.get(),
        start.cluster_id
    );
    Ok(())
}

/// What `etcdctl snapshot status` shows.
struct Status {
    hash: u32,
    revision: i64,
    total_keys: u64,
    total_size: u64,
}

fn status(m: &ArgMatches) -> Result<(), RunError> {
    let file = PathBuf::from(text(m, "file"));
    std::fs::metadata(&file).map_err(|e| RunError(format!("stat {}: {e}", file.display())))?;
    let s = if is_bbolt_file(&file).map_err(|e| RunError(e.to_string()))? {
        let s = bbolt_status(&file).map_err(|e| RunError(e.to_string()))?;
        Status {
            hash: s.hash,
            revision: s.revision,
            total_keys: s.total_keys,
            total_size: s.total_size,
        }
    } else {
        // oxcd's own file: no bbolt hash or revision to show; its records and size.
        let info = snapshot_status(&file).map_err(|e| RunError(e.to_string()))?;
        let hash =
            u32::from_be_bytes([info.sha256[0], info.sha256[1], info.sha256[2], info.sha256[3]]);
        Status { hash, revision: 0, total_keys: info.total_records, total_size: info.size_bytes }
    };
    println!("{}", render(&s, text(m, "write-out")));
    Ok(())
}

fn render(s: &Status, format: &str) -> String {
    let size = human_bytes(s.total_size);
    match format {
        "json" => format!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}",
            s.hash, s.revision, s.total_keys, s.total_size
        ),
        "table" => {
            let cells =
                [format!("{:x}", s.hash), s.revision.to_string(), s.total_keys.to_string(), size];
            let heads = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"];
            let widths: Vec<usize> =
                heads.iter().zip(&cells).map(|(h, c)| h.len().max(c.len())).collect();
            let rule: String =
                widths.iter().map(|w| format!("+{}", "-".repeat(w + 2))).collect::<String>() + "+";
            // Headers centred, values right-aligned, as etcdctl's table writer does.
            let head: String =
                heads.iter().zip(&widths).map(|(h, w)| format!("| {h:^w$} ")).collect();
            let row: String =
                cells.iter().zip(&widths).map(|(c, w)| format!("| {c:>w$} ")).collect();
            format!("{rule}\n{head}|\n{rule}\n{row}|\n{rule}")
        }
        _ => format!("{:x}, {}, {}, {size}", s.hash, s.revision, s.total_keys),
    }
}

/// Sizes as etcdctl prints them (go-humanize's SI bytes: "25 kB", "1.2 MB").
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(UNITS.len() - 1);
    let value = ((n as f64) / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[e])
    } else {
        format!("{} {}", round_half_even(value), UNITS[e])
    }
}

/// Go's `%.0f`: halves round to even.
fn round_half_even(v: f64) -> i64 {
    let r = v.round();
    if (v - v.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - v.signum()) as i64
    } else {
        r as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_etcdctl_prints_them() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(20_480), "20 kB");
        assert_eq!(human_bytes(20_500), "20 kB", "20.5 rounds to even");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(999), "999 B");
    }

    #[test]
    fn the_three_formats() {
        let s = Status { hash: 0xbeef, revision: 3, total_keys: 7, total_size: 20_480 };
        assert_eq!(render(&s, "simple"), "beef, 3, 7, 20 kB");
        assert_eq!(
            render(&s, "json"),
            "{\"hash\":48879,\"revision\":3,\"totalKey\":7,\"totalSize\":20480}"
        );
        assert_eq!(
            render(&s, "table"),
            "+------+----------+------------+------------+\n\
             | HASH | REVISION | TOTAL KEYS | TOTAL SIZE |\n\
             +------+----------+------------+------------+\n\
             | beef |        3 |          7 |      20 kB |\n\
             +------+----------+------------+------------+"
        );
    }
}
