//! Helpers of the paging tests: arrange many rows quickly, build page URLs, walk a list.
#![allow(
    dead_code,
    reason = "each paging test binary uses a different part of it"
)]

use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::{Reply, TestApp};

/// Requests in flight while arranging thousands of rows.
const ARRANGE_CONCURRENCY: usize = 32;

/// Creates `n` products (`{prefix}-{i}`) and returns their ids in id order.
pub async fn products(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids: Vec<String> = futures::stream::iter(0..n)
        .map(|i| async move {
            let body = app.create_product(&format!("{prefix}-{i:05}")).await;
            body["id"].as_str().expect("id").to_owned()
        })
        .buffer_unordered(ARRANGE_CONCURRENCY)
        .collect()
        .await;
    ids.sort();
    ids
}

/// Gives each product a stock row of `quantity` in `store`.
pub async fn stock_all(app: &TestApp, ids: &[String], store: &str, quantity: i64) {
    futures::stream::iter(ids)
        .for_each_concurrent(ARRANGE_CONCURRENCY, |id| async move {
            app.create_stock(id, store, quantity).await;
        })
        .await;
}

/// `path` with `limit` and, when given, `cursor` (`path` may carry a query already).
pub fn page_path(path: &str, limit: usize, cursor: Option<&str>) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    match cursor {
        Some(cursor) => format!("{path}{sep}limit={limit}&cursor={cursor}"),
        None => format!("{path}{sep}limit={limit}"),
    }
}

/// The rows of a page (`items`, `reservations`, `stores` or `data`).
pub fn rows<'a>(reply: &'a Reply, field: &str) -> &'a Vec<Value> {
    reply.body[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is an array in {}", reply.text))
}

/// Walks a list to its end; asserts that every page but the last is full and carries a
/// cursor, and that the last one has `next_cursor: null`. Returns every row's `key`.
pub async fn walk(app: &TestApp, path: &str, field: &str, limit: usize, key: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let reply = app.get(&page_path(path, limit, cursor.as_deref())).await;
        reply.expect_status(200);
        let page = rows(&reply, field);
        seen.extend(
            page.iter()
                .map(|r| r[key].as_str().expect("key").to_owned()),
        );
        match reply.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "a page before the last is full");
                cursor = Some(next.to_owned());
            }
            None => {
                assert_eq!(reply.body["next_cursor"], json!(null), "{}", reply.text);
                assert!(page.len() <= limit);
                return seen;
            }
        }
    }
}
