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
