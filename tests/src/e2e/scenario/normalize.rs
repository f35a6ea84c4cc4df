//! Normalization of etcdctl output: what legitimately differs between two servers (or two runs
//! of one) becomes a placeholder; everything else, revisions included, stays exact.
//!
//! - Named values, also usable in commands: member URLs and addresses (`{m1.client_url}`,
//!   `{m1.client_addr}`, `{m1.peer_url}`, `{m1.peer_addr}`), the cluster's directory (`{dir}`),
//!   member ids (`{m1.id}`), the cluster id (`{cluster_id}`), and every other id (lease ids) as
//!   `{id1}`, `{id2}`, … in order of first appearance. An id maps by value, so the hex form
//!   (`lease 694d… granted`) and the decimal form (`"ID":7587…`) of one lease share a name.
//! - Normalized away: raft term (`<TERM>`), raft index (`<INDEX>`), server version
//!   (`<VERSION>`), database and snapshot sizes (`<SIZE>`), hashes (`<HASH1>`, `<HASH2>`, … by
//!   value, so members that agree show the same one), snapshot key counts
//!   (`<KEYS>`), durations (`<DURATION>`), log timestamps (`<TS>`), client UUIDs (`<UUID>`),
//!   remaining lease TTLs (`<TTL>`; the -1 of an expired lease stays).
//! - Tables lose their padding (cell widths depend on id lengths): `| a | b |`, borders `+-+-+`.
//! - The keys of `lease timetolive --keys` are sorted (etcd lists them in Go map order).
//! - Rows of `member list` and `endpoint status|health|hashkv` (simple and table formats) are
//!   sorted: etcd orders members by id, ids differ between runs, health answers come as they come.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::protobuf;
use crate::e2e::{CmdOutput, Exit};

/// The output format an etcdctl command asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The default (`-w simple`).
    Simple,
    /// `-w json`.
    Json,
    /// `-w fields`.
    Fields,
    /// `-w protobuf`.
    Protobuf,
    /// `-w table`.
    Table,
}

/// What normalization needs to know about a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// `"endpoint status"`, `"lease list"`, … for grouped commands, else the first word (`"get"`).
    pub family: String,
    /// Its output format.
    pub format: Format,
}

const GROUPS: &[&str] =
    &["lease", "member", "endpoint", "alarm", "snapshot", "user", "role", "auth", "check"];

impl CommandInfo {
    /// From etcdctl's arguments (command words first, as the scenarios write them).
    pub fn from_args(args: &[String]) -> Self {
        let words: Vec<&str> =
            args.iter().map(String::as_str).take_while(|a| !a.starts_with('-')).collect();
        let family = match words.as_slice() {
            [group, sub, ..] if GROUPS.contains(group) => format!("{group} {sub}"),
            [first, ..] => (*first).to_owned(),
            [] => String::new(),
        };
        let mut format = Format::Simple;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let value = match arg.as_str() {
                "-w" | "--write-out" => iter.next().map(String::as_str),
                other => other.strip_prefix("--write-out=").or_else(|| other.strip_prefix("-w=")),
            };
            format = match value {
                Some("json") => Format::Json,
                Some("fields") => Format::Fields,
                Some("protobuf") => Format::Protobuf,
                Some("table") => Format::Table,
                Some("simple") => Format::Simple,
                _ => format,
            };
        }
        Self { family, format }
    }
}

/// What a normalized cell or field becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    HexId,
    Version,
    Size,
    Term,
    Index,
    Hash,
    /// A hash printed in hex (`snapshot status`), numbered together with its decimal form.
    HexHash,
    Keys,
    Duration,
}

fn table_column(header: &str) -> Option<Kind> {
    Some(match header {
        "ID" => Kind::HexId,
        "VERSION" => Kind::Version,
        "DB SIZE" | "TOTAL SIZE" => Kind::Size,
        "RAFT TERM" => Kind::Term,
        "RAFT INDEX" | "RAFT APPLIED INDEX" => Kind::Index,
        "HASH" => Kind::Hash,
        "TOTAL KEYS" => Kind::Keys,
        "TOOK" => Kind::Duration,
        _ => return None,
    })
}

/// Columns of the comma-separated simple output of some commands.
fn simple_columns(family: &str) -> &'static [(usize, Kind)] {
    match family {
        "endpoint status" => &[
            (1, Kind::HexId),
            (2, Kind::Version),
            (3, Kind::Size),
            (6, Kind::Term),
            (7, Kind::Index),
            (8, Kind::Index),
        ],
        "endpoint hashkv" => &[(1, Kind::Hash)],
        "member list" => &[(0, Kind::HexId)],
        "snapshot status" => &[(0, Kind::HexHash), (2, Kind::Keys), (3, Kind::Size)],
        _ => &[],
    }
}

macro_rules! regex {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("valid regex"));
    };
}

regex!(JSON_ID, r#""(cluster_id|member_id|memberID|leader|ID|id|lease)":(\d+)"#);
regex!(FIELDS_ID, r#""(ClusterID|MemberID|Leader|ID|Lease)" : (\d+)"#);
// etcdctl pads member and cluster ids to 16 characters with spaces (`%16x`) in some messages.
regex!(TEXT_HEX_ID, r"\b(lease|Member|cluster) +([0-9a-f]{1,16})\b");
regex!(ATTACHED_KEYS, r"attached keys\(\[([^\]]*)\]\)");
regex!(JSON_KEYS, r#""keys":\[([^\]]*)\]"#);
regex!(ALARM_MEMBER, r"\bmemberID:(\d+)");
regex!(JSON_TERM, r#""(raft_term|raftTerm)":\d+"#);
regex!(FIELDS_TERM, r#""RaftTerm" : \d+"#);
regex!(JSON_INDEX, r#""(raftIndex|raftAppliedIndex)":\d+"#);
regex!(FIELDS_INDEX, r#""(RaftIndex|RaftAppliedIndex)" : \d+"#);
regex!(JSON_SIZE, r#""(dbSize|dbSizeInUse)":\d+"#);
regex!(FIELDS_SIZE, r#""(DBSize|DBSizeInUse)" : \d+"#);
regex!(JSON_VERSION, r#""version":"[^"]*""#);
regex!(FIELDS_VERSION, r#""Version" : "[^"]*""#);
regex!(JSON_HASH, r#""hash":(\d+)"#);
regex!(FIELDS_HASH, r#""Hash" : (\d+)"#);
regex!(TOOK, r"took = [0-9.]+[a-zµ]*s\b");
regex!(ZAP_TS, r#""ts":("[^"]*"|[0-9.e+]+)"#);
regex!(ZAP_TOOK, r#""took":("[^"]*"|[0-9.e+-]+)"#);
regex!(SNAPSHOT_KEYS, r#""totalKey":\d+"#);
regex!(SNAPSHOT_SIZE, r#""totalSize":\d+"#);
regex!(ZAP_SIZE, r#""size":"[^"]*""#);
regex!(CLIENT_UUID, r"client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
regex!(REMAINING, r"remaining\(\d+s\)");
regex!(JSON_TTL, r#""ttl":\d+"#);
regex!(FIELDS_TTL, r#""TTL" : \d+"#);
regex!(INITIAL_CLUSTER, r#"ETCD_INITIAL_CLUSTER="([^"]*)""#);

/// The largest `{fill.N}`.
const FILL_BYTES_MAX: usize = 16 << 20;

/// The normalizer of one scenario run: it remembers the ids and literals it has named.
#[derive(Debug, Default)]
pub struct Normalizer {
    /// (actual text, name), longest actual first.
    literals: Vec<(String, String)>,
    ids: BTreeMap<u64, String>,
    anonymous: usize,
    hashes: BTreeMap<String, usize>,
}

impl Normalizer {
    /// An empty normalizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names a literal (a URL, an address, a path): it prints as `{name}` and `{name}` in a
    /// command stands for it.
    pub fn add_literal(&mut self, actual: &str, name: &str) {
        if actual.is_empty() || self.literals.iter().any(|(a, _)| a == actual) {
            return;
        }
        self.literals.push((actual.to_owned(), name.to_owned()));
        self.literals.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    /// Names an id; an id already named keeps its first name.
    pub fn name_id(&mut self, value: u64, name: &str) {
        self.ids.entry(value).or_insert_with(|| name.to_owned());
    }

    /// The placeholder of an id (naming it `idN` if new).
    pub fn id(&mut self, value: u64) -> String {
        if value == 0 {
            return "0".to_owned();
        }
        let anonymous = &mut self.anonymous;
        let name = self.ids.entry(value).or_insert_with(|| {
            *anonymous += 1;
            format!("id{anonymous}")
        });
        format!("{{{name}}}")
    }

    /// What `{name}` stands for in a command: a literal, or an id in hex (as etcdctl takes ids).
    pub fn resolve(&self, name: &str) -> Option<String> {
        // `{fill.N}`: N bytes of 'x', for values too large to write out.
        if let Some(count) = name.strip_prefix("fill.") {
            return count
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= FILL_BYTES_MAX)
                .map(|n| "x".repeat(n));
        }
        if let Some((actual, _)) = self.literals.iter().find(|(_, n)| n == name) {
            return Some(actual.clone());
        }
        self.ids.iter().find(|(_, n)| *n == name).map(|(value, _)| format!("{value:x}"))
    }

    /// The id value named `name`.
    pub fn id_value(&self, name: &str) -> Option<u64> {
        self.ids.iter().find(|(_, n)| *n == name).map(|(value, _)| *value)
    }

    /// The placeholder of a hash: `<HASH1>`, `<HASH2>`, … by first appearance, so equal hashes
    /// (of members that agree) stay visibly equal.
    fn hash(&mut self, value: &str) -> String {
        let next = self.hashes.len() + 1;
        let n = *self.hashes.entry(value.to_owned()).or_insert(next);
        format!("<HASH{n}>")
    }

    /// Replaces every `{name}` in `text` by what it stands for.
    ///
    /// # Errors
    /// An unknown name.
    pub fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else { break };
            let name = &rest[start + 1..start + len];
            let is_name = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            out.push_str(&rest[..start]);
            if is_name {
                out.push_str(
                    &self.resolve(name).ok_or_else(|| format!("unknown {{{name}}} in {text:?}"))?,
                );
            } else {
                out.push_str(&rest[start..=start + len]);
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The expected-output lines of one command: `| stdout`, `! stderr`, `exit …`.
    /// `stopped_by_harness` hides the signal exit of a background command the harness stopped.
    pub fn normalize(
        &mut self,
        info: &CommandInfo,
        out: &CmdOutput,
        stopped_by_harness: bool,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let stdout = if info.format == Format::Protobuf {
            let rendered =
                protobuf::render(&out.stdout, &mut |path, v| self.protobuf_varint(path, v));
            let mut text = rendered.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text
        } else {
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        self.push_stream(info, &stdout, "|", "stdout", &mut lines);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.push_stream(info, &stderr, "!", "stderr", &mut lines);
        match out.exit {
            Exit::Code(0) => {}
            Exit::Code(code) => lines.push(format!("exit {code}")),
            Exit::Signal(_) if stopped_by_harness => {}
            Exit::Signal(signal) => lines.push(format!("exit signal {signal}")),
            Exit::TimedOut => lines.push("exit timeout".to_owned()),
        }
        lines
    }

    fn push_stream(
        &mut self,
        info: &CommandInfo,
        text: &str,
        prefix: &str,
        name: &str,
        out: &mut Vec<String>,
    ) {
        if text.is_empty() {
            return;
        }
        let lines: Vec<String> = text.lines().map(|l| self.replace_literals(l)).collect();
        let lines = match info.format {
            Format::Table => self.normalize_table(info, lines),
            Format::Simple => self.normalize_simple(info, lines),
            _ => lines,
        };
        for line in lines {
            let line = self.normalize_line(info, &line);
            if line.is_empty() {
                out.push(prefix.to_owned());
            } else {
                out.push(format!("{prefix} {line}"));
            }
        }
        if !text.ends_with('\n') {
            out.push(format!("\\ no newline at end of {name}"));
        }
    }

    fn replace_literals(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for (actual, name) in &self.literals {
            let mut out = String::new();
            let mut rest = line.as_str();
            while let Some(pos) = rest.find(actual.as_str()) {
                let end = pos + actual.len();
                // 127.0.0.1:2379 must not match inside 127.0.0.1:23790.
                let next_is_digit = rest[end..].starts_with(|c: char| c.is_ascii_digit());
                out.push_str(&rest[..pos]);
                if next_is_digit {
                    out.push_str(actual);
                } else {
                    out.push_str(&format!("{{{name}}}"));
                }
                rest = &rest[end..];
            }
            out.push_str(rest);
            line = out;
        }
        line
    }

    fn normalize_cell(&mut self, kind: Kind, cell: &str) -> String {
        match kind {
            Kind::HexId => match u64::from_str_radix(cell, 16) {
                Ok(value) => self.id(value),
                Err(_) => cell.to_owned(),
            },
            Kind::Version => "<VERSION>".to_owned(),
            Kind::Size => "<SIZE>".to_owned(),
            Kind::Term => "<TERM>".to_owned(),
            Kind::Index => "<INDEX>".to_owned(),
            Kind::Hash => self.hash(cell),
            Kind::HexHash => match u64::from_str_radix(cell, 16) {
                Ok(value) => self.hash(&value.to_string()),
                Err(_) => cell.to_owned(),
            },
            Kind::Keys => "<KEYS>".to_owned(),
            Kind::Duration => "<DURATION>".to_owned(),
        }
    }

    fn normalize_table(&mut self, info: &CommandInfo, lines: Vec<String>) -> Vec<String> {
        let mut headers: Option<Vec<Option<Kind>>> = None;
        let mut out = Vec::new();
        for line in lines {
            if line.starts_with('+') && line.ends_with('+') {
                let mut border = String::new();
                for c in line.chars() {
                    if !(c == '-' && border.ends_with('-')) {
                        border.push(c);
                    }
                }
                out.push(border);
            } else if line.starts_with('|') && line.ends_with('|') && line.len() > 1 {
                let cells: Vec<&str> = line[1..line.len() - 1].split('|').map(str::trim).collect();
                let cells: Vec<String> = match &headers {
                    None => {
                        let hex_hash = info.family == "snapshot status";
                        headers = Some(
                            cells
                                .iter()
                                .map(|h| match table_column(h) {
                                    Some(Kind::Hash) if hex_hash => Some(Kind::HexHash),
                                    kind => kind,
                                })
                                .collect(),
                        );
                        cells.iter().map(|c| (*c).to_owned()).collect()
                    }
                    Some(kinds) => {
                        let kinds = kinds.clone();
                        cells
                            .iter()
                            .enumerate()
                            .map(|(i, c)| match kinds.get(i).copied().flatten() {
                                Some(kind) if !c.is_empty() => self.normalize_cell(kind, c),
                                _ => (*c).to_owned(),
                            })
                            .collect()
                    }
                };
                out.push(format!("| {} |", cells.join(" | ")));
            } else {
                out.push(line);
            }
        }
        if sorts_rows(&info.family) {
            sort_table_rows(&mut out);
        }
        out
    }

    fn normalize_simple(&mut self, info: &CommandInfo, lines: Vec<String>) -> Vec<String> {
        let columns = simple_columns(&info.family);
        let mut out: Vec<String> = lines
            .into_iter()
            .map(|line| {
                if info.family == "lease list" && !line.starts_with("found ") {
                    if let Ok(value) = u64::from_str_radix(&line, 16) {
                        return self.id(value);
                    }
                }
                let mut cells: Vec<String> = line.split(", ").map(str::to_owned).collect();
                let needed = columns.iter().map(|(i, _)| i + 1).max().unwrap_or(usize::MAX);
                if columns.is_empty() || cells.len() < needed {
                    return line;
                }
                for &(i, kind) in columns {
                    cells[i] = self.normalize_cell(kind, &cells[i]);
                }
                cells.join(", ")
            })
            .collect();
        if sorts_rows(&info.family) {
            out.sort();
        }
        out
    }

    fn normalize_line(&mut self, info: &CommandInfo, line: &str) -> String {
        let mut line = JSON_ID
            .replace_all(line, |c: &Captures| {
                let value: u64 = c[2].parse().unwrap_or(0);
                format!("\"{}\":{}", &c[1], self.id(value))
            })
            .into_owned();
        line = FIELDS_ID
            .replace_all(&line, |c: &Captures| {
                let value: u64 = c[2].parse().unwrap_or(0);
                format!("\"{}\" : {}", &c[1], self.id(value))
            })
            .into_owned();
        line = TEXT_HEX_ID
            .replace_all(&line, |c: &Captures| match u64::from_str_radix(&c[2], 16) {
                Ok(value) => format!("{} {}", &c[1], self.id(value)),
                Err(_) => c[0].to_owned(),
            })
            .into_owned();
        line = JSON_HASH
            .replace_all(&line, |c: &Captures| format!("\"hash\":{}", self.hash(&c[1])))
            .into_owned();
        line = FIELDS_HASH
            .replace_all(&line, |c: &Captures| format!("\"Hash\" : {}", self.hash(&c[1])))
            .into_owned();
        line = ALARM_MEMBER
            .replace_all(&line, |c: &Captures| {
                let value: u64 = c[1].parse().unwrap_or(0);
                format!("memberID:{}", self.id(value))
            })
            .into_owned();
        let fixed: [(&Regex, &str); 16] = [
            (&JSON_TERM, "\"${1}\":<TERM>"),
            (&FIELDS_TERM, "\"RaftTerm\" : <TERM>"),
            (&JSON_INDEX, "\"${1}\":<INDEX>"),
            (&FIELDS_INDEX, "\"${1}\" : <INDEX>"),
            (&JSON_SIZE, "\"${1}\":<SIZE>"),
            (&FIELDS_SIZE, "\"${1}\" : <SIZE>"),
            (&JSON_VERSION, "\"version\":\"<VERSION>\""),
            (&FIELDS_VERSION, "\"Version\" : \"<VERSION>\""),
            (&TOOK, "took = <DURATION>"),
            (&ZAP_TS, "\"ts\":<TS>"),
            (&ZAP_TOOK, "\"took\":<DURATION>"),
            (&SNAPSHOT_KEYS, "\"totalKey\":<KEYS>"),
            (&SNAPSHOT_SIZE, "\"totalSize\":<SIZE>"),
            (&ZAP_SIZE, "\"size\":\"<SIZE>\""),
            (&CLIENT_UUID, "client-<UUID>"),
            (&REMAINING, "remaining(<TTL>)"),
        ];
        for (re, replacement) in fixed {
            line = re.replace_all(&line, replacement).into_owned();
        }
        line = INITIAL_CLUSTER
            .replace_all(&line, |c: &Captures| {
                let mut entries: Vec<&str> = c[1].split(',').collect();
                entries.sort_unstable();
                format!("ETCD_INITIAL_CLUSTER=\"{}\"", entries.join(","))
            })
            .into_owned();
        if line.contains("\"members\":[") {
            line = sort_json_array(&line, "\"members\":[");
        }
        if info.family == "lease timetolive" {
            // etcd lists a lease's keys in Go map order: random.
            line = ATTACHED_KEYS
                .replace_all(&line, |c: &Captures| {
                    let mut keys: Vec<&str> = c[1].split(' ').collect();
                    keys.sort_unstable();
                    format!("attached keys([{}])", keys.join(" "))
                })
                .into_owned();
            line = JSON_KEYS
                .replace_all(&line, |c: &Captures| {
                    let mut keys: Vec<&str> = c[1].split(',').collect();
                    keys.sort_unstable();
                    format!("\"keys\":[{}]", keys.join(","))
                })
                .into_owned();
            line = JSON_TTL.replace_all(&line, "\"ttl\":<TTL>").into_owned();
            line = FIELDS_TTL.replace_all(&line, "\"TTL\" : <TTL>").into_owned();
        }
        line
    }

    fn protobuf_varint(&mut self, path: &[u32], value: u64) -> String {
        match path {
            // ResponseHeader: cluster_id, member_id, raft_term.
            [1, 1 | 2] => self.id(value),
            [1, 4] => "<TERM>".to_owned(),
            // Anything this large is an id (member, lease), never a revision or count.
            _ if value >= 1 << 32 => self.id(value),
            _ => value.to_string(),
        }
    }
}

/// Sorts the elements of the JSON array that starts right after `marker` (etcd lists members
/// in id order, and ids differ between runs).
fn sort_json_array(line: &str, marker: &str) -> String {
    let Some(at) = line.find(marker) else { return line.to_owned() };
    let start = at + marker.len();
    let bytes = line.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut elements = Vec::new();
    let mut element_start = start;
    let mut end = None;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' => {
                elements.push(&line[element_start..i]);
                end = Some(i);
                break;
            }
            b',' if depth == 0 => {
                elements.push(&line[element_start..i]);
                element_start = i + 1;
            }
            _ => {}
        }
    }
    let Some(end) = end else { return line.to_owned() };
    elements.sort_unstable();
    format!("{}{}{}", &line[..start], elements.join(","), &line[end..])
}

/// Commands whose rows come in member-id order (or, for health, in completion order).
fn sorts_rows(family: &str) -> bool {
    matches!(family, "member list" | "endpoint status" | "endpoint health" | "endpoint hashkv")
}

fn sort_table_rows(lines: &mut [String]) {
    // Rows after the header row and its border, up to the closing border. A row whose first
    // cell is empty continues the row above (a wrapped cell) and moves with it.
    let Some(header) = lines.iter().position(|l| l.starts_with('|')) else { return };
    let start = header + 2;
    if start > lines.len() {
        return;
    }
    let end =
        lines[start..].iter().position(|l| !l.starts_with('|')).map_or(lines.len(), |p| start + p);
    let mut groups: Vec<Vec<String>> = Vec::new();
    for line in &lines[start..end] {
        match groups.last_mut() {
            Some(group) if line.starts_with("|  |") => group.push(line.clone()),
            _ => groups.push(vec![line.clone()]),
        }
    }
    groups.sort();
    for (slot, line) in lines[start..end].iter_mut().zip(groups.into_iter().flatten()) {
        *slot = line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(stdout: &str, stderr: &str, exit: Exit) -> CmdOutput {
        CmdOutput { stdout: stdout.as_bytes().to_vec(), stderr: stderr.as_bytes().to_vec(), exit }
    }

    fn info(args: &[&str]) -> CommandInfo {
        CommandInfo::from_args(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn command_info_finds_family_and_format() {
        assert_eq!(
            info(&["get", "foo", "-w", "json"]),
            CommandInfo { family: "get".into(), format: Format::Json }
        );
        assert_eq!(info(&["endpoint", "status", "--write-out=table"]).family, "endpoint status");
        assert_eq!(info(&["endpoint", "status", "--write-out=table"]).format, Format::Table);
        assert_eq!(info(&["member", "list"]).format, Format::Simple);
    }

    #[test]
    fn ids_map_by_value_across_hex_and_decimal() {
        let mut n = Normalizer::new();
        n.name_id(0x2e12_59d4_15f2_a040, "m1.id");
        let lines = n.normalize(
            &info(&["lease", "grant", "100"]),
            &output("lease 2040a212c178d50c granted with TTL(100s)\n", "", Exit::Code(0)),
            false,
        );
        assert_eq!(lines, vec!["| lease {id1} granted with TTL(100s)"]);
        let json = "{\"cluster_id\":7,\"member_id\":3319814642761637952,\"revision\":6,\"raft_term\":2,\"leases\":[{\"id\":2324035609162208524}]}\n";
        let lines = n.normalize(
            &info(&["lease", "list", "-w", "json"]),
            &output(json, "", Exit::Code(0)),
            false,
        );
        assert_eq!(
            lines,
            vec!["| {\"cluster_id\":{id2},\"member_id\":{m1.id},\"revision\":6,\"raft_term\":<TERM>,\"leases\":[{\"id\":{id1}}]}"]
        );
        assert_eq!(n.resolve("id1").unwrap(), "2040a212c178d50c");
        assert_eq!(n.substitute("--lease={id1} x{y").unwrap(), "--lease=2040a212c178d50c x{y");
        assert!(n.substitute("{nope}").is_err());
    }

    #[test]
    fn tables_lose_padding_and_normalize_by_column() {
        let mut n = Normalizer::new();
        n.add_literal("127.0.0.1:23790", "m1.client_addr");
        let table = "+-----------------+------------------+---------+\n\
                     |    ENDPOINT     |        ID        | VERSION |\n\
                     +-----------------+------------------+---------+\n\
                     | 127.0.0.1:23790 | 2e1259d415f2a040 |  3.4.23 |\n\
                     +-----------------+------------------+---------+\n";
        let lines = n.normalize(
            &info(&["endpoint", "status", "-w", "table"]),
            &output(table, "", Exit::Code(0)),
            false,
        );
        assert_eq!(
            lines,
            vec![
                "| +-+-+-+",
                "| | ENDPOINT | ID | VERSION |",
                "| +-+-+-+",
                "| | {m1.client_addr} | {id1} | <VERSION> |",
                "| +-+-+-+"
            ]
        );
    }

    #[test]
    fn literals_respect_port_boundaries_and_streams_keep_their_ends() {
        let mut n = Normalizer::new();
        n.add_literal("127.0.0.1:2379", "m1.client_addr");
        let lines = n.normalize(
            &info(&["get", "k"]),
            &output("127.0.0.1:2379 is healthy: successfully committed proposal: took = 1.4ms\n127.0.0.1:23790", "boom", Exit::Code(1)),
            false,
        );
        assert_eq!(
            lines,
            vec![
                "| {m1.client_addr} is healthy: successfully committed proposal: took = <DURATION>",
                "| 127.0.0.1:23790",
                "\\ no newline at end of stdout",
                "! boom",
                "\\ no newline at end of stderr",
                "exit 1"
            ]
        );
    }

    #[test]
    fn revisions_stay_exact_and_logs_lose_timestamps() {
        let mut n = Normalizer::new();
        let warn = "{\"level\":\"warn\",\"ts\":\"2026-11-25T12:50:01.275Z\",\"target\":\"endpoint://client-b8fb2d9b-87a8-4a09-a7e4-df80617ed377/x\",\"attempt\":0}\n";
        let lines = n.normalize(&info(&["get", "foo"]), &output("", warn, Exit::Code(1)), false);
        assert_eq!(lines, vec!["! {\"level\":\"warn\",\"ts\":<TS>,\"target\":\"endpoint://client-<UUID>/x\",\"attempt\":0}", "exit 1"]);
        let fields = "\"Revision\" : 5\n\"RaftTerm\" : 2\n\"Lease\" : 0\n";
        let lines = n.normalize(
            &info(&["get", "foo", "-w", "fields"]),
            &output(fields, "", Exit::Code(0)),
            false,
        );
        assert_eq!(lines, vec!["| \"Revision\" : 5", "| \"RaftTerm\" : <TERM>", "| \"Lease\" : 0"]);
    }

    #[test]
    fn json_member_arrays_are_sorted() {
        let line = r#"{"members":[{"ID":2,"name":"b,]"},{"ID":1,"peerURLs":["x"]}],"z":[3,1]}"#;
        assert_eq!(
            sort_json_array(line, "\"members\":["),
            r#"{"members":[{"ID":1,"peerURLs":["x"]},{"ID":2,"name":"b,]"}],"z":[3,1]}"#
        );
        assert_eq!(sort_json_array("no array", "\"members\":["), "no array");
    }

    #[test]
    fn hex_and_decimal_hashes_share_a_number() {
        let mut n = Normalizer::new();
        let simple = n.normalize(
            &info(&["snapshot", "status", "f"]),
            &output("ff, 3, 8, 20 kB\n", "", Exit::Code(0)),
            false,
        );
        let json = n.normalize(
            &info(&["snapshot", "status", "f", "-w", "json"]),
            &output("{\"hash\":255,\"revision\":3}\n", "", Exit::Code(0)),
            false,
        );
        let other = n.normalize(
            &info(&["endpoint", "hashkv"]),
            &output("ep, 7\n", "", Exit::Code(0)),
            false,
        );
        assert_eq!(simple, vec!["| <HASH1>, 3, <KEYS>, <SIZE>"]);
        assert_eq!(json, vec!["| {\"hash\":<HASH1>,\"revision\":3}"]);
        assert_eq!(other, vec!["| ep, <HASH2>"]);
    }

    #[test]
    fn member_list_rows_are_sorted_and_stopped_background_hides_signal() {
        let mut n = Normalizer::new();
        n.name_id(0xb, "m2.id");
        n.name_id(0xa, "m1.id");
        let list = "b, started, m2, p2, c2, false\na, started, m1, p1, c1, false\n";
        let lines =
            n.normalize(&info(&["member", "list"]), &output(list, "", Exit::Signal(15)), true);
        assert_eq!(
            lines,
            vec!["| {m1.id}, started, m1, p1, c1, false", "| {m2.id}, started, m2, p2, c2, false"]
        );
        let lines = n.normalize(&info(&["watch", "foo"]), &output("", "", Exit::Signal(9)), false);
        assert_eq!(lines, vec!["exit signal 9"]);
    }
}
