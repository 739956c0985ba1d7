//! The system's trusted roots, read once per process and shared by every HTTPS client in
//! it: e-Box's, and the AWS SDK's (which takes them as PEM, see [`pem`]).
//!
//! Left to themselves, reqwest (at its client's start) and the SDK (as each of its clients
//! is made, and at its first request) each read the system's store and parse it into trust
//! anchors of their own. The store is read as OpenSSL names it: a bundle file and a
//! directory, which on Debian's layout holds the bundle's certificates again, twice (by
//! name and by hash link). So a cold fetch process read about 300 files twice, parsed the
//! roots seven times, and kept each root three times over in each client. Here they are
//! read once, and each certificate is kept once.

use std::sync::LazyLock;

use rustls_pki_types::CertificateDer;

static SYSTEM: LazyLock<Vec<CertificateDer<'static>>> = LazyLock::new(|| {
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::warn!(errors = ?found.errors, "some of the system's trusted roots could not be read");
    }
    usable(found.certs)
});

/// The system's trusted roots, each once: those a TLS client can take as a trust anchor
/// (a certificate that does not parse is left out, as rustls's own loaders do), in a stable
/// order. Read at the first call.
pub fn system() -> &'static [CertificateDer<'static>] {
    &SYSTEM
}

/// `certs` without repeats, and without what no trust anchor can be made of.
fn usable(mut certs: Vec<CertificateDer<'static>>) -> Vec<CertificateDer<'static>> {
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup_by(|a, b| a.as_ref() == b.as_ref());
    certs.retain(|c| rustls::RootCertStore::empty().add(c.clone()).is_ok());
    certs
}

/// The same roots as one PEM bundle, for clients that take them only in that form.
pub fn pem(certs: &[CertificateDer<'_>]) -> String {
    pem::encode_many(
        &certs
            .iter()
            .map(|c| pem::Pem::new("CERTIFICATE", c.as_ref().to_vec()))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject as _;

    use super::*;

    fn ca(name: &str) -> CertificateDer<'static> {
        testkit::tls::TestCa::generate(name).der().clone()
    }

    #[test]
    fn each_root_is_kept_once_and_what_is_not_a_certificate_is_left_out() {
        let (a, b) = (ca("a"), ca("b"));
        let garbage = CertificateDer::from(b"not a certificate".to_vec());
        let kept = usable(vec![b.clone(), a.clone(), garbage, a.clone(), b.clone()]);
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&a) && kept.contains(&b));
    }

    #[test]
    fn the_pem_bundle_holds_the_same_certificates() {
        let roots = vec![ca("a"), ca("b")];
        let back = CertificateDer::pem_slice_iter(pem(&roots).as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundle parses");
        assert_eq!(back, roots);
    }
}
