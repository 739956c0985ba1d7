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
//!
//! Where no `SSL_CERT_FILE` or `SSL_CERT_DIR` names the store (Lambda names none), the
//! system's bundle file is read alone. The directories beside it normally hold the same
//! roots, as the distributions' trust tools write both from one source
//! (`update-ca-certificates`, `update-ca-trust`); what is only there was put there by hand
//! (Debian's directory holds its self-signed `ssl-cert-snakeoil.pem`, which the bundle does
//! not trust). They are read only when there is no bundle, or it holds no certificate. On
//! Debian's layout, reading them file by file was a third of a cold start's CPU; on Amazon
//! Linux's (Lambda's) they hold the bundle by link, read once already, and OpenSSL's
//! trusted-certificate bundle, which yields no certificate here.

use std::path::Path;
use std::sync::LazyLock;

use rustls_native_certs::{CertificateResult, load_certs_from_paths};
use rustls_pki_types::CertificateDer;

static SYSTEM: LazyLock<Vec<CertificateDer<'static>>> = LazyLock::new(|| {
    let found = read_store();
    if !found.errors.is_empty() {
        tracing::warn!(errors = ?found.errors, "some of the system's trusted roots could not be read");
    }
    usable(found.certs)
});

/// The store as named in `SSL_CERT_FILE` / `SSL_CERT_DIR`, exactly as rustls-native-certs
/// reads them, when they name one (see [`named`]); else the system's own, its bundle alone
/// when it has one (see [`bundle_first`]).
fn read_store() -> CertificateResult {
    let (file, dirs) = (std::env::var_os("SSL_CERT_FILE"), std::env::var_os("SSL_CERT_DIR"));
    if named(file.as_deref(), dirs.as_deref()) {
        return rustls_native_certs::load_native_certs();
    }
    let bundle = openssl_probe::probe().cert_file;
    bundle_first(bundle.as_deref(), rustls_native_certs::load_native_certs)
}

/// Whether `SSL_CERT_FILE` (`file`) or `SSL_CERT_DIR` (`dirs`) names a store: a file at
/// all, or a list of directories with one in it. A path that does not exist names one too:
/// what it holds is nothing, and that is reported, not replaced by the system's store.
fn named(file: Option<&std::ffi::OsStr>, dirs: Option<&std::ffi::OsStr>) -> bool {
    file.is_some() || dirs.is_some_and(|d| std::env::split_paths(d).any(|p| !p.as_os_str().is_empty()))
}

/// The certificates of the bundle `file` alone when it holds any; else the whole store as
/// rustls-native-certs reads it (`whole`: the bundle and the directories, each file once,
/// with whatever could not be read among its errors).
fn bundle_first(file: Option<&Path>, whole: impl FnOnce() -> CertificateResult) -> CertificateResult {
    if let Some(file) = file {
        let found = load_certs_from_paths(Some(file), None);
        if !found.certs.is_empty() {
            return found;
        }
    }
    whole()
}

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

    /// A directory removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A bundle file holding `certs`, in a scratch directory.
    fn bundle(certs: &[CertificateDer<'static>]) -> (Scratch, std::path::PathBuf) {
        let root = Scratch(std::env::temp_dir().join(testkit::unique_name("roots")));
        std::fs::create_dir(&root.0).unwrap();
        let path = root.0.join("bundle.crt");
        std::fs::write(&path, pem(certs)).unwrap();
        (root, path)
    }

    /// What the whole store would hold: `certs`, counting that it was read.
    fn whole(certs: &[CertificateDer<'static>], reads: &std::cell::Cell<u32>) -> CertificateResult {
        reads.set(reads.get() + 1);
        let mut found = CertificateResult::default();
        found.certs = certs.to_vec();
        found
    }

    #[test]
    fn the_bundle_alone_is_read_when_it_holds_certificates() {
        let (a, b) = (ca("a"), ca("b"));
        let (_root, path) = bundle(std::slice::from_ref(&a));
        let reads = std::cell::Cell::new(0);
        let found = bundle_first(Some(&path), || whole(&[a.clone(), b], &reads));
        assert_eq!(found.certs, vec![a]);
        assert_eq!(reads.get(), 0, "the rest of the store was read");
    }

    #[test]
    fn the_whole_store_is_read_without_a_bundle_or_when_it_holds_none() {
        let (a, b) = (ca("a"), ca("b"));
        let (_root, empty) = bundle(&[]);
        for file in [None, Some(empty.as_path()), Some(&empty.with_file_name("missing.crt"))] {
            let reads = std::cell::Cell::new(0);
            let found = bundle_first(file, || whole(&[a.clone(), b.clone()], &reads));
            assert_eq!(found.certs, vec![a.clone(), b.clone()], "bundle: {file:?}");
            assert_eq!(reads.get(), 1, "bundle: {file:?}");
        }
    }

    #[test]
    fn the_environment_names_a_store_with_a_file_or_a_directory_in_its_list() {
        use std::ffi::OsStr;
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(!named(None, None));
        assert!(!named(None, os("")));
        assert!(named(os("/no/such/bundle.crt"), None));
        assert!(named(None, os("/a:/b")));
        assert!(named(None, os(":/b")));
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
