//! The API binary as a process on a free port, and its routes as the tests call them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{KEY, Proc, add_store_rows, free_port, stock_table, wait_until, workspace_bin};

/// The API as a process on its own port and database.
pub struct Api {
    pub proc: Proc,
    pub base: String,
    pub port: u16,
    /// The SQLite file (`dir/inventory.db`); unused when the API runs on PostgreSQL.
    pub db: PathBuf,
    /// What the API's (and its relays') `DATABASE_URL` says: `db`'s path, or `postgres://…`.
    pub database_url: String,
    pub client: reqwest::Client,
    /// Where its log is (`<name>.log`), kept for [`Api::restart`].
    dir: PathBuf,
}

impl Api {
    /// The API on an SQLite file in `dir`.
    pub async fn start(dir: &Path) -> Self {
        let db = dir.join("inventory.db");
        Self::start_on(dir, &db.display().to_string()).await
    }

    /// The API on `database_url` (a path, or `postgres://…`), its log in `dir`. The methods
    /// that read the SQLite file directly ([`Api::stock`], [`Api::pending`],
    /// [`Api::event_count`]) work only on SQLite; the HTTP ones ([`Api::stats`],
    /// [`Api::events`], [`Api::stock_over_http`]) on both.
    pub async fn start_on(dir: &Path, database_url: &str) -> Self {
        Self::start_named(dir, "api", database_url).await
    }

    /// Like [`Api::start_on`], its log in `dir/<name>.log`.
    pub async fn start_named(dir: &Path, name: &str, database_url: &str) -> Self {
        let port = free_port();
        let api = Self {
            proc: spawn_api(dir, name, database_url, port),
            base: format!("http://127.0.0.1:{port}"),
            port,
            db: dir.join("inventory.db"),
            database_url: database_url.to_owned(),
            client: reqwest::Client::new(),
            dir: dir.to_owned(),
        };
        api.wait_answering().await;
        api
    }

    /// Starts the binary again on the same port and database, as a supervisor restarts a
    /// crashed replica (`kill -9`s the old process first if it still runs), and waits until
    /// it answers.
    pub async fn restart(&mut self) {
        self.proc.kill();
        let name = self.proc.name.clone();
        self.proc = spawn_api(&self.dir, &name, &self.database_url, self.port);
        self.wait_answering().await;
    }

    /// Waits until `/health` answers at all (30 s at most).
    async fn wait_answering(&self) {
        let url = format!("{}/health", self.base);
        wait_until(Duration::from_secs(30), "the API answers", || {
            let (client, url) = (self.client.clone(), url.clone());
            async move { client.get(&url).send().await.is_ok() }
        })
        .await;
    }

    /// Sends a request; returns (status, body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("X-API-Key", KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// `GET path`, which must answer 200; its body.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `GET /events/stats`: the outbox's `total`, `pending`, `synced`, `dead`.
    pub async fn stats(&self) -> Value {
        self.get("/events/stats").await
    }

    /// The whole audit log (`GET /events`), in `seq` order.
    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/events?after_seq={after}&limit=1000"))
                .await;
            all.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => return all,
            }
        }
    }

    /// Every product id (`GET /products`, page by page).
    pub async fn product_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/products?limit=200&cursor={c}"),
                None => "/products?limit=200".to_owned(),
            };
            let page = self.get(&path).await;
            for product in page["data"].as_array().expect("data") {
                ids.push(product["id"].as_str().expect("id").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// Every stock row as the API serves it (`GET /stock/product/{id}` for every product),
    /// keyed like [`stock_table`]: (quantity, reserved, version). On either engine.
    pub async fn stock_over_http(&self) -> BTreeMap<(String, String), (i64, i64, i64)> {
        let mut rows = BTreeMap::new();
        for product in self.product_ids().await {
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/stock/product/{product}?limit=1000&cursor={c}"),
                    None => format!("/stock/product/{product}?limit=1000"),
                };
                let page = self.get(&path).await;
                add_store_rows(&mut rows, &product, &page);
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
        }
        rows
    }

    /// Every stock row of the API's database, keyed by (product, store):
    /// (quantity, reserved, version).
    pub fn stock(&self) -> BTreeMap<(String, String), (i64, i64, i64)> {
        stock_table(&self.db)
    }

    /// Number of events in the API's outbox.
    pub fn event_count(&self) -> i64 {
        let conn = inventory_shared::db::open_reader(&self.db).expect("open API db");
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count")
    }

    /// Number of events not yet published.
    pub fn pending(&self) -> i64 {
        let conn = inventory_shared::db::open_reader(&self.db).expect("open API db");
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE synced_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count")
    }
}

/// The API binary on `database_url`, listening on `port`, its log in `dir/<name>.log`.
fn spawn_api(dir: &Path, name: &str, database_url: &str, port: u16) -> Proc {
    let env = [
        ("DATABASE_URL", database_url.to_owned()),
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", port.to_string()),
        ("RESERVATION_EXPIRY_INTERVAL", "200ms".to_owned()),
        ("SQLITE_SYNCHRONOUS", "normal".to_owned()),
    ];
    Proc::spawn(name, &workspace_bin("inventory-api"), &[], &env, dir)
}
