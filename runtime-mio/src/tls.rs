//! TLS server configuration for the client listeners, from etcd's flags: `--cert-file`,
//! `--key-file`, `--trusted-ca-file`, `--client-cert-auth`, `--auto-tls` and
//! `--self-signed-cert-validity`. rustls with the ring provider; ALPN `h2` then `http/1.1`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::transport::{ListenAddr, ListenUrl};

/// Where the server certificate comes from, and how clients are checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTlsOptions {
    /// `--cert-file`: the server certificate chain (PEM, leaf first).
    pub cert_file: Option<PathBuf>,
    /// `--key-file`: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// `--trusted-ca-file`: CA certificates (PEM) that client certificates must chain to.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--client-cert-auth`: refuse clients without a certificate signed by a trusted CA, at
    /// the handshake.
    pub client_cert_auth: bool,
    /// `--auto-tls`: without certificate files, generate a self-signed certificate at startup.
    pub auto_tls: bool,
    /// Host names and IP addresses the generated certificate is valid for (etcd uses the hosts
    /// of the listen URLs: see [`auto_tls_hosts`]).
    pub auto_tls_hosts: Vec<String>,
    /// `--self-signed-cert-validity`, in years (etcd's default is 1).
    pub self_signed_cert_validity_years: u32,
}

/// Why a TLS configuration could not be built. Each message names the flag or file at fault.
#[derive(Debug)]
pub enum TlsError {
    /// A flag needs another one (`--cert-file` without `--key-file`, ...).
    MissingFlag(&'static str),
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file holds no PEM item of the expected kind.
    NothingFound {
        /// The file.
        path: PathBuf,
        /// What was expected ("certificate", "private key").
        what: &'static str,
    },
    /// A file's PEM is malformed.
    BadPem {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// A CA certificate was refused by the trust store.
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    Rustls(rustls::Error),
    /// The client verifier could not be built.
    Verifier(String),
    /// The self-signed certificate could not be generated.
    Generate(rcgen::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingFlag(what) => write!(f, "TLS: {what}"),
            Self::Read { path, source } => {
                write!(f, "TLS: cannot read {}: {source}", path.display())
            }
            Self::NothingFound { path, what } => {
                write!(f, "TLS: no PEM {what} found in {}", path.display())
            }
            Self::BadPem { path, detail } => {
                write!(f, "TLS: malformed PEM in {}: {detail}", path.display())
            }
            Self::BadCa { path, detail } => {
                write!(f, "TLS: bad CA certificate in {}: {detail}", path.display())
            }
            Self::Rustls(e) => write!(f, "TLS: invalid certificate or key: {e}"),
            Self::Verifier(e) => write!(f, "TLS: cannot verify client certificates: {e}"),
            Self::Generate(e) => write!(f, "TLS: cannot generate a self-signed certificate: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Rustls(e) => Some(e),
            Self::Generate(e) => Some(e),
            _ => None,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// Unreadable file, malformed PEM, or no certificate in it.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem { path: path.to_owned(), detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NothingFound { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
///
/// # Errors
/// Unreadable file, malformed PEM, or no key in it.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            TlsError::NothingFound { path: path.to_owned(), what: "private key" }
        }
        e => TlsError::BadPem { path: path.to_owned(), detail: e.to_string() },
    })
}

/// A generated self-signed certificate, in DER (for rustls) and PEM (to write to disk as etcd
/// does under `<data-dir>/fixtures/client`).
pub struct SelfSigned {
    /// The certificate (DER).
    pub cert_der: CertificateDer<'static>,
    /// Its key (PKCS#8 DER).
    pub key_der: PrivateKeyDer<'static>,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
}

/// Days since 1970-01-01 to a civil (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Generates an ECDSA P-256 self-signed certificate for `hosts` (IP literals become IP SANs,
/// other names DNS SANs), valid from yesterday for `validity_years` (at least 1).
///
/// # Errors
/// rcgen refuses a host name or fails to sign.
pub fn self_signed_certificate(
    hosts: &[String],
    validity_years: u32,
) -> Result<SelfSigned, TlsError> {
    let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(TlsError::Generate)?;
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "oxcd");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hosts.first().map_or("oxcd", String::as_str));
    let days =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let years = i32::try_from(validity_years.max(1)).unwrap_or(100);
    // Feb 29 does not exist every year: clamp to the 28th.
    params.not_after = rcgen::date_time_ymd(y + years, m, if m == 2 { d.min(28) } else { d });
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = rcgen::KeyPair::generate().map_err(TlsError::Generate)?;
    let cert = params.self_signed(&key).map_err(TlsError::Generate)?;
    Ok(SelfSigned {
        cert_der: cert.der().clone(),
        key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The hosts an auto-TLS certificate must name: the IPs of the TCP listen URLs (an unspecified
/// address such as 0.0.0.0 stands for every interface and is left out), plus `localhost`.
#[must_use]
pub fn auto_tls_hosts(urls: &[ListenUrl]) -> Vec<String> {
    let mut hosts = Vec::new();
    for url in urls {
        if let ListenAddr::Tcp(addr) = &url.addr {
            if !addr.ip().is_unspecified() {
                let h = addr.ip().to_string();
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
    }
    if !hosts.iter().any(|h| h == "localhost") {
        hosts.push("localhost".to_owned());
    }
    hosts
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client listeners' TLS configuration. Certificate files win over `--auto-tls`
/// (as in etcd). ALPN offers `h2` then `http/1.1`.
///
/// # Errors
/// A [`TlsError`] naming the flag or file at fault.
pub fn server_config(opts: &ServerTlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => (load_certs(cert)?, load_key(key)?),
        (Some(_), None) => return Err(TlsError::MissingFlag("--cert-file needs --key-file")),
        (None, Some(_)) => return Err(TlsError::MissingFlag("--key-file needs --cert-file")),
        (None, None) if opts.auto_tls => {
            let s = self_signed_certificate(
                &opts.auto_tls_hosts,
                opts.self_signed_cert_validity_years,
            )?;
            (vec![s.cert_der], s.key_der)
        }
        (None, None) => {
            return Err(TlsError::MissingFlag(
                "TLS needs --cert-file and --key-file, or --auto-tls",
            ))
        }
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?;
    let builder = if opts.client_cert_auth {
        let Some(ca_path) = &opts.trusted_ca_file else {
            return Err(TlsError::MissingFlag("--client-cert-auth needs --trusted-ca-file"));
        };
        let mut roots = RootCertStore::empty();
        for ca in load_certs(ca_path)? {
            roots
                .add(ca)
                .map_err(|e| TlsError::BadCa { path: ca_path.clone(), detail: e.to_string() })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!("oxcd-tls-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }

        fn write(&self, name: &str, body: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, body).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn builds_from_files_with_and_without_client_auth() {
        let dir = TempDir::new("files");
        let s = self_signed_certificate(&["127.0.0.1".into(), "localhost".into()], 1).unwrap();
        let cert = dir.write("cert.pem", &s.cert_pem);
        let key = dir.write("key.pem", &s.key_pem);
        let opts = ServerTlsOptions {
            cert_file: Some(cert.clone()),
            key_file: Some(key.clone()),
            ..Default::default()
        };
        let cfg = server_config(&opts).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        let opts = ServerTlsOptions { client_cert_auth: true, trusted_ca_file: Some(cert), ..opts };
        server_config(&opts).unwrap();
    }

    #[test]
    fn clear_errors() {
        let dir = TempDir::new("errors");
        let s = self_signed_certificate(&["localhost".into()], 1).unwrap();
        let cert = dir.write("cert.pem", &s.cert_pem);
        let key = dir.write("key.pem", &s.key_pem);
        let garbage = dir.write("garbage.pem", "not a pem\n");
        let missing = dir.0.join("missing.pem");
        let err = |o: ServerTlsOptions| server_config(&o).unwrap_err().to_string();

        let e = err(ServerTlsOptions {
            cert_file: Some(missing.clone()),
            key_file: Some(key.clone()),
            ..Default::default()
        });
        assert!(e.contains("cannot read") && e.contains("missing.pem"), "{e}");
        let e = err(ServerTlsOptions {
            cert_file: Some(garbage.clone()),
            key_file: Some(key.clone()),
            ..Default::default()
        });
        assert!(e.contains("no PEM certificate") && e.contains("garbage.pem"), "{e}");
        let e = err(ServerTlsOptions {
            cert_file: Some(cert.clone()),
            key_file: Some(cert.clone()),
            ..Default::default()
        });
        assert!(e.contains("no PEM private key"), "{e}");
        let e = err(ServerTlsOptions { cert_file: Some(cert.clone()), ..Default::default() });
        assert!(e.contains("--key-file"), "{e}");
        let e = err(ServerTlsOptions::default());
        assert!(e.contains("--auto-tls"), "{e}");
        let e = err(ServerTlsOptions {
            cert_file: Some(cert.clone()),
            key_file: Some(key.clone()),
            client_cert_auth: true,
            ..Default::default()
        });
        assert!(e.contains("--trusted-ca-file"), "{e}");
        // A key that is not the certificate's.
        let other = self_signed_certificate(&["localhost".into()], 1).unwrap();
        let other_key = dir.write("other-key.pem", &other.key_pem);
        let e = err(ServerTlsOptions {
            cert_file: Some(cert),
            key_file: Some(other_key),
            ..Default::default()
        });
        assert!(e.contains("invalid certificate or key"), "{e}");
    }

    #[test]
    fn auto_tls_names_the_listen_hosts() {
        let urls = [
            ListenUrl::parse("https://127.0.0.1:2379").unwrap(),
            ListenUrl::parse("https://0.0.0.0:2379").unwrap(),
            ListenUrl::parse("https://10.1.2.3:2379").unwrap(),
        ];
        let hosts = auto_tls_hosts(&urls);
        assert_eq!(hosts, vec!["127.0.0.1", "10.1.2.3", "localhost"]);
        let opts = ServerTlsOptions {
            auto_tls: true,
            auto_tls_hosts: hosts,
            self_signed_cert_validity_years: 1,
            ..Default::default()
        };
        server_config(&opts).unwrap();
        let s = self_signed_certificate(&["10.1.2.3".into()], 2).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(s.cert_der.as_ref()).unwrap();
        let san = parsed.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            san.value.general_names,
            vec![x509_parser::extensions::GeneralName::IPAddress(&[10, 1, 2, 3])]
        );
        let validity = parsed.validity();
        let span = validity.not_after.timestamp() - validity.not_before.timestamp();
        assert!((2 * 365 * 86_400..=(2 * 366 + 1) * 86_400).contains(&span), "{span}");
    }
}
