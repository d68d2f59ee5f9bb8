//! Rows are typed structs at the store's edge (issue 13): every select reads into a
//! `#[derive(sqlx::FromRow)]` struct of the portable types sqlx's `Any` driver decodes
//! (`i64`, `String`, `Option`), then parses into domain types. On the database
//! `TEST_DATABASE_URL` names (run it on both).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_store::{Backend, OpenMode, Store, StoreError};
use circle_testkit::TestDb;
use jiff::{SignedDuration, Timestamp};

/// The shapes of the store's selects that are not plain columns, as the store reads them:
/// PostgreSQL answers `COUNT(*)` as BIGINT, a `CASE` of literals as INTEGER and `MAX` of an
/// empty table as NULL; SQLite answers integers of one kind. Each must decode as the row
/// structs' field types on both.
#[derive(Debug, sqlx::FromRow)]
struct Shapes {
    n: i64,
    flag: i64,
    cast_flag: i64,
    cadence: i64,
    top: Option<i64>,
    last: Option<String>,
    mac: String,
}

#[tokio::test]
async fn the_computed_columns_the_store_selects_decode_as_its_row_types() {
    let db = TestDb::new().await;
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let got = sqlx::query_as::<_, Shapes>(
        "SELECT (SELECT COUNT(*) FROM audit_log) AS n, \
         CASE WHEN 1 = 1 THEN 1 ELSE 0 END AS flag, \
         CAST(CASE WHEN 1 = 0 THEN 1 ELSE 0 END AS BIGINT) AS cast_flag, \
         COALESCE((SELECT p.measure_cadence_days FROM programs p WHERE p.id = -1), 14) AS cadence, \
         (SELECT MAX(seq) FROM audit_log) AS top, \
         (SELECT MAX(administered_at) FROM measure_responses) AS last, \
         h.mac FROM audit_head h WHERE h.id = 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (
            got.n,
            got.flag,
            got.cast_flag,
            got.cadence,
            got.top,
            got.last
        ),
        (0, 1, 0, 14, None, None)
    );
    assert!(!got.mac.is_empty());
    pool.close().await;
}

async fn execute(db: &TestDb, sql: &str) {
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_bad_instant_and_a_column_of_another_type_are_corrupt_by_their_column_name() {
    let db = TestDb::new().await;
    let at: Timestamp = "2026-05-04T10:00:00Z".parse().unwrap();
    db.store
        .claim_lease("nightly", "server-a", at, SignedDuration::from_mins(5))
        .await
        .unwrap()
        .unwrap();
    let state = db.store.lease_state("nightly").await.unwrap().unwrap();
    assert_eq!((state.holder.as_str(), state.generation), ("server-a", 1));

    // Decoded, but not an instant: the conversion names its column, never the value.
    execute(&db, "UPDATE job_leases SET expires_at = 'after lunch'").await;
    let err = db.store.lease_state("nightly").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt("expires_at")), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("lunch"), "{err:?}");
    // Put right, the row reads again.
    execute(
        &db,
        "UPDATE job_leases SET expires_at = '2026-05-04T10:05:00Z'",
    )
    .await;
    let state = db.store.lease_state("nightly").await.unwrap().unwrap();
    assert_eq!(
        state.expires_at,
        "2026-05-04T10:05:00Z".parse::<Timestamp>().unwrap()
    );

    // A value the row struct cannot decode (text where an integer belongs) is reported by
    // its column as well. PostgreSQL needs the column's type changed to hold it; a fresh
    // store reads it (the first one's connections keep plans of the old type).
    if db.backend() == Backend::Postgres {
        execute(
            &db,
            "ALTER TABLE job_leases ALTER COLUMN generation TYPE TEXT USING generation::text",
        )
        .await;
    }
    execute(&db, "UPDATE job_leases SET generation = 'seventeen'").await;
    let fresh = Store::connect(&db.url, OpenMode::MustExist).await.unwrap();
    let err = fresh.lease_state("nightly").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt("generation")), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("seventeen"), "{err:?}");
}
