//! Strong sign-in through the JSON API, on the database `TEST_DATABASE_URL` names (SQLite
//! when unset): TOTP enrolment at a staff account's first sign-in, codes that work once,
//! recovery codes, throttling after repeated failures (moved past with the test clock;
//! other sources from other loopback addresses), and the sign-in log — one row per
//! attempt, never a password, code or email.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::auth::{email_digest, totp_code, totp_code_for_step, totp_step};
use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_store::users::SignInOutcome;
use circle_testkit::{TEST_PASSWORD, TestApp, builders, spawn_app};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DIRECTOR: &str = "director@example.test";
const INTAKE: &str = "intake@example.test";

async fn create(t: &TestApp, email: &str, role: Role) {
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            role,
            None,
            None,
        )
        .await
        .unwrap();
}

fn at(minutes: i64, seconds: i64) -> Timestamp {
    builders::now()
        .checked_add(SignedDuration::from_secs(minutes * 60 + seconds))
        .unwrap()
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// Signs a director in for the first time and completes enrolment; returns the secret and
/// the recovery codes.
async fn enrolled_director(t: &TestApp) -> (String, Vec<String>) {
    create(t, DIRECTOR, Role::Director).await;
    let (s, v) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();
    let code = totp_code(&secret, builders::now()).unwrap();
    let (s, done) = t
        .post_enroll(json!({"enrollment_token": v["enrollment_token"], "totp_code": code}))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let codes = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn outcomes(t: &TestApp) -> Vec<SignInOutcome> {
    t.app
        .sign_in_attempts(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect()
}

fn assert_refused(s: StatusCode, v: &Value) {
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials")),
        "{v}"
    );
}

#[tokio::test]
async fn a_director_enrols_a_second_factor_at_first_sign_in() {
    let t = spawn_app().await;
    create(&t, DIRECTOR, Role::Director).await;

    let (s, v) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "mfa_enrollment_required");
    assert!(v.get("token").is_none(), "no bearer token before enrolment");
    let secret = v["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    assert!(
        v["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Circle:director@example.test?secret=")
    );
    let enrollment_token = v["enrollment_token"].as_str().unwrap().to_owned();

    // A wrong code does not enrol.
    let wrong = if totp_code(secret, builders::now()).unwrap() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (s, p) = t
        .post_enroll(json!({"enrollment_token": enrollment_token, "totp_code": wrong}))
        .await;
    assert_refused(s, &p);

    let code = totp_code(secret, builders::now()).unwrap();
    let (s, done) = t
        .post_enroll(json!({"enrollment_token": enrollment_token, "totp_code": code}))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["role"].as_str()),
        (Some("signed_in"), Some("director"))
    );
    let codes = done["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let token = done["token"].as_str().unwrap();
    assert_eq!(t.get(token, "/api/v1/me").await.0, StatusCode::OK);

    // The enrolment token works once.
    t.clock.set(at(0, 30));
    let code = totp_code(secret, at(0, 30)).unwrap();
    let (s, p) = t
        .post_enroll(json!({"enrollment_token": enrollment_token, "totp_code": code}))
        .await;
    assert_refused(s, &p);
}

#[tokio::test]
async fn an_enrolment_token_expires_after_ten_minutes() {
    let t = spawn_app().await;
    create(&t, DIRECTOR, Role::Director).await;
    let (_, v) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    let secret = v["secret"].as_str().unwrap();
    t.clock.set(at(10, 1));
    let code = totp_code(secret, at(10, 1)).unwrap();
    let (s, p) = t
        .post_enroll(json!({"enrollment_token": v["enrollment_token"], "totp_code": code}))
        .await;
    assert_refused(s, &p);
    // Nothing was enrolled: signing in asks for enrolment again.
    let (s, v) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("mfa_enrollment_required"))
    );
}

#[tokio::test]
async fn once_enrolled_sign_in_needs_a_code_and_each_code_works_once() {
    let t = spawn_app().await;
    let (secret, _) = enrolled_director(&t).await;

    let (s, p) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("mfa_required"))
    );

    // The enrolment code's step is spent: the same code cannot sign in again.
    let enrol_code = totp_code(&secret, builders::now()).unwrap();
    let (s, p) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": enrol_code}))
        .await;
    assert_refused(s, &p);

    t.clock.set(at(1, 0));
    let code = totp_code(&secret, at(1, 0)).unwrap();
    let (s, v) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["role"].as_str()),
        (Some("signed_in"), Some("director"))
    );
    assert!(v["expires_at"].is_string());
    assert_eq!(
        t.get(v["token"].as_str().unwrap(), "/api/v1/me").await.0,
        StatusCode::OK
    );

    // Replayed a few seconds later, within the same step: refused.
    t.clock.set(at(1, 10));
    let (s, p) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}))
        .await;
    assert_refused(s, &p);
    // An earlier step, still within the skew, is refused too once a later one was used.
    let earlier = totp_code_for_step(&secret, totp_step(at(1, 10)) - 1).unwrap();
    let (s, p) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": earlier}))
        .await;
    assert_refused(s, &p);
    // The next step's code (one step of skew) is accepted — a second later, since three
    // refusals in a row slow the next attempt from this address by a second.
    t.clock.set(at(1, 11));
    let next = totp_code_for_step(&secret, totp_step(at(1, 10)) + 1).unwrap();
    let (s, _) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": next}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // Two steps ahead is outside the skew.
    t.clock.set(at(5, 0));
    let far = totp_code_for_step(&secret, totp_step(at(5, 0)) + 2).unwrap();
    let (s, p) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": far}))
        .await;
    assert_refused(s, &p);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_in_place_of_a_totp_code() {
    let t = spawn_app().await;
    let (_, codes) = enrolled_director(&t).await;
    let body = json!({"email": DIRECTOR, "password": TEST_PASSWORD, "recovery_code": codes[3]});
    let (s, v) = t.post_login(body.clone()).await;
    assert_eq!(
        (s, v["role"].as_str()),
        (StatusCode::OK, Some("director")),
        "{v}"
    );
    let (s, p) = t.post_login(body).await;
    assert_refused(s, &p);
    // Typed in capitals without the dash, another code still works.
    let typed = codes[4].replace('-', "").to_uppercase();
    let (s, _) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "recovery_code": typed}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // A made-up one does not.
    let (s, p) = t
        .post_login(
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "recovery_code": "aaaaa-aaaaa"}),
        )
        .await;
    assert_refused(s, &p);
}

#[tokio::test]
async fn every_staff_role_intake_included_enrols_a_second_factor_and_clients_need_none() {
    let t = spawn_app().await;
    create(&t, INTAKE, Role::Intake).await;
    let (s, v) = t.post_login(login_body(INTAKE, TEST_PASSWORD)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["status"].as_str(),
        Some("mfa_enrollment_required"),
        "intake sees every client and Part 2 consents: {v}"
    );
    assert!(v.get("token").is_none());
    let client = builders::client_at(&t.db.store, 1, circle_domain::care::LevelOfCare::Iop).await;
    t.app
        .create_user(
            &Email::parse("member@example.test").unwrap(),
            TEST_PASSWORD,
            Role::Client,
            None,
            Some(client.id),
        )
        .await
        .unwrap();
    let (s, v) = t
        .post_login(login_body("member@example.test", TEST_PASSWORD))
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("signed_in"))
    );
}

const HOME: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 1);
const OFFICE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// A wrong-password attempt from `from` for `email`: its status, problem code and
/// `Retry-After`.
async fn wrong(
    t: &TestApp,
    from: std::net::Ipv4Addr,
    email: &str,
) -> (StatusCode, Option<String>, Option<String>) {
    let (s, v, retry) = t
        .post_login_from(from, login_body(email, "not-the-password-at-all"))
        .await;
    (s, v["code"].as_str().map(str::to_owned), retry)
}

#[tokio::test]
async fn failures_slow_the_address_they_come_from_and_never_lock_the_owner_out() {
    // Issue 13, hole 3: five wrong passwords used to lock the account for fifteen minutes,
    // so anyone who knew a clinician's email could keep them out of their notes.
    let t = spawn_app().await;
    let (secret, _) = enrolled_director(&t).await;
    let unauthorized = (
        StatusCode::UNAUTHORIZED,
        Some("invalid_credentials".to_owned()),
        None,
    );
    // An attacker at HOME: three failures cost nothing…
    for _ in 0..3 {
        assert_eq!(wrong(&t, HOME, DIRECTOR).await, unauthorized);
    }
    // …then each attempt from there waits, and nothing is checked while it does.
    let throttled = |secs: &str| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("throttled".to_owned()),
            Some(secs.to_owned()),
        )
    };
    assert_eq!(wrong(&t, HOME, DIRECTOR).await, throttled("1"));
    // The enrolment spent the current step: the owner's app shows the next one.
    let code = totp_code_for_step(&secret, totp_step(t.app.now()) + 1).unwrap();
    let (s, _, _) = t
        .post_login_from(
            HOME,
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "not even the right password is checked"
    );
    // The owner, at the office, signs in at once with the right password and code.
    let (s, v, _) = t
        .post_login_from(
            OFFICE,
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Each further failure from HOME doubles the wait: 1 s, then 2 s, then 4 s.
    t.clock.set(at(0, 1));
    assert_eq!(wrong(&t, HOME, DIRECTOR).await, unauthorized);
    assert_eq!(wrong(&t, HOME, DIRECTOR).await, throttled("2"));
    t.clock.set(at(0, 3));
    assert_eq!(wrong(&t, HOME, DIRECTOR).await, unauthorized);
    assert_eq!(wrong(&t, HOME, DIRECTOR).await, throttled("4"));
    // Every attempt is logged, throttled ones too, and none of them locked anything.
    use SignInOutcome::*;
    let log = outcomes(&t).await;
    assert_eq!(
        log.iter().filter(|o| **o == Throttled).count(),
        4,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|o| **o == BadPassword).count(),
        5,
        "{log:?}"
    );
    assert!(!log.contains(&Locked));
    // An hour on, the failures no longer count.
    t.clock.set(at(61, 0));
    let code = totp_code(&secret, at(61, 0)).unwrap();
    let (s, v, _) = t
        .post_login_from(
            HOME,
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn an_unknown_email_is_slowed_exactly_like_a_known_one() {
    let t = spawn_app().await;
    create(&t, DIRECTOR, Role::Director).await;
    for _ in 0..3 {
        wrong(&t, HOME, DIRECTOR).await;
        wrong(&t, HOME, "nobody@example.test").await;
    }
    assert_eq!(
        wrong(&t, HOME, DIRECTOR).await,
        wrong(&t, HOME, "nobody@example.test").await,
        "the delay says nothing about whether an account exists"
    );
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_slowed_for_all_of_them() {
    let t = spawn_app().await;
    create(&t, DIRECTOR, Role::Director).await;
    // Twenty different (unknown) accounts, two tries each, from one address.
    for n in 0..10 {
        for _ in 0..2 {
            let (s, _, _) = wrong(&t, HOME, &format!("guess{n}@example.test")).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
    }
    // A first try at a real account from there now waits too; from elsewhere it does not.
    let (s, code, retry) = wrong(&t, HOME, DIRECTOR).await;
    assert_eq!(
        (s, code.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("throttled"))
    );
    assert_eq!(retry.as_deref(), Some("1"));
    let (s, _, _) = t
        .post_login_from(OFFICE, login_body(DIRECTOR, TEST_PASSWORD))
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn failures_for_one_account_from_many_addresses_slow_new_addresses_not_the_owners() {
    let t = spawn_app().await;
    let (secret, _) = enrolled_director(&t).await;
    // The owner signed in from HOME (enrolment above): a known address.
    // Ten attackers, one failure each.
    for n in 10..20 {
        let (s, _, _) = wrong(&t, std::net::Ipv4Addr::new(127, 0, 1, n), DIRECTOR).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // An eleventh new address waits…
    let (s, _, _) = wrong(&t, std::net::Ipv4Addr::new(127, 0, 1, 30), DIRECTOR).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // …but the owner, from where they signed in before, is not slowed at all.
    let code = totp_code_for_step(&secret, totp_step(t.app.now()) + 1).unwrap();
    let (s, v, _) = t
        .post_login_from(
            HOME,
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn every_attempt_is_logged_once_with_its_outcome_and_never_a_secret() {
    let t = spawn_app().await;
    create(&t, DIRECTOR, Role::Director).await;
    let mut secrets: Vec<String> = vec![TEST_PASSWORD.to_owned(), "wrong-password-here".to_owned()];

    // 1. unknown email (mixed case: hashed lower-cased)
    let (s, _) = t
        .post_login(login_body("Nobody@Example.test", TEST_PASSWORD))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // 2. wrong password
    t.post_login(login_body(DIRECTOR, "wrong-password-here"))
        .await;
    // 3. enrolment required
    let (_, v) = t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    let secret = v["secret"].as_str().unwrap().to_owned();
    secrets.push(secret.clone());
    // 4. enrolment with a wrong code
    let good = totp_code(&secret, builders::now()).unwrap();
    let bad = if good == "000000" { "111111" } else { "000000" };
    t.post_enroll(json!({"enrollment_token": v["enrollment_token"], "totp_code": bad}))
        .await;
    // 5. enrolment done
    let (_, done) = t
        .post_enroll(json!({"enrollment_token": v["enrollment_token"], "totp_code": good}))
        .await;
    secrets.push(good.clone());
    let recovery: Vec<String> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    // 6. an enrolment token that is spent
    t.post_enroll(json!({"enrollment_token": v["enrollment_token"], "totp_code": good}))
        .await;
    // 7. second factor missing
    t.post_login(login_body(DIRECTOR, TEST_PASSWORD)).await;
    // 8. replayed code
    t.post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": good}))
        .await;
    // 9. a fresh code
    t.clock.set(at(0, 30));
    let fresh = totp_code(&secret, at(0, 30)).unwrap();
    secrets.push(fresh.clone());
    let (s, _) = t
        .post_login(json!({"email": DIRECTOR, "password": TEST_PASSWORD, "totp_code": fresh}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // 10. a recovery code
    secrets.push(recovery[0].clone());
    let (s, _) = t
        .post_login(
            json!({"email": DIRECTOR, "password": TEST_PASSWORD, "recovery_code": recovery[0]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // 11. a wrong recovery code
    t.post_login(
        json!({"email": DIRECTOR, "password": TEST_PASSWORD, "recovery_code": "zzzzz-zzzzz"}),
    )
    .await;

    let rows = t.app.sign_in_attempts(1000).await.unwrap();
    use SignInOutcome::*;
    assert_eq!(
        rows.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [
            UnknownEmail,
            BadPassword,
            MfaEnrollmentRequired,
            BadMfaCode,
            MfaEnrolled,
            BadEnrollmentToken,
            MfaRequired,
            MfaCodeReplayed,
            Success,
            SuccessRecoveryCode,
            BadMfaCode,
        ]
    );
    let director_id = rows[1].user_id;
    assert!(director_id.is_some());
    let director_hash = email_digest(DIRECTOR);
    for (i, r) in rows.iter().enumerate() {
        // Times are the test clock's, in UTC.
        assert!(r.attempted_at == builders::now() || r.attempted_at == at(0, 30));
        assert_eq!(r.source_ip.as_deref(), Some("127.0.0.1"), "row {i}");
        match i {
            0 => {
                assert_eq!(r.user_id, None);
                assert_eq!(
                    r.email_hash.as_deref(),
                    Some(email_digest("nobody@example.test").as_str())
                );
            }
            5 => assert_eq!((r.user_id, r.email_hash.as_deref()), (None, None)),
            _ => {
                assert_eq!(r.user_id, director_id, "row {i}");
                assert_eq!(
                    r.email_hash.as_deref(),
                    Some(director_hash.as_str()),
                    "row {i}"
                );
            }
        }
        let columns = [
            r.attempted_at.to_string(),
            r.user_id.map(|u| u.0.to_string()).unwrap_or_default(),
            r.email_hash.clone().unwrap_or_default(),
            r.outcome.as_str().to_owned(),
            r.source_ip.clone().unwrap_or_default(),
        ];
        for column in columns {
            for s in &secrets {
                assert!(!column.contains(s.as_str()), "row {i} holds a secret");
            }
            assert!(
                !column.to_lowercase().contains("example.test"),
                "row {i} holds an email"
            );
        }
    }
}
