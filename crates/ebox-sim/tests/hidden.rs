//! Hidden messages: a list without a `visible` filter leaves them out, the summary still
//! counts them, `visible=false` lists them alone.

mod common;

use common::*;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect()
}

/// Three messages at `provider`, received one hour apart (newest first: shown, hidden,
/// hidden-later): one added hidden, one hidden afterwards through the control API.
async fn three_with_two_hidden(f: &Fixture, provider: &str) {
    let now = f.sim.now();
    let at = |hours: i64| json!(now - chrono::Duration::hours(hours));
    f.add(provider, json!({"message_id": "shown", "received_at": at(1)}))
        .await;
    f.add(
        provider,
        json!({"message_id": "hidden", "received_at": at(2), "visible": false}),
    )
    .await;
    f.add(provider, json!({"message_id": "hidden-later", "received_at": at(3)}))
        .await;
    let hide = format!("/control/boxes/{provider}/{ENTERPRISE_A}/messages/hidden-later/hide");
    assert_eq!(f.control(reqwest::Method::POST, &hide, json!({})).await.status(), 204);
}

#[tokio::test]
async fn the_default_list_leaves_hidden_messages_out_while_the_summary_counts_them() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    for provider in [PROVIDER, PROVIDER_2] {
        three_with_two_hidden(&f, provider).await;
        let list = f.list_url(provider);
        let (status, listed) = f.get_json(&list, &token).await;
        assert_eq!(status, 200, "{provider}");
        assert_eq!(ids(&listed), ["shown"], "{provider}");
        assert_eq!(listed["totalItems"], 1, "{provider}");
        let (_, hidden) = f.get_json(&format!("{list}?visible=false"), &token).await;
        assert_eq!(ids(&hidden), ["hidden", "hidden-later"], "{provider}");
        assert_eq!(hidden["totalItems"], 2, "{provider}");
        let (_, visible) = f.get_json(&format!("{list}?visible=true"), &token).await;
        assert_eq!(ids(&visible), ["shown"], "{provider}");
        let (_, summary) = f.get_json(&format!("{}/ebox", f.registry(provider)), &token).await;
        assert_eq!(summary["numberOfMessages"], 3, "{provider}: hidden ones count");
        assert_eq!(summary["numberOfUnreadMessages"], 3, "{provider}");
    }
    // v3 takes its own name for the filter as well.
    assert_eq!(f.total(PROVIDER, "isVisible=false", &token).await, 2);
    assert_eq!(f.total(PROVIDER, "isVisible=true", &token).await, 1);
    // v2 does not know it: ignored, so the default (visible only) applies.
    assert_eq!(f.total(PROVIDER_2, "isVisible=false", &token).await, 1);
}

#[tokio::test]
async fn a_hidden_message_is_read_by_id_and_listed_again_once_made_visible() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    three_with_two_hidden(&f, PROVIDER).await;
    let m = f.message(PROVIDER, "hidden").await;
    assert_eq!(m["isVisible"], false);
    let patch = json!({"items": [{"messageId": "hidden", "isVisible": true}]});
    let r = f
        .http
        .patch(f.list_url(PROVIDER))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, listed) = f.get_json(&f.list_url(PROVIDER), &token).await;
    assert_eq!(ids(&listed), ["shown", "hidden"]);
    // An e-Box holding hidden messages only lists nothing by default: the 404 of an
    // empty list.
    f.sim
        .update_message(PROVIDER, ENTERPRISE_A, "shown", |m, _| m.visible = false);
    f.sim
        .update_message(PROVIDER, ENTERPRISE_A, "hidden", |m, _| m.visible = false);
    let (status, body) = f.get_json(&f.list_url(PROVIDER), &token).await;
    assert_eq!((status, &body["message"]), (404, &json!("No messages found")));
    assert_eq!(f.total(PROVIDER, "visible=false", &token).await, 3);
}

#[tokio::test]
async fn list_items_filters_visibility_as_the_list_does() {
    let f = Fixture::start().await;
    for provider in [PROVIDER, PROVIDER_2] {
        three_with_two_hidden(&f, provider).await;
        let at = f.sim.reachable(&f.registry(provider)).unwrap();
        let listed = |visible: Option<bool>| -> Vec<String> {
            f.sim
                .list_items(&at, ENTERPRISE_A, None, visible)
                .iter()
                .map(|raw| {
                    let m: Value = serde_json::from_slice(raw).unwrap();
                    m["messageId"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        assert_eq!(listed(None), ["shown"], "{provider}");
        assert_eq!(listed(Some(true)), ["shown"], "{provider}");
        assert_eq!(listed(Some(false)), ["hidden", "hidden-later"], "{provider}");
        let two_days_ago = (f.sim.now() - chrono::Duration::days(2)).date_naive();
        let after = f.sim.list_items(&at, ENTERPRISE_A, Some(two_days_ago), Some(false));
        assert_eq!(after.len(), 2, "{provider}: both filters at once");
    }
}
