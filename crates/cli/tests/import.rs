//! `circle export-csv` and `circle import` (issue 15): the demo clinic written out as the
//! import's CSV files, imported into an empty database (dry run first, then for real,
//! then again), and written out again — the same files. On SQLite, or on PostgreSQL with
//! `TEST_DATABASE_URL`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, fresh_db};

fn circle(args: &[&str], keys: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--key-file")
        .arg(keys.join("circle.key"))
        .arg("--audit-key-file")
        .arg(keys.join("circle-audit.key"))
        .env_remove("CIRCLE_MASTER_KEY")
        .env_remove("CIRCLE_AUDIT_KEY")
        .env_remove("CIRCLE_AUDIT_WITNESS_DIR")
        .env("CIRCLE_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// A file's lines, sorted (rows are compared as sets: the second database numbers its
/// episodes in the order it imported them).
fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_makes_a_round_trip_through_the_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _source_db) = fresh_db(&dir, "source.db").await;
    let (target, _target_db) = fresh_db(&dir, "target.db").await;
    let keys = dir.path();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    let dry = dir.path().join("after-dry-run");

    ok(circle(&["demo", "--db", &source], keys));
    ok(circle(
        &[
            "export-csv",
            "--db",
            &source,
            "--dir",
            first.to_str().unwrap(),
        ],
        keys,
    ));
    ok(circle(&["migrate", "--db", &target], keys));

    let out = ok(circle(
        &[
            "import",
            "--db",
            &target,
            "--dir",
            first.to_str().unwrap(),
            "--dry-run",
        ],
        keys,
    ));
    assert!(out.starts_with("Dry run: no problems;"), "{out}");
    ok(circle(
        &[
            "export-csv",
            "--db",
            &target,
            "--dir",
            dry.to_str().unwrap(),
        ],
        keys,
    ));
    for f in [
        "clinicians.csv",
        "groups.csv",
        "clients.csv",
        "memberships.csv",
    ] {
        assert_eq!(
            lines(&dry.join(f)).len(),
            2,
            "a dry run wrote rows of {f} (only the header and the last line end are expected)"
        );
    }

    let out = ok(circle(
        &["import", "--db", &target, "--dir", first.to_str().unwrap()],
        keys,
    ));
    assert!(out.starts_with("Imported:"), "{out}");
    assert!(out.contains("groups: 16 created"), "{out}");
    let again = ok(circle(
        &["import", "--db", &target, "--dir", first.to_str().unwrap()],
        keys,
    ));
    assert!(again.starts_with("Nothing to import"), "{again}");
    assert!(again.contains("memberships: 0 created"), "{again}");

    ok(circle(
        &[
            "export-csv",
            "--db",
            &target,
            "--dir",
            second.to_str().unwrap(),
        ],
        keys,
    ));
    for f in circle_app::import::FILES {
        let (a, b) = (lines(&first.join(f)), lines(&second.join(f)));
        assert!(a.len() > 2, "the demo clinic has rows in {f}");
        assert_eq!(a, b, "{f} differs after the round trip");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_a_bad_row_exits_1_naming_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _db) = fresh_db(&dir, "target.db").await;
    let keys = dir.path();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("rooms.csv"),
        "external_id,site,name,capacity\r\nR1,Main,Room 1,10\r\nR2,Main,Room 2,many\r\n",
    )
    .unwrap();
    ok(circle(&["migrate", "--db", &target], keys));
    for key in ["circle.key", "circle-audit.key"] {
        let path = keys.join(key);
        let made = Command::new(BIN)
            .args(["keys", "keygen", "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(made.status.success());
    }
    let out = circle(
        &["import", "--db", &target, "--dir", files.to_str().unwrap()],
        keys,
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("rooms.csv row 3, column capacity: must be a whole number"),
        "{text}"
    );
}
