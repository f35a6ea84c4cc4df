//! The HTTP/1.1 (and plain HTTP/2) endpoints of a client listener: what a path means, and the
//! bodies etcd answers with. The driver does the work (health needs the core); this module
//! holds the mapping and the texts.

use oxcd_core::node::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};
use oxcd_proto::grpc::Code;
use oxcd_proto::json;
use oxcd_proto::service::{gateway_method, Method};

/// What an HTTP request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpRoute {
    /// `GET /health`: etcd 3.5's check (alarms, leader, a read through the core).
    Health(HealthQuery),
    /// `GET /livez` (etcd 3.5.11+): the process serves.
    Livez,
    /// `GET /readyz` (etcd 3.5.11+): like `/health`, as text.
    Readyz(HealthQuery),
    /// `GET /version`.
    Version,
    /// `GET /metrics`: Prometheus text.
    Metrics,
    /// `POST /v3/...`: the grpc-gateway JSON API.
    Gateway(Method),
    /// `/v2/keys…` with `--enable-v2`: the v2 keys API on the key after `/v2/keys` (still
    /// percent-encoded; empty for the root). The method is `GET`, `PUT`, `POST` or `DELETE`.
    V2Keys {
        /// `GET` (also for `HEAD`), `PUT`, `POST` or `DELETE`.
        method: &'static str,
        /// The path after `/v2/keys`.
        key: String,
    },
    /// A known path with the wrong HTTP method.
    MethodNotAllowed,
    /// Nothing here (etcd 3.4+ without `--enable-v2` answers 404 for `/v2/*` too).
    NotFound,
}

/// The query of `/health` and `/readyz`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthQuery {
    /// `?exclude=NOSPACE` (repeatable): alarms that do not make the member unhealthy.
    pub exclude: Vec<String>,
    /// `?serializable=true`: check with a local read instead of a linearizable one.
    pub serializable: bool,
}

impl HealthQuery {
    /// Parses `exclude=` and `serializable=` from a query string.
    #[must_use]
    pub fn parse(query: &str) -> HealthQuery {
        let mut q = HealthQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "exclude" => q.exclude.push(v.to_owned()),
                "serializable" => q.serializable = v == "true",
                _ => {}
            }
        }
        q
    }

    /// True when an alarm named `name` (`NOSPACE`, `CORRUPT`) counts against health.
    #[must_use]
    pub fn counts(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
    }
}

/// Routes a request. `gateway` is `--enable-grpc-gateway`, `v2` is `--enable-v2`.
#[must_use]
pub fn route(method: &str, path: &str, query: &str, gateway: bool, v2: bool) -> HttpRoute {
    if let Some(key) = path.strip_prefix("/v2/keys").filter(|k| k.is_empty() || k.starts_with('/'))
    {
        if v2 {
            let method = match method {
                "GET" | "HEAD" => "GET",
                "PUT" => "PUT",
                "POST" => "POST",
                "DELETE" => "DELETE",
                _ => return HttpRoute::MethodNotAllowed,
            };
            return HttpRoute::V2Keys { method, key: key.to_owned() };
        }
    }
    let get = method == "GET" || method == "HEAD";
    let simple = |r: HttpRoute| if get { r } else { HttpRoute::MethodNotAllowed };
    match path {
        "/health" => simple(HttpRoute::Health(HealthQuery::parse(query))),
        "/livez" => simple(HttpRoute::Livez),
        "/readyz" => simple(HttpRoute::Readyz(HealthQuery::parse(query))),
        "/version" => simple(HttpRoute::Version),
        "/metrics" => simple(HttpRoute::Metrics),
        _ if gateway => match gateway_method(path) {
            Some(m) if method == "POST" => HttpRoute::Gateway(m),
            Some(_) => HttpRoute::MethodNotAllowed,
            None => HttpRoute::NotFound,
        },
        _ => HttpRoute::NotFound,
    }
}

/// `/version`'s body.
#[must_use]
pub fn version_body() -> String {
    format!(
        "{{\"etcdserver\":\"{ETCD_SERVER_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"
    )
}

/// `/health`'s status and body (etcd 3.5: `{"health":"true","reason":""}`, 503 when not).
#[must_use]
pub fn health_answer(healthy: bool, reason: &str) -> (u16, String) {
    let mut body = String::from("{\"health\":\"");
    body.push_str(if healthy { "true" } else { "false" });
    body.push_str("\",\"reason\":");
    push_json_string(&mut body, reason);
    body.push('}');
    (if healthy { 200 } else { 503 }, body)
}

/// `/readyz`'s status and text body.
#[must_use]
pub fn readyz_answer(ready: bool, reason: &str) -> (u16, String) {
    if ready {
        (200, "ok".to_owned())
    } else {
        (503, format!("[-]{reason}\nhealth check failed"))
    }
}

/// A grpc-gateway error body and its HTTP status.
#[must_use]
pub fn gateway_error(code: u32, message: &str) -> (u16, Vec<u8>) {
    let code = Code::from_u32(code);
    let mut body = String::new();
    json::error_body(code, message, &mut body);
    (code.http_status(), body.into_bytes())
}

/// The `content-type` header of JSON answers.
#[must_use]
pub fn json_headers() -> Vec<(String, Vec<u8>)> {
    vec![("content-type".to_owned(), b"application/json".to_vec())]
}

/// The `content-type` header of text answers.
#[must_use]
pub fn text_headers() -> Vec<(String, Vec<u8>)> {
    vec![("content-type".to_owned(), b"text/plain; charset=utf-8".to_vec())]
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("GET", "/health", "", true, false),
            HttpRoute::Health(HealthQuery::default())
        );
        assert_eq!(
            route("GET", "/health", "exclude=NOSPACE&serializable=true", true, false),
            HttpRoute::Health(HealthQuery { exclude: vec!["NOSPACE".into()], serializable: true })
        );
        assert_eq!(route("POST", "/health", "", true, false), HttpRoute::MethodNotAllowed);
        assert_eq!(route("GET", "/version", "", false, false), HttpRoute::Version);
        assert_eq!(route("POST", "/v3/kv/put", "", true, false), HttpRoute::Gateway(Method::Put));
        assert_eq!(route("GET", "/v3/kv/put", "", true, false), HttpRoute::MethodNotAllowed);
        assert_eq!(route("POST", "/v3/kv/put", "", false, false), HttpRoute::NotFound);
        assert_eq!(route("GET", "/v2/keys/a", "", true, false), HttpRoute::NotFound);
        let v2 = |m: &str, p: &str| route(m, p, "", true, true);
        assert_eq!(v2("GET", "/v2/keys"), HttpRoute::V2Keys { method: "GET", key: String::new() });
        assert_eq!(v2("HEAD", "/v2/keys/a"), HttpRoute::V2Keys { method: "GET", key: "/a".into() });
        assert_eq!(
            v2("DELETE", "/v2/keys/a/b"),
            HttpRoute::V2Keys { method: "DELETE", key: "/a/b".into() }
        );
        assert_eq!(v2("PATCH", "/v2/keys/a"), HttpRoute::MethodNotAllowed);
        assert_eq!(v2("GET", "/v2/keysx"), HttpRoute::NotFound);
        assert_eq!(v2("GET", "/v2/members"), HttpRoute::NotFound);
        let q = HealthQuery::parse("exclude=NOSPACE");
        assert!(!q.counts("NOSPACE") && q.counts("CORRUPT"));
    }

    #[test]
    fn bodies() {
        assert_eq!(version_body(), format!("{{\"etcdserver\":\"{ETCD_SERVER_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"));
        assert_eq!(health_answer(true, ""), (200, "{\"health\":\"true\",\"reason\":\"\"}".into()));
        assert_eq!(
            health_answer(false, "RAFT NO LEADER"),
            (503, "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}".into())
        );
        let (status, body) = gateway_error(5, "etcdserver: requested lease not found");
        assert_eq!(status, 404);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"error\":\"etcdserver: requested lease not found\",\"code\":5,\"message\":\"etcdserver: requested lease not found\"}"
        );
        assert_eq!(readyz_answer(false, "leader").0, 503);
    }
}
