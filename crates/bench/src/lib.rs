//! Shared by the benchmark programs: measuring, reporting, and a simulator with a client.

use std::time::Duration;

use ebox_sim::data::{CONSULT_SCOPE, REGISTRY_SCOPE};

mod report;
pub use report::{Row, print_rows};

/// Median of a few samples.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    samples[samples.len() / 2]
}

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// Current resident set size, in bytes.
pub fn rss() -> u64 {
    status_kb("VmRSS:") * 1024
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// An RSA key and self-signed certificate, made on the spot.
pub struct Key {
    pub private_key_pem: String,
    pub certificate_pem: String,
}

pub fn key(name: &str) -> Key {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .expect("params")
        .self_signed(&pair)
        .expect("certificate");
    Key {
        private_key_pem: pair.serialize_pem(),
        certificate_pem: cert.pem(),
    }
}

pub fn scopes() -> Vec<String> {
    vec![CONSULT_SCOPE.into(), REGISTRY_SCOPE.into()]
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A simulator in this process with one registered client, and an e-Box session for it.
pub async fn simulator_with_session(enterprise: &str) -> (ebox_sim::Simulator, ebox::Session) {
    let sim = ebox_sim::Simulator::start(ebox_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let key = key("bench");
    sim.register("bench", enterprise, &key.certificate_pem)
        .expect("a valid certificate");
    let config = ebox::EboxConfig {
        scopes: scopes(),
        ..testkit::sim_ebox_config(sim.shared())
    };
    let session = ebox::Ebox::new(config)
        .expect("client")
        .session(ebox::ClientCredentials {
            client_id: "bench".into(),
            key: std::sync::Arc::new(
                ebox::KeyMaterial::from_pem(&key.private_key_pem, &key.certificate_pem).expect("key"),
            ),
        });
    (sim, session)
}
