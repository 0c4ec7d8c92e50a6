//! TLS to PostgreSQL, with libpq's `sslmode` meanings: managed servers (RDS, Cloud SQL,
//! Azure) refuse connections without it, and a URL that works with `psql` must work here.
//!
//! | `sslmode`            | TLS                          | certificate checked           |
//! |----------------------|------------------------------|-------------------------------|
//! | `disable`            | never                        | -                             |
//! | `allow`, `prefer` (default) | when the server offers it | no                       |
//! | `require`            | always                       | no (the chain, given `sslrootcert`) |
//! | `verify-ca`          | always                       | the chain, against `sslrootcert` |
//! | `verify-full`        | always                       | the chain and the host name   |
//!
//! `sslrootcert=FILE` (PEM) names the certificates to trust; without it the verifying modes
//! use `~/.postgresql/root.crt`, as libpq does. `sslcert=FILE` and `sslkey=FILE` (PEM) are
//! the client's certificate and key, for servers that ask for one (`clientcert` in
//! `pg_hba.conf`); without them `~/.postgresql/postgresql.crt` and `postgresql.key` when
//! they exist, as libpq does; a key encrypted with a password (PKCS#8, `BEGIN ENCRYPTED
//! PRIVATE KEY`) takes it as `sslpassword=...`, as libpq does, and the password is never
//! shown. `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`
//! stand in for parameters the URL leaves out. tokio-postgres itself knows only the first
//! three modes and no certificates, so these parameters are taken out of the URL before it
//! parses.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What a URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TlsSettings {
    pub mode: TlsMode,
    /// Certificates to trust, in PEM.
    pub root_cert: Option<PathBuf>,
    /// The client's certificate (with the chain up to what the server trusts), in PEM.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key, in PEM.
    pub client_key: Option<PathBuf>,
    /// The password the key is encrypted with (libpq's `sslpassword`).
    pub client_key_password: Option<Password>,
}

/// A password, which no `Debug` shows.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn parse(value: &str) -> Option<TlsMode> {
        Some(match value {
            "disable" => TlsMode::Disable,
            // libpq's `allow` tries without TLS first; either way both are accepted.
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            _ => return None,
        })
    }

    /// The mode tokio-postgres negotiates with.
    pub fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// `url` without its `sslmode`, `sslrootcert`, `sslcert`, `sslkey` and `sslpassword` parameters, and what
/// they (or `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`) asked; the error says
/// which value is wrong.
pub(crate) fn split_tls(url: &str) -> Result<(String, TlsSettings), String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root_cert) = (env("PGSSLMODE"), env("PGSSLROOTCERT"));
    let (mut client_cert, mut client_key) = (env("PGSSLCERT"), env("PGSSLKEY"));
    // libpq reads it from the connection string alone.
    let mut password = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "sslmode" => &mut mode,
            "sslrootcert" => &mut root_cert,
            "sslcert" => &mut client_cert,
            "sslkey" => &mut client_key,
            "sslpassword" => &mut password,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        *slot = Some(percent_decoded(value));
    }
    let mode = match mode {
        Some(value) => TlsMode::parse(&value).ok_or_else(|| {
            format!(
                "sslmode={value} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )
        })?,
        None => TlsMode::Prefer,
    };
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let settings = TlsSettings {
        mode,
        root_cert: root_cert.map(PathBuf::from),
        client_cert: client_cert.map(PathBuf::from),
        client_key: client_key.map(PathBuf::from),
        client_key_password: password.map(Password),
    };
    Ok((url, settings))
}

/// `%2F` and the like as the bytes they stand for (a path in a URL parameter).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// libpq's default for a certificate file: `~/.postgresql/NAME`, when it exists.
fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let default = PathBuf::from(home).join(".postgresql").join(name);
    default.exists().then_some(default)
}

/// The client certificate chain and key `settings` name (or libpq's defaults), if any; the
/// error names the file that is missing or holds no certificate or key.
fn client_identity(
    settings: &TlsSettings,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    let Some(cert) = settings
        .client_cert
        .clone()
        .or_else(|| default_file("postgresql.crt"))
    else {
        return Ok(None);
    };
    let key = settings
        .client_key
        .clone()
        .or_else(|| default_file("postgresql.key"))
        .ok_or_else(|| {
            format!(
                "sslcert {} needs its private key: sslkey=FILE (PEM), or \
                 ~/.postgresql/postgresql.key",
                cert.display()
            )
        })?;
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("sslcert {}: no certificate in it", cert.display()));
    }
    let key = private_key(&key, settings.client_key_password.as_ref())?;
    Ok(Some((chain, key)))
}

/// The private key in the PEM file `path`: unencrypted (PKCS#8, PKCS#1 or SEC1), or an
/// encrypted PKCS#8 key decrypted with `password`. The error names the file and what it
/// needs, never the password.
fn private_key(
    path: &std::path::Path,
    password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read(path).map_err(|e| format!("sslkey {}: {e}", path.display()))?;
    let shown = path.display();
    if memchr::memmem::find(&text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----").is_some() {
        let Some(Password(password)) = password else {
            return Err(format!(
                "sslkey {shown} is encrypted: give its password as sslpassword=... in the URL"
            ));
        };
        let (_, der) = pkcs8::der::pem::decode_vec(&text)
            .map_err(|e| format!("sslkey {shown}: not PEM ({e})"))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("sslkey {shown}: {e}"))?;
        let decrypted = encrypted.decrypt(password).map_err(|_| {
            format!("sslkey {shown}: sslpassword does not decrypt it (or its cipher is not PBES2 with AES)")
        })?;
        let der = decrypted.as_bytes().to_vec();
        return Ok(PrivateKeyDer::Pkcs8(der.into()));
    }
    // OpenSSL's older encrypted form: a PKCS#1 or SEC1 key with `Proc-Type: 4,ENCRYPTED`.
    if memchr::memmem::find(&text, b"Proc-Type: 4,ENCRYPTED").is_some() {
        return Err(format!(
            "sslkey {shown} is encrypted in OpenSSL's legacy form, which loader does not read: \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {shown} -out KEY` makes a PKCS#8 key \
             that sslpassword decrypts"
        ));
    }
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| format!("sslkey {shown}: {e} (a PKCS#8, PKCS#1 or SEC1 key in PEM is needed)"))
}

/// The connector for `settings`; the error says what is missing or unreadable.
pub(crate) fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let root_cert = settings
        .root_cert
        .clone()
        .or_else(|| default_file("root.crt"));
    let verifier = match (settings.mode, root_cert) {
        (TlsMode::Disable | TlsMode::Prefer, _) | (TlsMode::Require, None) => Verifier {
            chain: None,
            name_checked: false,
            provider: Arc::clone(&provider),
        },
        (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => {
            return Err(
                "sslmode=verify-ca and verify-full need the certificates to trust: \
                 sslrootcert=FILE (PEM), or ~/.postgresql/root.crt"
                    .into(),
            );
        }
        (mode, Some(file)) => {
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(&file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {}: no certificate in it",
                    file.display()
                ));
            }
            let chain =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
            Verifier {
                chain: Some(chain),
                name_checked: mode == TlsMode::VerifyFull,
                provider: Arc::clone(&provider),
            }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match client_identity(settings)? {
        Some((chain, key)) => config
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("sslcert and sslkey: {e}"))?,
        None => config.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The server's certificate as the mode asks: not checked (`prefer`, and `require` without
/// root certificates: encrypted, the certificate taken as it is, libpq's meaning of those
/// modes), its chain checked against the roots (`verify-ca`: a server reached by an address
/// its certificate does not list passes), or its chain and name (`verify-full`). The
/// handshake's signatures are checked against the certificate presented in every mode.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name_checked: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name_checked => Ok(ServerCertVerified::assertion()),
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
