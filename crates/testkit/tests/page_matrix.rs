//! The pages' authorization matrix (issue 13): every page route the web crate registers
//! (`circle_web::pages::routes()`, the table the router is built from; each path's methods
//! read from the router's own `Allow` answer) × every principal × own and foreign
//! objects, compared with the table below. A page route missing from the table, or a row
//! the router no longer serves, fails the test, as the API's matrix does with the OpenAPI
//! document.
//!
//! A GET must answer exactly the status in the table; a page that answers 200 must not
//! show a client out of its reader's reach (program B's members, by name and record
//! number, to everyone but the clinic-wide director and intake). A POST is sent as a form
//! with the session's CSRF token and nothing else: it must never change anything for an
//! anonymous caller (303 to sign-in), and its status per principal is pinned too. The
//! pages and the API must agree on who may read each object.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::BTreeSet;

use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};

#[path = "world/mod.rs"]
mod world;
use world::{GIVEN_NAMES, World, world};

/// Principals, in the order of the expectation strings.
const PRINCIPALS: [&str; 7] = [
    "anonymous",
    "admin",
    "director",
    "scoped",
    "clinician",
    "intake",
    "client",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Object {
    Own,
    Foreign,
}

/// Expected status per principal (anonymous, admin, clinic-wide director, director scoped
/// to program A, clinician of group 0, intake, client of group 0): `2` 200, `L` 303 to
/// the sign-in page, `R` 303 elsewhere, `F` 403, `N` 404, `U` 422 (a form refused for its
/// fields, after the caller was let through).
fn table() -> Vec<(&'static str, &'static str, Object, &'static str)> {
    use Object::*;
    // A POST carries the CSRF token and no other field: `U` means the form was refused for
    // its fields (the rules behind it not reached), `R` that it was taken (an offer
    // accepted, an empty attendance sheet saved). The API's write walk checks each write's
    // ids against the same gate the pages use.
    vec![
        ("GET", "/", Own, "LRRRRRR"),
        ("GET", "/admin", Own, "L2FFFFF"),
        ("GET", "/admin/audit", Own, "L22FFFF"),
        ("GET", "/admin/emergency-access", Own, "L22FFFF"),
        ("GET", "/calendar", Own, "LF2222F"),
        // Staff feeds (issue 15): a form without a target names nothing (404) for the
        // roles that may make feeds; the feed itself needs its secret.
        ("POST", "/calendar/feed", Own, "LFNFNNF"),
        ("POST", "/calendar/feed/revoke", Own, "LFNFNNF"),
        ("GET", "/staff-feed/{file}", Own, "NNNNNNN"),
        ("GET", "/staff-feed/{file}", Foreign, "NNNNNNN"),
        ("GET", "/clients", Own, "LF2222F"),
        ("GET", "/clients/{id}", Own, "LF2222N"),
        ("GET", "/clients/{id}", Foreign, "LF2NN2N"),
        ("GET", "/directory", Own, "2222222"),
        ("GET", "/feed/{file}", Own, "NNNNNNN"),
        ("GET", "/feed/{file}", Foreign, "NNNNNNN"),
        ("GET", "/groups", Own, "LF2222F"),
        ("GET", "/groups/{id}", Own, "LF2222F"),
        ("GET", "/groups/{id}", Foreign, "LF2N22F"),
        ("GET", "/intake", Own, "LF22F2F"),
        ("GET", "/join", Own, "2222222"),
        ("GET", "/me", Own, "LFFFFF2"),
        ("GET", "/me/check-in/{code}", Own, "LFFFFF2"),
        ("GET", "/me/check-in/{code}", Foreign, "LFFFFF2"),
        ("GET", "/me/check-in/{code}/thanks", Own, "LFFFFF2"),
        ("GET", "/me/check-in/{code}/thanks", Foreign, "LFFFFF2"),
        ("GET", "/notes/{id}", Own, "LN222NN"),
        ("GET", "/notes/{id}", Foreign, "LN2NNNN"),
        ("GET", "/planner", Own, "LF22FFF"),
        ("GET", "/planner/runs/{id}", Own, "LF2NFFF"),
        ("GET", "/planner/runs/{id}", Foreign, "LF2NFFF"),
        ("GET", "/programs", Own, "RRRRRRR"),
        // Timetable proposals (issue 17): directors, a scoped one only their programs'.
        ("GET", "/timetable", Own, "LF22FFF"),
        ("GET", "/timetable/{id}", Own, "LF22FFF"),
        ("GET", "/timetable/{id}", Foreign, "LF2NFFF"),
        ("POST", "/timetable", Own, "LFUUFFF"),
        ("POST", "/timetable/{id}/pin", Own, "LFUUFFF"),
        ("POST", "/timetable/{id}/pin", Foreign, "LFUNFFF"),
        ("POST", "/timetable/{id}/unpin", Own, "LFUUFFF"),
        ("POST", "/timetable/{id}/unpin", Foreign, "LFUNFFF"),
        ("POST", "/timetable/{id}/solve", Own, "LFUUFFF"),
        ("POST", "/timetable/{id}/solve", Foreign, "LFUNFFF"),
        ("POST", "/timetable/{id}/approve", Own, "LFUUFFF"),
        ("POST", "/timetable/{id}/approve", Foreign, "LFUNFFF"),
        // A program's messaging settings: its directors only.
        ("GET", "/programs/{id}/messaging", Own, "LF22FFN"),
        ("GET", "/programs/{id}/messaging", Foreign, "LF2NFFN"),
        ("POST", "/programs/{id}/messaging", Own, "LFUUFFN"),
        ("POST", "/programs/{id}/messaging", Foreign, "LFUNFFN"),
        ("GET", "/refer", Own, "2222222"),
        ("GET", "/referrals/{id}", Own, "LF2N22N"),
        ("GET", "/referrals/{id}", Foreign, "LF2NN2N"),
        ("GET", "/reports", Own, "LF2222F"),
        ("GET", "/reports/attendance", Own, "LF222FF"),
        ("GET", "/reports/billing", Own, "LF22FFF"),
        ("GET", "/reports/billing/export", Own, "LF22FFF"),
        // The test clinic configures no NPI: the form comes back naming the setting.
        ("GET", "/reports/billing/837p", Own, "LFUUFFF"),
        ("GET", "/reports/census", Own, "LF22F2F"),
        ("GET", "/reports/compliance", Own, "LF222FF"),
        ("GET", "/reports/outcomes", Own, "LF222FF"),
        ("GET", "/sessions/{id}", Own, "LF2222N"),
        ("GET", "/sessions/{id}", Foreign, "LF2NN2N"),
        ("GET", "/sessions/{id}/sign-in-sheet", Own, "LF2222N"),
        ("GET", "/sessions/{id}/sign-in-sheet", Foreign, "LF2NN2N"),
        ("GET", "/sign-in", Own, "2222222"),
        ("GET", "/static/circle.css", Own, "2222222"),
        ("GET", "/static/notes.js", Own, "2222222"),
        ("GET", "/today", Own, "LF2222F"),
        ("GET", "/waitlist", Own, "LF22F2F"),
        ("POST", "/admin/users", Own, "LUFFFFF"),
        ("POST", "/admin/users/{id}/disable", Own, "LRFFFFF"),
        ("POST", "/admin/users/{id}/disable", Foreign, "LRFFFFF"),
        ("POST", "/admin/users/{id}/enable", Own, "LRFFFFF"),
        ("POST", "/admin/users/{id}/enable", Foreign, "LRFFFFF"),
        ("POST", "/admin/users/{id}/mfa-reset", Own, "LUFFFFF"),
        ("POST", "/admin/users/{id}/mfa-reset", Foreign, "LUFFFFF"),
        ("POST", "/admin/users/{id}/password", Own, "LUFFFFF"),
        ("POST", "/admin/users/{id}/password", Foreign, "LUFFFFF"),
        ("POST", "/admin/users/{id}/programs", Own, "LUFFFFF"),
        ("POST", "/admin/users/{id}/programs", Foreign, "LUFFFFF"),
        ("POST", "/admin/users/{id}/role", Own, "LUFFFFF"),
        ("POST", "/admin/users/{id}/role", Foreign, "LUFFFFF"),
        ("POST", "/alerts/{id}/acknowledge", Own, "LFUUUUF"),
        ("POST", "/alerts/{id}/acknowledge", Foreign, "LFUUUUF"),
        // Join links (issue 15): a group's directors, a session's facilitators and
        // directors; a form without the field is refused naming it.
        ("POST", "/groups/{id}/join-url", Own, "LFUUFFN"),
        ("POST", "/groups/{id}/join-url", Foreign, "LFUNFFN"),
        ("POST", "/sessions/{id}/join-url", Own, "LFUUUFN"),
        ("POST", "/sessions/{id}/join-url", Foreign, "LFUNNFN"),
        ("POST", "/groups/{id}/memberships", Own, "LFUUUUF"),
        ("POST", "/groups/{id}/memberships", Foreign, "LFUNUUF"),
        ("POST", "/groups/{id}/memberships/{mid}/end", Own, "LFUUUUF"),
        (
            "POST",
            "/groups/{id}/memberships/{mid}/end",
            Foreign,
            "LFUNUUF",
        ),
        ("POST", "/intake/referrals", Own, "LFUUFUF"),
        ("POST", "/join", Own, "FFFFFFF"),
        ("POST", "/me/agreement", Own, "LFFFFFU"),
        ("POST", "/me/check-in/{code}", Own, "LFFFFFU"),
        ("POST", "/me/check-in/{code}", Foreign, "LFFFFFU"),
        ("POST", "/me/feed", Own, "LFFFFF2"),
        ("POST", "/me/feed/revoke", Own, "LFFFFFR"),
        ("POST", "/notes/{id}/addenda", Own, "LNNNNNN"),
        ("POST", "/notes/{id}/addenda", Foreign, "LNNNNNN"),
        ("POST", "/notes/{id}/cosign", Own, "LNNNNNN"),
        ("POST", "/notes/{id}/cosign", Foreign, "LNNNNNN"),
        ("POST", "/offers/{id}/accept", Own, "LFRUFUF"),
        ("POST", "/offers/{id}/accept", Foreign, "LFRUFUF"),
        ("POST", "/offers/{id}/decline", Own, "LFUUFUF"),
        ("POST", "/offers/{id}/decline", Foreign, "LFUUFUF"),
        ("POST", "/planner/runs", Own, "LFUUFFF"),
        ("POST", "/planner/runs/{id}/approve", Own, "LFUNFFF"),
        ("POST", "/planner/runs/{id}/approve", Foreign, "LFUNFFF"),
        ("POST", "/refer", Own, "FFFFFFF"),
        ("POST", "/referrals/{id}/agreement", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/agreement", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/part2", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/part2", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/place", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/place", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/screening", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/screening", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/transition", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/transition", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/waitlist", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/waitlist", Foreign, "LFUNNUN"),
        ("POST", "/sessions/{id}/attendance", Own, "LFRRRRN"),
        ("POST", "/sessions/{id}/attendance", Foreign, "LFRNNRN"),
        ("POST", "/sessions/{id}/group-note", Own, "LFFFUFN"),
        ("POST", "/sessions/{id}/group-note", Foreign, "LFFFNFN"),
        ("POST", "/sessions/{id}/group-note/addenda", Own, "LFUUUUN"),
        (
            "POST",
            "/sessions/{id}/group-note/addenda",
            Foreign,
            "LFUNNUN",
        ),
        ("POST", "/sessions/{id}/group-note/cosign", Own, "LFUUUUN"),
        (
            "POST",
            "/sessions/{id}/group-note/cosign",
            Foreign,
            "LFUNNUN",
        ),
        ("POST", "/sessions/{id}/notes/{client}", Own, "LFFFUFF"),
        ("POST", "/sessions/{id}/notes/{client}", Foreign, "LFFFNFN"),
        ("POST", "/sign-in", Own, "UUUUUUU"),
        ("POST", "/sign-in/enroll", Own, "UUUUUUU"),
        ("POST", "/waitlist/{id}/remove", Own, "LFRUFUF"),
        ("POST", "/waitlist/{id}/remove", Foreign, "LFRUFUF"),
        // Messages (issue 18): an unknown link explains itself; only administrators see
        // the dead letters.
        ("GET", "/admin/messages", Own, "L2FFFFF"),
        // Onboarding by import (issue 15): administrators only; a form that is not the
        // page's multipart upload is refused for its shape (422).
        ("GET", "/admin/import", Own, "L2FFFFF"),
        ("POST", "/admin/import", Own, "LUFFFFF"),
        ("GET", "/offers/{secret}", Own, "NNNNNNN"),
        ("GET", "/offers/{secret}", Foreign, "NNNNNNN"),
        ("POST", "/offers/{secret}", Own, "NNNNNNN"),
        ("POST", "/offers/{secret}", Foreign, "NNNNNNN"),
        ("GET", "/unsubscribe/{secret}", Own, "2222222"),
        ("GET", "/unsubscribe/{secret}", Foreign, "2222222"),
        ("POST", "/unsubscribe/{secret}", Own, "2222222"),
        ("POST", "/unsubscribe/{secret}", Foreign, "2222222"),
        // Intake's referral page (issue 14): record, admission, screener.
        ("POST", "/referrals/{id}/client", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/client", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/episode", Own, "LFUNUUN"),
        ("POST", "/referrals/{id}/episode", Foreign, "LFUNNUN"),
        ("POST", "/referrals/{id}/screener", Own, "LFRNNRN"),
        ("POST", "/referrals/{id}/screener", Foreign, "LFRNNRN"),
        ("POST", "/sign-out", Own, "LLLLLLL"),
    ]
}

/// What a principal must never see on a page it is shown: program B's members (the
/// foreign group's member and the client waiting for its seat), by given name and record
/// number. Only the clinic-wide director and intake reach them.
fn out_of_reach(principal: &str, path: &str) -> &'static [&'static str] {
    const PROGRAM_B: [&str; 4] = [GIVEN_NAMES[1], "M-1", "Wren", "B-W"];
    const PROGRAM_B_NAMES: [&str; 2] = [GIVEN_NAMES[1], "Wren"];
    const EVERYONE: [&str; 6] = [GIVEN_NAMES[0], "M-0", GIVEN_NAMES[1], "M-1", "Wren", "B-W"];
    match principal {
        "director" | "intake" => &[],
        "anonymous" => &EVERYONE,
        // The audit report names each client by record number for an administrator (the
        // minimum that identifies whose record was touched; issue 14), never by name.
        "admin" if path == "/admin/audit" => &PROGRAM_B_NAMES,
        _ => &PROGRAM_B,
    }
}

/// The path with its parameters filled in for the own (0) or foreign (1) object.
fn concrete(w: &World, path: &str, object: Object) -> String {
    let i = if object == Object::Own { 0 } else { 1 };
    let id = if path.starts_with("/clients/") {
        w.clients[i]
    } else if path.starts_with("/sessions/") {
        w.sessions[i]
    } else if path.starts_with("/notes/") {
        w.notes[i]
    } else if path.starts_with("/alerts/") {
        w.alerts[i]
    } else if path.starts_with("/groups/") {
        w.groups[i]
    } else if path.starts_with("/referrals/") {
        w.referrals[i]
    } else if path.starts_with("/offers/") {
        w.placement.offers[i]
    } else if path.starts_with("/waitlist/") {
        [w.placement.entry, w.foreign_entry][i]
    } else if path.starts_with("/planner/runs/") {
        w.plan_run
    } else if path.starts_with("/timetable/") {
        w.timetables[i]
    } else if path.starts_with("/admin/users/") {
        w.target_user
    } else if path.starts_with("/programs/") {
        [w.program["id"].as_i64().unwrap(), w.program_b][i]
    } else {
        0
    };
    path.replace("{id}", &id.to_string())
        .replace(
            "{mid}",
            &[w.membership, w.foreign_membership][i].to_string(),
        )
        .replace("{client}", &w.clients[i].to_string())
        .replace("{code}", "phq9")
        .replace("{file}", "not-a-feed.ics")
        .replace("{secret}", "not-a-secret")
}

/// The methods the router serves at `path`, from the `Allow` header of its answer to a
/// method no page uses.
async fn methods(t: &TestApp, path: &str) -> Vec<String> {
    let r = t
        .http
        .request(Method::DELETE, t.url(path))
        .send()
        .await
        .unwrap();
    // Circle answers a method a route does not take as a 400 problem
    // (`method_not_allowed`) that keeps the router's `Allow` header.
    assert!(
        matches!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST
        ),
        "DELETE {path}: the probe for its methods answered {}",
        r.status()
    );
    let allow = r
        .headers()
        .get("allow")
        .unwrap_or_else(|| panic!("DELETE {path}: no Allow header"))
        .to_str()
        .unwrap()
        .to_owned();
    allow
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| m != "HEAD")
        .collect()
}

fn code(status: StatusCode, location: Option<&str>) -> char {
    match status.as_u16() {
        200 => '2',
        303 if location.is_some_and(|l| l.starts_with("/sign-in")) => 'L',
        303 => 'R',
        403 => 'F',
        404 => 'N',
        422 => 'U',
        _ => '?',
    }
}

async fn request(
    t: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
) -> circle_testkit::PageResponse {
    match (method, token) {
        ("GET", Some(token)) => t.page(token, path).await,
        ("POST", Some(token)) => {
            let csrf = circle_app::web_session::csrf_token(token);
            t.page_form(token, path, &[("csrf", &csrf)]).await
        }
        (_, None) => {
            let r = t
                .http
                .request(Method::from_bytes(method.as_bytes()).unwrap(), t.url(path))
                .form(&[("csrf", "none")])
                .send()
                .await
                .unwrap();
            circle_testkit::PageResponse::read(r).await
        }
        _ => panic!("{method} {path}: no page method"),
    }
}

#[tokio::test]
async fn every_page_route_times_every_principal_matches_the_expected_table() {
    let t = spawn_app().await;
    let w = world(&t).await;
    let routes = circle_web::pages::routes();

    // The router's page routes, each with the methods it answers.
    let mut served = BTreeSet::new();
    for path in routes.paths() {
        for m in methods(&t, &concrete(&w, path, Object::Own)).await {
            served.insert(format!("{m} {path}"));
        }
    }
    let discover = std::env::var_os("PAGE_MATRIX_DISCOVER").is_some();
    let table = if discover {
        // Every served route, own and (with an id) foreign, to print the observed table.
        let mut rows = vec![];
        for key in &served {
            let (m, p) = key.split_once(' ').unwrap();
            let (m, p): (&'static str, &'static str) = (
                Box::leak(m.to_owned().into_boxed_str()),
                Box::leak(p.to_owned().into_boxed_str()),
            );
            rows.push((m, p, Object::Own, "-------"));
            if p.contains('{') {
                rows.push((m, p, Object::Foreign, "-------"));
            }
        }
        rows
    } else {
        table()
    };
    let listed: BTreeSet<String> = table
        .iter()
        .map(|(m, p, _, _)| format!("{m} {p}"))
        .collect();
    let missing: Vec<&String> = served.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "page routes missing from the page matrix: {missing:#?}"
    );
    let stale: Vec<&String> = listed.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "rows for routes the router does not serve: {stale:#?}"
    );

    // The reach check can fail: the clinic-wide director's client list shows every name
    // and record number it looks for.
    let list = t
        .page(w.tokens["director"].as_deref().unwrap(), "/clients")
        .await;
    for name in out_of_reach("anonymous", "") {
        assert!(list.body.contains(name), "{name} is not on the client list");
    }

    // Signing out ends the principals' sessions: it goes last.
    let mut table = table;
    table.sort_by_key(|(_, path, _, _)| *path == "/sign-out");
    let mut failures = vec![];
    for (method, path, object, expected) in &table {
        let url = concrete(&w, path, *object);
        let mut got = String::new();
        for (k, principal) in PRINCIPALS.iter().enumerate() {
            let token = w.tokens[principal].as_deref();
            let r = request(&t, token, method, &url).await;
            assert!(
                !r.status.is_server_error(),
                "{method} {url} as {principal}: {}",
                r.status
            );
            let c = code(r.status, r.location.as_deref());
            got.push(c);
            if !discover && expected.as_bytes()[k] as char != c {
                failures.push(format!(
                    "{method} {path} ({object:?}) as {principal}: got {} ({:?}), expected {}",
                    r.status,
                    r.location,
                    expected.as_bytes()[k] as char
                ));
            }
            if r.status == StatusCode::OK {
                for name in out_of_reach(principal, path) {
                    if r.body.contains(name) {
                        failures.push(format!(
                            "{method} {url} as {principal} shows {name:?}, out of its reach"
                        ));
                    }
                }
            }
        }
        if discover {
            println!("        (\"{method}\", \"{path}\", {object:?}, \"{got}\"),");
        }
    }
    assert!(
        failures.is_empty(),
        "page matrix mismatches:\n{}",
        failures.join("\n")
    );
    assert!(
        !discover,
        "PAGE_MATRIX_DISCOVER prints the table; it never passes"
    );
}

/// A page and the API read of the same object: whoever the one lets through, the other
/// does too (and both refuse the rest).
#[tokio::test]
async fn pages_and_the_api_agree_on_who_reads_each_object() {
    let t = spawn_app().await;
    let w = world(&t).await;
    let pairs = [
        ("/clients/{id}", "/api/v1/clients/{id}"),
        ("/notes/{id}", "/api/v1/notes/{id}"),
        ("/referrals/{id}", "/api/v1/referrals/{id}"),
        ("/planner/runs/{id}", "/api/v1/plan/runs/{id}"),
    ];
    let mut failures = vec![];
    for (page, api) in pairs {
        for object in [Object::Own, Object::Foreign] {
            let page_url = concrete(&w, page, object);
            let id = page_url.rsplit('/').next().unwrap().to_owned();
            let api_url = api.replace("{id}", &id);
            for principal in PRINCIPALS.iter().skip(1) {
                // A client reads their own record through the portal (`/me`, below), not
                // the staff chart.
                if *principal == "client" && page == "/clients/{id}" {
                    continue;
                }
                let token = w.tokens[principal].as_deref().unwrap();
                let p = t.page(token, &page_url).await.status;
                let (a, _) = t.get(token, &api_url).await;
                if (p == StatusCode::OK) != (a == StatusCode::OK) {
                    failures.push(format!(
                        "{principal}: page {page_url} {p}, API {api_url} {a}"
                    ));
                }
            }
        }
    }
    let client = w.tokens["client"].as_deref().unwrap();
    let (s, own) = t
        .get(client, &format!("/api/v1/clients/{}", w.clients[0]))
        .await;
    assert_eq!(s, StatusCode::OK, "{own}");
    let me = t.page(client, "/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(
        me.body.contains(">G0<") && !me.body.contains(">G1<"),
        "the portal shows the client their own group and no other"
    );
    assert!(
        failures.is_empty(),
        "pages and API disagree:\n{}",
        failures.join("\n")
    );
}
