//! The writer's failure paths, with failures injected through broken batch statements.

use super::sqlite::{STATEMENTS, Statements};
use super::*;

use inventory_shared::config::DatabaseSettings;
use rusqlite::Connection;

use crate::domain::{ProductId, ProductInput, Sku};
use crate::store::Declared;

async fn writer_with(
    statements: Statements,
) -> (tempfile::TempDir, DatabaseSettings, SqliteWriter) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = DatabaseSettings::at(dir.path().join("writer.db"));
    inventory_shared::db::migrate(&settings)
        .await
        .expect("migrating");
    let (writer, _thread) = SqliteWriter::start_with(&settings, 64, statements).expect("writer");
    (dir, settings, writer)
}

/// A write that inserts one product with `sku`.
fn insert(sku: &'static str) -> impl FnMut(&mut dyn Tx) -> OpResult<()> + Send + 'static {
    move |tx| insert_into(tx, sku)
}

/// Inserts one product with `sku` (also its id) through the seam.
fn insert_into<T: Tx + ?Sized>(tx: &mut T, sku: &str) -> OpResult<()> {
    let input = ProductInput {
        sku: Sku::parse(sku).expect("a SKU"),
        name: "n".to_owned(),
        description: None,
        category: None,
        price_cents: 0,
    };
    tx.insert_product(&ProductId::from_stored(sku.to_owned()), &input, "t")?
        .expect("a SKU no other product has");
    Ok(())
}

fn products(settings: &DatabaseSettings) -> i64 {
    let conn = inventory_shared::db::open_reader(&settings.path()).expect("reader");
    conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0))
        .expect("count")
}

/// Runs five writes together (one of them refused by its own work) and returns their answers.
async fn five_writes(writer: &SqliteWriter) -> Vec<OpResult<()>> {
    let refused = |_: &mut dyn Tx| -> OpResult<()> { Err(OpError::ProductNotFound("x".into())) };
    let w = writer.clone();
    let none = Declared::default;
    let (a, b, c, d, e) = tokio::join!(
        w.write(none(), insert("a")),
        w.write(none(), insert("b")),
        w.write(none(), refused),
        w.write(none(), insert("c")),
        w.write(none(), insert("d")),
    );
    vec![a, b, c, d, e]
}

fn assert_all_internal(answers: &[OpResult<()>]) {
    for answer in answers {
        match answer {
            Err(OpError::Storage(cause)) => assert!(
                cause
                    .to_string()
                    .starts_with("the write batch was rolled back"),
                "{cause:#}"
            ),
            other => panic!("expected the batch's internal error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_batch_commits_its_good_jobs_and_rolls_back_the_refused_one() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let answers = five_writes(&writer).await;
    assert!(answers[0].is_ok() && answers[1].is_ok() && answers[3].is_ok());
    assert!(matches!(answers[2], Err(OpError::ProductNotFound(_))));
    assert_eq!(products(&settings), 4);
}

#[tokio::test]
async fn a_failing_savepoint_answers_every_caller_the_same_internal_error() {
    let broken = Statements {
        savepoint: "SAVEPOINT",
        ..STATEMENTS
    };
    let (_dir, settings, writer) = writer_with(broken).await;
    assert_all_internal(&five_writes(&writer).await);
    assert_eq!(products(&settings), 0, "nothing of the batch was applied");
}

#[tokio::test]
async fn a_failing_release_answers_every_caller_the_same_internal_error() {
    let broken = Statements {
        release: "RELEASE no_such_savepoint",
        ..STATEMENTS
    };
    let (_dir, settings, writer) = writer_with(broken).await;
    assert_all_internal(&five_writes(&writer).await);
    assert_eq!(products(&settings), 0, "nothing of the batch was applied");
}

#[tokio::test]
async fn a_failing_commit_answers_every_caller_the_same_internal_error() {
    let broken = Statements {
        commit: "COMMIT TO nowhere",
        ..STATEMENTS
    };
    let (_dir, settings, writer) = writer_with(broken).await;
    assert_all_internal(&five_writes(&writer).await);
    assert_eq!(products(&settings), 0, "nothing of the batch was applied");
}

#[tokio::test]
async fn a_panicking_job_is_rolled_back_alone() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let panics = |tx: &mut dyn Tx| -> OpResult<()> {
        insert_into(tx, "p")?;
        panic!("a bug in a write");
    };
    let (good, bad) = tokio::join!(
        writer.write(Declared::default(), insert("g")),
        writer.write(Declared::default(), panics)
    );
    assert!(good.is_ok());
    assert!(matches!(bad, Err(OpError::Storage(_))));
    assert_eq!(products(&settings), 1);
}

#[tokio::test]
async fn a_nested_failure_rolls_back_only_its_own_changes() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let answer = writer
        .write(Declared::default(), |tx| {
            insert_into(tx, "kept")?;
            let refused = nested(tx, |tx| {
                insert_into(tx, "undone")?;
                Err::<(), _>(OpError::ProductNotFound("x".into()))
            });
            assert!(matches!(refused, Err(OpError::ProductNotFound(_))));
            nested(tx, |tx| insert_into(tx, "also-kept"))
        })
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        products(&settings),
        2,
        "the job kept all but the refused part"
    );
}

/// Holds the writer for a moment with a job of its own, then sends `jobs` together, so they
/// are taken as one batch behind it. Returns their answers.
async fn one_batch_after_a_slow_job(
    writer: &SqliteWriter,
    first: impl FnMut(&mut dyn Tx) -> OpResult<()> + Send + 'static,
    contained: Containment,
) -> (OpResult<()>, OpResult<()>, OpResult<()>) {
    let slow = writer.clone();
    let holding = tokio::spawn(async move {
        slow.write(Declared::default(), |tx| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            insert_into(tx, "slow")
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let answers = tokio::join!(
        writer.write(Declared::default(), insert("before")),
        writer.write_contained(contained, Declared::default(), first),
        writer.write(Declared::default(), insert("after")),
    );
    holding
        .await
        .expect("slow job")
        .expect("slow job committed");
    answers
}

#[tokio::test]
async fn a_job_without_a_savepoint_that_refuses_first_leaves_its_neighbours_committed() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let refuses = |_: &mut dyn Tx| -> OpResult<()> { Err(OpError::ProductNotFound("x".into())) };
    let (before, refused, after) =
        one_batch_after_a_slow_job(&writer, refuses, Containment::RefusesBeforeWriting).await;
    assert!(before.is_ok() && after.is_ok(), "{before:?} {after:?}");
    assert!(matches!(refused, Err(OpError::ProductNotFound(_))));
    assert_eq!(products(&settings), 3);
}

#[tokio::test]
async fn a_job_without_a_savepoint_that_fails_after_writing_fails_its_whole_batch() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let breaks_its_promise = |tx: &mut dyn Tx| -> OpResult<()> {
        insert_into(tx, "half")?;
        Err(OpError::ProductNotFound("x".into()))
    };
    let (before, broken, after) = one_batch_after_a_slow_job(
        &writer,
        breaks_its_promise,
        Containment::RefusesBeforeWriting,
    )
    .await;
    assert_all_internal(&[before, broken, after]);
    assert_eq!(
        products(&settings),
        1,
        "only the slow job's own batch committed"
    );
}

#[tokio::test]
async fn contained_runs_a_refusing_first_operation_as_it_is_and_reports_a_broken_promise() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let answer = writer
        .write(Declared::default(), |tx| {
            insert_into(tx, "kept")?;
            let refused = contained(tx, Containment::RefusesBeforeWriting, |_| {
                Err::<(), _>(OpError::ProductNotFound("x".into()))
            });
            assert!(matches!(refused, Err(OpError::ProductNotFound(_))));
            let broken = contained(tx, Containment::RefusesBeforeWriting, |tx| {
                insert_into(tx, "half")?;
                Err::<(), _>(OpError::ProductNotFound("x".into()))
            });
            assert!(matches!(broken, Err(OpError::Storage(_))), "{broken:?}");
            broken
        })
        .await;
    assert!(matches!(answer, Err(OpError::Storage(_))));
    assert_eq!(
        products(&settings),
        0,
        "the job's savepoint undid all of it"
    );
}

#[tokio::test]
async fn a_sqlite_only_job_runs_on_the_connection_in_a_savepoint_of_its_own() {
    let (_dir, settings, writer) = writer_with(STATEMENTS).await;
    let raw = |conn: &Connection| -> OpResult<()> {
        conn.execute(
            "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at) \
             VALUES ('raw', 'raw', 'n', 0, 't', 't')",
            [],
        )?;
        Err(OpError::ProductNotFound("x".into()))
    };
    let (kept, undone) = tokio::join!(
        writer.write(Declared::default(), insert("kept")),
        writer.write_sqlite(raw)
    );
    assert!(kept.is_ok(), "{kept:?}");
    assert!(matches!(undone, Err(OpError::ProductNotFound(_))));
    assert_eq!(
        products(&settings),
        1,
        "the failed job's own row was undone"
    );
}
