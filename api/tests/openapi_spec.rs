//! The committed `openapi.yaml` is what the code serves: change the API, regenerate it with
//! `cargo run -p inventory-api -- openapi > openapi.yaml`, and review the diff.

use inventory_api::{Application, config::Settings};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn committed_spec_matches_the_served_spec() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = Application::build(Settings::for_database(dir.path().join("spec.db")))
        .await
        .expect("app builds");
    let url = format!("http://{}/openapi.yaml", app.local_addr());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone()));

    let served = reqwest::get(&url)
        .await
        .expect("spec request")
        .text()
        .await
        .expect("spec body");
    stop.cancel();
    server.await.expect("server task").expect("server ran");

    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
            .expect("openapi.yaml exists at the repository root");
    assert!(
        served == committed,
        "openapi.yaml differs from the served spec; regenerate it with \
         `cargo run -p inventory-api -- openapi > openapi.yaml` and review the diff"
    );
    assert_eq!(
        inventory_api::openapi_yaml().await.expect("spec builds"),
        served
    );
}

/// Each operation lists the statuses it can produce (issue 9): 413 and 415 exactly where a
/// body is read, 401 with its `WWW-Authenticate` header exactly where a key is needed, and
/// `/health` only 200 and 503, every read a 503 `QUERY_TIMEOUT` (its time budget).
#[tokio::test]
async fn each_operation_lists_only_the_statuses_it_can_produce() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = Application::build(Settings::for_database(dir.path().join("spec.db")))
        .await
        .expect("app builds");
    let url = format!("http://{}/openapi.json", app.local_addr());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone()));
    let spec: serde_json::Value = reqwest::get(&url)
        .await
        .expect("spec request")
        .json()
        .await
        .expect("spec json");
    stop.cancel();
    server.await.expect("server task").expect("server ran");

    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("tag name"))
        .collect();
    assert_eq!(
        tags,
        ["Products", "Stock", "Reservations", "Events", "System"],
        "Swagger UI groups in reading order"
    );

    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let statuses: Vec<&str> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(String::as_str)
                .collect();
            let has_body = op.get("requestBody").is_some();
            let secured = op.get("security").is_some();
            let what = format!("{method} {path}: {statuses:?}");
            assert_eq!(statuses.contains(&"413"), has_body, "{what}");
            assert_eq!(statuses.contains(&"415"), has_body, "{what}");
            assert_eq!(statuses.contains(&"401"), secured, "{what}");
            if method == "get" && path.starts_with("/api/v1") {
                let description = op["responses"]["503"]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    description.contains("`QUERY_TIMEOUT`"),
                    "{what}: reads name their budget"
                );
            }
            if secured {
                assert!(
                    op["responses"]["401"]["headers"]
                        .get("WWW-Authenticate")
                        .is_some(),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(operations, 32, "every operation was checked");
    let health: Vec<&String> = spec["paths"]["/health"]["get"]["responses"]
        .as_object()
        .expect("health responses")
        .keys()
        .collect();
    assert_eq!(health, ["200", "503"]);
}
