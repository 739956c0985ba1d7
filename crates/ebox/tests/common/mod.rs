#![allow(dead_code)]

use std::time::Duration;

use ebox::{Ebox, EboxConfig, Session};
use ebox_sim::data::Scenario;
use ebox_sim::faults::Fault;
use ebox_sim::{SimConfig, Simulator};
use testkit::KeyMaterial as TestKey;

pub const ENTERPRISE: &str = "0403170701";
pub const CLIENT_ID: &str = "digipost-0403170701";

pub struct Fixture {
    pub sim: Simulator,
    pub key: TestKey,
    pub ebox: Ebox,
}

/// testkit's configuration for the simulator, with a shorter budget per call.
pub fn config(sim: &Simulator) -> EboxConfig {
    let mut config = testkit::sim_ebox_config(sim.shared());
    config.call_budget = Duration::from_secs(20);
    config
}

impl Fixture {
    pub async fn start() -> Self {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let key = TestKey::generate("digipost");
        sim.register(CLIENT_ID, ENTERPRISE, &key.certificate_pem).unwrap();
        let ebox = Ebox::new(config(&sim)).unwrap();
        Self { sim, key, ebox }
    }

    pub fn session(&self) -> Session {
        self.session_of(&self.ebox, CLIENT_ID)
    }

    /// A session of another client that uses the same key.
    pub fn session_of(&self, ebox: &Ebox, client_id: &str) -> Session {
        ebox.session(self.key.credentials(client_id))
    }

    pub fn generate(&self, messages: usize, attachments: usize, size: u64) {
        self.sim
            .generate(&Scenario::of(5, ENTERPRISE, messages, attachments, size));
    }

    pub fn fault(&self, json: serde_json::Value) {
        self.sim.add_fault(serde_json::from_value::<Fault>(json).unwrap());
    }

    pub fn requests(&self, route: &str) -> u64 {
        self.sim
            .counters()
            .into_iter()
            .filter(|((r, _), _)| r == route)
            .map(|(_, c)| c.requests)
            .sum()
    }
}

/// The providers discovery lists, active or not.
pub async fn listed_providers(session: &Session) -> Vec<ebox::model::MessageProvider> {
    session.providers().await.unwrap().providers.clone()
}
