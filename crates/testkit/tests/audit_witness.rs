//! The witness keeper beside a running server: checkpoints at start, after so many
//! appends and at stop; a tail cut while serving stays on record even after the chain grows
//! past it again; a witness that cannot be written stops the start, and a write that fails
//! later is retried. On the database `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::time::Duration;

use circle_domain::audit::AuditAction;
use circle_store::Backend;
use circle_store::witness::{Cadence, Keeper, RecordKind, WitnessDir, WitnessState};
use circle_testkit::{TestApp, spawn_app};

async fn append(t: &TestApp, n: usize) {
    append_as(t, n, AuditAction::ClientRead).await;
}

async fn append_as(t: &TestApp, n: usize, action: AuditAction) {
    for _ in 0..n {
        t.db.store
            .op_audit_entry(action, jiff::Timestamp::now())
            .await
            .unwrap();
    }
}

async fn witnessed(t: &TestApp, dir: &WitnessDir) -> Vec<(RecordKind, i64)> {
    t.db.store
        .read_witness(dir)
        .await
        .unwrap()
        .records()
        .map(|r| (r.record.kind, r.record.seq))
        .collect()
}

fn rarely() -> Cadence {
    Cadence {
        entries: 10,
        interval: Duration::from_secs(3600),
        poll: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn a_server_checkpoints_at_start_after_every_n_appends_and_at_stop() {
    let t = spawn_app().await;
    append(&t, 3).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = WitnessDir::new(tmp.path().join("witness"));
    let keeper = Keeper::start(t.db.store.clone(), dir.clone(), "web-1", rarely())
        .await
        .unwrap();
    assert_eq!(keeper.by(), "web-1");
    assert_eq!(witnessed(&t, &dir).await, vec![(RecordKind::Checkpoint, 3)]);

    // Ten appends trigger a checkpoint well before the hour is up. It records the committed
    // head: the tenth append is counted before its transaction commits, so the keeper may
    // see entry 12 or 13.
    append(&t, 10).await;
    for _ in 0..2000 {
        if witnessed(&t, &dir).await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seqs = witnessed(&t, &dir).await;
    assert_eq!(seqs.len(), 2, "{seqs:?}");
    assert!(
        matches!(seqs[1], (RecordKind::Checkpoint, 12 | 13)),
        "{seqs:?}"
    );

    append(&t, 2).await;
    keeper.stop().await.unwrap();
    let seqs = witnessed(&t, &dir).await;
    assert_eq!(seqs.last(), Some(&(RecordKind::Checkpoint, 15)));
    let log = t.db.store.read_witness(&dir).await.unwrap();
    let (chain, finding) = t.db.store.verify_audit_with(&log).await.unwrap();
    assert!(chain.first_broken.is_none());
    assert_eq!(finding.state, WitnessState::Current { unconfirmed: 0 });
}

#[tokio::test]
async fn a_tail_cut_while_serving_stays_on_record_after_the_chain_grows_past_it() {
    let t = spawn_app().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = WitnessDir::new(tmp.path());
    append(&t, 12).await;
    let keeper = Keeper::start(t.db.store.clone(), dir.clone(), "web-1", rarely())
        .await
        .unwrap();
    let unprotect = match t.db.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    t.db.store
        .execute_admin(&format!(
            "{unprotect} DELETE FROM audit_log WHERE seq > 8; \
             UPDATE audit_head SET seq = 8, mac = (SELECT mac FROM audit_log WHERE seq = 8)"
        ))
        .await
        .unwrap();
    keeper.checkpoint().await.unwrap();
    // The server appends on and the chain grows past where it was cut (with other entries:
    // the same ones in the same second would chain to the very same MACs).
    append_as(&t, 10, AuditAction::AuditRead).await;
    keeper.checkpoint().await.unwrap();
    assert!(
        t.db.store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
    let log = t.db.store.read_witness(&dir).await.unwrap();
    let (_, finding) = t.db.store.verify_audit_with(&log).await.unwrap();
    assert!(
        matches!(finding.state, WitnessState::Diverged { seq: 12, .. }),
        "{finding:?}"
    );
    assert!(finding.is_broken());
    keeper.stop().await.unwrap();
}

#[tokio::test]
async fn a_witness_that_cannot_be_written_stops_the_start_and_a_failed_write_is_retried() {
    let t = spawn_app().await;
    append(&t, 2).await;
    let tmp = tempfile::tempdir().unwrap();
    // A file where the directory should be.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, "not a directory").unwrap();
    let err = Keeper::start(
        t.db.store.clone(),
        WitnessDir::new(&blocked),
        "web-1",
        rarely(),
    )
    .await
    .err()
    .expect("a witness that cannot be created");
    assert!(err.to_string().contains("blocked"), "{err}");

    let dir = WitnessDir::new(tmp.path().join("witness"));
    let keeper = Keeper::start(t.db.store.clone(), dir.clone(), "web-1", rarely())
        .await
        .unwrap();
    // The file is moved away and something that cannot be appended to takes its place.
    let file = keeper.file().to_path_buf();
    std::fs::rename(&file, tmp.path().join("archived.witness")).unwrap();
    std::fs::create_dir(&file).unwrap();
    append(&t, 1).await;
    assert!(keeper.checkpoint().await.is_err());
    std::fs::remove_dir(&file).unwrap();
    assert_eq!(keeper.checkpoint().await.unwrap().map(|h| h.seq), Some(3));
    keeper.stop().await.unwrap();
}

#[tokio::test]
async fn a_tail_cut_and_regrown_between_two_checkpoints_is_still_found() {
    let t = spawn_app().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = WitnessDir::new(tmp.path());
    append(&t, 12).await;
    let keeper = Keeper::start(t.db.store.clone(), dir.clone(), "web-1", rarely())
        .await
        .unwrap();
    let unprotect = match t.db.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    t.db.store
        .execute_admin(&format!(
            "{unprotect} DELETE FROM audit_log WHERE seq > 10; \
             UPDATE audit_head SET seq = 10, mac = (SELECT mac FROM audit_log WHERE seq = 10)"
        ))
        .await
        .unwrap();
    // Fewer appends than the cadence's count: no checkpoint sees the drop.
    append_as(&t, 5, AuditAction::AuditRead).await;
    keeper.checkpoint().await.unwrap();
    let log = t.db.store.read_witness(&dir).await.unwrap();
    let seqs: Vec<i64> = log.records().map(|r| r.record.seq).collect();
    assert_eq!(
        seqs,
        vec![12, 12, 15],
        "the entry now at 12 is recorded first"
    );
    let (chain, finding) = t.db.store.verify_audit_with(&log).await.unwrap();
    assert!(chain.first_broken.is_none());
    assert!(
        matches!(finding.state, WitnessState::Diverged { seq: 12, .. }),
        "{finding:?}"
    );
    keeper.stop().await.unwrap();
}
