//! A store write never reads its `RETURNING` row in autocommit mode (issue 16, item 1).
//!
//! On SQLite an autocommit `INSERT/UPDATE/DELETE … RETURNING` read through `fetch_one` or
//! `fetch_optional` commits when sqlx resets the statement — after the row was handed back —
//! and sqlx drops the reset's result, so a failed commit (a full disk) reads as success.
//! Such a write must run in a transaction whose `COMMIT` reports the failure. This test
//! reads the store's sources and names any statement of that shape run on the pool.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read the source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_store_write_reads_its_returning_row_outside_a_transaction() {
    let mut files = vec![];
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut offenders = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (start, _) in text.match_indices("sqlx::query") {
            let rest = &text[start..];
            let Some(end) = rest.find(".await") else {
                continue;
            };
            let statement = &rest[..end];
            let writes = ["INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|w| statement.contains(w));
            let on_pool = [".fetch_one(self.pool())", ".fetch_optional(self.pool())"]
                .iter()
                .any(|f| statement.contains(f));
            if writes && on_pool {
                let line = text[..start].lines().count() + 1;
                offenders.push(format!("{}:{line}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "autocommit writes read with fetch_one/fetch_optional: {offenders:?}"
    );
}
