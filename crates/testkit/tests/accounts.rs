//! Account security through the JSON API, on the database `TEST_DATABASE_URL` names
//! (SQLite when unset): common passwords refused, the administrators' account management
//! (disable ends sessions at once, the last administrator stays, second-factor and password
//! resets), a user's own password change ending their other sessions, TOTP secrets sealed
//! at rest (legacy plain ones still read, then sealed), and HTTPS with HSTS.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::auth::totp_code_for_step;
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, builders, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@example.test";
const DIRECTOR: &str = "director@example.test";
const INTAKE: &str = "intake@example.test";
const NEW_PASSWORD: &str = "amber lantern orchard violin";

async fn admin(t: &TestApp) -> String {
    t.token_for(ADMIN, Role::Admin, None, None).await
}

async fn user_id(t: &TestApp, admin: &str, email: &str) -> i64 {
    let (s, list) = t.get(admin, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} is listed"))["id"]
        .as_i64()
        .unwrap()
}

async fn patch(t: &TestApp, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
    t.send(Method::PATCH, token, &format!("/api/v1/users/{id}"), body)
        .await
}

/// The audit entries with this action, newest first (read as the administrator).
async fn audited(t: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let (s, v) = t
        .get(admin, &format!("/api/v1/audit?action={action}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

fn field_error(v: &Value) -> (&str, &str) {
    (
        v["errors"][0]["field"].as_str().unwrap_or(""),
        v["errors"][0]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn a_common_password_is_refused_naming_the_field_and_never_echoing_it() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    for weak in [
        "password1234",
        "qwertyuiop123",
        "iloveyou2026!",
        "1234567890123",
        "newuser@example.test",
    ] {
        let (s, v) = t
            .post(
                &adm,
                "/api/v1/users",
                json!({"email": "newuser@example.test", "role": "intake", "password": weak}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {v}");
        let (field, message) = field_error(&v);
        assert_eq!(field, "password");
        assert!(message.contains("too common"), "{message}");
        assert!(
            !v.to_string().contains(weak),
            "the password is never echoed"
        );
    }
    // Nothing was created.
    let (_, list) = t.get(&adm, "/api/v1/users").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // The same rule for a password change and an administrator's reset.
    let intake = t.token_for(INTAKE, Role::Intake, None, None).await;
    let (s, v) = t
        .post(
            &intake,
            "/api/v1/me/password",
            json!({"current_password": TEST_PASSWORD, "new_password": "password1234"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field_error(&v).0, "new_password");
    let id = user_id(&t, &adm, INTAKE).await;
    let (s, v) = t
        .post(
            &adm,
            &format!("/api/v1/users/{id}/password"),
            json!({"password": "letmein123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field_error(&v).0, "password");
    // The old password still signs in: nothing changed.
    assert!(t.login(INTAKE, TEST_PASSWORD).await.is_some());
}

#[tokio::test]
async fn an_admin_creates_and_lists_accounts_without_secrets_and_both_are_audited() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let (s, created) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "Front.Desk@Example.test", "role": "intake", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["email"], "front.desk@example.test",
        "stored lower-cased"
    );
    assert_eq!(created["role"], "intake");
    assert_eq!(created["mfa_enrolled"], false);
    assert_eq!(created["disabled"], false);
    // The new account signs in with its initial password.
    assert!(
        t.login("front.desk@example.test", NEW_PASSWORD)
            .await
            .is_some()
    );

    // A duplicate email and a client account without its client are refused.
    let (s, _) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "front.desk@example.test", "role": "intake", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "c@example.test", "role": "client", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_error(&v).0, "client_id");
    let (s, v) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "d@example.test", "role": "clinician", "password": NEW_PASSWORD, "clinician_id": 999_999}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a missing clinician is 422, not 500"
    );
    assert_eq!(field_error(&v).0, "clinician_id");

    let (s, list) = t.get(&adm, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let me = list.iter().find(|u| u["email"] == ADMIN).unwrap();
    assert_eq!(
        me["mfa_enrolled"], true,
        "the admin enrolled at first sign-in"
    );
    for u in list {
        let mut keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "client_id",
                "clinic_wide",
                "clinician_id",
                "disabled",
                "email",
                "id",
                "mfa_enrolled",
                "role"
            ]
        );
    }
    let text = serde_json::to_string(list).unwrap();
    assert!(!text.contains("argon2") && !text.contains(NEW_PASSWORD));

    let creates = audited(&t, &adm, "user.create").await;
    assert_eq!(
        creates.len(),
        1,
        "only the successful creation: {creates:?}"
    );
    assert_eq!(creates[0]["object_id"], format!("user:{}", created["id"]));
    assert_eq!(creates[0]["category"], "account");
    assert_eq!(creates[0]["actor_role"], "admin");
    assert!(!audited(&t, &adm, "user.list").await.is_empty());
}

#[tokio::test]
async fn disabling_a_user_revokes_their_live_token_and_refuses_their_sign_in() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let intake = t.token_for(INTAKE, Role::Intake, None, None).await;
    assert_eq!(t.get(&intake, "/api/v1/me").await.0, StatusCode::OK);
    let id = user_id(&t, &adm, INTAKE).await;

    let (s, v) = patch(&t, &adm, id, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    assert_eq!(
        t.get(&intake, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the live token ends at once"
    );
    let (s, v) = t
        .post_login(json!({"email": INTAKE, "password": TEST_PASSWORD}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    // The token is gone from the server, not merely refused: re-enabling does not revive it.
    let (s, _) = patch(&t, &adm, id, json!({"disabled": false})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.get(&intake, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        t.login(INTAKE, TEST_PASSWORD).await.is_some(),
        "enabled again"
    );

    let disables = audited(&t, &adm, "user.disable").await;
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0]["object_id"], format!("user:{id}"));
    assert_eq!(disables[0]["outcome"], "success");
    assert_eq!(audited(&t, &adm, "user.enable").await.len(), 1);

    // Not an administrator: refused, and the refusal is on record.
    let intake = t.login(INTAKE, TEST_PASSWORD).await.unwrap();
    let (s, _) = patch(&t, &intake, id, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let denied: Vec<Value> = audited(&t, &adm, "user.disable")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_disabled_or_demoted_nor_an_admin_disable_themself() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let me = user_id(&t, &adm, ADMIN).await;
    let (s, v) = patch(&t, &adm, me, json!({"disabled": true})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("self_disable")),
        "{v}"
    );
    let (s, v) = patch(&t, &adm, me, json!({"role": "director"})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_admin")),
        "{v}"
    );
    // Nor does an administrator reset their own password or second factor here: that
    // would skip the current-password proof of a user's own change.
    for path in [
        format!("/api/v1/users/{me}/password"),
        format!("/api/v1/users/{me}/mfa-reset"),
    ] {
        let (s, v) = t.post(&adm, &path, json!({"password": NEW_PASSWORD})).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("own_account")),
            "{path}: {v}"
        );
    }
    assert_eq!(
        t.get(&adm, "/api/v1/me").await.0,
        StatusCode::OK,
        "still signed in"
    );

    // With a second administrator, one may step down; then the other is the last.
    let second = t
        .token_for("admin2@example.test", Role::Admin, None, None)
        .await;
    let other = user_id(&t, &adm, "admin2@example.test").await;
    let (s, v) = patch(&t, &adm, other, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        t.get(&second, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = patch(&t, &adm, me, json!({"role": "director"})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_admin")),
        "a disabled admin does not count"
    );
    let (s, _) = patch(&t, &adm, other, json!({"disabled": false})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = patch(&t, &adm, me, json!({"role": "director"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["role"], "director");
    assert_eq!(
        t.get(&adm, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "a role change ends the account's sessions"
    );
    let roles = audited(
        &t,
        &t.login("admin2@example.test", TEST_PASSWORD).await.unwrap(),
        "user.role_change",
    )
    .await;
    assert_eq!(roles.len(), 1, "refused changes change nothing: {roles:?}");

    // A client account stays a client account.
    let adm2 = t.login("admin2@example.test", TEST_PASSWORD).await.unwrap();
    let (s, v) = patch(&t, &adm2, other, json!({"role": "client"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field_error(&v).0, "role");
}

#[tokio::test]
async fn an_mfa_reset_ends_the_sessions_and_forces_enrolment_at_the_next_sign_in() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let dir = t.token_for(DIRECTOR, Role::Director, None, None).await;
    let id = user_id(&t, &adm, DIRECTOR).await;

    let (s, v) = t
        .post(&adm, &format!("/api/v1/users/{id}/mfa-reset"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mfa_enrolled"], false);
    assert_eq!(t.get(&dir, "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);

    // The old authenticator's codes no longer sign in; enrolment starts again.
    let old = t.enrolled(DIRECTOR).unwrap();
    let step = circle_app::auth::totp_step(builders::now());
    let (s, v) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD,
            "totp_code": totp_code_for_step(&old.secret, step + 1).unwrap()}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "mfa_enrollment_required");
    assert!(v.get("token").is_none());
    assert_ne!(v["secret"], old.secret.as_str(), "a new secret");
    // The recovery codes are gone with the secret: none is left to sign in with.
    assert!(!old.recovery_codes.is_empty());
    let pool = sqlx::AnyPool::connect(&t.db.url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(left, 0);

    let resets = audited(&t, &adm, "user.mfa_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["object_id"], format!("user:{id}"));
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_every_other_one() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    t.token_for(INTAKE, Role::Intake, None, None).await;
    let here = t.login(INTAKE, TEST_PASSWORD).await.unwrap();
    let elsewhere = t.login(INTAKE, TEST_PASSWORD).await.unwrap();

    // A wrong current password is refused and changes nothing.
    let (s, v) = t
        .post(
            &here,
            "/api/v1/me/password",
            json!({"current_password": "not-the-password-at-all", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field_error(&v).0, "current_password");
    assert_eq!(t.get(&elsewhere, "/api/v1/me").await.0, StatusCode::OK);
    // The same password again is no change.
    let (s, v) = t
        .post(
            &here,
            "/api/v1/me/password",
            json!({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(field_error(&v).0, "new_password");

    let (s, v) = t
        .post(
            &here,
            "/api/v1/me/password",
            json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        t.get(&here, "/api/v1/me").await.0,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        t.get(&elsewhere, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the other session ended"
    );
    assert!(
        t.login(INTAKE, TEST_PASSWORD).await.is_none(),
        "the old password is gone"
    );
    assert!(t.login(INTAKE, NEW_PASSWORD).await.is_some());

    let changes = audited(&t, &adm, "user.password_change").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["actor_role"], "intake");
}

#[tokio::test]
async fn an_admin_password_reset_ends_the_sessions_and_never_bypasses_the_second_factor() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let dir = t.token_for(DIRECTOR, Role::Director, None, None).await;
    let id = user_id(&t, &adm, DIRECTOR).await;
    let (s, v) = t
        .post(
            &adm,
            &format!("/api/v1/users/{id}/password"),
            json!({"password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(t.get(&dir, "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    // The new password alone is not enough: the TOTP code is still asked for.
    let (s, v) = t
        .post_login(json!({"email": DIRECTOR, "password": NEW_PASSWORD}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("mfa_required"))
    );
    assert!(
        t.login(DIRECTOR, NEW_PASSWORD).await.is_some(),
        "with the code it signs in"
    );
    assert_eq!(audited(&t, &adm, "user.password_reset").await.len(), 1);
    // An unknown account is 404.
    let (s, _) = t
        .post(
            &adm,
            "/api/v1/users/999999/password",
            json!({"password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// The raw stored TOTP secret of an account, read past the store.
async fn stored_secret(t: &TestApp, email: &str) -> Option<String> {
    let pool = sqlx::AnyPool::connect(&t.db.url).await.unwrap();
    let v: Option<String> = sqlx::query_scalar("SELECT totp_secret FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    v
}

#[tokio::test]
async fn totp_secrets_are_sealed_and_a_legacy_plain_secret_still_works_until_sealed() {
    let t = spawn_app().await;
    t.token_for(DIRECTOR, Role::Director, None, None).await;
    let secret = t.enrolled(DIRECTOR).unwrap().secret;
    let stored = stored_secret(&t, DIRECTOR).await.unwrap();
    assert!(stored.starts_with("v1."), "sealed with the vault");
    assert!(!stored.contains(&secret));

    // A secret from before sealing (plain base32) is still read…
    let legacy = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    t.db.store
        .execute_admin(&format!(
            "UPDATE users SET totp_secret = '{legacy}', totp_last_step = NULL WHERE email = '{DIRECTOR}'"
        ))
        .await
        .unwrap();
    let step = circle_app::auth::totp_step(builders::now());
    let (s, v) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD,
            "totp_code": totp_code_for_step(legacy, step).unwrap()}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // …and sealed in place by the start-up pass, after which it still signs in.
    assert_eq!(t.db.store.seal_totp_secrets().await.unwrap(), 1);
    assert_eq!(
        t.db.store.seal_totp_secrets().await.unwrap(),
        0,
        "idempotent"
    );
    let stored = stored_secret(&t, DIRECTOR).await.unwrap();
    assert!(stored.starts_with("v1.") && !stored.contains(legacy));
    let (s, v) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD,
            "totp_code": totp_code_for_step(legacy, step + 1).unwrap()}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // A sealed secret copied to another account's row does not open there.
    t.clinician_token("clin@example.test").await;
    t.db.store
        .execute_admin(&format!(
            "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE email = '{DIRECTOR}') \
             WHERE email = 'clin@example.test'"
        ))
        .await
        .unwrap();
    let (s, _) = t
        .post_login(
            json!({"email": "clin@example.test", "password": TEST_PASSWORD,
            "totp_code": totp_code_for_step(legacy, step + 1).unwrap()}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "an integrity error, never a sign-in"
    );
}

#[tokio::test]
async fn tls_serves_https_with_hsts_and_plain_http_never_sends_it() {
    let t = spawn_app().await;
    // Plain HTTP: no HSTS, on success and on error.
    for path in ["/healthz", "/api/v1/me"] {
        let r = t.http.get(t.url(path)).send().await.unwrap();
        assert!(
            r.headers().get("strict-transport-security").is_none(),
            "{path}"
        );
    }

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    // A key that is not PEM is a clear start-up error.
    let bad = circle_web::Tls::from_pem_files(&cert_path, &cert_path).unwrap_err();
    assert!(bad.to_string().contains("key"), "{bad}");

    let tls = circle_web::Tls::from_pem_files(&cert_path, &key_path).unwrap();
    let server = circle_web::Application::build_with_tls(
        t.app.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some(tls),
    )
    .await
    .unwrap();
    assert!(server.is_tls());
    let port = server.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let https = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/api/v1/me", StatusCode::UNAUTHORIZED),
    ] {
        let r = https
            .get(format!("https://localhost:{port}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
    // Sign-in works over TLS and the source address reaches the sign-in log.
    t.app
        .create_user(
            &circle_domain::text::Email::parse(INTAKE).unwrap(),
            TEST_PASSWORD,
            Role::Intake,
            None,
            None,
        )
        .await
        .unwrap();
    let r = https
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(&json!({"email": INTAKE, "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = t.app.sign_in_attempts(10).await.unwrap();
    assert_eq!(log.last().unwrap().source_ip.as_deref(), Some("127.0.0.1"));
    // Plain HTTP to the TLS port gets no answer.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "no plain HTTP on the TLS port"
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn two_admins_disabling_each_other_at_once_leave_one_enabled_admin() {
    let t = spawn_app().await;
    let a = admin(&t).await;
    let b = t
        .token_for("admin2@example.test", Role::Admin, None, None)
        .await;
    let (ida, idb) = (
        user_id(&t, &a, ADMIN).await,
        user_id(&t, &a, "admin2@example.test").await,
    );
    let ((sa, va), (sb, vb)) = tokio::join!(
        patch(&t, &a, idb, json!({"disabled": true})),
        patch(&t, &b, ida, json!({"disabled": true})),
    );
    let ok = [sa, sb].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one wins: {sa} {va} / {sb} {vb}");
    for (s, v) in [(sa, va), (sb, vb)] {
        assert!(
            s == StatusCode::OK
                || (s == StatusCode::CONFLICT && v["code"] == "last_admin")
                // The loser's own token may already be gone when its request arrives.
                || s == StatusCode::UNAUTHORIZED,
            "{s} {v}"
        );
    }
    let winner = if sa == StatusCode::OK { &a } else { &b };
    let (_, list) = t.get(winner, "/api/v1/users").await;
    let enabled_admins = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["disabled"] == false)
        .count();
    assert_eq!(enabled_admins, 1);
}

/// Hole 4 of the outside attack: a second account bound to a clinician's record read
/// notes and wrote addenda as that clinician. One account per clinician or client record;
/// the link is named in the audit and shown on the admin page.
#[tokio::test]
async fn a_clinician_or_client_record_has_one_account_and_the_link_is_audited() {
    let t = spawn_app().await;
    let adm = admin(&t).await;
    let clinic = t
        .clinic(circle_testkit::clinic::ClinicSpec::default())
        .await;
    // A clinician record and a client record without accounts yet.
    let (s, record) = t
        .post(
            &clinic.director,
            "/api/v1/clinicians",
            json!({"given_name": "Nova", "family_name": "Record", "email": "nova@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{record}");
    let clinician = record["id"].as_i64().unwrap();
    let (s, record) = t
        .post(
            &clinic.director,
            "/api/v1/clients",
            json!({"record_number": "ACC-1", "given_name": "Una", "family_name": "Record",
                "date_of_birth": "1990-01-01", "referral_source": "self_referral"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{record}");
    let client = record["id"].as_i64().unwrap();
    let (s, first) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "lead.account@example.test", "role": "clinician",
                "password": NEW_PASSWORD, "clinician_id": clinician}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, v) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "shadow@example.test", "role": "clinician",
                "password": NEW_PASSWORD, "clinician_id": clinician}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "member.one@example.test", "role": "client",
                "password": NEW_PASSWORD, "client_id": client}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = t
        .post(
            &adm,
            "/api/v1/users",
            json!({"email": "member.shadow@example.test", "role": "client",
                "password": NEW_PASSWORD, "client_id": client}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        t.login("shadow@example.test", NEW_PASSWORD).await.is_none(),
        "no shadow account exists"
    );
    let creates = audited(&t, &adm, "user.create").await;
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert!(
        creates.iter().any(|e| e["client_ids"] == json!([client])),
        "the client account's creation names the client: {creates:?}"
    );
    // The admin page shows which record each account is linked to.
    assert!(
        creates
            .iter()
            .any(|e| e["object_id"] == format!("user:{};clinician:{clinician}", first["id"])),
        "the clinician account's creation names the clinician: {creates:?}"
    );
    let page = t.page(&adm, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = page
        .body
        .split("<tr")
        .find(|r| r.contains("lead.account@example.test"))
        .unwrap();
    assert!(
        row.contains("Nova Record"),
        "the linked record is named: {row}"
    );
}
