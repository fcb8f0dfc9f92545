//! Speed of the hot read paths. Ignored by default: run with
//! `cargo test -p berth-meta --release --test speed -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use berth_oci::Reference;
use common::{digest, repo, tag, Fixture};

const TAGS: usize = 10_000;

/// Fills one repository with one manifest and `TAGS` tags in a single transaction,
/// bypassing the store so that setup does not dominate the run.
async fn seed(fx: &Fixture) {
    let app = repo("bench/app");
    let id = digest(b"m");
    fx.store
        .put_manifest(common::manifest(&app, &id, b"m"))
        .await
        .expect("manifest");
    let pool = fx.inspect().await;
    let mut tx = pool.begin().await.expect("begin");
    for i in 0..TAGS {
        sqlx::query(
            "INSERT INTO tags (repository_id, name, manifest_digest, created_at, updated_at) \
             VALUES (1, ?1, ?2, 0, 0)",
        )
        .bind(format!("tag-{i:05}"))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .expect("tag");
    }
    tx.commit().await.expect("commit");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing; run in release"]
async fn tag_walk_and_get_by_tag() {
    let fx = Fixture::new().await;
    seed(&fx).await;
    let app = repo("bench/app");

    let started = Instant::now();
    let mut last: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = fx
            .store
            .list_tags(&app, last.as_deref(), Some(100))
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        seen += page.len();
        last = page.last().cloned();
    }
    let walk = started.elapsed();
    assert_eq!(seen, TAGS);

    let gets = 20_000;
    let mut tasks = Vec::new();
    let started = Instant::now();
    for worker in 0..8 {
        let store = fx.store.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..gets).step_by(8) {
                let reference = Reference::Tag(tag(&format!("tag-{:05}", i % TAGS)));
                let found = store.manifest(&app, &reference).await.expect("get");
                assert!(found.is_some());
            }
        }));
    }
    for task in tasks {
        task.await.expect("join");
    }
    let elapsed = started.elapsed();
    let per_second = f64::from(gets as u32) / elapsed.as_secs_f64();

    println!("walk of {TAGS} tags in pages of 100: {walk:?}; get by tag: {per_second:.0}/s");
    assert!(walk < Duration::from_millis(50), "tag walk took {walk:?}");
}
