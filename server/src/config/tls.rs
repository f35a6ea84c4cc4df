//! TLS settings: pairing of certificate and key, HTTPS listeners without certificates, peer
//! identity rules, cipher suite names, and that every referenced file exists.

use super::error::ConfigError;
use super::file::io_text;
use super::model::{Config, TlsConfig};
use super::url::{EtcdUrl, UrlScheme};
use std::path::Path;

/// Go's cipher suite names that etcd accepts (`tls.CipherSuites()`, `tls.InsecureCipherSuites()`
/// and two short aliases). Which of them a runtime can offer is its TLS library's business.
pub const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

fn err<T>(s: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::invalid(s))
}

/// Flag names for one side, to word errors.
struct Side {
    what: &'static str,
    cert: &'static str,
    key: &'static str,
    client_cert: &'static str,
    client_key: &'static str,
    auth: &'static str,
    ca: &'static str,
    crl: &'static str,
}

const CLIENT: Side = Side {
    what: "client",
    cert: "cert-file",
    key: "key-file",
    client_cert: "client-cert-file",
    client_key: "client-key-file",
    auth: "client-cert-auth",
    ca: "trusted-ca-file",
    crl: "client-crl-file",
};
const PEER: Side = Side {
    what: "peer",
    cert: "peer-cert-file",
    key: "peer-key-file",
    client_cert: "peer-client-cert-file",
    client_key: "peer-client-key-file",
    auth: "peer-client-cert-auth",
    ca: "peer-trusted-ca-file",
    crl: "peer-crl-file",
};

/// Runs every TLS check; may turn `auto_tls` off (with a warning) when certificates are given.
pub(super) fn check(cfg: &mut Config) -> Result<(), ConfigError> {
    let warnings = &mut cfg.warnings;
    let client_urls: Vec<EtcdUrl> = cfg
        .member
        .listen_client_urls
        .iter()
        .chain(&cfg.member.listen_client_http_urls)
        .cloned()
        .collect();
    side(&CLIENT, &mut cfg.client_tls, &client_urls, warnings)?;
    side(&PEER, &mut cfg.peer_tls, &cfg.member.listen_peer_urls, warnings)?;
    let p = &cfg.peer_tls;
    if !p.allowed_cns.is_empty() && !p.allowed_hostnames.is_empty() {
        return err(format!(
            "--peer-cert-allowed-cn and --peer-cert-allowed-hostname are mutually exclusive (cns={:?}, hostnames={:?})",
            p.allowed_cns, p.allowed_hostnames
        ));
    }
    for u in &cfg.metrics.listen_urls {
        if u.scheme().is_tls() && !cfg.client_tls.has_cert() && !cfg.client_tls.auto_tls {
            return err("client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url");
        }
    }
    for suite in &cfg.tls.cipher_suites {
        if !GO_CIPHER_SUITES.contains(&suite.as_str()) {
            return err(format!("unexpected TLS cipher suite {suite:?}"));
        }
    }
    for (side, tls) in [(&CLIENT, &cfg.client_tls), (&PEER, &cfg.peer_tls)] {
        files_exist(side, tls)?;
    }
    Ok(())
}

fn side(
    s: &Side,
    tls: &mut TlsConfig,
    listen: &[EtcdUrl],
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return err(format!("--{} and --{} must be given together", s.cert, s.key));
    }
    if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
        return err(format!("--{} and --{} must be given together", s.client_cert, s.client_key));
    }
    if tls.auto_tls && tls.has_cert() {
        warnings.push(format!("ignoring {} auto TLS since certs given", s.what));
        tls.auto_tls = false;
    }
    for u in listen {
        if u.scheme().is_tls() {
            if !tls.has_cert() && !tls.auto_tls {
                return err(format!(
                    "TLS key/cert (--{}, --{}) must be provided for {} url {u} with HTTPS scheme",
                    s.cert, s.key, s.what
                ));
            }
        } else if u.scheme() == UrlScheme::Http {
            if tls.has_cert() {
                warnings.push(format!(
                    "scheme is HTTP while key and cert files are present; ignoring key and cert files ({} url {u})",
                    s.what
                ));
            }
            if tls.client_cert_auth {
                warnings.push(format!(
                    "scheme is HTTP while --{} is enabled; ignoring client cert auth for this URL ({u})",
                    s.auth
                ));
            }
        }
    }
    if tls.client_cert_auth && tls.trusted_ca_file.is_none() && !tls.auto_tls {
        warnings.push(format!(
            "--{} without --{}: certificates are checked against the system's root CAs",
            s.auth, s.ca
        ));
    }
    Ok(())
}

fn files_exist(s: &Side, tls: &TlsConfig) -> Result<(), ConfigError> {
    let files = [
        (s.cert, &tls.cert_file),
        (s.key, &tls.key_file),
        (s.client_cert, &tls.client_cert_file),
        (s.client_key, &tls.client_key_file),
        (s.ca, &tls.trusted_ca_file),
        (s.crl, &tls.crl_file),
    ];
    for (flag, path) in files {
        if let Some(path) = path {
            must_be_file(flag, path)?;
        }
    }
    Ok(())
}

fn must_be_file(flag: &str, path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => err(format!("--{flag}: read {}: is a directory", path.display())),
        Ok(_) => Ok(()),
        Err(e) => err(format!("--{flag}: open {}: {}", path.display(), io_text(&e))),
    }
}
