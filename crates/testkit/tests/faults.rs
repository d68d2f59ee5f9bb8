//! Faults from outside (issue 16): a full disk under SQLite, and NUL and other control
//! characters in JSON bodies and paths, on the database `TEST_DATABASE_URL` names.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::io::Write;

use circle_domain::user::Role;
use circle_testkit::{TestApp, TestDb, spawn_app, spawn_app_on};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn director(t: &TestApp, email: &str) -> String {
    t.token_for(email, Role::Director, None, None).await
}

async fn names(t: &TestApp, token: &str, list: &str) -> Vec<String> {
    let mut names = vec![];
    let mut after = 0;
    loop {
        let (s, page) = t
            .get(token, &format!("{list}?limit=200&after={after}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for r in page["items"].as_array().unwrap() {
            names.push(r["name"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => return names,
        }
    }
}

/// A small tmpfs mounted for one test; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it and needs root (or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    /// Writes a filler file until the filesystem is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }

    fn filler(&self) -> std::path::PathBuf {
        self.dir.path().join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn sqlite_on_a_full_disk_loses_no_acknowledged_write_and_recovers_when_space_returns() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        // A test cannot fill the disk of a shared PostgreSQL server; the storage-error
        // mapping of SQLSTATE class 53/58 is shared code with the SQLite path tested here.
        eprintln!("disk-full test: SQLite only (PostgreSQL's disk cannot be filled from a test)");
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("FAULTS_LOG").unwrap_or("warn".into()))
        .with_test_writer()
        .try_init();
    let disk = SmallDisk::mount("16m");
    let path = disk.dir.path().join("circle.db");
    let t = spawn_app_on(TestDb::sqlite_at(&path).await).await;
    let token = director(&t, "director@example.test").await;
    let mut acknowledged = vec![];
    let mut n = 0;
    let write = async |t: &TestApp, n: &mut u32, acknowledged: &mut Vec<String>| {
        *n += 1;
        let name = format!("Record {n}");
        let (s, body) = if n.is_multiple_of(2) {
            t.post(
                &token,
                "/api/v1/rooms",
                json!({"site": "Riverside", "name": name, "capacity": 8}),
            )
            .await
        } else {
            t.post(
                &token,
                "/api/v1/programs",
                json!({"name": name, "site": "Riverside",
                    "level_of_care": "iop", "time_zone": "America/New_York"}),
            )
            .await
        };
        if s.is_success() {
            acknowledged.push(name);
        } else {
            // Never a 500: a storage error says what it is, and never with driver text.
            assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["code"], "storage_full", "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains("disk full"),
                "{body}"
            );
        }
        s
    };
    for _ in 0..5 {
        assert!(write(&t, &mut n, &mut acknowledged).await.is_success());
    }
    // A client read between the writes: a read answers with the data only once its audit
    // entry is committed (group commit), so every read shown is in the trail after restart.
    let (s, client) = t
        .post(
            &token,
            "/api/v1/clients",
            json!({"record_number": "DF-1", "given_name": "Disk", "family_name": "Fullcase",
                "date_of_birth": "1990-02-03", "referral_source": "program_admission"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let client = client["id"].as_i64().unwrap();
    let mut reads_shown = 0;
    let read = async |t: &TestApp, shown: &mut usize| {
        let (s, body) = t.get(&token, &format!("/api/v1/clients/{client}")).await;
        if s.is_success() {
            *shown += 1;
        } else {
            assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["code"], "storage_full", "{body}");
            assert!(body.get("given_name").is_none(), "{body}");
        }
    };
    for _ in 0..3 {
        read(&t, &mut reads_shown).await;
    }

    disk.fill();
    // SQLite reuses the space its WAL already holds, so writes go on for a while; keep
    // writing well past the first refusals.
    let mut refused = 0;
    for i in 0..3000 {
        if i % 10 == 0 {
            read(&t, &mut reads_shown).await;
        }
        if !write(&t, &mut n, &mut acknowledged).await.is_success() {
            refused += 1;
            read(&t, &mut reads_shown).await;
            if refused == 30 {
                break;
            }
        }
    }
    assert!(refused > 0, "a full disk refused no write");
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["code"], "storage_full", "{ready}");

    // Space returns: the server recovers by itself, without a restart.
    disk.free();
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    for _ in 0..20 {
        assert!(write(&t, &mut n, &mut acknowledged).await.is_success());
    }
    let before = reads_shown;
    read(&t, &mut reads_shown).await;
    assert_eq!(reads_shown, before + 1, "a read after space returned");

    // Restart: every acknowledged write is on disk.
    t.db.store.close().await;
    drop(t);
    let t = spawn_app_on(TestDb::sqlite_at(&path).await).await;
    let token = director(&t, "director-after@example.test").await;
    let mut stored = names(&t, &token, "/api/v1/rooms").await;
    stored.extend(names(&t, &token, "/api/v1/programs").await);
    // Every read that answered with the client is in the trail, and no refused one.
    let admin = t
        .token_for("admin-after@example.test", Role::Admin, None, None)
        .await;
    let mut audited = 0;
    loop {
        let (s, page) = t
            .get(
                &admin,
                &format!(
                    "/api/v1/audit?action=client.read&client_id={client}&sort=seq&limit=500&offset={audited}"
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let got = page.as_array().unwrap().len();
        audited += got;
        if got < 500 {
            break;
        }
    }
    assert_eq!(audited, reads_shown, "reads shown and their audit entries");
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !stored.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged but lost, {} kept, first {:?} last {:?}",
        lost.len(),
        stored.len(),
        lost.first(),
        lost.last()
    );
    let (s, _) = t
        .post(
            &token,
            "/api/v1/rooms",
            json!({"site": "Riverside", "name": "After restart", "capacity": 8}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    t.db.store.close().await;
}

/// What a director sees of the clinic's records, to show a refused request changed nothing.
async fn snapshot(t: &TestApp, token: &str) -> Vec<Value> {
    let mut all = vec![];
    for path in [
        "/api/v1/programs",
        "/api/v1/rooms",
        "/api/v1/clinicians",
        "/api/v1/clients",
        "/api/v1/groups",
        "/api/v1/users",
        "/api/v1/referrals",
    ] {
        let (_, body) = t.get(token, path).await;
        all.push(body);
    }
    all
}

#[tokio::test]
async fn a_nul_in_any_json_string_of_every_post_put_and_patch_route_is_422_naming_the_field() {
    let t = spawn_app().await;
    let token = director(&t, "director@example.test").await;
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = snapshot(&t, &token).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch"] {
            let Some(op) = item.get(method) else { continue };
            if op.get("requestBody").is_none() {
                continue;
            }
            // Every path parameter is given a well-formed value; the body is refused first.
            let mut url = String::new();
            for part in path.split('/') {
                if !url.is_empty() || !part.is_empty() {
                    url.push('/');
                }
                url.push_str(if part.starts_with('{') { "1" } else { part });
            }
            for (body, field) in [
                (json!({"name": "a\u{0}b"}), "name"),
                (
                    json!({"items": [{"answer": "ok"}, {"answer": "a\u{1b}[2J"}]}),
                    "items/1/answer",
                ),
            ] {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let (s, problem) = t.send(m, &token, &url, body).await;
                assert_eq!(
                    s,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{method} {path}: {problem}"
                );
                assert_eq!(problem["errors"][0]["field"], field, "{method} {path}");
                assert!(!problem.to_string().contains("a\\u0000b"));
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} routes take a body?");
    assert_eq!(
        snapshot(&t, &token).await,
        before,
        "a refused request changed data"
    );
}

#[tokio::test]
async fn control_characters_in_free_text_other_than_tab_and_line_breaks_are_refused() {
    let t = spawn_app().await;
    let token = director(&t, "director@example.test").await;
    let (s, _) = t
        .post(
            &token,
            "/api/v1/rooms",
            json!({"site": "Riverside", "name": "Room\u{7}", "capacity": 8}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, problem) = t
        .post(
            &token,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside\u{85}",
                "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "site");
}

#[tokio::test]
async fn a_nul_in_a_path_segment_or_query_is_422_naming_it() {
    let t = spawn_app().await;
    let token = director(&t, "director@example.test").await;
    let (s, problem) = t.get(&token, "/api/v1/instruments/a%00b").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "code");
    let (s, problem) = t.get(&token, "/api/v1/rooms?after=1%00").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "after");
}

#[tokio::test]
async fn a_nul_or_control_character_in_a_page_form_is_422_naming_the_field_and_changes_nothing() {
    let t = spawn_app().await;
    let admin = t
        .token_for(
            "admin@example.test",
            circle_domain::user::Role::Admin,
            None,
            None,
        )
        .await;
    let lead = t
        .token_for(
            "lead@example.test",
            circle_domain::user::Role::Intake,
            None,
            None,
        )
        .await;
    let (_, me) = t.get(&lead, "/api/v1/me").await;
    let id = me["id"].as_i64().unwrap();
    let csrf = circle_app::web_session::csrf_token(&admin);
    let path = format!("/admin/users/{id}/disable");
    for (field, value) in [("reason", "a\u{0}b"), ("note", "bell\u{7}")] {
        let r = t
            .page_form(&admin, &path, &[("csrf", &csrf), (field, value)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(r.body.contains(&format!("“{field}”")), "{}", r.body);
        assert!(r.body.contains("control characters"));
    }
    // Nothing changed: the account still works; the same form without it goes through.
    assert_eq!(t.get(&lead, "/api/v1/me").await.0, StatusCode::OK);
    let r = t
        .page_form(
            &admin,
            &path,
            &[("csrf", &csrf), ("reason", "tab\tand\nline")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(t.get(&lead, "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn postgres_refusing_writes_answers_503_loses_nothing_acknowledged_and_recovers() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        // SQLite's storage errors are the full disk above; this is PostgreSQL's.
        eprintln!("read-only database test: PostgreSQL only (SQLite's is the full-disk test)");
        return;
    };
    if base.is_empty() {
        return;
    }
    let t = spawn_app().await;
    let name =
        t.db.url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
    let admin = circle_store::Store::connect(
        &circle_testkit::with_database(&base, "postgres"),
        circle_store::OpenMode::MustExist,
    )
    .await
    .unwrap();
    // The database stops taking writes (as a standby does after a failover, or an operator
    // setting it read-only); sessions open on it pick that up when they reconnect.
    let read_only = async |on: bool| {
        let set = if on {
            "SET default_transaction_read_only = on"
        } else {
            "RESET default_transaction_read_only"
        };
        admin
            .execute_admin(&format!("ALTER DATABASE {name} {set}"))
            .await
            .unwrap();
        admin
            .execute_admin(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap();
    };
    let token = director(&t, "director@example.test").await;
    let mut acknowledged = vec![];
    let room = |n: u32| json!({"site": "Riverside", "name": format!("Room {n}"), "capacity": 8});
    for n in 0..5 {
        let (s, body) = t.post(&token, "/api/v1/rooms", room(n)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        acknowledged.push(format!("Room {n}"));
    }

    read_only(true).await;
    let mut refused = 0;
    for n in 5..25 {
        let (s, body) = t.post(&token, "/api/v1/rooms", room(n)).await;
        if s.is_success() {
            acknowledged.push(format!("Room {n}"));
            continue;
        }
        // Never a bare 500: the refusal says the database cannot write, without driver text.
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "storage_unavailable", "{body}");
        assert!(
            !body.to_string().contains("read-only"),
            "driver text: {body}"
        );
        refused += 1;
    }
    assert_eq!(refused, 20, "a read-only database took writes");
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Writes come back: the server recovers by itself, without a restart.
    read_only(false).await;
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    for n in 25..30 {
        let (s, body) = t.post(&token, "/api/v1/rooms", room(n)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        acknowledged.push(format!("Room {n}"));
    }
    let stored = names(&t, &token, "/api/v1/rooms").await;
    for name in &acknowledged {
        assert!(
            stored.contains(name),
            "{name} was acknowledged but is not stored"
        );
    }
    assert_eq!(
        stored.iter().filter(|n| n.starts_with("Room ")).count(),
        acknowledged.len(),
        "a refused write was stored"
    );
    admin.close().await;
}
