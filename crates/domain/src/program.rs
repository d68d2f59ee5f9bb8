//! Programs: a service line at a site with its level of care, time zone and hours rule.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{LevelOfCare, vocab};
use crate::ids::ProgramId;
use crate::text::{Label, TimeZoneName};
use crate::{DomainError, FieldErrors};

/// CPT 90853 allows at most 12 patients per group; a program may cap lower (one state's
/// Medicaid IOP rule caps at 8), never higher.
pub const CPT_GROUP_MAX: u32 = 12;

vocab!(
    /// The code billed per attending member per session (DESIGN.md "Clinical numbers").
    SessionCode {
        /// Group psychotherapy (the default).
        Cpt90853 = "90853",
        /// Multiple-family group psychotherapy.
        Cpt90849 = "90849",
        /// Group psychotherapy in PHP/IOP (Medicare).
        G0410 = "G0410",
        /// Interactive group psychotherapy in PHP/IOP (Medicare).
        G0411 = "G0411",
    }
);

vocab!(
    /// A per-diem code for programs that bill by the day.
    PerDiemCode {
        /// Intensive outpatient psychiatric services, per diem.
        S9480 = "S9480",
        /// Alcohol and/or drug services; intensive outpatient.
        H0015 = "H0015",
        /// Mental health partial hospitalization, less than 24 hours.
        H0035 = "H0035",
    }
);

vocab!(
    /// Where a service was rendered, as a CMS place-of-service code (the CMS "Place of
    /// Service Code Set"): claims carry it per line.
    PlaceOfService {
        /// Telehealth provided other than in the patient's home.
        Telehealth02 = "02",
        /// Telehealth provided in the patient's home.
        Telehealth10 = "10",
        Office = "11",
        /// Outpatient hospital, on campus.
        OutpatientHospital = "22",
        /// Psychiatric facility, partial hospitalization.
        PartialHospitalization = "52",
        CommunityMentalHealthCenter = "53",
        /// Residential substance abuse treatment facility.
        ResidentialSubstanceAbuse = "55",
        /// Psychiatric residential treatment center.
        PsychiatricResidential = "56",
        /// Non-residential substance abuse treatment facility.
        NonResidentialSubstanceAbuse = "57",
    }
);

impl PlaceOfService {
    /// Whether the code says the service was rendered by telehealth (02 or 10).
    pub fn is_telehealth(self) -> bool {
        matches!(self, Self::Telehealth02 | Self::Telehealth10)
    }

    /// Where a level's in-person groups are usually rendered: a PHP in a psychiatric
    /// facility's partial hospitalization (52), residential care in a psychiatric
    /// residential treatment center (56), IOP and outpatient groups in an office (11).
    pub fn default_for(level: LevelOfCare) -> Self {
        match level {
            LevelOfCare::Php => Self::PartialHospitalization,
            LevelOfCare::Residential => Self::PsychiatricResidential,
            LevelOfCare::Iop | LevelOfCare::Outpatient => Self::Office,
        }
    }
}

/// A program as stored, with its settings (defaults from DESIGN.md "Clinical numbers").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Program {
    pub id: ProgramId,
    pub name: Label,
    pub site: Label,
    pub level_of_care: LevelOfCare,
    pub time_zone: TimeZoneName,
    pub weekly_required_minutes: u32,
    pub max_group_size: u32,
    /// How many new members an open group takes per session (default 2).
    pub newcomers_per_session: u32,
    /// Notes not signed this many hours after their session are overdue (default 24).
    pub note_due_hours: u32,
    /// The code billed per attending member per session (default CPT 90853).
    pub session_code: SessionCode,
    /// Set when the program bills per day (S9480, H0015, H0035).
    pub per_diem_code: Option<PerDiemCode>,
    /// Attended group minutes a day needs before it is billed per diem (IOP ≥ 3 h).
    pub daily_minimum_minutes: u32,
    /// Days between routine outcome measures (besides intake and discharge; default 14).
    pub measure_cadence_days: u32,
    /// Where in-person groups are rendered (default by level: 52 PHP, 56 residential, 11).
    pub place_of_service: PlaceOfService,
    /// Telehealth lines' place of service: 10, the patient's home (the default: members
    /// join from home), or 02, elsewhere.
    pub telehealth_place_of_service: PlaceOfService,
    /// Whether a session line stays billable beside a per-diem line for the same client
    /// and day. Off by default: a per diem covers the day's groups (the common payer rule).
    pub sessions_billable_with_per_diem: bool,
    pub version: i64,
}

/// A program to create. Omitted settings take the level's defaults.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgram {
    pub name: Label,
    pub site: Label,
    pub level_of_care: LevelOfCare,
    pub time_zone: TimeZoneName,
    pub weekly_required_minutes: Option<u32>,
    pub max_group_size: Option<u32>,
    pub newcomers_per_session: Option<u32>,
    pub note_due_hours: Option<u32>,
    pub session_code: Option<SessionCode>,
    pub per_diem_code: Option<PerDiemCode>,
    pub daily_minimum_minutes: Option<u32>,
    pub measure_cadence_days: Option<u32>,
    pub place_of_service: Option<PlaceOfService>,
    pub telehealth_place_of_service: Option<PlaceOfService>,
    pub sessions_billable_with_per_diem: Option<bool>,
}

/// A change to a program's settings; `version` must match the stored one. Omitted fields
/// keep their value; `per_diem_code: null` stops per-diem billing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    pub version: i64,
    pub name: Option<Label>,
    pub weekly_required_minutes: Option<u32>,
    pub max_group_size: Option<u32>,
    pub newcomers_per_session: Option<u32>,
    pub note_due_hours: Option<u32>,
    pub session_code: Option<SessionCode>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<PerDiemCode>)]
    pub per_diem_code: Option<Option<PerDiemCode>>,
    pub daily_minimum_minutes: Option<u32>,
    pub measure_cadence_days: Option<u32>,
    pub place_of_service: Option<PlaceOfService>,
    pub telehealth_place_of_service: Option<PlaceOfService>,
    pub sessions_billable_with_per_diem: Option<bool>,
}

/// Tells "absent" (outer `None`, by `serde(default)`) from "null" (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A program's settings after defaults, proven valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSettings {
    pub weekly_required_minutes: u32,
    pub max_group_size: u32,
    pub newcomers_per_session: u32,
    pub note_due_hours: u32,
    pub session_code: SessionCode,
    pub per_diem_code: Option<PerDiemCode>,
    pub daily_minimum_minutes: u32,
    pub measure_cadence_days: u32,
    pub place_of_service: PlaceOfService,
    pub telehealth_place_of_service: PlaceOfService,
    pub sessions_billable_with_per_diem: bool,
}

/// Weekly minutes above a full week of waking hours are a typo, not a requirement.
const MAX_WEEKLY_MINUTES: u32 = 7 * 16 * 60;

impl ProgramSettings {
    /// The defaults for a level of care: its weekly hours, the CPT cap, two newcomers a
    /// session, notes due within 24 h, CPT 90853, no per diem, IOP/PHP days of ≥ 3 h, and
    /// measures every two weeks.
    pub fn defaults(level: LevelOfCare) -> Self {
        Self {
            weekly_required_minutes: level.default_weekly_minutes(),
            max_group_size: CPT_GROUP_MAX,
            newcomers_per_session: 2,
            note_due_hours: 24,
            session_code: SessionCode::Cpt90853,
            per_diem_code: None,
            daily_minimum_minutes: match level {
                LevelOfCare::Php | LevelOfCare::Iop => 180,
                LevelOfCare::Residential | LevelOfCare::Outpatient => 0,
            },
            measure_cadence_days: 14,
            place_of_service: PlaceOfService::default_for(level),
            telehealth_place_of_service: PlaceOfService::Telehealth10,
            sessions_billable_with_per_diem: false,
        }
    }

    /// Checks every setting, naming each one that breaks its rule, and the billing codes
    /// against the program's level of care (INTEROP.md "Billing codes"): G0410/G0411 are
    /// group psychotherapy within partial hospitalization or intensive outpatient; H0035
    /// is partial hospitalization's per diem, S9480 and H0015 intensive outpatient's. A
    /// residential program billing S9480 is refused, naming the field and the reason.
    pub fn validate(self, level: LevelOfCare) -> Result<Self, DomainError> {
        let mut errors = FieldErrors::default();
        if matches!(self.session_code, SessionCode::G0410 | SessionCode::G0411)
            && !matches!(level, LevelOfCare::Php | LevelOfCare::Iop)
        {
            errors.push(
                "session_code",
                format!(
                    "{} is group psychotherapy within partial hospitalization or intensive \
                     outpatient; this program's level of care is {level}",
                    self.session_code
                ),
            );
        }
        if let Some(code) = self.per_diem_code {
            let fits = match code {
                PerDiemCode::H0035 => level == LevelOfCare::Php,
                PerDiemCode::S9480 | PerDiemCode::H0015 => level == LevelOfCare::Iop,
            };
            if !fits {
                let for_level = match code {
                    PerDiemCode::H0035 => "partial hospitalization (php)",
                    PerDiemCode::S9480 | PerDiemCode::H0015 => "intensive outpatient (iop)",
                };
                errors.push(
                    "per_diem_code",
                    format!(
                        "{code} is the per diem of {for_level}; this program's level of care is {level}"
                    ),
                );
            }
        }
        if self.weekly_required_minutes > MAX_WEEKLY_MINUTES {
            errors.push(
                "weekly_required_minutes",
                format!("must be at most {MAX_WEEKLY_MINUTES} minutes"),
            );
        }
        if !(2..=CPT_GROUP_MAX).contains(&self.max_group_size) {
            errors.push(
                "max_group_size",
                format!(
                    "must be between 2 and {CPT_GROUP_MAX} (CPT 90853 allows at most 12 patients)"
                ),
            );
        }
        if !(1..=CPT_GROUP_MAX).contains(&self.newcomers_per_session) {
            errors.push(
                "newcomers_per_session",
                format!("must be between 1 and {CPT_GROUP_MAX}"),
            );
        }
        if !(1..=14 * 24).contains(&self.note_due_hours) {
            errors.push("note_due_hours", "must be between 1 and 336 hours");
        }
        if self.daily_minimum_minutes > 24 * 60 {
            errors.push("daily_minimum_minutes", "must be at most 1440 minutes");
        }
        if !(1..=365).contains(&self.measure_cadence_days) {
            errors.push("measure_cadence_days", "must be between 1 and 365 days");
        }
        if self.place_of_service.is_telehealth() {
            errors.push(
                "place_of_service",
                "must be where in-person groups meet, not a telehealth code (02, 10)",
            );
        }
        if !self.telehealth_place_of_service.is_telehealth() {
            errors.push(
                "telehealth_place_of_service",
                "must be 10 (the patient's home) or 02 (telehealth elsewhere)",
            );
        }
        errors.into_result()?;
        Ok(self)
    }
}

impl NewProgram {
    pub fn settings(&self) -> Result<ProgramSettings, DomainError> {
        let d = ProgramSettings::defaults(self.level_of_care);
        ProgramSettings {
            weekly_required_minutes: self
                .weekly_required_minutes
                .unwrap_or(d.weekly_required_minutes),
            max_group_size: self.max_group_size.unwrap_or(d.max_group_size),
            newcomers_per_session: self
                .newcomers_per_session
                .unwrap_or(d.newcomers_per_session),
            note_due_hours: self.note_due_hours.unwrap_or(d.note_due_hours),
            session_code: self.session_code.unwrap_or(d.session_code),
            per_diem_code: self.per_diem_code.or(d.per_diem_code),
            daily_minimum_minutes: self
                .daily_minimum_minutes
                .unwrap_or(d.daily_minimum_minutes),
            measure_cadence_days: self.measure_cadence_days.unwrap_or(d.measure_cadence_days),
            place_of_service: self.place_of_service.unwrap_or(d.place_of_service),
            telehealth_place_of_service: self
                .telehealth_place_of_service
                .unwrap_or(d.telehealth_place_of_service),
            sessions_billable_with_per_diem: self
                .sessions_billable_with_per_diem
                .unwrap_or(d.sessions_billable_with_per_diem),
        }
        .validate(self.level_of_care)
    }
}

impl Program {
    /// The program's current settings.
    pub fn settings(&self) -> ProgramSettings {
        ProgramSettings {
            weekly_required_minutes: self.weekly_required_minutes,
            max_group_size: self.max_group_size,
            newcomers_per_session: self.newcomers_per_session,
            note_due_hours: self.note_due_hours,
            session_code: self.session_code,
            per_diem_code: self.per_diem_code,
            daily_minimum_minutes: self.daily_minimum_minutes,
            measure_cadence_days: self.measure_cadence_days,
            place_of_service: self.place_of_service,
            telehealth_place_of_service: self.telehealth_place_of_service,
            sessions_billable_with_per_diem: self.sessions_billable_with_per_diem,
        }
    }
}

impl ProgramPatch {
    /// The settings after this change, proven valid.
    pub fn apply(&self, current: &Program) -> Result<ProgramSettings, DomainError> {
        let c = current.settings();
        ProgramSettings {
            weekly_required_minutes: self
                .weekly_required_minutes
                .unwrap_or(c.weekly_required_minutes),
            max_group_size: self.max_group_size.unwrap_or(c.max_group_size),
            newcomers_per_session: self
                .newcomers_per_session
                .unwrap_or(c.newcomers_per_session),
            note_due_hours: self.note_due_hours.unwrap_or(c.note_due_hours),
            session_code: self.session_code.unwrap_or(c.session_code),
            per_diem_code: self.per_diem_code.unwrap_or(c.per_diem_code),
            daily_minimum_minutes: self
                .daily_minimum_minutes
                .unwrap_or(c.daily_minimum_minutes),
            measure_cadence_days: self.measure_cadence_days.unwrap_or(c.measure_cadence_days),
            place_of_service: self.place_of_service.unwrap_or(c.place_of_service),
            telehealth_place_of_service: self
                .telehealth_place_of_service
                .unwrap_or(c.telehealth_place_of_service),
            sessions_billable_with_per_diem: self
                .sessions_billable_with_per_diem
                .unwrap_or(c.sessions_billable_with_per_diem),
        }
        .validate(current.level_of_care)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut ProgramSettings)) -> Result<ProgramSettings, DomainError> {
        let mut s = ProgramSettings::defaults(LevelOfCare::Iop);
        f(&mut s);
        s.validate(LevelOfCare::Iop)
    }

    #[test]
    fn billing_codes_must_fit_the_level_of_care() {
        let mut s = ProgramSettings::defaults(LevelOfCare::Residential);
        s.per_diem_code = Some(PerDiemCode::S9480);
        let err = s.validate(LevelOfCare::Residential).unwrap_err();
        assert!(format!("{err:?}").contains("per_diem_code"), "{err:?}");
        let mut s = ProgramSettings::defaults(LevelOfCare::Php);
        s.session_code = SessionCode::G0410;
        s.per_diem_code = Some(PerDiemCode::H0035);
        assert!(s.clone().validate(LevelOfCare::Php).is_ok());
        assert!(s.validate(LevelOfCare::Iop).is_err());
        let mut s = ProgramSettings::defaults(LevelOfCare::Iop);
        s.session_code = SessionCode::G0411;
        s.per_diem_code = Some(PerDiemCode::H0015);
        assert!(s.clone().validate(LevelOfCare::Iop).is_ok());
        s.per_diem_code = Some(PerDiemCode::S9480);
        assert!(s.clone().validate(LevelOfCare::Iop).is_ok());
        assert!(s.validate(LevelOfCare::Outpatient).is_err());
    }

    #[test]
    fn places_of_service_default_by_level_and_telehealth_codes_stay_in_their_setting() {
        assert_eq!(
            ProgramSettings::defaults(LevelOfCare::Php)
                .place_of_service
                .as_str(),
            "52"
        );
        let d = ProgramSettings::defaults(LevelOfCare::Iop);
        assert_eq!(
            (
                d.place_of_service.as_str(),
                d.telehealth_place_of_service.as_str(),
                d.sessions_billable_with_per_diem
            ),
            ("11", "10", false)
        );
        let err = with(|s| s.place_of_service = PlaceOfService::Telehealth02).unwrap_err();
        assert!(
            format!("{err:?}").contains("\"place_of_service\""),
            "{err:?}"
        );
        let err = with(|s| s.telehealth_place_of_service = PlaceOfService::Office).unwrap_err();
        assert!(
            format!("{err:?}").contains("telehealth_place_of_service"),
            "{err:?}"
        );
        assert!(with(|s| s.telehealth_place_of_service = PlaceOfService::Telehealth02).is_ok());
    }

    #[test]
    fn a_program_cap_above_twelve_is_refused() {
        let err = with(|s| s.max_group_size = 13).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(ref f) if f.0[0].field == "max_group_size"));
        assert!(with(|s| s.max_group_size = 8).is_ok());
    }

    #[test]
    fn every_bad_setting_is_named() {
        let err = with(|s| {
            s.newcomers_per_session = 0;
            s.note_due_hours = 0;
            s.measure_cadence_days = 400;
            s.daily_minimum_minutes = 2000;
        })
        .unwrap_err();
        let DomainError::Invalid(f) = err else {
            panic!("expected field errors")
        };
        let fields: Vec<_> = f.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "newcomers_per_session",
                "note_due_hours",
                "daily_minimum_minutes",
                "measure_cadence_days"
            ]
        );
    }

    #[test]
    fn iop_days_need_three_hours_by_default() {
        let d = ProgramSettings::defaults(LevelOfCare::Iop);
        assert_eq!(
            (
                d.daily_minimum_minutes,
                d.newcomers_per_session,
                d.note_due_hours
            ),
            (180, 2, 24)
        );
        assert_eq!(d.session_code.as_str(), "90853");
    }

    #[test]
    fn a_patch_can_clear_the_per_diem_code() {
        let p: ProgramPatch =
            serde_json::from_str(r#"{"version": 1, "per_diem_code": null}"#).unwrap();
        assert_eq!(p.per_diem_code, Some(None));
        let p: ProgramPatch = serde_json::from_str(r#"{"version": 1}"#).unwrap();
        assert_eq!(p.per_diem_code, None);
    }
}

/// A room at a site. A group's maximum never exceeds its room's capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Room {
    pub id: crate::ids::RoomId,
    pub site: Label,
    pub name: Label,
    pub capacity: u32,
    pub version: i64,
}

/// A room to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    pub site: Label,
    pub name: Label,
    pub capacity: u32,
}

impl NewRoom {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if !(1..=200).contains(&self.capacity) {
            errors.push("capacity", "must be 1–200 people");
        }
        errors.into_result()
    }
}
