//! Everything a database holds, table by table, as text: a test compares it before and
//! after a request to prove the request changed nothing. Read over a connection of its
//! own, below the store, so no store method (and no access check) decides what it sees.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyPoolOptions;

/// Tables that change on every request whatever it does, and so say nothing about
/// whether a refused request changed clinical data: the audit trail (a refusal is
/// recorded there on purpose), sign-in bookkeeping and rate-limit counters.
pub const BOOKKEEPING: [&str; 7] = [
    "audit_log",
    "audit_head",
    "audit_clients",
    "sign_in_attempts",
    "self_referral_attempts",
    "api_tokens",
    "_sqlx_migrations",
];

/// Each table's rows, rendered as text and sorted, except [`BOOKKEEPING`].
pub async fn contents(url: &str) -> BTreeMap<String, String> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("a connection of its own to the test database");
    let postgres = url.starts_with("postgres");
    let tables: Vec<String> = if postgres {
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
    } else {
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
    }
    .fetch_all(&pool)
    .await
    .expect("list the tables");
    let mut out = BTreeMap::new();
    for table in tables {
        if BOOKKEEPING.contains(&table.as_str()) {
            continue;
        }
        let sql = if postgres {
            format!(
                "SELECT COALESCE(string_agg(t::text, '|' ORDER BY t::text), '') FROM \"{table}\" t"
            )
        } else {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&pool)
                    .await
                    .expect("list the columns");
            let row = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || ',' || ");
            format!(
                "SELECT COALESCE(group_concat(r, '|'), '') FROM \
                 (SELECT {row} AS r FROM \"{table}\" ORDER BY r)"
            )
        };
        let text: String = sqlx::query(&sql)
            .fetch_one(&pool)
            .await
            .and_then(|r| r.try_get(0))
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        out.insert(table, text);
    }
    pool.close().await;
    out
}

/// The tables whose contents differ between two readings.
pub fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    after
        .iter()
        .filter(|(t, v)| before.get(*t) != Some(*v))
        .map(|(t, _)| t.clone())
        .chain(before.keys().filter(|t| !after.contains_key(*t)).cloned())
        .collect()
}
