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

// --- bulk export ---

/// Kicks off an export and returns its status URL's path.
async fn kick_off(t: &TestApp, token: &str, path: &str) -> String {
    let r = t
        .http
        .get(t.url(path))
        .bearer_auth(token)
        .header("prefer", "respond-async")
        .header("accept", "application/fhir+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{path}");
    let loc = r.headers()["content-location"].to_str().unwrap().to_owned();
    loc.split_once("/fhir/")
        .map(|(_, p)| format!("/fhir/{p}"))
        .unwrap()
}

/// Polls the status URL until the manifest is ready (202 with X-Progress until then).
async fn manifest(t: &TestApp, token: &str, status: &str) -> Value {
    for _ in 0..600 {
        let r = t
            .http
            .get(t.url(status))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::ACCEPTED => {
                assert!(r.headers().contains_key("x-progress"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            StatusCode::OK => return r.json().await.unwrap(),
            other => panic!("{status}: {other} {}", r.text().await.unwrap()),
        }
    }
    panic!("the export did not finish within a minute");
}

/// Downloads every output file of a manifest: resources by type.
async fn download(
    t: &TestApp,
    token: &str,
    m: &Value,
) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut out = std::collections::BTreeMap::new();
    for o in m["output"].as_array().unwrap() {
        let path = o["url"]
            .as_str()
            .unwrap()
            .split_once("/fhir/")
            .map(|(_, p)| format!("/fhir/{p}"))
            .unwrap();
        let r = t
            .http
            .get(t.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "application/fhir+ndjson");
        let lines: Vec<Value> = r
            .text()
            .await
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u64, o["count"].as_u64().unwrap());
        out.insert(o["type"].as_str().unwrap().to_owned(), lines);
    }
    out
}

const EXPORT: &str = "/fhir/r4/$export?recipient=Harbor%20Clinic&purpose=continuity%20of%20care";

#[tokio::test]
async fn a_bulk_export_runs_in_the_background_and_is_a_recorded_disclosure() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    let status = kick_off(&t, dir, EXPORT).await;
    let m = manifest(&t, dir, &status).await;
    assert_eq!(m["requiresAccessToken"], true);
    let files = download(&t, dir, &m).await;
    // The Part 2 member has no consent for this recipient: left out, and said so.
    let patients: Vec<&str> = files["Patient"]
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(patients.len(), 2, "{patients:?}");
    assert!(!patients.contains(&f.part2.to_string().as_str()));
    assert_eq!(m["extension"]["withheldForWantOfConsent"], 1);
    assert_eq!(m["error"][0]["type"], "OperationOutcome");
    for kind in [
        "EpisodeOfCare",
        "Encounter",
        "Observation",
        "QuestionnaireResponse",
        "Group",
    ] {
        assert!(
            files.contains_key(kind),
            "{kind} missing from {:?}",
            files.keys()
        );
    }
    assert!(
        !files
            .values()
            .flatten()
            .any(|r| r.to_string().contains(&format!("Patient/{}\"", f.part2)))
    );
    // Every exported client has the export in their accounting of disclosures.
    let m1 = f.clinic.members[0];
    let (_, d) = t
        .get(dir, &format!("/api/v1/clients/{m1}/disclosures"))
        .await;
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d[0]["recipient"], "Harbor Clinic");
    assert_eq!(d[0]["purpose"], "continuity of care");
    let (_, d) = t
        .get(dir, &format!("/api/v1/clients/{}/disclosures", f.part2))
        .await;
    assert_eq!(d.as_array().unwrap().len(), 0, "{d}");

    // With a consent in force naming the recipient and purpose, the Part 2 member leaves
    // too, labelled, with §2.32's notice, under that consent.
    let (s, c) = t
        .post(
            dir,
            &format!("/api/v1/clients/{}/consents/part2", f.part2),
            json!({"patient_name": "Protected Member", "discloser": "Riverside IOP",
                "recipient": "Harbor Clinic", "information": "treatment records",
                "purpose": "continuity of care", "expires_on": "2026-12-31",
                "right_to_revoke_acknowledged": true, "signature": "Protected Member",
                "signed_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let status = kick_off(&t, dir, EXPORT).await;
    let m = manifest(&t, dir, &status).await;
    let files = download(&t, dir, &m).await;
    assert_eq!(files["Patient"].len(), 3);
    let p2 = files["Patient"]
        .iter()
        .find(|p| p["id"].as_str() == Some(f.part2.to_string().as_str()))
        .unwrap();
    assert_eq!(p2["meta"]["security"][0]["code"], "42CFRPart2");
    assert_eq!(
        m["extension"]["part2Notice"],
        "42 CFR part 2 prohibits unauthorized disclosure of these records."
    );
    let (_, d) = t
        .get(dir, &format!("/api/v1/clients/{}/disclosures", f.part2))
        .await;
    assert_eq!(d[0]["consent_id"], c["id"]);
    assert!(d[0]["notice"].as_str().unwrap().contains("42 CFR part 2"));

    // Only the requester may poll or download; DELETE cancels and removes the files.
    let other = t
        .token_for("other.director@example.test", Role::Director, None, None)
        .await;
    let (s, _) = fhir(&t, Some(&other), &status).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let file = m["output"][0]["url"]
        .as_str()
        .unwrap()
        .split_once("/fhir/")
        .map(|(_, p)| format!("/fhir/{p}"))
        .unwrap();
    let (s, _) = fhir(&t, Some(&other), &file).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = t
        .http
        .delete(t.url(&status))
        .bearer_auth(dir)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (s, _) = fhir(&t, Some(dir), &status).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = t
        .http
        .get(t.url(&file))
        .bearer_auth(dir)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_group_export_holds_its_members_and_the_kick_off_is_checked() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    let status = kick_off(
        &t,
        dir,
        &format!(
            "/fhir/r4/Group/{}/$export?_type=Patient,Group&recipient=R&purpose=care",
            f.clinic.group
        ),
    )
    .await;
    let m = manifest(&t, dir, &status).await;
    let files = download(&t, dir, &m).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Group", "Patient"]);
    assert_eq!(files["Group"][0]["id"], f.clinic.group.to_string());
    // Refused, naming what is wrong, and nothing is queued.
    for (path, prefer, name) in [
        (EXPORT, false, "Prefer"),
        ("/fhir/r4/$export?purpose=care", true, "recipient"),
        (
            "/fhir/r4/$export?_type=Basic&recipient=R&purpose=p",
            true,
            "_type",
        ),
        (
            "/fhir/r4/$export?_since=yesterday&recipient=R&purpose=p",
            true,
            "_since",
        ),
    ] {
        let mut req = t.http.get(t.url(path)).bearer_auth(dir);
        if prefer {
            req = req.header("prefer", "respond-async");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let oo: Value = r.json().await.unwrap();
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(name),
            "{oo}"
        );
    }
    // Only directors export; a clinician is refused.
    let lead = t.login(&f.clinic.lead_email, TEST_PASSWORD).await.unwrap();
    let r = t
        .http
        .get(t.url(EXPORT))
        .bearer_auth(&lead)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_export_whose_server_stopped_is_run_again_by_the_next_server() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let actor = t.app.authenticate(&f.director).await.unwrap();
    let terms = circle_app::fhir_export::ExportTerms {
        recipient: "Harbor Clinic".to_owned(),
        purpose: "continuity of care".to_owned(),
        since: None,
    };
    let now: jiff::Timestamp = "2026-05-04T15:35:00Z".parse().unwrap();
    let long_ago: jiff::Timestamp = "2000-01-01T00:00:00Z".parse().unwrap();
    // As if a server claimed the job and stopped mid-run: the test claims it itself, at
    // once (the running server's worker polls every half second; should it win the
    // race, the test queues another job and tries again).
    let mut claimed = None;
    for _ in 0..20 {
        let id = t
            .app
            .start_export(
                &actor,
                None,
                &["Patient".to_owned()],
                &terms,
                "http://localhost/fhir/r4/$export",
            )
            .await
            .unwrap();
        if let Some(c) = t.db.store.claim_export_job(long_ago, now).await.unwrap() {
            assert_eq!(c.id, id);
            claimed = Some(id);
            break;
        }
    }
    let id = claimed.expect("the test claimed a job before any worker did");
    // The stopped server had disclosed the first member before it stopped.
    let m1 = f.clinic.members[0];
    let information = format!("FHIR bulk export {id}: Patient of each client");
    let new: circle_domain::intake::NewDisclosure = serde_json::from_value(json!({
        "recipient": terms.recipient, "purpose": terms.purpose, "information": information,
    }))
    .unwrap();
    assert!(
        t.app
            .record_export_disclosure(&actor, circle_domain::ids::ClientId(m1), id, &new)
            .await
            .unwrap()
    );
    let status = format!("/fhir/r4/$export-status/{id}");
    // While its heartbeat is fresh, nobody takes it over: it stays running.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let r = t
            .http
            .get(t.url(&status))
            .bearer_auth(&f.director)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.headers()["x-progress"], "0% (running)");
    }
    // Once the heartbeat is stale (its server is gone), a running server claims the job
    // again and runs it from the start.
    t.clock.set("2026-05-04T15:40:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let m = manifest(&t, &dir, &status).await;
    assert_eq!(m["output"][0]["type"], "Patient");
    assert_eq!(m["output"][0]["count"], 2);
    // The re-run disclosed each member once: the first member's disclosure is not
    // recorded a second time.
    for member in &f.clinic.members {
        let (_, d) = t
            .get(&dir, &format!("/api/v1/clients/{member}/disclosures"))
            .await;
        let this_export = d
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["information"] == information.as_str())
            .count();
        assert_eq!(this_export, 1, "member {member}: {d}");
    }
}

/// Base64 of a DocumentReference's attachment, decoded.
fn attachment_text(doc: &Value) -> String {
    use base64::Engine as _;
    let data = doc["content"][0]["attachment"]["data"].as_str().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_clinic_referrals_consents_notes_and_audit_trail_are_fhir_too() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    let (m1, m2) = (f.clinic.members[0], f.clinic.members[1]);

    // The clinic is the one Organization; programs are provided by it; each clinician
    // has a PractitionerRole there.
    let (s, org) = fhir(&t, Some(dir), "/fhir/r4/Organization/clinic").await;
    assert_eq!(s, StatusCode::OK, "{org}");
    assert_eq!(org["name"], "Circle clinic");
    let (_, hs) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/HealthcareService/{}", f.clinic.program),
    )
    .await;
    assert_eq!(hs["providedBy"]["reference"], "Organization/clinic");
    let (s, role) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/PractitionerRole/{}", f.clinic.lead),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{role}");
    assert_eq!(
        role["practitioner"]["reference"],
        format!("Practitioner/{}", f.clinic.lead)
    );
    assert_eq!(role["organization"]["reference"], "Organization/clinic");

    // A referral is a ServiceRequest with its path; not yet linked to a client, it names
    // no Patient (and no name) and is labelled, as its reason may concern substance use.
    let (s, referral) = t
        .post(
            dir,
            "/api/v1/referrals",
            json!({"path": "therapist_referral", "name": "Synthetic Person",
                "reason": "low mood", "provider": {"name": "Dr. Example"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{referral}");
    let (s, sr) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/ServiceRequest/{}", referral["id"]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sr}");
    assert_eq!(sr["category"][0]["coding"][0]["code"], "therapist_referral");
    assert_eq!(sr["status"], "active");
    assert!(sr["subject"].get("reference").is_none(), "{sr}");
    assert!(!sr.to_string().contains("Synthetic"), "{sr}");
    assert_eq!(sr["requester"]["display"], "Dr. Example");
    assert_eq!(sr["reasonCode"][0]["text"], "low mood");
    assert_eq!(sr["meta"]["security"][0]["code"], "42CFRPart2");

    // Consents: the group agreement (treatment) and a Part 2 consent with its policy.
    let (s, c) = t
        .post(
            dir,
            &format!("/api/v1/clients/{}/consents/part2", f.part2),
            json!({"patient_name": "Protected Member", "discloser": "Riverside IOP",
                "recipient": "Harbor Clinic", "information": "treatment records",
                "purpose": "continuity of care", "expires_on": "2026-12-31",
                "right_to_revoke_acknowledged": true, "signature": "Protected Member",
                "signed_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, b) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/Consent?patient={}", f.part2),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let consents: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    assert_eq!(consents.len(), 2, "{b}");
    let agreement = consents
        .iter()
        .find(|c| c["scope"]["coding"][0]["code"] == "treatment")
        .unwrap();
    assert_eq!(agreement["dateTime"], "2026-04-01");
    let part2 = consents
        .iter()
        .find(|c| c["scope"]["coding"][0]["code"] == "patient-privacy")
        .unwrap();
    assert_eq!(part2["id"], format!("{}.p{}", f.part2, c["id"]));
    assert_eq!(part2["status"], "active");
    assert_eq!(part2["policyRule"]["coding"][0]["code"], "42CFRPart2");
    assert_eq!(part2["category"][0]["coding"][0]["code"], "64292-6");
    assert_eq!(
        part2["provision"]["actor"][0]["reference"]["display"],
        "Harbor Clinic"
    );
    assert_eq!(part2["provision"]["period"]["end"], "2026-12-31");
    assert_eq!(part2["meta"]["security"][0]["code"], "42CFRPart2");
    let (s, again) = fhir(
        &t,
        Some(dir),
        &format!("/fhir/r4/Consent/{}", part2["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&again, *part2);

    // Notes: a signed progress note is a DocumentReference with its text, in the member's
    // encounter; a draft is not a document yet.
    let lead = t.login(&f.clinic.lead_email, TEST_PASSWORD).await.unwrap();
    let mut drafts = vec![];
    for m in [m1, m2] {
        let (s, draft) = t
            .send(
                Method::PUT,
                &lead,
                &format!("/api/v1/sessions/{}/notes/{m}", f.session),
                json!({"presentation": "Quiet, attentive.", "plan": "Continue weekly."}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{draft}");
        drafts.push(draft);
    }
    let (s, signed) = t
        .post(
            &lead,
            &format!("/api/v1/notes/{}/sign", drafts[0]["id"]),
            json!({"version": drafts[0]["version"], "confirm_names_checked": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    let (s, docs) = fhir(
        &t,
        Some(&lead),
        &format!("/fhir/r4/DocumentReference?session={}", f.session),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{docs}");
    let (s, docs) = fhir(&t, Some(&lead), "/fhir/r4/DocumentReference").await;
    assert_eq!(s, StatusCode::OK, "{docs}");
    assert_eq!(ids(&docs), vec![format!("{}.{m1}", f.session)]);
    let doc = &docs["entry"][0]["resource"];
    assert_eq!(doc["type"]["coding"][0]["code"], "11506-3");
    assert_eq!(
        doc["context"]["encounter"][0]["reference"],
        format!("Encounter/{}.{m1}", f.session)
    );
    assert_eq!(
        doc["author"][0]["reference"],
        format!("Practitioner/{}", f.clinic.lead)
    );
    let text = attachment_text(doc);
    assert!(text.contains("Quiet, attentive."), "{text}");
    // The text goes only to those who may read the note: not to a clinician outside the
    // group, nor to the member, nor to an administrator without emergency access.
    let other = t.clinician_token("other.clinician@example.test").await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let client = t
        .token_for(
            "member@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(m1)),
        )
        .await;
    let doc_path = format!("/fhir/r4/DocumentReference/{}.{m1}", f.session);
    for token in [&other, &admin, &client] {
        let (s, body) = fhir(&t, Some(token), &doc_path).await;
        assert!(
            matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{s} {body}"
        );
        assert!(!body.to_string().contains("data"), "{body}");
        let (_, b) = fhir(&t, Some(token), "/fhir/r4/DocumentReference").await;
        assert!(b.get("entry").is_none(), "{b}");
    }

    // The audit trail: administrators only; a director is refused.
    let (s, oo) = fhir(&t, Some(dir), "/fhir/r4/AuditEvent").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{oo}");
    let (s, b) = fhir(
        &t,
        Some(&admin),
        &format!("/fhir/r4/AuditEvent?patient={m1}&_count=1000"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let events: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let signing = events
        .iter()
        .find(|e| e["subtype"][0]["code"] == "note.sign")
        .expect("the signature is in the trail");
    assert_eq!(signing["action"], "U");
    assert_eq!(signing["outcome"], "0");
    assert!(
        signing["entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"]["reference"] == format!("Patient/{m1}"))
    );
    let (s, one) = fhir(
        &t,
        Some(&admin),
        &format!("/fhir/r4/AuditEvent/{}", signing["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(&one, *signing);
}

#[tokio::test]
async fn an_export_since_an_instant_holds_what_changed_and_the_clinic_types() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let dir = &f.director;
    let types = "_type=Patient,Encounter,Observation,Consent,Organization,PractitionerRole";
    // After the session and the PHQ-9 (both on 4 May): no Encounter, no Observation, no
    // agreement signed in April; the patients (no change time kept) and the clinic's facts.
    let status = kick_off(
        &t,
        dir,
        &format!("{EXPORT}&{types}&_since=2026-05-05T00:00:00Z"),
    )
    .await;
    let files = download(&t, dir, &manifest(&t, dir, &status).await).await;
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["Organization", "Patient", "PractitionerRole"]
    );
    assert_eq!(files["Organization"][0]["id"], "clinic");
    // Since the first of May: the session's encounters and the PHQ-9 are in.
    let status = kick_off(
        &t,
        dir,
        &format!("{EXPORT}&{types}&_since=2026-05-01T00:00:00%2B00:00"),
    )
    .await;
    let files = download(&t, dir, &manifest(&t, dir, &status).await).await;
    assert_eq!(files["Encounter"].len(), 2, "{:?}", files["Encounter"]);
    assert_eq!(files["Observation"].len(), 1);
    // The audit trail leaves only when named, and only for those who may read it.
    let status = kick_off(&t, dir, &format!("{EXPORT}&_type=AuditEvent")).await;
    let m = manifest(&t, dir, &status).await;
    assert_eq!(m["output"].as_array().unwrap().len(), 0, "{m}");
}
