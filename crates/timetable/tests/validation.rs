//! Instances that break a rule are refused with an error that names the item, the field
//! and the rule.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

mod common;

use circle_timetable::{Problem, ValidationError};

fn refused(edit: impl FnOnce(&mut circle_timetable::Instance)) -> ValidationError {
    let mut instance = common::random_instance(3);
    edit(&mut instance);
    Problem::new(instance).unwrap_err()
}

#[test]
fn a_random_instance_is_accepted() {
    for seed in 0..50 {
        assert!(
            Problem::new(common::random_instance(seed)).is_ok(),
            "seed {seed}"
        );
    }
}

#[test]
fn a_wrong_format_tag_is_refused() {
    let e = refused(|i| i.format = "circle-placement/1".into());
    assert!(matches!(e, ValidationError::WrongFormat { .. }));
}

#[test]
fn a_group_on_an_unknown_track_is_refused_naming_the_field() {
    let e = refused(|i| i.groups[0].track = "nowhere".into());
    assert_eq!(
        e.to_string(),
        "group \"g0\": track names unknown track \"nowhere\""
    );
}

#[test]
fn a_duplicate_clinician_id_is_refused() {
    let e = refused(|i| {
        let k = i.clinicians[0].clone();
        i.clinicians.push(k);
    });
    assert_eq!(e.to_string(), "clinician id \"k0\" appears more than once");
}

#[test]
fn negative_minutes_are_refused_with_the_rule() {
    let e = refused(|i| i.groups[0].minutes = -30);
    assert_eq!(
        e.to_string(),
        "group \"g0\": minutes must be positive and fit between open and close"
    );
}

#[test]
fn a_cohort_track_needs_its_days_target() {
    let e = refused(|i| i.tracks[0].days_target = None);
    assert_eq!(
        e.to_string(),
        "track \"t0\": days_target is required for a cohort track"
    );
}

#[test]
fn a_grid_finer_than_the_masks_allow_is_refused() {
    let e = refused(|i| i.grid.step = 5);
    assert!(matches!(e, ValidationError::BadGrid { field: "step", .. }));
}

#[test]
fn an_in_person_room_needs_a_capacity() {
    let e = refused(|i| i.rooms[0].capacity = None);
    assert_eq!(
        e.to_string(),
        "room \"r0\": capacity is required for an in-person room"
    );
}
