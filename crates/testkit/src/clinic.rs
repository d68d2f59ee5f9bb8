//! A small clinic made through the HTTP API, as a director would make it: one program, a
//! licensed lead clinician with an enrolled sign-in, a room, one weekly group, and members
//! with an episode, a membership and a signed group agreement each. Tests that need the
//! same set-up share it here instead of repeating forty lines of requests.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::TestApp;

/// What to make. `Default` is an adult IOP with a Monday 10:00 process group of 90 minutes
/// in New York, six members, memberships from Monday 4 May 2026.
#[derive(Debug, Clone)]
pub struct ClinicSpec {
    pub members: usize,
    pub level: &'static str,
    pub weekday: &'static str,
    pub start: &'static str,
    pub minutes: u32,
    /// The memberships' start date (also the day before which episodes begin).
    pub start_date: &'static str,
}

impl Default for ClinicSpec {
    fn default() -> Self {
        Self {
            members: 6,
            level: "iop",
            weekday: "monday",
            start: "10:00",
            minutes: 90,
            start_date: "2026-05-04",
        }
    }
}

/// The clinic's ids and the director's token. The director signs in as
/// `director@example.test` and the lead as `lead@example.test`, both with `TEST_PASSWORD`
/// and their second factor enrolled (so `sign_in` in the browser tests works for them).
#[derive(Debug, Clone)]
pub struct Clinic {
    pub director: String,
    pub program: i64,
    pub lead: i64,
    pub lead_email: String,
    pub room: i64,
    pub group: i64,
    pub members: Vec<i64>,
    pub spec: ClinicSpec,
}

/// `body["id"]` after asserting the request was created.
fn created(what: &str, (status, body): (StatusCode, Value)) -> i64 {
    assert_eq!(status, StatusCode::CREATED, "{what}: {body}");
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: no id in {body}"))
}

impl TestApp {
    /// Makes the clinic `spec` describes (see [`Clinic`]).
    pub async fn clinic(&self, spec: ClinicSpec) -> Clinic {
        use circle_domain::user::Role;
        let director = self
            .token_for("director@example.test", Role::Director, None, None)
            .await;
        let program = created(
            "program",
            self.post(
                &director,
                "/api/v1/programs",
                json!({"name": "Adult IOP", "site": "Riverside",
                    "level_of_care": spec.level, "time_zone": "America/New_York"}),
            )
            .await,
        );
        let lead_email = "lead@example.test".to_owned();
        let lead = created(
            "clinician",
            self.post(
                &director,
                "/api/v1/clinicians",
                json!({"given_name": "Lead", "family_name": "Facilitator", "email": lead_email,
                    "licenses": [{"kind": "lmhc", "number": "L-100", "state": "MA",
                        "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
            )
            .await,
        );
        self.token_for(
            &lead_email,
            Role::Clinician,
            Some(circle_domain::ids::ClinicianId(lead)),
            None,
        )
        .await;
        let room = created(
            "room",
            self.post(
                &director,
                "/api/v1/rooms",
                json!({"site": "Riverside", "name": "Room 3", "capacity": 12}),
            )
            .await,
        );
        let group = created(
            "group",
            self.post(
                &director,
                "/api/v1/groups",
                json!({"program_id": program, "name": "Monday process", "kind": "process",
                    "eligible_levels": [spec.level], "enrollment": {"model": "open"},
                    "room_id": room,
                    "meetings": [{"weekday": spec.weekday, "start": spec.start, "minutes": spec.minutes}],
                    "lead_facilitator_id": lead}),
            )
            .await,
        );
        let mut clinic = Clinic {
            director,
            program,
            lead,
            lead_email,
            room,
            group,
            members: vec![],
            spec,
        };
        for n in 1..=clinic.spec.members {
            let id = clinic.admit(self, n).await;
            clinic.enroll(self, id).await;
            clinic.members.push(id);
        }
        clinic
    }
}

impl Clinic {
    /// A new client `Member{n} Clinictest` (record `C-{n:04}`) with an episode at the
    /// clinic's level and a signed group agreement, not yet in any group.
    pub async fn admit(&self, t: &TestApp, n: usize) -> i64 {
        let id = created(
            "client",
            t.post(
                &self.director,
                "/api/v1/clients",
                json!({"record_number": format!("C-{n:04}"),
                    "given_name": format!("Member{n}"), "family_name": "Clinictest",
                    "date_of_birth": "1984-01-01", "referral_source": "program_admission"}),
            )
            .await,
        );
        created(
            "episode",
            t.post(
                &self.director,
                &format!("/api/v1/clients/{id}/episodes"),
                json!({"level_of_care": self.spec.level, "started_on": "2026-04-01"}),
            )
            .await,
        );
        created(
            "group agreement",
            t.post(
                &self.director,
                &format!("/api/v1/clients/{id}/consents/group-agreement"),
                json!({"signed_on": "2026-04-01"}),
            )
            .await,
        );
        id
    }

    /// Enrolls client `id` in the clinic's group from the spec's start date.
    pub async fn enroll(&self, t: &TestApp, id: i64) -> i64 {
        created(
            "membership",
            t.post(
                &self.director,
                &format!("/api/v1/groups/{}/memberships", self.group),
                json!({"client_id": id, "start_date": self.spec.start_date}),
            )
            .await,
        )
    }

    /// The group's session ids between two dates (materialised as the API does).
    pub async fn sessions(&self, t: &TestApp, from: &str, until: &str) -> Vec<i64> {
        let (status, body) = t
            .get(
                &self.director,
                &format!(
                    "/api/v1/groups/{}/sessions?from={from}&until={until}",
                    self.group
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "sessions: {body}");
        body.as_array()
            .map(|a| a.iter().filter_map(|s| s["id"].as_i64()).collect())
            .unwrap_or_default()
    }
}
