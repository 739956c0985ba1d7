//! Shared by the simulator's tests: a running simulator, a registered client, signed
//! client assertions, and a small HTTP helper.
#![allow(dead_code)]

use chrono::Utc;
use ebox_sim::data::{CONSULT_SCOPE, REGISTRY_SCOPE};
use ebox_sim::{SimConfig, Simulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use testkit::KeyMaterial;

pub const ENTERPRISE_A: &str = "0403170701";
pub const ENTERPRISE_B: &str = "0123456749";
pub const PROVIDER: &str = "ebox-enterprise";
pub const PROVIDER_2: &str = "vlaamse-overheid";

pub struct Fixture {
    pub sim: Simulator,
    pub http: reqwest::Client,
    pub key_a: KeyMaterial,
}

impl Fixture {
    pub async fn start() -> Self {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let http = reqwest::Client::new();
        let key_a = KeyMaterial::generate("digipost-test");
        let f = Self { sim, http, key_a };
        f.register("client-a", ENTERPRISE_A, &f.key_a.certificate_pem, None)
            .await;
        f
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A provider's registry base URL (its version segment included, no trailing slash).
    pub fn registry(&self, provider: &str) -> String {
        self.sim.registry_url(provider).unwrap()
    }

    /// Where a provider's registry serves reference data: `{registry}/refData` (v3) or
    /// `{registry}/referenceData` (v2), unless the provider says otherwise.
    pub fn reference_url(&self, provider: &str) -> String {
        let p = self.sim.providers().into_iter().find(|p| p.id == provider).unwrap();
        format!("{}/{}", self.registry(provider), p.reference_path())
    }

    /// Adds a message described as the control API takes it; panics unless it is added.
    pub async fn add(&self, provider: &str, spec: Value) {
        let path = format!("/control/boxes/{provider}/{ENTERPRISE_A}/messages");
        let r = self.control(reqwest::Method::POST, &path, spec).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// A message as its own route serves it to enterprise A.
    pub async fn message(&self, provider: &str, id: &str) -> Value {
        let token = self.token_a().await;
        let (status, m) = self
            .get_json(&format!("{}/ebox/messages/{id}", self.registry(provider)), &token)
            .await;
        assert_eq!(status, 200, "{m}");
        m
    }

    /// The `totalItems` of a list query (0 for the 404 of an empty list).
    pub async fn total(&self, provider: &str, query: &str, token: &str) -> u64 {
        let (status, body) = self
            .get_json(&format!("{}?{query}", self.list_url(provider)), token)
            .await;
        match status {
            404 => 0,
            200 => body["totalItems"].as_u64().unwrap(),
            other => panic!("{query}: {other} {body}"),
        }
    }

    pub fn list_url(&self, provider: &str) -> String {
        format!("{}/ebox/messages", self.registry(provider))
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, client_id: &str, enterprise: &str, certificate_pem: &str, scopes: Option<Vec<&str>>) {
        let mut body = json!({"client_id": client_id, "enterprise": enterprise, "certificate_pem": certificate_pem});
        if let Some(s) = scopes {
            body["scopes"] = json!(s);
        }
        let r = self.control(reqwest::Method::POST, "/control/clients", body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// Posts a token request; returns status and JSON answer.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(self.sim.token_url()).form(form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn token_for(&self, client_id: &str, key_pem: &str) -> String {
        self.token_with_scope(client_id, key_pem, Some(&format!("{CONSULT_SCOPE} {REGISTRY_SCOPE}")))
            .await
    }

    /// A token for `scope`, or for every scope granted when None.
    pub async fn token_with_scope(&self, client_id: &str, key_pem: &str, scope: Option<&str>) -> String {
        let assertion = assertion(client_id, &self.sim.audience(), key_pem, 300, &uuid());
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ebox_sim::auth::ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let (status, body) = self.token_request(&form).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token_a(&self) -> String {
        self.token_for("client-a", &self.key_a.private_key_pem).await
    }

    pub async fn get(&self, url: &str, token: &str) -> reqwest::Response {
        self.http.get(url).bearer_auth(token).send().await.unwrap()
    }

    pub async fn get_json(&self, url: &str, token: &str) -> (u16, Value) {
        let r = self.get(url, token).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// Generated messages for `enterprises` at one provider: two attachments of 20 000 bytes
/// each, seed 7.
pub fn scenario_at(provider: &str, enterprises: &[&str], messages: usize) -> ebox_sim::data::Scenario {
    ebox_sim::data::Scenario {
        seed: 7,
        enterprises: enterprises.iter().map(|e| e.to_string()).collect(),
        messages_per_enterprise: messages,
        attachments_per_message: 2,
        attachment_size: 20_000,
        providers: vec![provider.into()],
    }
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client assertion as the e-Box client makes one, with knobs to make it wrong.
pub fn assertion(client_id: &str, audience: &str, key_pem: &str, lifetime_secs: i64, jti: &str) -> String {
    let now = Utc::now().timestamp();
    claims_assertion(
        &json!({"iss": client_id, "sub": client_id, "aud": audience, "jti": jti, "iat": now, "exp": now + lifetime_secs}),
        key_pem,
    )
}

pub fn claims_assertion(claims: &Value, key_pem: &str) -> String {
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}
