//! Placement and waitlist (issue 3) through the JSON API, on the database
//! `TEST_DATABASE_URL` names (SQLite when unset): suggestions ranked and explained, the
//! last-seat race, the newcomer limit, waitlist offers moving on by decline and expiry,
//! step-down transition plans and tapers.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::Clock;
use circle_domain::ids::{ClientId, ClinicianId, GroupId};
use circle_domain::membership::NewMembership;
use circle_domain::user::Role;
use circle_testkit::builders::{input, now};
use circle_testkit::sys::SysStore;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Clinic {
    director: String,
    intake: String,
    iop: Value,
    outpatient: Value,
    leads: Vec<i64>,
    next_client: std::sync::atomic::AtomicU32,
}

const EVENINGS: &str = "17:00";

async fn clinic(t: &TestApp) -> Clinic {
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, iop) = t
        .post(
            &director,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{iop}");
    let (s, outpatient) = t
        .post(
            &director,
            "/api/v1/programs",
            json!({"name": "Outpatient groups", "site": "Riverside",
            "level_of_care": "outpatient", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{outpatient}");
    let mut leads = vec![];
    for n in 0..4 {
        let (s, lead) = t
            .post(&director, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": format!("Testcase{n}"),
                "email": format!("lead{n}@example.test"),
                "licenses": [{"kind": "lmhc", "number": format!("L-{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{lead}");
        leads.push(lead["id"].as_i64().unwrap());
    }
    Clinic {
        director,
        intake,
        iop,
        outpatient,
        leads,
        next_client: std::sync::atomic::AtomicU32::new(1),
    }
}

impl Clinic {
    /// A group: `extra` overrides the defaults (open process group for IOP, 5–12).
    async fn group(
        &self,
        t: &TestApp,
        name: &str,
        meetings: Value,
        lead: i64,
        extra: Value,
    ) -> i64 {
        let mut body = json!({"program_id": self.iop["id"], "name": name, "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": meetings, "lead_facilitator_id": lead});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, g) = t.post(&self.director, "/api/v1/groups", body).await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        g["id"].as_i64().unwrap()
    }

    /// A client at a level of care, with concerns and weekly availability windows.
    async fn client(&self, t: &TestApp, level: &str, concerns: Value, availability: Value) -> i64 {
        let n = self
            .next_client
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (s, c) = t
            .post(
                &self.intake,
                "/api/v1/clients",
                json!({"record_number": format!("W-{n:04}"),
                "given_name": format!("Given{n}"), "family_name": format!("Family{n}"),
                "date_of_birth": "1985-07-01", "referral_source": "program_admission",
                "concerns": concerns, "availability": availability}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let id = c["id"].as_i64().unwrap();
        let (s, e) = t
            .post(
                &self.director,
                &format!("/api/v1/clients/{id}/episodes"),
                json!({"level_of_care": level, "started_on": "2026-04-01"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        id
    }

    /// A client available every weekday from 07:00 to 21:00.
    async fn anytime(&self, t: &TestApp, level: &str) -> i64 {
        self.client(t, level, json!(["depression"]), weekdays("07:00", "21:00"))
            .await
    }
}

fn weekdays(start: &str, end: &str) -> Value {
    Value::Array(
        ["monday", "tuesday", "wednesday", "thursday", "friday"]
            .iter()
            .map(|d| json!({"weekday": d, "start": start, "end": end}))
            .collect(),
    )
}

fn meeting(weekday: &str, start: &str) -> Value {
    json!([{"weekday": weekday, "start": start, "minutes": 90}])
}

/// A founding member who joined a week ago (through the store: the API refuses start dates
/// in the past, and a seat freed today needs a membership that started before today).
async fn founder(t: &TestApp, group: i64, client: i64) -> i64 {
    let new: NewMembership = input(json!({"client_id": client, "start_date": "2026-04-28"}));
    t.db.store
        .sys_enroll(GroupId(group), &new, now())
        .await
        .unwrap()
        .id
        .0
}

async fn enroll(
    t: &TestApp,
    token: &str,
    group: i64,
    client: i64,
    start: &str,
) -> (StatusCode, Value) {
    t.post(
        token,
        &format!("/api/v1/groups/{group}/memberships"),
        json!({"client_id": client, "start_date": start}),
    )
    .await
}

async fn waitlist(t: &TestApp, token: &str, group: i64) -> Vec<Value> {
    let (s, w) = t
        .get(token, &format!("/api/v1/groups/{group}/waitlist"))
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    w.as_array().unwrap().clone()
}

async fn open_offers(t: &TestApp, token: &str) -> Vec<Value> {
    let (s, o) = t.get(token, "/api/v1/offers?state=open").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    o.as_array().unwrap().clone()
}

#[tokio::test]
async fn suggestions_rank_by_fit_explain_why_and_never_name_a_separated_member() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let evening = k
        .group(
            &t,
            "Evening process",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({"focus_concerns": ["depression"]}),
        )
        .await;
    let dbt = k
        .group(&t, "DBT skills", meeting("thursday", "18:00"), k.leads[1],
            json!({"kind": "skills", "modality": "dbt", "focus_concerns": ["emotional_dysregulation"]}))
        .await;
    let morning = k
        .group(
            &t,
            "Morning psychoeducation",
            meeting("wednesday", "09:00"),
            k.leads[2],
            json!({"kind": "psychoeducation"}),
        )
        .await;
    let outpatient = k
        .group(
            &t,
            "Outpatient process",
            meeting("monday", "18:00"),
            k.leads[3],
            json!({"program_id": k.outpatient["id"], "eligible_levels": ["outpatient"]}),
        )
        .await;
    let windows = json!([
        {"weekday": "tuesday", "start": EVENINGS, "end": "21:00"},
        {"weekday": "thursday", "start": EVENINGS, "end": "21:00"},
        {"weekday": "monday", "start": EVENINGS, "end": "21:00"}
    ]);
    let x = k
        .client(
            &t,
            "iop",
            json!(["emotional_dysregulation", "depression"]),
            windows.clone(),
        )
        .await;
    let y = k.client(&t, "iop", json!(["depression"]), windows).await;
    let (s, _) = enroll(&t, &k.intake, evening, y, "2026-05-05").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, sep) = t
        .post(
            &k.intake,
            &format!("/api/v1/clients/{x}/separations"),
            json!({"other_client_id": y, "reason": "neighbours"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sep}");

    let (s, list) = t
        .get(
            &k.intake,
            &format!("/api/v1/clients/{x}/placement-suggestions"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    // The only eligible group comes first, with why it fits.
    assert_eq!(list[0]["group_id"], dbt);
    assert_eq!(list[0]["eligible"], true);
    assert_eq!(list[0]["fit"], 30, "{}", list[0]);
    let kinds: Vec<&str> = list[0]["fit_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["shared_focus", "modality_suits", "kind_suits"]);
    assert_eq!(list[0]["open_seats"], 12);
    let by_id = |g: i64| list.iter().find(|s| s["group_id"] == g).unwrap();
    let rules = |g: i64| -> Vec<String> {
        by_id(g)["exclusions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["rule"].as_str().unwrap().to_owned())
            .collect()
    };
    // The evening group fits (shared depression focus) but holds someone X is kept apart
    // from: said once, as "not available for this client", naming and counting no one.
    assert_eq!(rules(evening), ["separation"]);
    let sep_ex = &by_id(evening)["exclusions"][0];
    assert_eq!(sep_ex["message"], "not available for this client");
    assert_eq!(by_id(evening)["open_seats"], 11);
    let text = Value::Array(list.clone()).to_string();
    assert!(!text.contains(&format!("\"client_id\":{y}")));
    assert!(!text.contains("Given2") && !text.contains("Family2") && !text.contains("W-0002"));
    assert!(!text.contains("neighbours"));
    assert_eq!(rules(morning), ["outside_availability"]);
    assert_eq!(rules(outpatient), ["level_of_care_not_eligible"]);
    assert!(list[1..].iter().all(|s| s["eligible"] == false));

    // A clinician sees suggestions for their caseload only; a client none.
    let clin = t
        .token_for(
            "clin@example.test",
            Role::Clinician,
            Some(ClinicianId(k.leads[0])),
            None,
        )
        .await;
    let (s, _) = t
        .get(&clin, &format!("/api/v1/clients/{y}/placement-suggestions"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .get(&clin, &format!("/api/v1/clients/{x}/placement-suggestions"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let me = t
        .token_for("x@example.test", Role::Client, None, Some(ClientId(x)))
        .await;
    let (s, _) = t
        .get(&me, &format!("/api/v1/clients/{x}/placement-suggestions"))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The read is audited for the client it concerns; the clinician's refusal too.
    let (s, audit) = t
        .get(
            &k.director,
            &format!("/api/v1/audit?client_id={x}&action=placement.suggest"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"success") && outcomes.contains(&"denied"),
        "{audit}"
    );
    // A start in the past is refused naming the field.
    let (s, p) = t
        .get(
            &k.intake,
            &format!("/api/v1/clients/{x}/placement-suggestions?start_date=2026-05-01"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "start_date");
}

#[tokio::test]
async fn two_coordinators_racing_for_the_last_seat_place_exactly_one() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let other = t
        .token_for("intake2@example.test", Role::Intake, None, None)
        .await;
    for (round, weekday) in ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .enumerate()
    {
        let g = k
            .group(
                &t,
                &format!("Race {round}"),
                meeting(weekday, "07:00"),
                k.leads[0],
                json!({"min_size": 1, "max_size": 2}),
            )
            .await;
        let first = k.anytime(&t, "iop").await;
        let (s, _) = enroll(&t, &k.intake, g, first, "2026-05-11").await;
        assert_eq!(s, StatusCode::CREATED);
        let (a, b) = (k.anytime(&t, "iop").await, k.anytime(&t, "iop").await);
        let ((sa, pa), (sb, pb)) = tokio::join!(
            enroll(&t, &k.intake, g, a, "2026-05-11"),
            enroll(&t, &other, g, b, "2026-05-11"),
        );
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {pa} / {pb}"
        );
        let loser = if sa == StatusCode::CONFLICT { pa } else { pb };
        assert_eq!(loser["code"], "group_full");
        let (_, members) = t
            .get(&k.director, &format!("/api/v1/groups/{g}/memberships"))
            .await;
        assert_eq!(members["items"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn the_newcomer_limit_refuses_a_third_newcomer_for_one_session() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let g = k
        .group(
            &t,
            "Evening process",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({}),
        )
        .await;
    let old = k.anytime(&t, "iop").await;
    founder(&t, g, old).await;
    let mut newcomers = vec![];
    for _ in 0..4 {
        newcomers.push(k.anytime(&t, "iop").await);
    }
    // Monday and Tuesday starts both first attend Tuesday 5 May.
    let (s, p) = enroll(&t, &k.intake, g, newcomers[0], "2026-05-04").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, p) = enroll(&t, &k.intake, g, newcomers[1], "2026-05-05").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, p) = enroll(&t, &k.intake, g, newcomers[2], "2026-05-05").await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["code"], "newcomer_limit");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("at most 2 newcomers"), "{detail}");
    assert!(detail.contains("2026-05-06"), "{detail}");
    // Nothing was written; the next date it names is accepted.
    let (_, members) = t
        .get(&k.director, &format!("/api/v1/groups/{g}/memberships"))
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 3);
    let (s, p) = enroll(&t, &k.intake, g, newcomers[2], "2026-05-06").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    // The program setting governs: three per session lets the next one in.
    let (_, program) = t
        .get(&k.director, &format!("/api/v1/programs/{}", k.iop["id"]))
        .await;
    let (s, p) = t
        .send(
            Method::PATCH,
            &k.director,
            &format!("/api/v1/programs/{}", k.iop["id"]),
            json!({"version": program["version"], "newcomers_per_session": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, p) = enroll(&t, &k.intake, g, newcomers[3], "2026-05-05").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
}

struct Waiting {
    group: i64,
    leaving: i64,
    /// Priority 1 but at the wrong level of care: always skipped.
    ineligible: i64,
    /// Priority 2, first to be offered.
    second: i64,
    /// Priority 3.
    third: i64,
    /// Priority 2, added after `second`.
    later_second: i64,
}

/// A full group of three with a waitlist of four, one of them ineligible.
async fn full_group_with_waitlist(t: &TestApp, k: &Clinic) -> Waiting {
    let group = k
        .group(
            t,
            "Full evening",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({"min_size": 1, "max_size": 3}),
        )
        .await;
    let mut members = vec![];
    for _ in 0..3 {
        let c = k.anytime(t, "iop").await;
        members.push(founder(t, group, c).await);
    }
    let ineligible = k.anytime(t, "outpatient").await;
    let second = k.anytime(t, "iop").await;
    let third = k.anytime(t, "iop").await;
    let later_second = k.anytime(t, "iop").await;
    for (c, priority) in [(third, 3), (ineligible, 1), (second, 2), (later_second, 2)] {
        t.clock
            .set(t.clock.now() + jiff::SignedDuration::from_secs(1));
        let (s, e) = t
            .post(
                &k.intake,
                &format!("/api/v1/groups/{group}/waitlist"),
                json!({"client_id": c, "priority": priority, "note": "prefers evenings"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        assert_eq!(e["status"], "waiting", "a full group offers nothing");
    }
    Waiting {
        group,
        leaving: members[0],
        ineligible,
        second,
        third,
        later_second,
    }
}

async fn leave(t: &TestApp, token: &str, membership: i64) {
    let (s, m) = t
        .send(
            Method::PATCH,
            token,
            &format!("/api/v1/memberships/{membership}"),
            json!({"version": 1, "status": "withdrawn", "end_date": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
}

#[tokio::test]
async fn a_member_leaving_offers_the_seat_to_the_next_eligible_waitlisted_client() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let w = full_group_with_waitlist(&t, &k).await;
    let list = waitlist(&t, &k.intake, w.group).await;
    let order: Vec<i64> = list
        .iter()
        .map(|e| e["client_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [w.ineligible, w.second, w.later_second, w.third]);
    assert_eq!(list[0]["note"], "prefers evenings");
    assert!(open_offers(&t, &k.intake).await.is_empty());
    // Bad priorities and second entries are refused, changing nothing.
    let path = format!("/api/v1/groups/{}/waitlist", w.group);
    let (s, p) = t
        .post(
            &k.intake,
            &path,
            json!({"client_id": w.third, "priority": 6}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "priority");
    let (s, p) = t
        .post(
            &k.intake,
            &path,
            json!({"client_id": w.third, "priority": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["code"], "duplicate");
    assert_eq!(waitlist(&t, &k.intake, w.group).await.len(), 4);
    // Clinicians and clients do not see waitlists.
    let clin = t
        .token_for(
            "clin@example.test",
            Role::Clinician,
            Some(ClinicianId(k.leads[0])),
            None,
        )
        .await;
    let (s, _) = t.get(&clin, &path).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    leave(&t, &k.intake, w.leaving).await;
    let offers = open_offers(&t, &k.intake).await;
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(
        offers[0]["client_id"], w.second,
        "the ineligible first in line is skipped"
    );
    assert_eq!(offers[0]["group_id"], w.group);
    assert_eq!(offers[0]["expires_at"], "2026-05-07T13:00:04Z");
    let list = waitlist(&t, &k.intake, w.group).await;
    assert_eq!(list[1]["status"], "offered");
    assert_eq!(list[1]["open_offer_id"], offers[0]["id"]);
    assert_eq!(list[0]["status"], "waiting");

    // The client sees and accepts their own offer; the seat is theirs.
    let me = t
        .token_for(
            "second@example.test",
            Role::Client,
            None,
            Some(ClientId(w.second)),
        )
        .await;
    let (s, mine) = t.get(&me, "/api/v1/offers").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let other = t
        .token_for(
            "third@example.test",
            Role::Client,
            None,
            Some(ClientId(w.third)),
        )
        .await;
    let id = offers[0]["id"].as_i64().unwrap();
    let (s, _) = t
        .post(&other, &format!("/api/v1/offers/{id}/accept"), json!({}))
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "nobody answers someone else's offer"
    );
    let (s, accepted) = t
        .post(&me, &format!("/api/v1/offers/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{accepted}");
    assert_eq!(accepted["offer"]["state"], "accepted");
    assert_eq!(accepted["membership"]["client_id"], w.second);
    assert_eq!(accepted["membership"]["start_date"], "2026-05-04");
    let (s, again) = t
        .post(&me, &format!("/api/v1/offers/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(again["code"], "offer_closed");
    let list = waitlist(&t, &k.intake, w.group).await;
    let order: Vec<i64> = list
        .iter()
        .map(|e| e["client_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [w.ineligible, w.later_second, w.third]);
    assert!(
        open_offers(&t, &k.intake).await.is_empty(),
        "the group is full again"
    );
}

#[tokio::test]
async fn decline_and_expiry_move_the_offer_to_the_next_eligible_client() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let w = full_group_with_waitlist(&t, &k).await;
    leave(&t, &k.director, w.leaving).await;
    let offers = open_offers(&t, &k.intake).await;
    assert_eq!(offers[0]["client_id"], w.second);

    // Declined: the next eligible in line (same priority, added later) is offered.
    let id = offers[0]["id"].as_i64().unwrap();
    let (s, declined) = t
        .post(
            &k.intake,
            &format!("/api/v1/offers/{id}/decline"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{declined}");
    assert_eq!(declined["state"], "declined");
    let offers = open_offers(&t, &k.intake).await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["client_id"], w.later_second);

    // Unanswered for 72 hours: the keeper's expiry moves it on to the next.
    t.clock
        .set(t.clock.now() + jiff::SignedDuration::from_hours(73));
    assert_eq!(t.app.expire_offers().await.unwrap(), 1);
    let intake = t.login("intake@example.test", TEST_PASSWORD).await.unwrap();
    let offers = open_offers(&t, &intake).await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["client_id"], w.third);
    let (_, all) = t.get(&intake, "/api/v1/offers").await;
    let states: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["open", "expired", "declined"]);
    // The ineligible client still waits; the others have left the line.
    let list = waitlist(&t, &intake, w.group).await;
    let order: Vec<(i64, &str)> = list
        .iter()
        .map(|e| {
            (
                e["client_id"].as_i64().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(order, [(w.ineligible, "waiting"), (w.third, "offered")]);

    // Expiry also happens lazily on the next read, without the keeper.
    t.clock
        .set(t.clock.now() + jiff::SignedDuration::from_hours(73));
    let intake = t.login("intake@example.test", TEST_PASSWORD).await.unwrap();
    assert!(open_offers(&t, &intake).await.is_empty());
    let list = waitlist(&t, &intake, w.group).await;
    assert_eq!(list.len(), 1);

    // Intake accepts on a client's behalf after a phone call: removing instead withdraws.
    let (s, e) = t
        .send(
            Method::DELETE,
            &intake,
            &format!("/api/v1/waitlist/{}", list[0]["id"]),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["status"], "removed");
    assert!(waitlist(&t, &intake, w.group).await.is_empty());
}

#[tokio::test]
async fn a_step_down_lists_memberships_that_no_longer_fit_with_suggestions() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let evening = k
        .group(
            &t,
            "IOP evening",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({}),
        )
        .await;
    let morning = k
        .group(
            &t,
            "IOP morning",
            meeting("wednesday", "09:00"),
            k.leads[1],
            json!({}),
        )
        .await;
    let op = |name: &str| json!({"program_id": k.outpatient["id"], "eligible_levels": ["outpatient"], "name": name});
    let same_lead = k
        .group(
            &t,
            "OP evening",
            meeting("monday", "18:00"),
            k.leads[0],
            op("OP evening"),
        )
        .await;
    let transition = k
        .group(&t, "Step-down transition", meeting("friday", "14:00"), k.leads[2],
            json!({"program_id": k.outpatient["id"], "eligible_levels": ["outpatient"], "kind": "transition"}))
        .await;
    let c = k.anytime(&t, "iop").await;
    enroll(&t, &k.intake, evening, c, "2026-05-05").await;
    enroll(&t, &k.intake, morning, c, "2026-05-06").await;

    let (s, plan) = t
        .get(&k.director, &format!("/api/v1/clients/{c}/transition-plan"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        plan["items"].as_array().unwrap().is_empty(),
        "both groups fit IOP"
    );

    let (s, e) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{c}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-05-11"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, plan) = t
        .get(&k.director, &format!("/api/v1/clients/{c}/transition-plan"))
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["level_of_care"], "outpatient");
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{plan}");
    let item = |g: i64| items.iter().find(|i| i["group_id"] == g).unwrap();
    // Same facilitator, same evening track.
    let e = &item(evening)["suggestions"][0];
    assert_eq!(e["group_id"], same_lead);
    assert_eq!(e["reasons"], json!(["same_facilitator", "same_track"]));
    assert_eq!(e["eligible"], true);
    // Nobody or nothing alike at the new level: a transition group.
    let m = &item(morning)["suggestions"];
    assert_eq!(m.as_array().unwrap().len(), 1, "{m}");
    assert_eq!(m[0]["group_id"], transition);
    assert_eq!(m[0]["reasons"], json!(["transition_group"]));
    // Without a taper the memberships stay until the coordinator acts.
    assert_eq!(item(evening)["ends_on"], Value::Null);

    // Intake sees the plan too; a client does not.
    let (s, _) = t
        .get(&k.intake, &format!("/api/v1/clients/{c}/transition-plan"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let me = t
        .token_for("c@example.test", Role::Client, None, Some(ClientId(c)))
        .await;
    let (s, _) = t
        .get(&me, &format!("/api/v1/clients/{c}/transition-plan"))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_taper_of_one_or_two_weeks_is_accepted_and_three_is_refused() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let evening = k
        .group(
            &t,
            "IOP evening",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({}),
        )
        .await;
    let both = k
        .group(
            &t,
            "Any level",
            meeting("thursday", "18:00"),
            k.leads[1],
            json!({"eligible_levels": ["iop", "outpatient"]}),
        )
        .await;
    let c = k.anytime(&t, "iop").await;
    let (_, m) = enroll(&t, &k.intake, evening, c, "2026-05-05").await;
    let (_, kept) = enroll(&t, &k.intake, both, c, "2026-05-07").await;
    let step_down = |weeks: Value| json!({"level_of_care": "outpatient", "started_on": "2026-05-11", "taper_weeks": weeks});
    for bad in [json!(3), json!(0)] {
        let (s, p) = t
            .post(
                &k.director,
                &format!("/api/v1/clients/{c}/episodes"),
                step_down(bad),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], "taper_weeks");
    }
    let (_, episodes) = t
        .get(&k.director, &format!("/api/v1/clients/{c}/episodes"))
        .await;
    assert_eq!(
        episodes.as_array().unwrap().len(),
        1,
        "a refusal changes nothing"
    );

    let (s, e) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{c}/episodes"),
            step_down(json!(2)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (_, ms) = t
        .get(&k.director, &format!("/api/v1/clients/{c}/memberships"))
        .await;
    let end_of = |id: &Value| {
        ms.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == *id)
            .unwrap()["end_date"]
            .clone()
    };
    assert_eq!(
        end_of(&m["id"]),
        "2026-05-25",
        "two weeks after the step-down"
    );
    assert_eq!(
        end_of(&kept["id"]),
        Value::Null,
        "a group that fits is kept"
    );
    let (_, plan) = t
        .get(&k.director, &format!("/api/v1/clients/{c}/transition-plan"))
        .await;
    assert_eq!(plan["items"][0]["group_id"], evening);
    assert_eq!(plan["items"][0]["ends_on"], "2026-05-25");

    // A one-week taper, and a taper that is not a step-down from IOP is refused.
    let d = k.anytime(&t, "iop").await;
    let (_, m) = enroll(&t, &k.intake, evening, d, "2026-05-05").await;
    let (s, e) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{d}/episodes"),
            step_down(json!(1)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (_, ms) = t
        .get(&k.director, &format!("/api/v1/clients/{d}/memberships"))
        .await;
    assert_eq!(ms[0]["id"], m["id"]);
    assert_eq!(ms[0]["end_date"], "2026-05-18");
    let (s, p) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{d}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-05-20", "taper_weeks": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "taper_weeks");
}

#[tokio::test]
async fn odd_inputs_are_refused_with_4xx_never_5xx() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let g = k
        .group(
            &t,
            "Evening process",
            meeting("tuesday", "18:00"),
            k.leads[0],
            json!({}),
        )
        .await;
    let c = k.anytime(&t, "iop").await;
    enroll(&t, &k.intake, g, c, "2026-05-05").await;
    let other = k
        .group(&t, "Rolling DBT", meeting("thursday", "18:00"), k.leads[1],
            json!({"kind": "skills", "modality": "dbt",
                "enrollment": {"model": "rolling", "curriculum_start": "2026-01-05", "module_weeks": 6}}))
        .await;
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::GET,
            format!("/api/v1/clients/{c}/placement-suggestions?start_date=9999-12-31"),
            json!(null),
        ),
        (
            Method::GET,
            format!("/api/v1/clients/{c}/placement-suggestions?start_date=2026-13-01"),
            json!(null),
        ),
        (
            Method::GET,
            "/api/v1/clients/999999/placement-suggestions".to_owned(),
            json!(null),
        ),
        (
            Method::GET,
            "/api/v1/clients/-1/transition-plan".to_owned(),
            json!(null),
        ),
        (
            Method::GET,
            "/api/v1/offers?state=maybe".to_owned(),
            json!(null),
        ),
        (Method::GET, "/api/v1/offers/999999".to_owned(), json!(null)),
        (
            Method::POST,
            "/api/v1/offers/999999/accept".to_owned(),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/offers/0/decline".to_owned(),
            json!({}),
        ),
        (
            Method::DELETE,
            "/api/v1/waitlist/999999".to_owned(),
            json!({}),
        ),
        (
            Method::GET,
            "/api/v1/groups/999999/waitlist".to_owned(),
            json!(null),
        ),
        (
            Method::POST,
            "/api/v1/groups/999999/waitlist".to_owned(),
            json!({"client_id": c, "priority": 1}),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{g}/waitlist"),
            json!({"client_id": 999999, "priority": 1}),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{g}/waitlist"),
            json!({"client_id": c, "priority": 1}),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{g}/waitlist"),
            json!({"client_id": c, "priority": 300}),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{other}/waitlist"),
            json!({"client_id": c, "priority": 0, "extra": 1}),
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{c}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-05-11", "taper_weeks": 4_294_967_295_u64}),
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{c}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "9999-12-30", "taper_weeks": 2}),
        ),
    ];
    for (method, path, body) in cases {
        let (s, p) = if method == Method::GET {
            t.get(&k.director, &path).await
        } else {
            t.send(method.clone(), &k.director, &path, body).await
        };
        assert!(s.is_client_error(), "{method} {path}: {s} {p}");
    }
    // The rolling group is offered to a waiting client only from its next module.
    let (s, e) = t
        .post(
            &k.intake,
            &format!("/api/v1/groups/{other}/waitlist"),
            json!({"client_id": c, "priority": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let offers = open_offers(&t, &k.intake).await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["start_date"], "2026-05-11");
}
