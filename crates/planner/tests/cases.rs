//! Hand-made instances with known optima, validation errors, and scorer corner cases.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

use std::time::Duration;

use circle_planner::{
    Instance, Problem, Reason, Solution, SolveOptions, SolveReport, ValidationError, evaluate,
    solve,
};
use serde_json::{Value, json};

fn meeting(day: i64, start: i64, minutes: i64) -> Value {
    json!({"day": day, "start": start, "minutes": minutes})
}

fn group(id: &str, min: i64, max: i64, meetings: Vec<Value>, members: &[&str]) -> Value {
    json!({"id": id, "program": "p", "min_size": min, "max_size": max,
           "meetings": meetings, "members": members})
}

fn client(id: &str, required: i64, max: i64, current: &[&str]) -> Value {
    json!({"id": id, "level": "iop", "required_minutes": required, "max_minutes": max,
           "current": current})
}

fn instance(
    groups: Vec<Value>,
    clients: Vec<Value>,
    eligible: &[(&str, &str, i64)],
    seps: &[(&str, &str)],
) -> Value {
    json!({
        "format": "circle-placement/1", "name": "case",
        "weights": {"unmet_minute": 2, "continuity_break": 60},
        "groups": groups, "clients": clients,
        "eligible": eligible.iter().map(|(c, g, f)| json!({"client": c, "group": g, "fit": f})).collect::<Vec<_>>(),
        "separations": seps.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
    })
}

fn problem(v: Value) -> Problem {
    Problem::new(serde_json::from_value::<Instance>(v).unwrap()).unwrap()
}

fn run(p: &Problem) -> SolveReport {
    let r = solve(
        p,
        &SolveOptions {
            seed: 7,
            threads: 1,
            time_limit: Duration::from_secs(10),
            iterations: Some(20_000),
            exhaustive: true,
        },
    );
    assert!(r.evaluation.feasible, "{:?}", r.evaluation.violations);
    assert_eq!(evaluate(p, &r.solution), r.evaluation);
    r
}

fn clients(prefix: &str, n: usize, required: i64, max: i64) -> Vec<Value> {
    (1..=n)
        .map(|i| client(&format!("{prefix}{i}"), required, max, &[]))
        .collect()
}

fn placed(r: &SolveReport, c: &str) -> Vec<String> {
    r.solution
        .assignments
        .iter()
        .filter(|a| a.client == c)
        .map(|a| a.group.clone())
        .collect()
}

fn reasons(r: &SolveReport, c: &str) -> Vec<Reason> {
    r.solution
        .shortfalls
        .iter()
        .find(|s| s.client == c)
        .map(|s| s.reasons.clone())
        .unwrap_or_default()
}

#[test]
fn a_group_that_cannot_reach_its_minimum_stays_empty_and_says_why() {
    let ids = ["c1", "c2", "c3"];
    let elig: Vec<(&str, &str, i64)> = ids.iter().map(|c| (*c, "g1", 80)).collect();
    let p = problem(instance(
        vec![group("g1", 4, 8, vec![meeting(0, 540, 90)], &[])],
        clients("c", 3, 90, 180),
        &elig,
        &[],
    ));
    let r = run(&p);
    assert!(r.solution.assignments.is_empty());
    assert_eq!(r.evaluation.score, -2 * 90 * 3);
    assert!(r.proven_optimal);
    assert_eq!(r.bound, Some(r.evaluation.score));
    assert_eq!(
        reasons(&r, "c1"),
        vec![Reason::GroupBelowMinimum {
            group: "g1".into(),
            min_size: 4
        }]
    );
}

#[test]
fn a_separation_inside_the_only_eligible_group_keeps_the_lower_fit_client_out() {
    let elig = [
        ("c1", "g1", 90),
        ("c2", "g1", 10),
        ("c3", "g1", 50),
        ("c4", "g1", 50),
        ("c5", "g1", 50),
    ];
    let p = problem(instance(
        vec![group("g1", 3, 5, vec![meeting(1, 600, 90)], &[])],
        clients("c", 5, 90, 90),
        &elig,
        &[("c1", "c2")],
    ));
    let r = run(&p);
    assert_eq!(placed(&r, "c2"), Vec::<String>::new());
    assert_eq!(r.evaluation.score, 90 + 150 - 2 * 90);
    assert!(r.proven_optimal);
    assert_eq!(
        reasons(&r, "c2"),
        vec![Reason::Separation {
            group: "g1".into(),
            other: "c1".into()
        }]
    );
}

#[test]
fn a_current_placement_no_longer_eligible_ends_and_counts_as_a_break() {
    // c1 was in g1 but is now only eligible for g2.
    let mut cs = clients("c", 2, 90, 180);
    cs[0] = client("c1", 90, 180, &["g1"]);
    let p = problem(instance(
        vec![
            group("g1", 1, 5, vec![meeting(0, 540, 90)], &["c1"]),
            group("g2", 1, 5, vec![meeting(2, 540, 90)], &[]),
        ],
        cs,
        &[("c1", "g2", 40), ("c2", "g1", 30)],
        &[],
    ));
    let r = run(&p);
    assert_eq!(placed(&r, "c1"), vec!["g2".to_string()]);
    assert_eq!(r.evaluation.breaks, 1);
    assert_eq!(r.evaluation.score, 40 + 30 - 60);
    assert!(r.proven_optimal);
}

#[test]
fn a_client_gets_only_one_of_two_overlapping_groups() {
    let p = problem(instance(
        vec![
            group("g1", 1, 5, vec![meeting(0, 540, 90)], &[]),
            group("g2", 1, 5, vec![meeting(0, 600, 90)], &[]),
            group("g3", 1, 5, vec![meeting(0, 630, 90)], &[]),
        ],
        clients("c", 1, 270, 600),
        &[("c1", "g1", 10), ("c1", "g2", 90), ("c1", "g3", 20)],
        &[],
    ));
    let r = run(&p);
    // g1 [540,630) and g3 [630,720) touch but do not overlap; g2 overlaps both.
    assert_eq!(placed(&r, "c1"), vec!["g1".to_string(), "g3".to_string()]);
    assert_eq!(r.evaluation.score, 30 - 2 * 90);
    assert!(r.proven_optimal);
    assert!(reasons(&r, "c1").contains(&Reason::Overlap {
        group: "g2".into(),
        with: "g1".into()
    }));
}

#[test]
fn the_weekly_cap_limits_a_client_and_is_named() {
    let p = problem(instance(
        vec![
            group("g1", 1, 5, vec![meeting(0, 540, 90)], &[]),
            group("g2", 1, 5, vec![meeting(1, 540, 90)], &[]),
        ],
        clients("c", 1, 180, 100),
        &[("c1", "g1", 10), ("c1", "g2", 90)],
        &[],
    ));
    let r = run(&p);
    assert_eq!(placed(&r, "c1"), vec!["g2".to_string()]);
    let why = reasons(&r, "c1");
    assert!(why.contains(&Reason::WeeklyCapBelowRequired { max_minutes: 100 }));
    assert!(why.contains(&Reason::WeeklyCap { group: "g1".into() }));
    assert!(why.contains(&Reason::NotEnoughEligibleTime {
        reachable_minutes: 90
    }));
}

#[test]
fn a_full_group_and_a_client_with_no_options_are_explained() {
    let p = problem(instance(
        vec![group("g1", 1, 2, vec![meeting(0, 540, 90)], &[])],
        clients("c", 4, 90, 90),
        &[("c1", "g1", 90), ("c2", "g1", 80), ("c3", "g1", 10)],
        &[],
    ));
    let r = run(&p);
    assert_eq!(r.evaluation.score, 170 - 2 * 180);
    assert_eq!(
        reasons(&r, "c3"),
        vec![Reason::GroupFull { group: "g1".into() }]
    );
    assert_eq!(reasons(&r, "c4"), vec![Reason::NoEligibleGroup]);
    assert!(r.proven_optimal);
}

#[test]
fn filling_a_minimum_beats_keeping_one_high_fit_placement() {
    // Five clients can all go to g2 (min 5), or c1 alone could keep a current placement in
    // g1 (min 1) which overlaps g2: then g2 cannot run and four clients stay unplaced.
    let mut cs = clients("c", 5, 90, 90);
    cs[0] = client("c1", 90, 90, &["g1"]);
    let mut elig = vec![("c1", "g1", 100)];
    for c in ["c1", "c2", "c3", "c4", "c5"] {
        elig.push((c, "g2", 20));
    }
    let p = problem(instance(
        vec![
            group("g1", 1, 5, vec![meeting(0, 540, 90)], &["c1"]),
            group("g2", 5, 5, vec![meeting(0, 560, 90)], &[]),
        ],
        cs,
        &elig,
        &[],
    ));
    let r = run(&p);
    assert_eq!(r.evaluation.score, (100 - 60));
    assert_eq!(r.solution.assignments.len(), 5);
    assert!(r.proven_optimal);
}

fn invalid(v: Value) -> ValidationError {
    Problem::new(serde_json::from_value::<Instance>(v).unwrap()).unwrap_err()
}

fn base() -> Value {
    instance(
        vec![group("g1", 1, 5, vec![meeting(0, 540, 90)], &["c1"])],
        vec![client("c1", 90, 180, &["g1"]), client("c2", 90, 180, &[])],
        &[("c1", "g1", 50), ("c2", "g1", 50)],
        &[("c1", "c2")],
    )
}

#[test]
fn validation_names_the_offending_item() {
    let mut v = base();
    v["eligible"][1]["client"] = json!("c9");
    let e = invalid(v);
    assert!(matches!(&e, ValidationError::UnknownClient { id, .. } if id == "c9"));
    assert!(e.to_string().contains("c9") && e.to_string().contains("eligible entry 1"));

    let mut v = base();
    v["eligible"][1]["group"] = json!("g9");
    assert!(matches!(invalid(v), ValidationError::UnknownGroup { id, .. } if id == "g9"));

    let mut v = base();
    v["groups"][0]["min_size"] = json!(6);
    assert!(matches!(invalid(v), ValidationError::MinAboveMax { group, .. } if group == "g1"));

    let mut v = base();
    v["eligible"][1]["client"] = json!("c1");
    assert!(
        matches!(invalid(v), ValidationError::DuplicateEligible { client, .. } if client == "c1")
    );

    let mut v = base();
    v["clients"][1]["required_minutes"] = json!(-5);
    assert!(
        matches!(invalid(v), ValidationError::MinutesOutOfRange { client, .. } if client == "c2")
    );

    let mut v = base();
    v["groups"][0]["meetings"][0]["minutes"] = json!(-90);
    assert!(matches!(invalid(v), ValidationError::BadMeeting { group, .. } if group == "g1"));

    let mut v = base();
    v["clients"][0]["current"] = json!(["g7"]);
    assert!(matches!(invalid(v), ValidationError::UnknownGroup { id, .. } if id == "g7"));

    let mut v = base();
    v["groups"][0]["members"] = json!([]);
    assert!(
        matches!(invalid(v), ValidationError::MembershipMismatch { client, .. } if client == "c1")
    );

    let mut v = base();
    v["separations"] = json!([["c1", "c8"]]);
    assert!(matches!(invalid(v), ValidationError::UnknownClient { id, .. } if id == "c8"));

    let mut v = base();
    v["separations"] = json!([["c2", "c2"]]);
    assert!(matches!(invalid(v), ValidationError::SelfSeparation { client } if client == "c2"));

    let mut v = base();
    v["eligible"][0]["fit"] = json!(101);
    assert!(matches!(
        invalid(v),
        ValidationError::FitOutOfRange { fit: 101, .. }
    ));

    let mut v = base();
    v["format"] = json!("circle-placement/2");
    assert!(matches!(invalid(v), ValidationError::WrongFormat { .. }));

    let mut v = base();
    v["groups"][0]["max_size"] = json!(-1);
    assert!(matches!(
        invalid(v),
        ValidationError::NegativeSize {
            field: "max_size",
            ..
        }
    ));
}

#[test]
fn the_scorer_counts_like_the_checker() {
    let p = problem(base());
    let sol = |pairs: &[(&str, &str)]| -> Solution {
        serde_json::from_value(json!({
            "format": "circle-placement-solution/1", "instance": "case",
            "assignments": pairs.iter().map(|(c, g)| json!({"client": c, "group": g})).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let e = evaluate(&p, &sol(&[("c1", "g1")]));
    assert!(e.feasible);
    assert_eq!(
        (e.score, e.fit, e.unmet_minutes, e.breaks),
        (50 - 180, 50, 90, 0)
    );

    let e = evaluate(&p, &sol(&[("c1", "g1"), ("c2", "g1")]));
    assert!(!e.feasible);
    assert_eq!(
        e.violations,
        vec!["separated pair c1,c2 both in g1".to_string()]
    );

    let e = evaluate(&p, &sol(&[("c1", "g1"), ("c1", "g1"), ("c3", "g1")]));
    assert_eq!(e.violation_count, 2);
    assert_eq!(e.assignments, 2);
    assert_eq!(e.score, 50 - 2 * 90);

    let e = evaluate(&p, &sol(&[]));
    assert!(e.feasible);
    assert_eq!((e.breaks, e.unmet_minutes, e.score), (1, 180, -60 - 360));
}

/// With several faults among the eligible entries, the error is about the earliest entry
/// at fault: a repeated pair before an unknown id or a bad fit, or the other way round.
#[test]
fn the_earliest_faulty_eligible_entry_is_reported() {
    let three = |entries: &[(&str, &str, i64)]| {
        instance(
            vec![
                group("g1", 0, 5, vec![meeting(0, 540, 90)], &[]),
                group("g2", 0, 5, vec![meeting(1, 540, 90)], &[]),
            ],
            vec![client("c1", 90, 180, &[]), client("c2", 90, 180, &[])],
            entries,
            &[],
        )
    };
    let e = invalid(three(&[
        ("c2", "g1", 5),
        ("c1", "g2", 5),
        ("c2", "g1", 6),
        ("c9", "g1", 5),
    ]));
    assert!(
        matches!(&e, ValidationError::DuplicateEligible { client, group } if client == "c2" && group == "g1"),
        "{e}"
    );
    let e = invalid(three(&[
        ("c2", "g1", 5),
        ("c1", "g2", 101),
        ("c2", "g1", 6),
    ]));
    assert!(
        matches!(&e, ValidationError::FitOutOfRange { client, fit: 101, .. } if client == "c1"),
        "{e}"
    );
    // Two repeated pairs: the one whose repeat comes first is named.
    let e = invalid(three(&[
        ("c2", "g2", 5),
        ("c1", "g1", 5),
        ("c1", "g1", 5),
        ("c2", "g2", 5),
    ]));
    assert!(
        matches!(&e, ValidationError::DuplicateEligible { client, group } if client == "c1" && group == "g1"),
        "{e}"
    );
    // A valid instance finds every listed pair, and none that is not listed.
    let p = problem(three(&[("c2", "g2", 5), ("c1", "g1", 5), ("c2", "g1", 5)]));
    assert_eq!(p.pair(1, 1), Some(0));
    assert_eq!(p.pair(0, 0), Some(1));
    assert_eq!(p.pair(1, 0), Some(2));
    assert_eq!(p.pair(0, 1), None);
    assert_eq!(p.pair(2, 0), None, "no such client");
}
