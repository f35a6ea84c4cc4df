//! etcd v2's keys API over HTTP (`/v2/keys…`, served with `--enable-v2`): request parsing
//! (query and `application/x-www-form-urlencoded` body) and etcd's JSON answers and headers.
//! The store itself is `oxcd_core::v2store`.

use oxcd_core::error::ApiError;
use oxcd_core::v2store::{V2Error, V2ErrorCode, V2Event, V2Node, V2Response};
use oxcd_proto::etcdserverpb as pb;

/// Fields of etcd's v2 API that oxcd does not implement; a request using one is refused
/// rather than served with different semantics.
const UNSUPPORTED: [&str; 9] = [
    "ttl",
    "prevValue",
    "prevIndex",
    "prevExist",
    "wait",
    "waitIndex",
    "quorum",
    "refresh",
    "stream",
];

/// Percent-decodes `s` (`+` as space when `form`); malformed escapes stay as written.
#[must_use]
pub fn percent_decode(s: &str, form: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if form => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    s.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true), percent_decode(v, true))
    })
}

/// Go's `strconv.ParseBool`, as etcd reads boolean fields; empty is false.
fn parse_bool(field: &str, v: Option<&String>) -> Result<bool, V2Error> {
    match v.map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(_) => Err(invalid(&format!("invalid value for \"{field}\""))),
    }
}

fn invalid(cause: &str) -> V2Error {
    V2Error { code: V2ErrorCode::InvalidField, cause: cause.to_owned(), index: 0 }
}

/// Builds the core request for `method` on `key` (the path after `/v2/keys`, still
/// percent-encoded). The body is read as a form when `content_type` says it is one; its
/// fields win over the query's, as in Go's `FormValue`.
///
/// # Errors
/// etcd's "Invalid field" error for a malformed boolean or a field oxcd does not implement.
pub fn parse_request(
    method: &str,
    key: &str,
    query: &str,
    body: &[u8],
    content_type: Option<&[u8]>,
) -> Result<pb::V2Request, V2Error> {
    let mut fields: std::collections::BTreeMap<String, String> = form_pairs(query).collect();
    let is_form = content_type
        .is_some_and(|c| c.to_ascii_lowercase().starts_with(b"application/x-www-form-urlencoded"));
    if is_form && method != "GET" {
        let body = String::from_utf8_lossy(body);
        // The first value of a repeated field counts (`value=a&value=b` sets "a").
        let mut from_body = std::collections::BTreeMap::new();
        for (k, v) in form_pairs(&body) {
            from_body.entry(k).or_insert(v);
        }
        fields.extend(from_body);
    }
    for name in UNSUPPORTED {
        if fields.get(name).is_some_and(|v| !v.is_empty()) {
            return Err(invalid(&format!("\"{name}\" is not supported by oxcd")));
        }
    }
    Ok(pb::V2Request {
        id: 0,
        method: method.to_owned(),
        path: percent_decode(key, false),
        val: fields.get("value").cloned().unwrap_or_default(),
        dir: parse_bool("dir", fields.get("dir"))?,
        recursive: parse_bool("recursive", fields.get("recursive"))?,
        sorted: parse_bool("sorted", fields.get("sorted"))?,
    })
}

fn push_str(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires; a &str always serializes.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

fn push_node(out: &mut String, node: &V2Node) {
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    if let Some(key) = &node.key {
        sep(out);
        out.push_str("\"key\":");
        push_str(out, key);
    }
    if node.dir {
        sep(out);
        out.push_str("\"dir\":true");
    }
    if let Some(value) = &node.value {
        sep(out);
        out.push_str("\"value\":");
        push_str(out, value);
    }
    if !node.nodes.is_empty() {
        sep(out);
        out.push_str("\"nodes\":[");
        for (i, child) in node.nodes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_node(out, child);
        }
        out.push(']');
    }
    if node.modified_index != 0 {
        sep(out);
        out.push_str(&format!("\"modifiedIndex\":{}", node.modified_index));
    }
    if node.created_index != 0 {
        sep(out);
        out.push_str(&format!("\"createdIndex\":{}", node.created_index));
    }
    out.push('}');
}

/// An event's JSON body, newline-terminated as etcd writes it.
#[must_use]
pub fn event_body(event: &V2Event) -> String {
    let mut out = String::from("{\"action\":");
    push_str(&mut out, event.action.as_str());
    out.push_str(",\"node\":");
    push_node(&mut out, &event.node);
    if let Some(prev) = &event.prev_node {
        out.push_str(",\"prevNode\":");
        push_node(&mut out, prev);
    }
    out.push_str("}\n");
    out
}

/// An error's JSON body, newline-terminated as etcd writes it.
#[must_use]
pub fn error_body(e: &V2Error) -> String {
    let mut out = format!("{{\"errorCode\":{},\"message\":", e.code as u16);
    push_str(&mut out, e.code.message());
    out.push_str(",\"cause\":");
    push_str(&mut out, &e.cause);
    out.push_str(&format!(",\"index\":{}}}\n", e.index));
    out
}

/// Headers of a v2 answer: JSON, the cluster id, and the indexes etcd sends (Raft index and
/// term only on success, as etcd does).
fn headers(cluster_id: u64, index: u64, raft: Option<(u64, u64)>) -> Vec<(String, Vec<u8>)> {
    let mut h = vec![
        ("Content-Type".to_owned(), b"application/json".to_vec()),
        ("X-Etcd-Cluster-Id".to_owned(), format!("{cluster_id:x}").into_bytes()),
        ("X-Etcd-Index".to_owned(), index.to_string().into_bytes()),
    ];
    if let Some((raft_index, raft_term)) = raft {
        h.push(("X-Raft-Index".to_owned(), raft_index.to_string().into_bytes()));
        h.push(("X-Raft-Term".to_owned(), raft_term.to_string().into_bytes()));
    }
    h
}

/// An HTTP answer: status, headers, body.
pub type HttpAnswer = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

/// The answer to a v2 error found before the request reached the core.
#[must_use]
pub fn error_answer(cluster_id: u64, e: &V2Error) -> HttpAnswer {
    (e.code.http_status(), headers(cluster_id, e.index, None), error_body(e).into_bytes())
}

/// The HTTP answer to the core's reply. `cluster_id` is used when the reply has no header.
#[must_use]
pub fn answer(cluster_id: u64, result: Result<&V2Response, ApiError>) -> HttpAnswer {
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            // Not leader, timeouts, no space: etcd's v2 API answers with a server error.
            let e = V2Error {
                code: V2ErrorCode::RaftInternal,
                cause: e.message().to_owned(),
                index: 0,
            };
            return error_answer(cluster_id, &e);
        }
    };
    let header = r.header.clone().unwrap_or_default();
    let cluster_id = if header.cluster_id != 0 { header.cluster_id } else { cluster_id };
    match &r.result {
        Ok(event) => {
            let status = if event.created() { 201 } else { 200 };
            let h = headers(cluster_id, r.index, Some((r.raft_index, header.raft_term)));
            (status, h, event_body(event).into_bytes())
        }
        Err(e) => {
            (e.code.http_status(), headers(cluster_id, r.index, None), error_body(e).into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_core::v2store::V2Action;

    #[test]
    fn forms_and_queries_parse() {
        let form = Some(&b"application/x-www-form-urlencoded"[..]);
        let r =
            parse_request("PUT", "/a%2Fb", "dir=false", b"value=a+b%20c&value=x&dir=true", form)
                .unwrap();
        assert_eq!((r.path.as_str(), r.val.as_str(), r.dir), ("/a/b", "a b c", true));
        let r = parse_request("GET", "/d", "recursive=true&sorted=1", b"", None).unwrap();
        assert!(r.recursive && r.sorted && r.val.is_empty());
        // Without the form content type the body is not read.
        assert_eq!(parse_request("PUT", "/a", "", b"value=1", None).unwrap().val, "");
        let e = parse_request("PUT", "/g", "", b"dir=xyz", form).unwrap_err();
        assert_eq!(
            error_body(&e),
            "{\"errorCode\":209,\"message\":\"Invalid field\",\"cause\":\"invalid value for \\\"dir\\\"\",\"index\":0}\n"
        );
        assert_eq!(e.code.http_status(), 400);
        let e = parse_request("PUT", "/y", "ttl=5", b"value=1", form).unwrap_err();
        assert_eq!(e.cause, "\"ttl\" is not supported by oxcd");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("%e2%82%ac+", false), "€+");
    }

    #[test]
    fn bodies_match_etcd() {
        let file = |key: &str, value: &str, i: u64| V2Node {
            key: Some(key.into()),
            dir: false,
            value: Some(value.into()),
            created_index: i,
            modified_index: i,
            nodes: vec![],
        };
        let event = V2Event {
            action: V2Action::Set,
            node: file("/foo", "baz", 5),
            prev_node: Some(file("/foo", "bar", 4)),
        };
        assert_eq!(
            event_body(&event),
            "{\"action\":\"set\",\"node\":{\"key\":\"/foo\",\"value\":\"baz\",\"modifiedIndex\":5,\"createdIndex\":5},\"prevNode\":{\"key\":\"/foo\",\"value\":\"bar\",\"modifiedIndex\":4,\"createdIndex\":4}}\n"
        );
        let root = V2Event {
            action: V2Action::Get,
            node: V2Node {
                key: None,
                dir: true,
                value: None,
                created_index: 0,
                modified_index: 0,
                nodes: vec![file("/foo", "baz", 5)],
            },
            prev_node: None,
        };
        assert_eq!(
            event_body(&root),
            "{\"action\":\"get\",\"node\":{\"dir\":true,\"nodes\":[{\"key\":\"/foo\",\"value\":\"baz\",\"modifiedIndex\":5,\"createdIndex\":5}]}}\n"
        );
        let e = V2Error { code: V2ErrorCode::KeyNotFound, cause: "/foo".into(), index: 3 };
        let (status, h, body) = error_answer(0xd1cf, &e);
        assert_eq!(status, 404);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/foo\",\"index\":3}\n"
        );
        assert!(h.contains(&("X-Etcd-Cluster-Id".to_owned(), b"d1cf".to_vec())));
        assert!(h.contains(&("X-Etcd-Index".to_owned(), b"3".to_vec())));
        assert!(!h.iter().any(|(k, _)| k == "X-Raft-Index"));
    }
}
