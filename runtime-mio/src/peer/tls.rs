//! rustls configurations for peer connections, built from the `--peer-*` flags.
//!
//! - [`PeerTls::from_pem`]: `--peer-cert-file`/`--peer-key-file` (the same pair serves as the
//!   server certificate and as the client certificate when dialing, as in etcd),
//!   `--peer-trusted-ca-file` (verifies servers we dial and, with `--peer-client-cert-auth`,
//!   clients that dial us).
//! - [`PeerTls::auto`]: `--peer-auto-tls`. etcd makes a self-signed certificate for the hosts
//!   of `--listen-peer-urls` and then skips verification of peer certificates: its dialer sets
//!   `InsecureSkipVerify`, and its server asks no client certificate (the self-signed TLS info
//!   replaces the one `--peer-client-cert-auth` set). Same here: the dialer checks only that
//!   the server holds the key of the certificate it shows, the listener asks for none.
//!   Encryption without authentication; the member/cluster handshake still applies.
//!
//! Every configuration names its crypto provider (ring) instead of relying on a process-wide
//! default, so other crates' providers in the same binary cannot make it ambiguous.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The two rustls configurations a peer transport needs.
#[derive(Clone, Debug)]
pub struct PeerTls {
    /// Used on connections accepted on `https://` listen URLs.
    pub server: Arc<ServerConfig>,
    /// Used when dialing `https://` peer URLs; the server name is the URL's host.
    pub client: Arc<ClientConfig>,
}

/// Certificates or keys that cannot make a TLS configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTlsError(pub String);

impl fmt::Display for PeerTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerTlsError {}

fn err(what: &str) -> impl Fn(rustls::Error) -> PeerTlsError + '_ {
    move |e| PeerTlsError(format!("{what}: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The self-signed certificate and key of `--peer-auto-tls`, in PEM; the caller keeps them in
/// `<data-dir>/fixtures/peer/` as etcd does, so a restart reuses them.
#[derive(Clone, Debug)]
pub struct SelfSignedPeerCert {
    /// The certificate.
    pub cert_pem: String,
    /// Its PKCS#8 private key.
    pub key_pem: String,
}

impl SelfSignedPeerCert {
    /// A fresh certificate for `hosts` (the hosts of `--listen-peer-urls`: addresses become IP
    /// SANs, names DNS SANs), organisation "etcd", usable as server and client certificate.
    ///
    /// # Errors
    /// A host that is neither an address nor a valid DNS name.
    pub fn generate(hosts: &[String]) -> Result<SelfSignedPeerCert, PeerTlsError> {
        let bad = |e: rcgen::Error| PeerTlsError(format!("cannot generate peer certificate: {e}"));
        let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(bad)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::OrganizationName, "etcd");
        params.distinguished_name = name;
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().map_err(bad)?;
        let cert = params.self_signed(&key).map_err(bad)?;
        Ok(SelfSignedPeerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// Parses a PEM certificate chain.
///
/// # Errors
/// No certificate in the PEM, or a malformed one.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PeerTlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PeerTlsError(format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PeerTlsError("no certificate in PEM".into()));
    }
    Ok(certs)
}

/// Parses a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// No key in the PEM.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PeerTlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| PeerTlsError(format!("bad private key PEM: {e}")))
}

fn roots_from_pem(pem: &[u8]) -> Result<Arc<RootCertStore>, PeerTlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(pem)? {
        roots.add(cert).map_err(err("bad trusted CA certificate"))?;
    }
    Ok(Arc::new(roots))
}

impl PeerTls {
    /// The configurations for `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`
    /// and `--peer-client-cert-auth`.
    ///
    /// # Errors
    /// Unparsable PEM, a key that does not match the certificate, or client certificate
    /// authentication asked without a trusted CA (etcd refuses it too).
    pub fn from_pem(
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        trusted_ca_pem: Option<&[u8]>,
        client_cert_auth: bool,
    ) -> Result<PeerTls, PeerTlsError> {
        let chain = certs_from_pem(cert_chain_pem)?;
        let key = key_from_pem(key_pem)?;
        let roots = trusted_ca_pem.map(roots_from_pem).transpose()?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err("peer server TLS"))?;
        let server = match (&roots, client_cert_auth) {
            (Some(roots), true) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                        .build()
                        .map_err(|e| PeerTlsError(format!("peer client verifier: {e}")))?;
                server.with_client_cert_verifier(verifier)
            }
            (None, true) => {
                return Err(PeerTlsError(
                    "--peer-client-cert-auth needs --peer-trusted-ca-file".into(),
                ))
            }
            (_, false) => server.with_no_client_auth(),
        };
        let server = server
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(err("peer certificate"))?;
        let Some(roots) = roots else {
            return Err(PeerTlsError(
                "dialing https peers needs --peer-trusted-ca-file (or --peer-auto-tls)".into(),
            ));
        };
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err("peer client TLS"))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(err("peer client certificate"))?;
        Ok(PeerTls { server: Arc::new(server), client: Arc::new(client) })
    }

    /// The configurations of `--peer-auto-tls` from a self-signed certificate.
    ///
    /// # Errors
    /// Unparsable PEM or a key that does not match.
    pub fn auto(cert: &SelfSignedPeerCert) -> Result<PeerTls, PeerTlsError> {
        let chain = certs_from_pem(cert.cert_pem.as_bytes())?;
        let key = key_from_pem(cert.key_pem.as_bytes())?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err("peer server TLS"))?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(err("peer certificate"))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err("peer client TLS"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider())))
            .with_client_auth_cert(chain, key)
            .map_err(err("peer client certificate"))?;
        Ok(PeerTls { server: Arc::new(server), client: Arc::new(client) })
    }
}

/// etcd's `InsecureSkipVerify` for auto-TLS peers: any certificate chain is accepted, but the
/// handshake signatures are still checked, so the server holds the key it claims.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tls_certificate_covers_the_listen_hosts() {
        let cert = SelfSignedPeerCert::generate(&["127.0.0.11".into(), "m1.test".into()]).unwrap();
        let der = certs_from_pem(cert.cert_pem.as_bytes()).unwrap();
        let facts = crate::peer::check::cert_facts(&der[0]).unwrap();
        assert_eq!(facts.ip_sans, vec!["127.0.0.11".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(facts.dns_sans, vec!["m1.test".to_string()]);
        PeerTls::auto(&cert).unwrap();
    }

    #[test]
    fn from_pem_refuses_what_etcd_refuses() {
        let cert = SelfSignedPeerCert::generate(&["127.0.0.11".into()]).unwrap();
        let (c, k) = (cert.cert_pem.as_bytes(), cert.key_pem.as_bytes());
        assert!(PeerTls::from_pem(c, k, None, true)
            .unwrap_err()
            .0
            .contains("--peer-trusted-ca-file"));
        assert!(PeerTls::from_pem(c, k, None, false).is_err());
        assert!(PeerTls::from_pem(b"junk", k, Some(c), true).is_err());
        let other = SelfSignedPeerCert::generate(&["127.0.0.12".into()]).unwrap();
        assert!(PeerTls::from_pem(c, other.key_pem.as_bytes(), Some(c), true).is_err());
        PeerTls::from_pem(c, k, Some(c), true).unwrap();
    }
}
