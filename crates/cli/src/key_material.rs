//! Key material as an operator brings it: PEM files or a PKCS#12 file, refused when the
//! key is not the certificate's or the certificate has expired.

use anyhow::{Context as _, bail};
use chrono::Utc;
use ebox::KeyMaterial;

use crate::connections::Add;

fn pem(label: &str, der: &[u8]) -> String {
    let lf = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), lf)
}

/// Key material fit to be stored (the library's check): the key belongs to the
/// certificate, and the certificate has not expired.
pub fn usable_key_material(key_pem: &str, cert_pem: &str) -> anyhow::Result<KeyMaterial> {
    delivery::admin::usable_key_material(key_pem, cert_pem, Utc::now()).map_err(anyhow::Error::msg)
}

/// Key and certificate as PEM, from PEM files or a PKCS#12 file.
pub fn key_material(add: &Add) -> anyhow::Result<(String, String)> {
    if let (Some(key), Some(cert)) = (&add.key, &add.cert) {
        let key_pem = std::fs::read_to_string(key).with_context(|| format!("reading the key {}", key.display()))?;
        let cert_pem =
            std::fs::read_to_string(cert).with_context(|| format!("reading the certificate {}", cert.display()))?;
        return Ok((key_pem, cert_pem));
    }
    let (Some(p12), Some(password_file)) = (&add.p12, &add.password_file) else {
        bail!("give --key and --cert, or --p12 and --password-file, or --shared-certificate");
    };
    let data = std::fs::read(p12).with_context(|| format!("reading {}", p12.display()))?;
    let password =
        std::fs::read_to_string(password_file).with_context(|| format!("reading {}", password_file.display()))?;
    let store = p12_keystore::KeyStore::from_pkcs12(
        &data,
        password.trim_end_matches(['\r', '\n']),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| anyhow::anyhow!("{} is not a PKCS#12 file this password opens ({e})", p12.display()))?;
    let (_, chain) = store
        .private_key_chain()
        .with_context(|| format!("{} holds no private key with its certificate", p12.display()))?;
    let certificate = chain
        .certs()
        .first()
        .with_context(|| format!("{} holds a key without a certificate", p12.display()))?;
    Ok((
        pem("PRIVATE KEY", chain.key().as_der()),
        pem("CERTIFICATE", certificate.as_der()),
    ))
}
