//! Walks the consultation paths of the published API descriptions and checks that the
//! simulator serves each with the field names (and required fields) the spec defines.

mod common;

use common::*;
use ebox_sim::data::Scenario;
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

fn load(name: &str) -> Value {
    let path = format!("{}/../ebox/spec/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    to_json(&YamlLoader::load_from_str(&text).unwrap()[0])
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.clone()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                m.insert(key, to_json(v));
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

/// Checks `value` against `schema`; returns every deviation found.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        let definition = &spec["definitions"][name];
        assert!(!definition.is_null(), "definition {name} is missing from the spec");
        return check(spec, definition, value, &format!("{at}<{name}>"), problems);
    }
    if let Some(items) = schema.get("items") {
        match value.as_array() {
            Some(array) => {
                for (i, item) in array.iter().enumerate() {
                    check(spec, items, item, &format!("{at}[{i}]"), problems);
                }
            }
            None => problems.push(format!("{at}: expected an array, got {value}")),
        }
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return; // a free-form object or a scalar
    };
    let Some(object) = value.as_object() else {
        problems.push(format!("{at}: expected an object, got {value}"));
        return;
    };
    for key in object.keys() {
        match properties.get(key) {
            Some(property) => check(spec, property, &object[key], &format!("{at}.{key}"), problems),
            None => problems.push(format!("{at}: field {key:?} is not in the spec")),
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            problems.push(format!("{at}: required field {name:?} is missing"));
        }
    }
}

#[tokio::test]
async fn every_consultation_path_is_served_as_the_spec_names_it() {
    let registry_spec = load("ebox-message-registry-2.1.yaml");
    let f = Fixture::start().await;
    f.sim
        .generate(&Scenario::of(11, ENTERPRISE_A, 8, 2, 2048).at(PROVIDER_2));
    let token = f.token_a().await;
    // The 2.1 YAML describes v2, which PROVIDER_2 speaks. Message 0 has a body, payment
    // data and attachments: every sub-resource exists.
    let message = &f.sim.messages(PROVIDER_2, ENTERPRISE_A)[0];
    assert!(message.body.is_some() && message.payment_data.is_some());
    let substitutions = [
        ("{messageId}", message.id.clone()),
        ("{attachmentId}", "att-1".to_owned()),
        ("{messageTypeId}", message.message_type_id.clone()),
        ("{senderOrganizationId}", message.sender_organization_id.clone()),
        ("{senderApplicationId}", message.sender_application_id.clone().unwrap()),
    ];
    let mut walked = Vec::new();
    let mut problems = Vec::new();
    for (path, operations) in registry_spec["paths"].as_object().unwrap() {
        let consultation = path.starts_with("/ebox") || path.starts_with("/referenceData");
        let Some(get) = operations
            .get("get")
            .filter(|_| consultation && !path.contains("/images/"))
        else {
            continue;
        };
        let mut concrete = path.clone();
        for (placeholder, value) in &substitutions {
            concrete = concrete.replace(placeholder, value);
        }
        let r = f.get(&format!("{}{concrete}", f.registry(PROVIDER_2)), &token).await;
        assert_eq!(r.status(), 200, "GET {path}");
        let schema = &get["responses"]["200"]["schema"];
        if schema["type"] == "string" {
            assert_eq!(r.headers()["content-type"], "application/octet-stream", "{path}");
            assert_eq!(r.bytes().await.unwrap().len(), 2048);
        } else {
            let body: Value = r.json().await.unwrap();
            check(&registry_spec, schema, &body, path, &mut problems);
        }
        walked.push(path.clone());
    }
    assert_eq!(walked.len(), 14, "consultation paths walked: {walked:?}");

    let federation_spec = load("ebox-federation-1.3.yaml");
    let (status, body) = f.get_json(&f.sim.message_providers_url(), &token).await;
    assert_eq!(status, 200);
    let schema = &federation_spec["paths"]["/messageProviders"]["get"]["responses"]["200"]["schema"];
    check(&federation_spec, schema, &body, "/messageProviders", &mut problems);
    assert!(
        problems.is_empty(),
        "deviations from the spec:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_notices_invented_and_missing_fields() {
    let spec = load("ebox-message-registry-2.1.yaml");
    let schema = serde_json::json!({"$ref": "#/definitions/StatusMessage"});
    let mut problems = Vec::new();
    check(
        &spec,
        &schema,
        &serde_json::json!({"id": "x", "code": "c", "mesage": "typo"}),
        "",
        &mut problems,
    );
    assert_eq!(
        problems,
        vec![
            "<StatusMessage>: field \"mesage\" is not in the spec".to_string(),
            "<StatusMessage>: required field \"message\" is missing".to_string(),
        ]
    );
}
