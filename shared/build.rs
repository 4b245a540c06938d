//! Rebuilds this crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` folder at compile time, and cargo does not watch that folder on its own (the
//! fix sqlx's documentation gives). Without it a new migration file merged into a built tree
//! is silently missing from the binary.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
