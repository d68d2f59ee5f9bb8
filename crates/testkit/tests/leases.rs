//! Leases on background work (issue 16), on the database `TEST_DATABASE_URL` names (SQLite
//! when unset): one holder at a time even when many race for a lease, a holder that died
//! is replaced once its lease expires and is fenced off afterwards, and a periodic job is
//! due once per period whoever claims it.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_testkit::{TestDb, builders};
use jiff::{SignedDuration, Timestamp};

fn at(secs: i64) -> Timestamp {
    builders::now()
        .checked_add(SignedDuration::from_secs(secs))
        .unwrap()
}

const TTL: SignedDuration = SignedDuration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twelve_racing_claimants_exactly_one_holds_the_lease() {
    let db = TestDb::new().await;
    for round in 0..5_i64 {
        let name = format!("race-{round}");
        let racers = (0..12).map(|i| {
            let (store, name) = (db.store.clone(), name.clone());
            tokio::spawn(async move {
                store
                    .claim_lease(&name, &format!("server-{i}"), at(0), TTL)
                    .await
                    .unwrap()
            })
        });
        let mut won = vec![];
        for r in racers {
            if let Some(lease) = r.await.unwrap() {
                won.push(lease);
            }
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        let state = db.store.lease_state(&name).await.unwrap().unwrap();
        assert_eq!(
            (state.holder.as_str(), state.generation),
            (won[0].holder.as_str(), 1)
        );
    }
}

#[tokio::test]
async fn a_dead_holders_lease_is_taken_over_once_it_expires_and_the_old_holder_is_fenced_off() {
    let db = TestDb::new().await;
    let s = &db.store;
    // "a" claims and dies mid-job: it never renews nor releases.
    let a = s
        .claim_lease("export", "a", at(0), TTL)
        .await
        .unwrap()
        .unwrap();
    // While it is fresh, nobody else gets it.
    assert_eq!(
        s.claim_lease("export", "b", at(59), TTL).await.unwrap(),
        None
    );
    // Expired: "b" takes over, as a new run.
    let b = s
        .claim_lease("export", "b", at(60), TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.generation, a.generation + 1);
    // "a" comes back (a long pause, not death): its renewal and release change nothing.
    assert!(!s.renew_lease(&a, at(61), TTL).await.unwrap());
    assert!(!s.release_lease(&a, at(61), true).await.unwrap());
    let state = s.lease_state("export").await.unwrap().unwrap();
    assert_eq!((state.holder.as_str(), state.last_done_at), ("b", None));
    // "b" renews past the first expiry and keeps it.
    assert!(s.renew_lease(&b, at(100), TTL).await.unwrap());
    assert_eq!(
        s.claim_lease("export", "c", at(130), TTL).await.unwrap(),
        None
    );
    // Released, it is free at once.
    assert!(s.release_lease(&b, at(131), false).await.unwrap());
    let c = s
        .claim_lease("export", "c", at(131), TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.generation, b.generation + 1);
}

#[tokio::test]
async fn a_periodic_job_is_due_once_per_period_whoever_claims_it() {
    let db = TestDb::new().await;
    let s = &db.store;
    let every = SignedDuration::from_secs(3600);
    // Never run: due at once.
    let first = s
        .claim_lease_if_due("horizon", "a", at(0), TTL, every)
        .await
        .unwrap()
        .unwrap();
    assert!(s.release_lease(&first, at(5), true).await.unwrap());
    // Another server's timer fires a minute later: not due, nothing claimed.
    assert_eq!(
        s.claim_lease_if_due("horizon", "b", at(65), TTL, every)
            .await
            .unwrap(),
        None
    );
    let state = s.lease_state("horizon").await.unwrap().unwrap();
    assert_eq!(state.last_done_at, Some(at(5)));
    assert_eq!(state.generation, 1, "a refused claim is not a run");
    // A period after the last run finished, it is due again, for any server.
    let second = s
        .claim_lease_if_due("horizon", "b", at(3605), TTL, every)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.generation, 2);
    // A run that died (never released) is not done: due again once its lease expires.
    assert_eq!(
        s.claim_lease_if_due("horizon", "a", at(3606), TTL, every)
            .await
            .unwrap(),
        None
    );
    let third = s
        .claim_lease_if_due("horizon", "a", at(3665), TTL, every)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.generation, 3);
}
