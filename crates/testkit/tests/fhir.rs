//! The FHIR R4 API (issue 15) through the real server, on whichever database
//! `TEST_DATABASE_URL` selects: resources and their mapping, searches narrowed by the
//! same gate as the JSON API, paging, OperationOutcome errors, Part 2 labels and the
//! audit of reads. The third-party validators run once, in `.ci/fhir-validate.sh`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// GET a FHIR path; asserts the media type of every answer.
async fn fhir(t: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = t.http.get(t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert!(ct.starts_with("application/fhir+json"), "{path}: {ct}");
    (status, body)
}

fn ids(bundle: &Value) -> Vec<String> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

struct Fixture {
    clinic: Clinic,
    director: String,
    /// A member with a substance-use concern (42 CFR Part 2).
    part2: i64,
    session: i64,
}

/// The test clinic with two members and a Part 2 member, one held session (member 1
/// present, member 2 late for 60 minutes) and a PHQ-9 for member 1.
async fn fixture(t: &TestApp) -> Fixture {
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let (s, c) = t
        .post(
            &clinic.director,
            "/api/v1/clients",
            json!({"record_number": "P2-1", "given_name": "Protected", "family_name": "Member",
                "date_of_birth": "1990-02-03", "referral_source": "self_referral",
                "concerns": ["substance_use"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let part2 = c["id"].as_i64().unwrap();
    for (path, body) in [
        (
            format!("/api/v1/clients/{part2}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        ),
        (
            format!("/api/v1/clients/{part2}/consents/group-agreement"),
            json!({"signed_on": "2026-04-01"}),
        ),
    ] {
        let (s, b) = t.post(&clinic.director, &path, body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    clinic.enroll(t, part2).await;
    let session = clinic.sessions(t, "2026-05-04", "2026-05-05").await[0];
    // After the session (10:00–11:30 New York); tokens idle out, so sign in again.
    t.clock.set("2026-05-04T15:35:00Z".parse().unwrap());
    let director = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    for (member, body) in [
        (clinic.members[0], json!({"status": "present"})),
        (clinic.members[1], json!({"status": "late", "minutes": 60})),
        (part2, json!({"status": "present"})),
    ] {
        let (s, b) = t
            .send(
                Method::PUT,
                &director,
                &format!("/api/v1/sessions/{session}/attendance/{member}"),
                body,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let answers: serde_json::Map<String, Value> =
        (1..=9).map(|i| (i.to_string(), json!(1))).collect();
    let (s, b) = t
        .post(
            &director,
            &format!("/api/v1/clients/{}/measures", clinic.members[0]),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Fixture {
        clinic,
        director,
        part2,
        session,
    }
}

#[tokio::test]
async fn the_capability_statement_is_public_and_names_every_type() {
    let t = spawn_app().await;
    let (s, cs) = fhir(&t, None, "/fhir/r4/metadata").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let types: Vec<&str> = cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in [
        "Patient",
        "Group",
        "Encounter",
        "Observation",
        "EpisodeOfCare",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // Without a token, a resource is refused with an OperationOutcome.
    let (s, oo) = fhir(&t, None, "/fhir/r4/Patient").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["code"], "login");
}

#[tokio::test]
async fn clinical_resources_map_the_clinic_as_interop_md_says() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    let m1 = f.clinic.members[0];
    let m2 = f.clinic.members[1];

    let (s, p) = fhir(&t, Some(dir), &format!("/fhir/r4/Patient/{m1}")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["resourceType"], "Patient");
    assert_eq!(p["identifier"][0]["value"], "C-0001");
    assert_eq!(p["birthDate"], "1984-01-01");
    assert!(p.get("meta").is_none(), "no Part 2 label on {p}");

    // A Part 2 member's resources carry the policy's labels and §2.32's notice.
    let (_, p2) = fhir(&t, Some(dir), &format!("/fhir/r4/Patient/{}", f.part2)).await;
    assert_eq!(p2["meta"]["security"][0]["code"], "42CFRPart2");
    assert!(
        p2["text"]["div"]
            .as_str()
            .unwrap()
            .contains("42 CFR part 2 prohibits unauthorized disclosure")
    );

    let (_, g) = fhir(&t, Some(dir), &format!("/fhir/r4/Group/{}", f.clinic.group)).await;
    assert_eq!(
        (g["type"].as_str(), g["actual"].as_bool()),
        (Some("person"), Some(true))
    );
    assert_eq!(g["quantity"], 3);
    let members: Vec<&str> = g["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entity"]["reference"].as_str().unwrap())
        .collect();
    assert!(members.contains(&format!("Patient/{m1}").as_str()));
    assert_eq!(g["member"][0]["period"]["start"], "2026-05-04");

    let (_, team) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/CareTeam/{}", f.clinic.group),
    )
    .await;
    assert_eq!(
        team["participant"][0]["member"]["reference"],
        format!("Practitioner/{}", f.clinic.lead)
    );

    // The session is one Encounter about the group; each attending member's is part of it.
    let (_, enc) = fhir(&t, Some(dir), &format!("/fhir/r4/Encounter?patient={m2}")).await;
    assert_eq!(ids(&enc), vec![format!("{}.{m2}", f.session)]);
    let e = &enc["entry"][0]["resource"];
    assert_eq!(e["partOf"]["reference"], format!("Encounter/{}", f.session));
    assert_eq!(e["length"]["value"], 60);
    assert_eq!(e["subject"]["reference"], format!("Patient/{m2}"));
    let (_, session) = fhir(&t, Some(dir), &format!("/fhir/r4/Encounter/{}", f.session)).await;
    assert_eq!(
        session["subject"]["reference"],
        format!("Group/{}", f.clinic.group)
    );
    assert_eq!(session["status"], "finished");
    assert_eq!(session["period"]["start"], "2026-05-04T14:00:00Z");
    // The Part 2 member's encounter is labelled too.
    let (_, e2) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/Encounter/{}.{}", f.session, f.part2),
    )
    .await;
    assert_eq!(e2["meta"]["security"][0]["code"], "42CFRPart2");

    // PHQ-9: total Observation (LOINC 44261-6) derived from the response; the panel code
    // (44249-1) on the Questionnaire.
    let (_, obs) = fhir(&t, Some(dir), &format!("/fhir/r4/Observation?patient={m1}")).await;
    let o = &obs["entry"][0]["resource"];
    assert_eq!(o["code"]["coding"][0]["code"], "44261-6");
    assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(o["valueInteger"], 9);
    assert_eq!(o["interpretation"][0]["text"], "mild");
    assert_eq!(o["category"][0]["coding"][0]["code"], "survey");
    assert_eq!(o["component"].as_array().unwrap().len(), 9);
    let qr_ref = o["derivedFrom"][0]["reference"].as_str().unwrap();
    let (s, qr) = fhir(&t, Some(dir), &format!("/fhir/r4/{qr_ref}")).await;
    assert_eq!(s, StatusCode::OK, "{qr}");
    assert_eq!(qr["item"].as_array().unwrap().len(), 9);
    assert_eq!(qr["item"][8]["answer"][0]["valueCoding"]["code"], "1");
    let (_, q) = fhir(&t, Some(dir), "/fhir/r4/Questionnaire/phq9").await;
    assert_eq!(q["code"][0]["code"], "44249-1");
    let (_, q) = fhir(&t, Some(dir), "/fhir/r4/Questionnaire/gad7").await;
    assert_eq!(q["code"][0]["code"], "69737-5");

    let (_, eps) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/EpisodeOfCare?patient={m1}"),
    )
    .await;
    let ep = &eps["entry"][0]["resource"];
    assert_eq!(ep["type"][0]["coding"][0]["code"], "iop");
    assert_eq!(ep["status"], "active");
    assert_eq!(ep["period"]["start"], "2026-04-01");

    let (_, pr) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/Practitioner/{}", f.clinic.lead),
    )
    .await;
    assert_eq!(pr["qualification"][0]["identifier"][0]["value"], "L-100");
    assert_eq!(pr["qualification"][0]["period"]["end"], "2030-01-01");
}

#[tokio::test]
async fn searches_see_what_the_gate_lets_each_caller_see() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let everyone = {
        let mut v: Vec<String> = f.clinic.members.iter().map(i64::to_string).collect();
        v.push(f.part2.to_string());
        v.sort();
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // The director, the lead (their caseload) and intake see the three members.
    let lead = t.login(&f.clinic.lead_email, TEST_PASSWORD).await.unwrap();
    for token in [&f.director, &lead] {
        let (s, b) = fhir(&t, Some(token), "/fhir/r4/Patient").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(sorted(ids(&b)), everyone);
    }
    // A clinician who leads no group sees nobody, and reads nobody's record.
    let other = t.clinician_token("other.clinician@example.test").await;
    let (_, b) = fhir(&t, Some(&other), "/fhir/r4/Patient").await;
    assert_eq!(b["total"], 0);
    let m1 = f.clinic.members[0];
    for path in [
        format!("/fhir/r4/Patient/{m1}"),
        format!("/fhir/r4/Observation?patient={m1}"),
        format!("/fhir/r4/Encounter/{}.{m1}", f.session),
        format!("/fhir/r4/Encounter/{}", f.session),
    ] {
        let (s, oo) = fhir(&t, Some(&other), &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {oo}");
        assert_eq!(oo["resourceType"], "OperationOutcome");
    }
    let (_, enc) = fhir(&t, Some(&other), "/fhir/r4/Encounter").await;
    assert_eq!(enc["total"], 0);
    // A client sees only themself, and their own measures.
    let client = t
        .token_for(
            "member1@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(m1)),
        )
        .await;
    let (_, b) = fhir(&t, Some(&client), "/fhir/r4/Patient").await;
    assert_eq!(ids(&b), vec![m1.to_string()]);
    let (_, b) = fhir(&t, Some(&client), "/fhir/r4/Observation").await;
    assert_eq!(b["total"], 1);
    let (s, _) = fhir(
        &t,
        Some(&client),
        &format!("/fhir/r4/Patient/{}", f.clinic.members[1]),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Groups are staff facts: a client is answered as for a record out of reach.
    let (s, _) = fhir(
        &t,
        Some(&client),
        &format!("/fhir/r4/Group/{}", f.clinic.group),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An administrator has no clinical reach: a patient search is refused.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, oo) = fhir(&t, Some(&admin), "/fhir/r4/Patient").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{oo}");
    assert_eq!(oo["issue"][0]["code"], "forbidden");
    // Intake sees demographics but no attendance.
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (_, b) = fhir(&t, Some(&intake), "/fhir/r4/Patient").await;
    assert_eq!(sorted(ids(&b)), everyone);
    let (s, _) = fhir(&t, Some(&intake), "/fhir/r4/Encounter").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn searches_filter_page_and_refuse_what_they_do_not_support() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    // Paging: one per page, `next` until the last.
    let mut seen = vec![];
    let mut next = Some(t.url("/fhir/r4/Patient?_count=1"));
    while let Some(url) = next {
        let path = url
            .split_once("/fhir/")
            .map(|(_, p)| format!("/fhir/{p}"))
            .unwrap();
        let (s, b) = fhir(&t, Some(dir), &path).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["total"], 3);
        seen.extend(ids(&b));
        next = b["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
        assert!(seen.len() <= 3, "paging does not end: {seen:?}");
    }
    assert_eq!(seen.len(), 3);
    let m1 = f.clinic.members[0];
    let (_, b) = fhir(&t, Some(dir), &format!("/fhir/r4/Patient?_id={m1}")).await;
    assert_eq!(ids(&b), vec![m1.to_string()]);
    // Dates: the session was on 4 May.
    for (q, n) in [
        ("date=2026-05-04", 1),
        ("date=ge2026-05-05", 0),
        ("date=lt2026-05-04", 0),
        ("date=ge2026-05-01&date=le2026-05-31", 1),
    ] {
        let (s, b) = fhir(
            &t,
            Some(dir),
            &format!("/fhir/r4/Encounter?patient={m1}&{q}"),
        )
        .await;
        assert_eq!(
            (s, b["total"].as_u64()),
            (StatusCode::OK, Some(n)),
            "{q}: {b}"
        );
    }
    let (_, b) = fhir(
        &t,
        Some(dir),
        "/fhir/r4/Observation?_lastUpdated=ge2026-05-04",
    )
    .await;
    assert_eq!(b["total"], 1);
    let (_, b) = fhir(
        &t,
        Some(dir),
        "/fhir/r4/Observation?_lastUpdated=gt2026-05-04",
    )
    .await;
    assert_eq!(b["total"], 0);
    // Refused, naming the parameter: unknown, unsupported for the type, malformed.
    for (path, name) in [
        ("/fhir/r4/Patient?name=Member", "name"),
        ("/fhir/r4/Patient?_lastUpdated=2026-05-04", "_lastUpdated"),
        ("/fhir/r4/Encounter?date=yesterday", "date"),
        ("/fhir/r4/Patient?_count=0", "_count"),
        ("/fhir/r4/Observation?patient=Group/1", "patient"),
    ] {
        let (s, oo) = fhir(&t, Some(dir), path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {oo}");
        assert_eq!(oo["issue"][0]["code"], "invalid");
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(name),
            "{path}: {oo}"
        );
    }
    let (s, oo) = fhir(&t, Some(dir), "/fhir/r4/Basic").await;
    assert_eq!(
        (s, oo["issue"][0]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );
    let (s, _) = fhir(&t, Some(dir), "/fhir/r4/Patient/not-a-number").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fhir_reads_are_audited_like_the_json_apis() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let m1 = f.clinic.members[0];
    async fn count(t: &TestApp, dir: &str, m1: i64, action: &str) -> usize {
        let path = format!("/api/v1/audit?client_id={m1}&action={action}&limit=500");
        let (s, b) = t.get(dir, &path).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b.as_array().map_or(0, Vec::len)
    }
    let reads = count(&t, &f.director, m1, "client.read").await;
    let measures = count(&t, &f.director, m1, "measure.read").await;
    fhir(&t, Some(&f.director), &format!("/fhir/r4/Patient/{m1}")).await;
    fhir(
        &t,
        Some(&f.director),
        &format!("/fhir/r4/Observation?patient={m1}"),
    )
    .await;
    assert!(count(&t, &f.director, m1, "client.read").await > reads);
    assert!(count(&t, &f.director, m1, "measure.read").await > measures);
}
