//! TLS settings (`security.protocol=ssl`): the rustls client configuration built once, at
//! client creation, from the `ssl.*` properties, and the messages a user can act on when
//! a handshake fails.
//!
//! Certificates are verified by default: against `ssl.ca.location` / `ssl.ca.pem`, or
//! the system's CA store when neither is given; the broker's host name (or IP address) is
//! checked against the certificate unless `ssl.endpoint.identification.algorithm=none`.
//! `enable.ssl.certificate.verification=false` accepts any certificate (the handshake's
//! signatures are still checked, so the session is encrypted, but not authenticated).
//!
//! The client's own certificate (mTLS) comes from `ssl.certificate.*` + `ssl.key.*` (PEM)
//! or from a PKCS#12 keystore, `ssl.keystore.location` (read in `keystore.rs`).

use super::keystore;
use crate::error::{local, Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::sync::Arc;

/// What the `ssl.*` properties say, as read from the configuration.
#[derive(Default)]
pub struct TlsOptions {
    pub ca_location: Option<String>,
    pub ca_pem: Option<String>,
    pub certificate_location: Option<String>,
    pub certificate_pem: Option<String>,
    pub key_location: Option<String>,
    pub key_pem: Option<String>,
    pub key_password: Option<String>,
    /// A PKCS#12 file with the client's certificate chain and key (instead of the
    /// `ssl.certificate.*` / `ssl.key.*` pair).
    pub keystore_location: Option<String>,
    pub keystore_password: Option<String>,
    pub verify_certificate: bool,
    pub verify_hostname: bool,
}

/// The client's TLS configuration, shared by every connection.
pub struct TlsConfig {
    config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    // Nothing of the keys: only what is switched on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "client_auth",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish()
    }
}

fn invalid(prop: &str, why: impl fmt::Display) -> Error {
    Error::new(
        local::INVALID_CONFIG,
        format!("configuration property '{prop}': {why}"),
    )
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The PEM text of a property pair: the file (`*.location`) or the text (`*.pem`).
fn pem_source(
    location: &Option<String>,
    loc_prop: &str,
    pem: &Option<String>,
    pem_prop: &str,
) -> Result<Option<(Vec<u8>, String)>> {
    match (location, pem) {
        (Some(_), Some(_)) => Err(invalid(
            loc_prop,
            format!("set either '{loc_prop}' or '{pem_prop}', not both"),
        )),
        (Some(path), None) => std::fs::read(path)
            .map(|b| Some((b, loc_prop.to_owned())))
            .map_err(|e| invalid(loc_prop, format!("cannot read '{path}': {e}"))),
        (None, Some(text)) => Ok(Some((text.as_bytes().to_vec(), pem_prop.to_owned()))),
        (None, None) => Ok(None),
    }
}

fn certificates(pem: &[u8], prop: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(prop, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            prop,
            "no PEM certificate (BEGIN CERTIFICATE) found",
        ));
    }
    Ok(certs)
}

/// The private key in `pem`: PKCS#8 (encrypted with `password`, or not), PKCS#1 (RSA)
/// or SEC1 (EC). Error messages never quote the key or the password.
fn private_key(pem: &[u8], prop: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>> {
    let encrypted = pem
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"ENCRYPTED PRIVATE KEY");
    if encrypted {
        let Some(password) = password else {
            return Err(invalid(
                prop,
                "the key is encrypted: set 'ssl.key.password'",
            ));
        };
        let text = std::str::from_utf8(pem).map_err(|_| invalid(prop, "bad PEM: not text"))?;
        let start = text
            .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            .ok_or_else(|| invalid(prop, "bad PEM: no BEGIN ENCRYPTED PRIVATE KEY line"))?;
        let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
        let end = text[start..]
            .find(end_marker)
            .map(|i| start + i + end_marker.len())
            .ok_or_else(|| invalid(prop, "bad PEM: no END ENCRYPTED PRIVATE KEY line"))?;
        let (_, der) = pkcs8::der::pem::decode_vec(&text.as_bytes()[start..end])
            .map_err(|_| invalid(prop, "bad PEM in the encrypted key"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|_| invalid(prop, "not an encrypted PKCS#8 key"))?;
        let plain = info.decrypt(password).map_err(|_| {
            invalid(
                "ssl.key.password",
                format!(
                    "cannot decrypt the key of '{prop}' (wrong password, or an unsupported cipher)"
                ),
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => invalid(
            prop,
            "no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found",
        ),
        _ => invalid(prop, "bad PEM private key"),
    })
}

/// Trusts a certificate whose chain is valid whatever host it names
/// (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain (trust, validity period, usage) before the name: a
        // name error means all else was right.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate (`enable.ssl.certificate.verification=false`); the
/// handshake's signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

impl TlsConfig {
    /// Builds the configuration; a file that cannot be read, bad PEM, a certificate
    /// without its key (or the reverse), a PKCS#12 keystore that does not open or is set
    /// together with a PEM certificate or key, is refused, naming the property.
    pub fn new(o: &TlsOptions) -> Result<TlsConfig> {
        let provider = provider();
        let ca = pem_source(&o.ca_location, "ssl.ca.location", &o.ca_pem, "ssl.ca.pem")?;
        // A keystore holds the certificate and the key: neither may come from elsewhere.
        if o.keystore_location.is_some() {
            let pem_pair = [
                ("ssl.certificate.location", &o.certificate_location),
                ("ssl.certificate.pem", &o.certificate_pem),
                ("ssl.key.location", &o.key_location),
                ("ssl.key.pem", &o.key_pem),
            ];
            if let Some((set, _)) = pem_pair.iter().find(|(_, v)| v.is_some()) {
                return Err(invalid(
                    "ssl.keystore.location",
                    format!(
                        "set either 'ssl.keystore.location' or '{set}', not both (the \
                         keystore holds the client's certificate and key)"
                    ),
                ));
            }
        }
        let cert = pem_source(
            &o.certificate_location,
            "ssl.certificate.location",
            &o.certificate_pem,
            "ssl.certificate.pem",
        )?;
        let key = pem_source(
            &o.key_location,
            "ssl.key.location",
            &o.key_pem,
            "ssl.key.pem",
        )?;
        // The client's certificate and key, and the property to blame if they do not
        // suit each other.
        let client_auth = if let Some(path) = &o.keystore_location {
            let (certs, key) = keystore::read(path, o.keystore_password.as_deref())?;
            Some((certs, key, "ssl.keystore.location".to_owned()))
        } else {
            match (cert, key) {
                (Some((c, cprop)), Some((k, kprop))) => Some((
                    certificates(&c, &cprop)?,
                    private_key(&k, &kprop, o.key_password.as_deref())?,
                    kprop,
                )),
                (Some((_, cprop)), None) => return Err(invalid(
                    &cprop,
                    "a client certificate needs its key: set 'ssl.key.location' or 'ssl.key.pem' \
                     (or give both in a PKCS#12 file with 'ssl.keystore.location')",
                )),
                (None, Some((_, kprop))) => {
                    return Err(invalid(
                        &kprop,
                        "a client key needs its certificate: set 'ssl.certificate.location' or \
                         'ssl.certificate.pem'",
                    ))
                }
                (None, None) => None,
            }
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(local::SSL, format!("TLS set-up failed: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if o.verify_certificate {
            let mut roots = RootCertStore::empty();
            match &ca {
                Some((pem, prop)) => {
                    for c in certificates(pem, prop)? {
                        roots
                            .add(c)
                            .map_err(|e| invalid(prop, format!("bad CA certificate: {e}")))?;
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    for c in found.certs {
                        // A system store may hold certificates webpki cannot use; skip them.
                        let _ = roots.add(c);
                    }
                }
            }
            if roots.is_empty() {
                return Err(invalid(
                    "ssl.ca.location",
                    "no CA certificate found in the system's store: set 'ssl.ca.location' \
                     or 'ssl.ca.pem'",
                ));
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| Error::new(local::SSL, format!("TLS set-up failed: {e}")))?;
            if o.verify_hostname {
                webpki
            } else {
                Arc::new(AnyHostName(webpki))
            }
        } else {
            Arc::new(NoVerification(provider.clone()))
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match client_auth {
            Some((certs, key, prop)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
                invalid(
                    &prop,
                    format!("the key does not suit the client certificate: {e}"),
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// A TLS session to `host` (a name or an IP address: what the certificate must name).
    pub fn session(&self, host: &str) -> std::result::Result<rustls::ClientConnection, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| format!("'{host}' is not a valid TLS server name"))?;
        rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| format!("TLS session: {e}"))
    }
}

/// A TLS failure carried inside an `io::Error`, with its message for the user.
#[derive(Debug)]
pub struct TlsFailure(pub String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

impl TlsFailure {
    pub fn io(msg: impl Into<String>) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, TlsFailure(msg.into()))
    }

    /// The TLS failure inside `e`, if it is one.
    pub fn of(e: &std::io::Error) -> Option<&TlsFailure> {
        e.get_ref().and_then(|i| i.downcast_ref::<TlsFailure>())
    }
}

/// What a rustls error means for the user.
pub fn explain(e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "TLS handshake failed: the broker's certificate is not trusted (not signed by \
                 a CA in ssl.ca.location / ssl.ca.pem or the system store): {e}"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "TLS handshake failed: hostname mismatch: the broker's certificate is for \
                     another host ({e}); ssl.endpoint.identification.algorithm=none skips this \
                     check"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("TLS handshake failed: the broker's certificate has expired ({e})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("TLS handshake failed: the broker's certificate is not valid yet ({e})")
            }
            CertificateError::Revoked => {
                format!("TLS handshake failed: the broker's certificate is revoked ({e})")
            }
            _ => format!("TLS handshake failed: the broker's certificate was refused: {e}"),
        },
        rustls::Error::AlertReceived(
            a @ (A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::HandshakeFailure
            | A::AccessDenied),
        ) => format!(
            "TLS handshake refused by the broker (alert {a:?}): it may require a client \
             certificate it trusts (ssl.certificate.location / ssl.key.location, or \
             ssl.keystore.location)"
        ),
        rustls::Error::AlertReceived(a) => {
            format!("TLS failed: the broker sent alert {a:?}")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "TLS handshake failed: the broker did not answer in TLS ({e}): is this a \
             plaintext listener? (security.protocol)"
        ),
        _ => format!("TLS failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TlsOptions {
        TlsOptions {
            verify_certificate: true,
            verify_hostname: true,
            ..Default::default()
        }
    }

    /// An encrypted PKCS#8 key (PBES2: PBKDF2-SHA256, AES-256-CBC) is read with
    /// ssl.key.password; without it, or with a wrong one, the message names what to set
    /// and quotes neither key nor password.
    #[test]
    fn encrypted_pkcs8_key_needs_its_password() {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16])
                .unwrap();
        let enc = info.encrypt_with_params(params, "s3cret-pw").unwrap();
        let pem = enc
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();
        let got = private_key(pem.as_bytes(), "ssl.key.pem", Some("s3cret-pw")).unwrap();
        assert_eq!(got.secret_der(), der.as_slice());
        let e = private_key(pem.as_bytes(), "ssl.key.pem", None).unwrap_err();
        assert!(e.message.contains("'ssl.key.password'"), "{}", e.message);
        let e = private_key(pem.as_bytes(), "ssl.key.pem", Some("wrong")).unwrap_err();
        assert!(e.message.contains("'ssl.key.password'"), "{}", e.message);
        assert!(!e.message.contains("wrong") || e.message.contains("(wrong password"));
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }

    /// A keystore whose key is not the certificate's: refused, naming the keystore.
    #[test]
    fn keystore_key_that_does_not_suit_its_certificate() {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let chain = PrivateKeyChain::new(
            other.serialize_der(),
            [1u8; 20],
            [Certificate::from_der(cert.der()).unwrap()],
        );
        let mut ks = KeyStore::new();
        ks.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
        let der = ks.writer("pw").write().unwrap();
        let path = std::env::temp_dir().join(format!("kafkac-mismatch-{}.p12", std::process::id()));
        std::fs::write(&path, der).unwrap();
        let e = TlsConfig::new(&TlsOptions {
            keystore_location: Some(path.display().to_string()),
            keystore_password: Some("pw".into()),
            verify_certificate: false,
            ..opts()
        })
        .unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(
            e.message.starts_with(
                "configuration property 'ssl.keystore.location': the key does not suit the \
                 client certificate"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_files_and_pem_name_the_property() {
        let e = TlsConfig::new(&TlsOptions {
            ca_location: Some("/nonexistent/ca.pem".into()),
            ..opts()
        })
        .unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(e.message.contains("'ssl.ca.location'"), "{}", e.message);
        let e = TlsConfig::new(&TlsOptions {
            ca_pem: Some("not pem".into()),
            ..opts()
        })
        .unwrap_err();
        assert!(e.message.contains("'ssl.ca.pem'"), "{}", e.message);
        let e = TlsConfig::new(&TlsOptions {
            certificate_pem: Some("x".into()),
            verify_certificate: false,
            ..opts()
        })
        .unwrap_err();
        assert!(e.message.contains("needs its key"), "{}", e.message);
        let e = TlsConfig::new(&TlsOptions {
            key_pem: Some("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into()),
            certificate_pem: Some("x".into()),
            verify_certificate: false,
            ..opts()
        })
        .unwrap_err();
        // The certificate is read first; either way the message names a property.
        assert!(
            e.message.contains("configuration property 'ssl."),
            "{}",
            e.message
        );
    }
}
