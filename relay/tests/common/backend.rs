//! A test database on either engine, for tests that run on both.

use std::path::Path;

use inventory_shared::events::NewEvent;

use super::{PgTestDb, TestDb, append_in_one_tx};

/// A test database on either engine, for tests that run on both.
pub enum TestBackend {
    /// A SQLite file in a temp dir.
    Sqlite(TestDb),
    /// A private PostgreSQL server.
    Postgres(PgTestDb),
}

impl TestBackend {
    /// `sqlite` or `postgres`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// What `DATABASE_URL` says for this database.
    pub fn database_url(&self) -> String {
        match self {
            Self::Sqlite(db) => db.path().display().to_string(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    /// A working folder for relay processes.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Sqlite(db) => db.dir.path(),
            Self::Postgres(db) => db.dir.path(),
        }
    }

    /// Appends `events` in one transaction, the way the API does; returns their seqs.
    pub async fn append(&self, events: Vec<NewEvent>) -> Vec<i64> {
        match self {
            Self::Sqlite(db) => {
                let path = db.path();
                tokio::task::spawn_blocking(move || append_in_one_tx(&path, events))
                    .await
                    .expect("append task")
            }
            Self::Postgres(db) => db.append(events).await,
        }
    }

    /// `(published, pending, dead)` counts.
    pub async fn counts(&self) -> (i64, i64, i64) {
        match self {
            Self::Sqlite(db) => db.counts().await,
            Self::Postgres(db) => db.counts().await,
        }
    }
}
