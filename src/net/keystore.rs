//! PKCS#12 keystores (`ssl.keystore.location`, `ssl.keystore.password`): the client's
//! certificate chain and private key from one password-protected file, as
//! `openssl pkcs12 -export` and Java's `keytool` write them.
//!
//! Encryptions read: PBES2 (PBKDF2 with HMAC-SHA-1/SHA-2, AES-128/192/256-CBC or
//! DES-EDE3-CBC; AES-256-CBC is what OpenSSL 3 and Java write by default) and the legacy
//! PKCS#12 PBE-SHA1-3DES and PBE-SHA1-RC2-40 (`openssl pkcs12 -legacy`, OpenSSL 1.1,
//! older Java); integrity MAC HMAC-SHA-1 or HMAC-SHA-256. Not read: keystores without a
//! password-based encryption, MD5-based schemes, other MACs.

use crate::error::{local, Error, Result};
use p12_keystore::error::Error as P12Error;
use p12_keystore::KeyStore;
use pkcs8::der::ErrorKind;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const LOCATION: &str = "ssl.keystore.location";
const PASSWORD: &str = "ssl.keystore.password";

/// What the keystore reader understands, for the messages that say it did not.
pub const SUPPORTED: &str = "PBES2 with PBKDF2 and AES-128/192/256-CBC (OpenSSL 3's default) or \
                             DES-EDE3-CBC, or legacy PBE-SHA1-3DES / PBE-SHA1-RC2-40 (openssl \
                             pkcs12 -legacy); MAC HMAC-SHA-1 or HMAC-SHA-256";

fn invalid(prop: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        local::INVALID_CONFIG,
        format!("configuration property '{prop}': {why}"),
    )
}

/// The certificate chain (the client's certificate first) and the private key of the
/// PKCS#12 file at `path`. Messages name the property and the file, never the password.
pub fn read(
    path: &str,
    password: Option<&str>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let der =
        std::fs::read(path).map_err(|e| invalid(LOCATION, format!("cannot read '{path}': {e}")))?;
    parse(&der, path, password)
}

/// [`read`] on the file's bytes; `path` is for messages only.
fn parse(
    der: &[u8],
    path: &str,
    password: Option<&str>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    if der.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Err(invalid(
            LOCATION,
            format!(
                "'{path}' is PEM, not a PKCS#12 keystore: give a PEM certificate and key with \
                 'ssl.certificate.location' and 'ssl.key.location'"
            ),
        ));
    }
    // The crate may panic on input it did not foresee; a corrupt file must not take the
    // application down.
    let parsed = std::panic::catch_unwind(|| KeyStore::from_pkcs12(der, password.unwrap_or("")))
        .map_err(|_| {
            invalid(
                LOCATION,
                format!("'{path}' is not a valid PKCS#12 keystore"),
            )
        })?;
    let store = parsed.map_err(|e| explain(&e, path, password.is_some()))?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(invalid(
            LOCATION,
            format!(
                "the PKCS#12 keystore '{path}' holds no private key with its certificate \
                 (a client keystore needs both: openssl pkcs12 -export -in <cert> -inkey <key>)"
            ),
        ));
    };
    let certs: Vec<CertificateDer<'static>> = chain
        .chain()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(invalid(
            LOCATION,
            format!("the PKCS#12 keystore '{path}' holds a private key without its certificate"),
        ));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().to_vec()));
    Ok((certs, key))
}

/// What a keystore error means for the user.
fn explain(e: &P12Error, path: &str, password_set: bool) -> Error {
    let unsupported = || {
        invalid(
            LOCATION,
            format!(
                "the PKCS#12 keystore '{path}' uses an unsupported encryption or MAC \
                 algorithm (supported: {SUPPORTED})"
            ),
        )
    };
    match e {
        // The MAC's key comes from the password: a mismatch is a wrong password (or a
        // tampered file, which looks the same). So is bad padding after decryption.
        P12Error::MacError(_) | P12Error::UnpadError => {
            let hint = if password_set {
                ""
            } else {
                ": 'ssl.keystore.password' is not set"
            };
            invalid(
                PASSWORD,
                format!(
                    "cannot open the PKCS#12 keystore '{path}' (wrong password{hint}; or a \
                     damaged file)"
                ),
            )
        }
        P12Error::Pkcs5Error(m) if m.contains("decryption failed") => {
            explain(&P12Error::UnpadError, path, password_set)
        }
        P12Error::Pkcs5Error(_)
        | P12Error::UnsupportedEncryptionScheme
        | P12Error::UnsupportedMacAlgorithm => unsupported(),
        P12Error::DerError(d) if matches!(d.kind(), ErrorKind::OidUnknown { .. }) => unsupported(),
        _ => invalid(
            LOCATION,
            format!("'{path}' is not a valid PKCS#12 keystore ({e})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p12_keystore::PrivateKeyChain;
    use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStoreEntry, MacAlgorithm};

    /// A self-signed certificate and its PKCS#8 key, DER.
    fn cert_and_key() -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }

    fn keystore(entry: KeyStoreEntry, alg: EncryptionAlgorithm, mac: MacAlgorithm) -> Vec<u8> {
        let mut ks = KeyStore::new();
        ks.add_entry("client", entry);
        ks.writer("s3cret-pw")
            .encryption_algorithm(alg)
            .mac_algorithm(mac)
            .write()
            .unwrap()
    }

    #[test]
    fn chain_and_key_come_out_with_the_password_only() {
        let (cert, key) = cert_and_key();
        let chain = PrivateKeyChain::new(&key, [1u8; 20], [Certificate::from_der(&cert).unwrap()]);
        for (alg, mac) in [
            (
                EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
                MacAlgorithm::HmacSha256,
            ),
            (
                EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
                MacAlgorithm::HmacSha1,
            ),
            (
                EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc,
                MacAlgorithm::HmacSha1,
            ),
        ] {
            let der = keystore(KeyStoreEntry::PrivateKeyChain(chain.clone()), alg, mac);
            let (certs, got) = parse(&der, "k.p12", Some("s3cret-pw")).unwrap();
            assert_eq!(certs.len(), 1);
            assert_eq!(certs[0].as_ref(), cert.as_slice());
            assert_eq!(got.secret_der(), key.as_slice());
            for (password, hint) in [(Some("wrong-pw"), ""), (None, "is not set")] {
                let e = parse(&der, "k.p12", password).unwrap_err();
                assert_eq!(e.code, local::INVALID_CONFIG);
                assert!(
                    e.message.starts_with(
                        "configuration property 'ssl.keystore.password': cannot open the \
                         PKCS#12 keystore 'k.p12' (wrong password"
                    ) && e.message.contains(hint),
                    "{}",
                    e.message
                );
                assert!(!e.message.contains("s3cret") && !e.message.contains("wrong-pw"));
            }
        }
    }

    #[test]
    fn certificates_alone_are_not_a_client_keystore() {
        let (cert, _) = cert_and_key();
        let der = keystore(
            KeyStoreEntry::Certificate(Certificate::from_der(&cert).unwrap()),
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        );
        let e = parse(&der, "ca.p12", Some("s3cret-pw")).unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(
            e.message.starts_with(
                "configuration property 'ssl.keystore.location': the PKCS#12 keystore \
                 'ca.p12' holds no private key"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn pem_is_told_apart() {
        let e = parse(b"\n-----BEGIN CERTIFICATE-----\n", "c.pem", None).unwrap_err();
        assert_eq!(e.code, local::INVALID_CONFIG);
        assert!(
            e.message.contains("'ssl.keystore.location'") && e.message.contains("is PEM"),
            "{}",
            e.message
        );
    }

    #[test]
    fn garbage_is_not_a_keystore() {
        for bytes in [&b""[..], b"\x30\x03\x02\x01\x03", b"not a keystore at all"] {
            let e = parse(bytes, "k.p12", Some("pw")).unwrap_err();
            assert_eq!(e.code, local::INVALID_CONFIG);
            assert!(
                e.message
                    .starts_with("configuration property 'ssl.keystore.location': 'k.p12' is not a valid PKCS#12 keystore"),
                "{}",
                e.message
            );
        }
    }
}
