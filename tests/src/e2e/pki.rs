//! Test PKI: a CA and the certificates a TLS cluster needs, written as PEM files to a temp dir.
//!
//! Server and peer certificates carry both the serverAuth and clientAuth purposes: etcd dials its
//! own client port with its server certificate (the gRPC gateway) and uses its peer certificate on
//! both ends of a peer connection, so a certificate with one purpose fails in ways that look like
//! network errors.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A certificate and its private key on disk (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key (PKCS#8), PEM.
    pub key: PathBuf,
}

/// Subject alternative names of a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sans {
    /// IP address SANs.
    pub ips: Vec<IpAddr>,
    /// DNS name SANs.
    pub dns: Vec<String>,
}

impl Sans {
    /// SANs of the given IP addresses only.
    pub fn ips(ips: &[IpAddr]) -> Self {
        Self { ips: ips.to_vec(), dns: Vec::new() }
    }

    /// Adds a DNS name.
    #[must_use]
    pub fn with_dns(mut self, name: &str) -> Self {
        self.dns.push(name.to_owned());
        self
    }
}

/// A certificate authority that signs test certificates into one directory.
pub struct TestCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    cert: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("dir", &self.dir).field("cert", &self.cert).finish()
    }
}

/// Errors of certificate generation or writing.
#[derive(Debug)]
pub enum PkiError {
    /// rcgen refused the parameters.
    Generate(rcgen::Error),
    /// Writing a PEM file failed.
    Write(PathBuf, std::io::Error),
}

impl std::fmt::Display for PkiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate(e) => write!(f, "generating a certificate: {e}"),
            Self::Write(path, e) => write!(f, "writing {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for PkiError {}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        Self::Generate(e)
    }
}

impl TestCa {
    /// Creates a CA named `common_name` and writes its certificate as `dir/ca.pem`.
    ///
    /// # Errors
    /// When generation fails or the file cannot be written.
    pub fn new(dir: &Path, common_name: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "oxcd tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let path = dir.join("ca.pem");
        write(&path, &cert.pem())?;
        Ok(Self { dir: dir.to_owned(), issuer: Issuer::new(params, key), cert: path })
    }

    /// The CA certificate (PEM), for `--trusted-ca-file` and `--cacert`.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// A server certificate (serverAuth + clientAuth) for `sans`, written as `dir/<name>.pem` and
    /// `dir/<name>-key.pem`.
    ///
    /// # Errors
    /// When generation fails or the files cannot be written.
    pub fn server_cert(&self, name: &str, sans: &Sans) -> Result<CertFiles, PkiError> {
        self.issue(
            name,
            name,
            sans,
            &[ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    /// A peer certificate: the same purposes as a server certificate (peers are clients of
    /// each other).
    ///
    /// # Errors
    /// When generation fails or the files cannot be written.
    pub fn peer_cert(&self, name: &str, sans: &Sans) -> Result<CertFiles, PkiError> {
        self.server_cert(name, sans)
    }

    /// A client certificate (clientAuth) whose subject common name is `common_name` (etcd takes
    /// it as the user name when auth is enabled), written as `dir/<file_name>.pem`.
    ///
    /// # Errors
    /// When generation fails or the files cannot be written.
    pub fn client_cert(&self, file_name: &str, common_name: &str) -> Result<CertFiles, PkiError> {
        self.issue(file_name, common_name, &Sans::default(), &[ExtendedKeyUsagePurpose::ClientAuth])
    }

    fn issue(
        &self,
        file_name: &str,
        common_name: &str,
        sans: &Sans,
        purposes: &[ExtendedKeyUsagePurpose],
    ) -> Result<CertFiles, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "oxcd tests");
        for ip in &sans.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        for dns in &sans.dns {
            params.subject_alt_names.push(SanType::DnsName(dns.clone().try_into()?));
        }
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = purposes.to_vec();
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let files = CertFiles {
            cert: self.dir.join(format!("{file_name}.pem")),
            key: self.dir.join(format!("{file_name}-key.pem")),
        };
        write(&files.cert, &cert.pem())?;
        write(&files.key, &key.serialize_pem())?;
        Ok(files)
    }
}

fn write(path: &Path, text: &str) -> Result<(), PkiError> {
    fs::write(path, text).map_err(|e| PkiError::Write(path.to_owned(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pem_files_signed_by_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "test ca").unwrap();
        let server = ca
            .server_cert("m1", &Sans::ips(&["127.0.0.11".parse().unwrap()]).with_dns("localhost"))
            .unwrap();
        let client = ca.client_cert("client-alice", "alice").unwrap();
        for path in [ca.cert_path(), &server.cert, &client.cert] {
            let text = fs::read_to_string(path).unwrap();
            assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{}", path.display());
        }
        let key = fs::read_to_string(&client.key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(fs::read(&server.cert).unwrap(), fs::read(&client.cert).unwrap());
    }
}
