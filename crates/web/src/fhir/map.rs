//! Circle's words as FHIR R4 (4.0.1) resources, following `../shared/INTEROP.md`'s table.
//!
//! Pure functions from domain values to JSON: no I/O, no access decisions (those were made
//! by the services that produced the values). The resources are checked in CI by two
//! third-party validators (`.ci/fhir-validate.sh`: PyPI `fhir.resources` and npm `fhir`),
//! so a structural mistake here fails the build rather than a receiving EHR.
//!
//! Timestamps are written with `Display` (`to_string()`), which gives RFC 3339 for both
//! `jiff::Timestamp` and the strings some domain types still hold.

use circle_domain::audit::{AuditAction, AuditEntry, AuditOutcome};
use circle_domain::client::{Client, Episode};
use circle_domain::clinician::Clinician;
use circle_domain::group::Group;
use circle_domain::intake::{AgreementSignature, Part2Consent, Referral};
use circle_domain::measure::{InstrumentView, MeasureResponse};
use circle_domain::membership::{GroupMember, MembershipStatus};
use circle_domain::note::{GroupNote, NoteMeta, ProgressNote};
use circle_domain::program::{Program, Room};
use circle_domain::session::{Attendance, Session, SessionStatus};
use jiff::civil::Date;
use serde_json::{Value, json};

/// Local code systems: Circle's own vocabularies, named by URN so they never collide with
/// a real terminology.
pub const LEVEL_OF_CARE: &str = "urn:circle:level-of-care";
pub const RECORD_NUMBER: &str = "urn:circle:record-number";
pub const LICENSE_KIND: &str = "urn:circle:license-kind";
pub const LICENSE_NUMBER: &str = "urn:circle:license-number";
pub const GROUP_KIND: &str = "urn:circle:group-kind";
pub const ANSWERS: &str = "urn:circle:instrument-answer";
pub const INSTRUMENT: &str = "urn:circle:instrument";
pub const LOINC: &str = "http://loinc.org";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const UCUM: &str = "http://unitsofmeasure.org";

/// 42 CFR 2.32's notice, carried by every resource about a Part 2 client.
pub use circle_domain::intake::PART2_NOTICE;

/// Security labels and the §2.32 notice for a resource about a client whose records are
/// protected by 42 CFR Part 2 (a substance-use concern): `42CFRPart2` (the policy) and
/// `NORDSCLCD` (no redisclosure without the patient's consent), both v3 ActCode, and the
/// notice as the resource's narrative so it travels with the record.
pub fn label_part2(resource: &mut Value) {
    if let Some(obj) = resource.as_object_mut() {
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "security".to_owned(),
                json!([
                    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
                    {"system": ACT_CODE, "code": "NORDSCLCD",
                     "display": "no redisclosure without consumer consent directive"}
                ]),
            );
        }
        obj.insert(
            "text".to_owned(),
            json!({
                "status": "additional",
                "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{PART2_NOTICE}</p></div>"),
            }),
        );
    }
}

fn reference(kind: &str, id: impl std::fmt::Display) -> Value {
    json!({"reference": format!("{kind}/{id}")})
}

fn date_text(d: Date) -> String {
    d.to_string()
}

/// `Patient`: identity and contact. The record number is the identifier.
pub fn patient(c: &Client) -> Value {
    let mut names = vec![json!({
        "use": "official",
        "family": c.family_name.as_str(),
        "given": [c.given_name.as_str()],
    })];
    if let Some(p) = &c.preferred_name {
        names.push(json!({"use": "usual", "given": [p.as_str()]}));
    }
    let mut telecom = vec![];
    if let Some(e) = &c.email {
        telecom.push(json!({"system": "email", "value": e.as_str()}));
    }
    if let Some(p) = &c.phone {
        telecom.push(json!({"system": "phone", "value": p.as_str()}));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": c.id.to_string(),
        "identifier": [{"system": RECORD_NUMBER, "value": c.record_number.as_str()}],
        "active": c.current_level.is_some(),
        "name": names,
        "birthDate": date_text(c.date_of_birth),
    });
    if !telecom.is_empty() {
        r["telecom"] = Value::Array(telecom);
    }
    r
}

fn level_coding(level: impl std::fmt::Display) -> Value {
    json!({"coding": [{"system": LEVEL_OF_CARE, "code": level.to_string()}]})
}

/// `EpisodeOfCare`: one level of care with its dates (step-down is a history). Its id is
/// `{client}.{episode}`, so a read goes straight to the client's gate.
pub fn episode_of_care(e: &Episode) -> Value {
    let mut period = json!({"start": date_text(e.started_on)});
    if let Some(end) = e.ended_on {
        period["end"] = json!(date_text(end));
    }
    let mut r = json!({
        "resourceType": "EpisodeOfCare",
        "id": format!("{}.{}", e.client_id, e.id),
        "status": if e.ended_on.is_some() { "finished" } else { "active" },
        "type": [level_coding(e.level_of_care)],
        "patient": reference("Patient", e.client_id),
        "period": period,
    });
    if let Some(p) = e.program_id {
        r["managingOrganization"] = json!({"display": format!("program {p}")});
    }
    r
}

/// `Group`: a standing therapy group, with its members (when the caller may see them) and
/// each membership's period. A member on hold or whose membership ended is `inactive`.
pub fn group(g: &Group, members: Option<&[GroupMember]>, today: Date) -> Value {
    let mut r = json!({
        "resourceType": "Group",
        "id": g.id.to_string(),
        "type": "person",
        "actual": true,
        "code": {"coding": [{"system": GROUP_KIND, "code": g.kind.to_string()}]},
        "name": g.name.as_str(),
        "managingEntity": reference("Practitioner", g.lead_facilitator_id),
    });
    if let Some(members) = members {
        let active = members.iter().filter(|m| member_active(m, today)).count();
        r["quantity"] = json!(active);
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let ms = &m.membership;
                let mut period = json!({"start": date_text(ms.start_date)});
                if let Some(end) = ms.end_date {
                    period["end"] = json!(date_text(end));
                }
                json!({
                    "entity": reference("Patient", ms.client_id),
                    "period": period,
                    "inactive": !member_active(m, today),
                })
            })
            .collect();
        if !list.is_empty() {
            r["member"] = Value::Array(list);
        }
    }
    r
}

fn member_active(m: &GroupMember, today: Date) -> bool {
    m.membership.status == MembershipStatus::Active
        && m.membership.end_date.is_none_or(|end| today < end)
}

/// `CareTeam` of a group's facilitators (subject → the Group).
pub fn care_team(g: &Group) -> Value {
    let mut participants = vec![json!({
        "role": [{"text": "lead facilitator"}],
        "member": reference("Practitioner", g.lead_facilitator_id),
    })];
    if let Some(co) = g.co_facilitator_id {
        participants.push(json!({
            "role": [{"text": "co-facilitator"}],
            "member": reference("Practitioner", co),
        }));
    }
    json!({
        "resourceType": "CareTeam",
        "id": g.id.to_string(),
        "status": "active",
        "name": format!("Facilitators of {}", g.name.as_str()),
        "subject": reference("Group", g.id),
        "participant": participants,
    })
}

fn session_status(s: &Session) -> &'static str {
    match s.status {
        SessionStatus::Held => "finished",
        SessionStatus::Cancelled => "cancelled",
        SessionStatus::Scheduled => "planned",
    }
}

fn ambulatory(telehealth: bool) -> Value {
    if telehealth {
        json!({"system": ACT_CODE, "code": "VR", "display": "virtual"})
    } else {
        json!({"system": ACT_CODE, "code": "AMB", "display": "ambulatory"})
    }
}

fn group_session_type() -> Value {
    json!([{"text": "group psychotherapy session"}])
}

/// The session's own `Encounter` (subject → the Group); each attending member's
/// Encounter is `partOf` it. Its id is the session id.
pub fn session_encounter(s: &Session, telehealth: bool) -> Value {
    let mut participants =
        vec![json!({"individual": reference("Practitioner", s.lead_facilitator_id)})];
    for f in &s.facilitators_present {
        if *f != s.lead_facilitator_id {
            participants.push(json!({"individual": reference("Practitioner", f)}));
        }
    }
    json!({
        "resourceType": "Encounter",
        "id": s.id.to_string(),
        "status": session_status(s),
        "class": ambulatory(telehealth),
        "type": group_session_type(),
        "subject": reference("Group", s.group_id),
        "participant": participants,
        "appointment": [reference("Appointment", s.id)],
        "period": {"start": s.starts_at.to_string(), "end": s.ends_at.to_string()},
    })
}

/// One attending member's `Encounter` in a session, with the minutes they attended. Its
/// id is `{session}.{client}`.
pub fn member_encounter(s: &Session, a: &Attendance, telehealth: bool) -> Value {
    json!({
        "resourceType": "Encounter",
        "id": format!("{}.{}", s.id, a.client_id),
        "status": "finished",
        "class": ambulatory(telehealth),
        "type": group_session_type(),
        "subject": reference("Patient", a.client_id),
        "partOf": reference("Encounter", s.id),
        "appointment": [reference("Appointment", s.id)],
        "period": {"start": s.starts_at.to_string(), "end": s.ends_at.to_string()},
        "length": {"value": a.minutes, "unit": "min", "system": UCUM, "code": "min"},
    })
}

/// `Appointment`: one session of a group, with its facilitators (never its members: the
/// roster is not a design fact).
pub fn appointment(s: &Session) -> Value {
    let status = match s.status {
        SessionStatus::Held => "fulfilled",
        SessionStatus::Cancelled => "cancelled",
        SessionStatus::Scheduled => "booked",
    };
    let mut participants = vec![json!({
        "actor": reference("Practitioner", s.lead_facilitator_id),
        "status": "accepted",
    })];
    for f in &s.facilitators_present {
        if *f != s.lead_facilitator_id {
            participants.push(json!({"actor": reference("Practitioner", f), "status": "accepted"}));
        }
    }
    json!({
        "resourceType": "Appointment",
        "id": s.id.to_string(),
        "status": status,
        "start": s.starts_at.to_string(),
        "end": s.ends_at.to_string(),
        "participant": participants,
    })
}

/// `Practitioner` with each license as a qualification (number, validity, state board).
pub fn practitioner(c: &Clinician) -> Value {
    let qualifications: Vec<Value> = c
        .licenses
        .iter()
        .map(|l| {
            json!({
                "identifier": [{"system": LICENSE_NUMBER, "value": l.number.as_str()}],
                "code": {"coding": [{"system": LICENSE_KIND, "code": l.kind.to_string()}]},
                "period": {"start": date_text(l.issued_on), "end": date_text(l.expires_on)},
                "issuer": {"display": format!("{} state licensing board", l.state.as_str())},
            })
        })
        .collect();
    let mut r = json!({
        "resourceType": "Practitioner",
        "id": c.id.to_string(),
        "active": true,
        "name": [{"family": c.family_name.as_str(), "given": [c.given_name.as_str()]}],
        "telecom": [{"system": "email", "value": c.email.as_str(), "use": "work"}],
    });
    if !qualifications.is_empty() {
        r["qualification"] = Value::Array(qualifications);
    }
    r
}

/// `Location`: a room (an instance, not a kind of place).
pub fn location(r: &Room) -> Value {
    json!({
        "resourceType": "Location",
        "id": r.id.to_string(),
        "status": "active",
        "name": format!("{} — {}", r.site.as_str(), r.name.as_str()),
        "mode": "instance",
        "physicalType": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
            "code": "ro", "display": "Room"}]},
    })
}

/// `HealthcareService`: a program (a level of care at a site).
pub fn healthcare_service(p: &Program) -> Value {
    json!({
        "resourceType": "HealthcareService",
        "id": p.id.to_string(),
        "active": true,
        "providedBy": reference("Organization", CLINIC_ID),
        "name": p.name.as_str(),
        "type": [level_coding(p.level_of_care)],
        "program": [{"text": p.level_of_care.to_string()}],
        "comment": format!("site: {}", p.site.as_str()),
    })
}

/// `Questionnaire`: an instrument definition, with its LOINC panel when it has one.
pub fn questionnaire(i: &InstrumentView) -> Value {
    let items: Vec<Value> = i
        .items
        .iter()
        .map(|item| {
            let mut v = json!({
                "linkId": item.id,
                "text": item.text,
                "type": "choice",
                "required": true,
                "answerOption": item.options.iter().map(|o| json!({"valueCoding": {
                    "system": ANSWERS, "code": o.value.to_string(), "display": o.label,
                }})).collect::<Vec<_>>(),
            });
            if let Some(l) = &item.loinc {
                v["code"] = json!([{"system": LOINC, "code": l}]);
            }
            v
        })
        .collect();
    let mut r = json!({
        "resourceType": "Questionnaire",
        "id": i.code,
        "url": questionnaire_url(&i.code),
        "name": i.code.to_uppercase().replace('-', "_"),
        "title": i.name,
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    });
    if let Some(panel) = &i.loinc_panel {
        r["code"] = json!([{"system": LOINC, "code": panel}]);
    }
    r
}

pub fn questionnaire_url(code: &str) -> String {
    format!("urn:circle:questionnaire:{code}")
}

fn answer_label(i: &InstrumentView, item: &str, value: i64) -> Option<String> {
    i.items
        .iter()
        .find(|it| it.id == item)?
        .options
        .iter()
        .find(|o| o.value == value)
        .map(|o| o.label.clone())
}

/// `QuestionnaireResponse`: one administration's item answers. Id `{client}.{response}`.
pub fn questionnaire_response(r: &MeasureResponse, i: &InstrumentView) -> Value {
    // Items in the instrument's order, then any the definition no longer lists.
    let mut ordered: Vec<(&str, i64)> = i
        .items
        .iter()
        .filter_map(|it| r.answers.get(&it.id).map(|v| (it.id.as_str(), *v)))
        .collect();
    for (k, v) in &r.answers {
        if !i.items.iter().any(|it| &it.id == k) {
            ordered.push((k.as_str(), *v));
        }
    }
    let items: Vec<Value> = ordered
        .iter()
        .map(|(id, v)| {
            let mut coding = json!({"system": ANSWERS, "code": v.to_string()});
            if let Some(l) = answer_label(i, id, *v) {
                coding["display"] = json!(l);
            }
            json!({"linkId": id, "answer": [{"valueCoding": coding}]})
        })
        .collect();
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": format!("{}.{}", r.client_id, r.id),
        "meta": {"lastUpdated": r.administered_at.to_string()},
        "questionnaire": questionnaire_url(&i.code),
        "status": "completed",
        "subject": reference("Patient", r.client_id),
        "authored": r.administered_at.to_string(),
        "item": items,
    })
}

/// `Observation`: the total score (LOINC total code), its severity band as the
/// interpretation, each item's answer as a component, derived from the response.
pub fn observation(r: &MeasureResponse, i: &InstrumentView) -> Value {
    let code = match &i.loinc_total {
        Some(l) => {
            json!({"coding": [{"system": LOINC, "code": l}], "text": format!("{} total score", i.name)})
        }
        None => {
            json!({"coding": [{"system": INSTRUMENT, "code": i.code}], "text": format!("{} total score", i.name)})
        }
    };
    let components: Vec<Value> = i
        .items
        .iter()
        .filter_map(|it| {
            let v = r.answers.get(&it.id)?;
            let code = match &it.loinc {
                Some(l) => json!({"coding": [{"system": LOINC, "code": l}], "text": it.text}),
                None => json!({"coding": [{"system": INSTRUMENT, "code": format!("{}.{}", i.code, it.id)}], "text": it.text}),
            };
            Some(json!({"code": code, "valueInteger": v}))
        })
        .collect();
    let mut o = json!({
        "resourceType": "Observation",
        "id": format!("{}.{}", r.client_id, r.id),
        "meta": {"lastUpdated": r.administered_at.to_string()},
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": code,
        "subject": reference("Patient", r.client_id),
        "effectiveDateTime": r.administered_at.to_string(),
        "valueInteger": r.total,
        "interpretation": [{"text": r.severity}],
        "derivedFrom": [reference("QuestionnaireResponse", format!("{}.{}", r.client_id, r.id))],
    });
    if !components.is_empty() {
        o["component"] = Value::Array(components);
    }
    o
}

// --- the clinic, roles, referrals, consents, notes and the audit trail ----------------------

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
const TIN: &str = "urn:oid:2.16.840.1.113883.4.4";
pub const REFERRAL_PATH: &str = "urn:circle:referral-path";
pub const REFERRAL_STATE: &str = "urn:circle:referral-state";
pub const AUDIT_ACTION: &str = "urn:circle:audit-action";
pub const AUDIT_CATEGORY: &str = "urn:circle:audit-category";
pub const USER: &str = "urn:circle:user";
pub const ROLE: &str = "urn:circle:role";
/// The one Organization: the clinic.
pub const CLINIC_ID: &str = "clinic";

/// `Organization`: the clinic, with its NPI and TIN when the settings name them.
pub fn organization(c: &circle_app::ClinicIdentity) -> Value {
    let mut ids = vec![];
    if let Some(npi) = &c.npi {
        ids.push(json!({"system": NPI, "value": npi}));
    }
    if let Some(tin) = &c.tin {
        ids.push(json!({"system": TIN, "value": tin}));
    }
    let mut r = json!({
        "resourceType": "Organization",
        "id": CLINIC_ID,
        "active": true,
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
            "code": "prov", "display": "Healthcare Provider"}]}],
        "name": c.name,
    });
    if !ids.is_empty() {
        r["identifier"] = Value::Array(ids);
    }
    r
}

/// `PractitionerRole`: a clinician as the clinic's group clinician (id = the clinician's),
/// with their license kinds as specialties.
pub fn practitioner_role(c: &Clinician) -> Value {
    let mut kinds: Vec<String> = c.licenses.iter().map(|l| l.kind.to_string()).collect();
    kinds.sort();
    kinds.dedup();
    let mut r = json!({
        "resourceType": "PractitionerRole",
        "id": c.id.to_string(),
        "active": true,
        "practitioner": reference("Practitioner", c.id),
        "organization": reference("Organization", CLINIC_ID),
        "code": [{"text": "group therapy clinician"}],
        "telecom": [{"system": "email", "value": c.email.as_str(), "use": "work"}],
    });
    if !kinds.is_empty() {
        r["specialty"] = Value::Array(
            kinds
                .iter()
                .map(|k| json!({"coding": [{"system": LICENSE_KIND, "code": k}]}))
                .collect(),
        );
    }
    r
}

/// `ServiceRequest`: a referral, with its path (self-referral, program admission,
/// therapist referral) as the category and its state beside it. A referral not yet linked
/// to a client names no Patient (the prospective client's name stays in Circle).
pub fn service_request(r: &Referral) -> Value {
    use circle_domain::intake::ReferralState as S;
    let status = match r.state {
        S::Referred | S::Screening | S::Ready | S::Placed | S::Waitlisted | S::Active => "active",
        S::SteppedDown | S::Completed | S::Discharged => "completed",
        S::Withdrawn => "revoked",
    };
    let subject = match r.client_id {
        Some(c) => reference("Patient", c),
        None => json!({"display": "prospective client (not yet registered)"}),
    };
    let code = match r.level_of_care {
        Some(l) => json!({"coding": [{"system": LEVEL_OF_CARE, "code": l.to_string()}],
            "text": "group therapy at this level of care"}),
        None => json!({"text": "group therapy"}),
    };
    let mut out = json!({
        "resourceType": "ServiceRequest",
        "id": r.id.to_string(),
        "status": status,
        "intent": "order",
        "category": [
            {"coding": [{"system": REFERRAL_PATH, "code": r.path.to_string()}]},
            {"coding": [{"system": REFERRAL_STATE, "code": r.state.to_string()}]},
        ],
        "code": code,
        "subject": subject,
        "authoredOn": r.received_at.to_string(),
        "meta": {"lastUpdated": r.transitions.iter().map(|t| t.at).max().unwrap_or(r.received_at).to_string()},
    });
    match (&r.details.provider, r.path) {
        (Some(p), _) => {
            let who = match &p.practice {
                Some(practice) => format!("{} ({})", p.name.as_str(), practice.as_str()),
                None => p.name.as_str().to_owned(),
            };
            out["requester"] = json!({"display": who});
        }
        (None, circle_domain::client::ReferralSource::SelfReferral) => {
            out["requester"] = match r.client_id {
                Some(c) => reference("Patient", c),
                None => json!({"display": "the prospective client (self-referral)"}),
            };
        }
        _ => {}
    }
    if let Some(p) = r.program_id {
        out["performer"] = json!([reference("HealthcareService", p)]);
    }
    if let Some(reason) = &r.details.reason {
        out["reasonCode"] = json!([{"text": reason.as_str()}]);
    }
    out
}

const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";

/// `Consent` for a signed group agreement (treatment): id `{client}.a{signature}`.
pub fn agreement_consent(a: &AgreementSignature) -> Value {
    json!({
        "resourceType": "Consent",
        "id": format!("{}.a{}", a.client_id, a.id),
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": reference("Patient", a.client_id),
        "dateTime": date_text(a.signed_on),
        "policy": [{"uri": format!("urn:circle:group-agreement:{}", a.version)}],
        "provision": {"type": "permit", "period": {"start": date_text(a.signed_on)}},
    })
}

/// `Consent` for a 42 CFR Part 2 consent to disclose (privacy, release of information,
/// policy `42CFRPart2`): id `{client}.p{consent}`; inactive once revoked or expired.
pub fn part2_consent(c: &Part2Consent) -> Value {
    let t = &c.terms;
    let mut period = json!({"start": date_text(t.signed_on)});
    if let Some(end) = c.expires_on {
        period["end"] = json!(date_text(end));
    }
    let participation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
    json!({
        "resourceType": "Consent",
        "id": format!("{}.p{}", c.client_id, c.id),
        "status": if c.in_force { "active" } else { "inactive" },
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "64292-6",
            "display": "Release of information consent"}]}],
        "patient": reference("Patient", c.client_id),
        "dateTime": date_text(t.signed_on),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"}]},
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [
                {"role": {"coding": [{"system": participation, "code": "IRCP", "display": "information recipient"}]},
                 "reference": {"display": t.recipient.as_str()}},
                {"role": {"coding": [{"system": participation, "code": "AUT", "display": "author (originator)"}]},
                 "reference": {"display": t.discloser.as_str()}},
            ],
            "purpose": [{"system": "urn:circle:disclosure-purpose", "display": t.purpose.as_str()}],
            "data": [{"meaning": "related", "reference": reference("Patient", c.client_id)}],
        },
    })
}

/// The text of a note as one plain-text document: each field under its name, then the
/// addenda, each with its signer and time.
fn note_text(fields: &[(&str, &str)], meta: &NoteMeta) -> String {
    let mut out = String::new();
    for (name, text) in fields.iter().filter(|(_, t)| !t.is_empty()) {
        out.push_str(&format!("{name}:\n{text}\n\n"));
    }
    for a in &meta.addenda {
        out.push_str(&format!(
            "addendum by Practitioner/{} at {}:\n{}\n\n",
            a.author_clinician_id,
            a.signed_at,
            a.text.as_str()
        ));
    }
    out
}

fn note_document(
    id: String,
    meta: &NoteMeta,
    loinc: (&str, &str),
    subject: Value,
    encounter: Value,
    text: &str,
) -> Value {
    use base64::Engine as _;
    let signed = meta.signed_at.map(|t| t.to_string());
    let mut r = json!({
        "resourceType": "DocumentReference",
        "id": id,
        "status": "current",
        "docStatus": if meta.addenda.is_empty() { "final" } else { "amended" },
        "type": {"coding": [{"system": LOINC, "code": loinc.0, "display": loinc.1}]},
        "category": [{"coding": [{
            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note", "display": "Clinical Note"}]}],
        "subject": subject,
        "author": [reference("Practitioner", meta.author_clinician_id)],
        "authenticator": reference("Practitioner", meta.cosigned_by.unwrap_or(meta.author_clinician_id)),
        "content": [{"attachment": {
            "contentType": "text/plain; charset=utf-8",
            "language": "en",
            "data": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            "title": loinc.1,
        }}],
        "context": {"encounter": [encounter]},
    });
    if let Some(at) = signed {
        r["date"] = json!(at);
        r["meta"] = json!({"lastUpdated": meta.addenda.iter().map(|a| a.signed_at.to_string()).max().unwrap_or(at)});
    }
    r
}

/// `DocumentReference` for a signed group note (subject → the Group): id `{session}`.
pub fn group_note_document(n: &GroupNote, group: circle_domain::ids::GroupId) -> Value {
    let text = note_text(&n.body.fields(), &n.meta);
    note_document(
        n.meta.session_id.to_string(),
        &n.meta,
        ("34109-9", "Note"),
        reference("Group", group),
        reference("Encounter", n.meta.session_id),
        &text,
    )
}

/// `DocumentReference` for a signed progress note (subject → the Patient, context → their
/// Encounter in the session): id `{session}.{client}`.
pub fn progress_note_document(n: &ProgressNote) -> Value {
    let text = note_text(&n.body.fields(), &n.meta);
    let id = format!("{}.{}", n.meta.session_id, n.client_id);
    note_document(
        id.clone(),
        &n.meta,
        ("11506-3", "Progress note"),
        reference("Patient", n.client_id),
        reference("Encounter", id),
        &text,
    )
}

/// The FHIR action code of an audit action: read, create, update, delete or execute.
fn audit_action_code(a: AuditAction) -> &'static str {
    let s = a.as_str();
    let verb = s.rsplit('.').next().unwrap_or(s);
    match verb {
        "read" | "list" | "due_list" | "run_read" | "suggest" => "R",
        "create" | "open" | "grant" | "run_start" | "send" | "import" => "C",
        "export" => "E",
        _ => "U",
    }
}

/// `AuditEvent`: one entry of the audit trail (ids only, as the trail holds).
pub fn audit_event(e: &AuditEntry) -> Value {
    let mut agent = json!({"requestor": true});
    if let Some(u) = e.actor_user_id {
        agent["who"] = json!({"identifier": {"system": USER, "value": u.to_string()}});
    }
    if let Some(role) = e.actor_role {
        agent["role"] = json!([{"coding": [{"system": ROLE, "code": role.to_string()}]}]);
    }
    let mut entities: Vec<Value> = e
        .client_ids
        .iter()
        .map(|c| json!({"what": reference("Patient", c)}))
        .collect();
    if let Some(o) = &e.object_id {
        entities.push(json!({"what": {"identifier": {"system": "urn:circle:object", "value": o}}}));
    }
    let mut source = json!({"observer": {"display": "Circle"}});
    if let Some(s) = &e.source {
        source["site"] = json!(s);
    }
    let mut r = json!({
        "resourceType": "AuditEvent",
        "id": e.seq.to_string(),
        "type": {"system": AUDIT_CATEGORY, "code": e.category.to_string()},
        "subtype": [{"system": AUDIT_ACTION, "code": e.action.to_string()}],
        "action": audit_action_code(e.action),
        "recorded": e.at.to_string(),
        "outcome": match e.outcome {
            AuditOutcome::Success => "0",
            AuditOutcome::Denied => "4",
        },
        "agent": [agent],
        "source": source,
    });
    if e.outcome == AuditOutcome::Denied {
        r["outcomeDesc"] = json!("refused by authorization");
    }
    if !entities.is_empty() {
        r["entity"] = Value::Array(entities);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part2_label_carries_the_policy_and_the_notice() {
        let mut r = json!({"resourceType": "Patient", "id": "1"});
        label_part2(&mut r);
        assert_eq!(r["meta"]["security"][0]["code"], "42CFRPart2");
        assert!(
            r["text"]["div"]
                .as_str()
                .is_some_and(|d| d.contains(PART2_NOTICE))
        );
    }
}
