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

/// The most the fetch process may hold resident, peak or warm, whatever it delivers (MB).
pub const FETCH_RSS_LIMIT_MB: f64 = 16.0;

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

/// The benchmark client's key and self-signed certificate.
pub use testkit::KeyMaterial as Key;

pub fn key(name: &str) -> Key {
    Key::generate(name)
}

pub fn scopes() -> Vec<String> {
    vec![CONSULT_SCOPE.into(), REGISTRY_SCOPE.into()]
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Adds a message `id` for `enterprise` with one attachment of `size` bytes, its main
/// content, at the simulator's provider `ebox-enterprise`.
pub fn add_message_with_attachment(sim: &ebox_sim::Simulator, enterprise: &str, id: &str, size: u64) {
    let spec = serde_json::json!({"message_id": id, "attachments": [{"file_name": format!("{id}.pdf"), "size": size, "main_content": true}]});
    let message = serde_json::from_value::<ebox_sim::control::MessageSpec>(spec)
        .unwrap()
        .into_message(sim.now())
        .unwrap();
    sim.add_message("ebox-enterprise", enterprise, message);
}

/// A simulator in this process with the client `bench` registered for `enterprise`, and
/// that client's key.
pub async fn simulator_with_client(enterprise: &str) -> (ebox_sim::Simulator, Key) {
    let sim = ebox_sim::Simulator::start(ebox_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let key = key("bench");
    sim.register("bench", enterprise, &key.certificate_pem)
        .expect("a valid certificate");
    (sim, key)
}

/// A simulator in this process with one registered client, and an e-Box session for it.
pub async fn simulator_with_session(enterprise: &str) -> (ebox_sim::Simulator, ebox::Session) {
    let (sim, key) = simulator_with_client(enterprise).await;
    let config = ebox::EboxConfig {
        scopes: scopes(),
        ..testkit::sim_ebox_config(sim.shared())
    };
    let session = ebox::Ebox::new(config)
        .expect("client")
        .session(key.credentials("bench"));
    (sim, session)
}
