//! Builders for synthetic test data. Every name here is invented; nothing resembles a
//! real person. Inputs go through serde, the same constructors the API uses.

use circle_domain::care::LevelOfCare;
use circle_domain::client::{Client, NewClient, NewEpisode};
use circle_domain::clinician::{Clinician, NewClinician};
use circle_domain::group::{Group, NewGroup};
use circle_domain::ids::{ClinicianId, ProgramId, RoomId};
use circle_domain::program::{NewProgram, NewRoom, Program, Room};
use circle_store::Store;
use circle_store::access::purpose;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use serde_json::{Value, json};

/// The fixed "today" of store tests: Monday 4 May 2026.
pub fn today() -> Date {
    date(2026, 5, 4)
}

/// A fixed "now" on `today()`, 09:00 New York time.
pub fn now() -> Timestamp {
    "2026-05-04T13:00:00Z".parse().expect("a valid instant")
}

/// Deserialize a domain input from JSON, as the API would.
pub fn input<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test input matches the API schema")
}

pub async fn program(store: &Store, name: &str, level: LevelOfCare) -> Program {
    let new: NewProgram = input(json!({
        "name": name, "site": "Riverside", "level_of_care": level,
        "time_zone": "America/New_York"
    }));
    store
        .create_program(&new, now())
        .await
        .expect("create program")
}

pub async fn room(store: &Store, name: &str, capacity: u32) -> Room {
    let new: NewRoom = input(json!({"site": "Riverside", "name": name, "capacity": capacity}));
    store.create_room(&new, now()).await.expect("create room")
}

/// A licensed clinician (license active 2020–2030), numbered to keep emails unique.
pub async fn clinician(store: &Store, n: u32) -> Clinician {
    clinician_with(store, n, "2030-12-31").await
}

pub async fn clinician_with(store: &Store, n: u32, expires_on: &str) -> Clinician {
    let new: NewClinician = input(json!({
        "given_name": format!("Clin{n}"), "family_name": "Testcase",
        "email": format!("clinician{n}@example.test"),
        "licenses": [{"kind": "licsw", "number": format!("LIC-{n}"), "state": "MA",
                      "issued_on": "2020-01-01", "expires_on": expires_on}],
        "modalities": ["cbt", "dbt"]
    }));
    store
        .create_clinician(&new, now())
        .await
        .expect("create clinician")
}

/// A trainee: no license.
pub async fn trainee(store: &Store, n: u32) -> Clinician {
    let new: NewClinician = input(json!({
        "given_name": format!("Trainee{n}"), "family_name": "Testcase",
        "email": format!("trainee{n}@example.test")
    }));
    store
        .create_clinician(&new, now())
        .await
        .expect("create trainee")
}

/// A client with an open episode at `level` since 1 March 2026.
pub async fn client_at(store: &Store, n: u32, level: LevelOfCare) -> Client {
    let new: NewClient = input(json!({
        "record_number": format!("MRN-{n:05}"), "given_name": format!("Given{n}"),
        "family_name": format!("Family{n}"), "date_of_birth": "1990-06-15",
        "concerns": ["depression"], "referral_source": "program_admission",
        "availability": [{"weekday": "tuesday", "start": "08:00", "end": "21:00"}]
    }));
    let op = store.op();
    let who = op.role::<purpose::ClientCreate>().await.expect("access");
    let client = store
        .create_client(&who, &new, today(), now())
        .await
        .expect("create client");
    let episode: NewEpisode = input(json!({"level_of_care": level, "started_on": "2026-03-01"}));
    let a = op
        .client::<purpose::EpisodeCreate>(client.id)
        .await
        .expect("access");
    store
        .change_level(&a, &episode, now())
        .await
        .expect("open episode");
    let a = op
        .client::<purpose::ClientRead>(client.id)
        .await
        .expect("access");
    store.client(&a, now()).await.expect("reload client")
}

/// A group definition: `meetings` as JSON, open enrollment unless `extra` says otherwise.
pub fn group_input(
    program: ProgramId,
    lead: ClinicianId,
    room: Option<RoomId>,
    name: &str,
    meetings: Value,
    extra: Value,
) -> NewGroup {
    let mut v = json!({
        "program_id": program, "name": name, "kind": "process",
        "eligible_levels": ["iop"], "enrollment": {"model": "open"},
        "meetings": meetings, "room_id": room, "lead_facilitator_id": lead
    });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            obj.insert(k.clone(), val.clone());
        }
    }
    input(v)
}

/// Tuesdays 18:00–19:30.
pub fn tuesday_evening() -> Value {
    json!([{"weekday": "tuesday", "start": "18:00", "minutes": 90}])
}

pub async fn group(store: &Store, new: &NewGroup) -> Group {
    let program = store
        .op()
        .program::<purpose::ProgramDesign>(new.program_id)
        .await
        .expect("access");
    store
        .create_group(&program, new, today(), now())
        .await
        .expect("create group")
}
