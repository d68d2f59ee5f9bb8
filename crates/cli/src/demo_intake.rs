//! The demo clinic's ways in (issue 3) and Part 2 disclosures (issue 4): every member's
//! signed group agreement (dated the day they were admitted, so the attendance the demo
//! records is allowed), referrals in every intake state across the three paths, a pending
//! public self-referral, screenings, Part 2 consents for the substance-use clients (one
//! revoked, one expired) and a few disclosures. All people here are synthetic.

use anyhow::{Context, Result};
use circle_domain::care::{Concern, LevelOfCare};
use circle_domain::ids::{ClientId, ProgramId};
use circle_domain::intake::{
    NewDisclosure, NewReferral, NewScreening, NewTransition, Part2Terms, ReferralState,
    RevocationReason, SelfReferralForm, SignatureMethod,
};
use circle_store::access::{AuditContext, RequestMeta, purpose};
use circle_store::intake::{PublicSource, RateLimit};
use circle_store::{PageRequest, Store};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn input<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).context("demo intake input does not match the domain's schema")
}

/// `days` before `today` at `hour`:00 UTC.
fn stamp(today: Date, days: i64, hour: i8) -> Result<Timestamp> {
    Ok(today
        .checked_sub(days.days())
        .context("a demo date is outside the supported calendar")?
        .at(hour, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .context("a demo date is outside the supported calendar")?
        .timestamp())
}

fn day(today: Date, days: i64) -> Result<Date> {
    today
        .checked_sub(days.days())
        .context("a demo date is outside the supported calendar")
}

/// How a demo referral reaches its state.
enum Via {
    Moves(&'static [ReferralState]),
    /// Screened with this decision (after any moves before it).
    Screened(&'static str, &'static [ReferralState]),
}

struct ReferralSpec {
    path: &'static str,
    /// Empty when linked to a demo client (their record's name is used).
    name: &'static str,
    reason: &'static str,
    level: Option<LevelOfCare>,
    /// Index into the demo's clients to link (placed and later need a client record).
    client: Option<usize>,
    days_ago: i64,
    via: Via,
}

use ReferralState as S;

const REFERRALS: &[ReferralSpec] = &[
    ReferralSpec {
        path: "therapist_referral",
        name: "Avery Quill",
        reason: "low mood since a job loss; wants a group alongside individual work",
        level: None,
        client: None,
        days_ago: 2,
        via: Via::Moves(&[]),
    },
    ReferralSpec {
        path: "program_admission",
        name: "Rowan Pike",
        reason: "step-up from outpatient after a relapse",
        level: Some(LevelOfCare::Iop),
        client: None,
        days_ago: 6,
        via: Via::Moves(&[S::Screening]),
    },
    ReferralSpec {
        path: "self_referral",
        name: "Sage Tamsin",
        reason: "panic attacks at work; evenings only",
        level: None,
        client: None,
        days_ago: 9,
        via: Via::Screened("ready", &[]),
    },
    ReferralSpec {
        path: "therapist_referral",
        name: "Ellis Marrow",
        reason: "grief after a parent's death",
        level: None,
        client: None,
        days_ago: 12,
        via: Via::Screened("not_ready", &[]),
    },
    ReferralSpec {
        path: "self_referral",
        name: "Jules Fenwick",
        reason: "wants skills for mood swings",
        level: None,
        client: None,
        days_ago: 15,
        via: Via::Screened("refer_elsewhere", &[]),
    },
    ReferralSpec {
        path: "program_admission",
        name: "Noor Halvard",
        reason: "admission after inpatient stay",
        level: Some(LevelOfCare::Php),
        client: None,
        days_ago: 18,
        via: Via::Screened("ready", &[S::Waitlisted]),
    },
    ReferralSpec {
        path: "therapist_referral",
        name: "",
        reason: "depression; group to practise skills",
        level: None,
        client: Some(0),
        days_ago: 24,
        via: Via::Screened("ready", &[S::Placed]),
    },
    ReferralSpec {
        path: "program_admission",
        name: "",
        reason: "IOP admission",
        level: Some(LevelOfCare::Iop),
        client: Some(1),
        days_ago: 30,
        via: Via::Screened("ready", &[S::Placed, S::Active]),
    },
    ReferralSpec {
        path: "program_admission",
        name: "",
        reason: "PHP admission; stepping down to IOP",
        level: Some(LevelOfCare::Php),
        client: Some(2),
        days_ago: 50,
        via: Via::Screened("ready", &[S::Placed, S::Active, S::SteppedDown]),
    },
    ReferralSpec {
        path: "self_referral",
        name: "",
        reason: "anxiety group",
        level: None,
        client: Some(3),
        days_ago: 56,
        via: Via::Screened(
            "ready",
            &[S::Waitlisted, S::Placed, S::Active, S::Completed],
        ),
    },
    ReferralSpec {
        path: "therapist_referral",
        name: "",
        reason: "trauma-informed group",
        level: None,
        client: Some(4),
        days_ago: 45,
        via: Via::Screened("ready", &[S::Placed, S::Active, S::Discharged]),
    },
    ReferralSpec {
        path: "self_referral",
        name: "Marlo Bristow",
        reason: "curious about a process group",
        level: None,
        client: None,
        days_ago: 20,
        via: Via::Moves(&[S::Withdrawn]),
    },
];

/// Seeds the demo's intake data; call after clients are admitted and before attendance.
pub(crate) async fn seed_intake(store: &Store, today: Date, clients: &[ClientId]) -> Result<()> {
    let noon = stamp(today, 0, 12)?;

    // Every member signs the group agreement on the day of their first admission, on paper.
    let mut substance_use = Vec::new();
    for &c in clients {
        let episodes = store
            .episodes(&store.op().client::<purpose::EpisodeRead>(c).await?, noon)
            .await?;
        let first = episodes
            .iter()
            .map(|e| e.started_on)
            .min()
            .unwrap_or(today)
            .min(today);
        store
            .sign_group_agreement(
                &store.op().client::<purpose::AgreementSign>(c).await?,
                first,
                SignatureMethod::Paper,
                noon,
            )
            .await
            .context("signing a demo group agreement")?;
        let client = store
            .client(&store.op().client::<purpose::ClientRead>(c).await?, noon)
            .await?;
        if client.concerns.contains(&Concern::SubstanceUse) {
            substance_use.push(c);
        }
    }

    // Programs by level, for admissions.
    let programs = store
        .list_programs(PageRequest {
            after: 0,
            limit: 200,
        })
        .await?
        .items;
    let program_at = |level: LevelOfCare| -> Option<ProgramId> {
        programs
            .iter()
            .find(|p| p.level_of_care == level)
            .map(|p| p.id)
    };

    for (n, spec) in REFERRALS.iter().enumerate() {
        let received = stamp(today, spec.days_ago, 14)?;
        let client = spec
            .client
            .map(|i| {
                clients
                    .get(i)
                    .copied()
                    .context("a demo referral names no client")
            })
            .transpose()?;
        // A referral linked to a demo client carries that client's (synthetic) name.
        let name = match client {
            Some(c) => {
                let record = store
                    .client(&store.op().client::<purpose::ClientRead>(c).await?, noon)
                    .await?;
                format!("{} {}", record.given_name, record.family_name)
            }
            None => spec.name.to_owned(),
        };
        let mut new = json!({
            "path": spec.path, "name": name, "reason": spec.reason,
            "phone": format!("555-01{:02}", 50 + n),
            "preferred_times": [{"weekday": "tuesday", "part_of_day": "evening"}],
        });
        match spec.path {
            "program_admission" => {
                let level = spec.level.unwrap_or(LevelOfCare::Iop);
                new["program_id"] =
                    json!(program_at(level).context("no demo program at that level")?);
                new["level_of_care"] = json!(level);
            }
            "therapist_referral" => {
                new["provider"] = json!({"name": "Dr. Demo Referrer", "practice": "Harbor Street Counseling",
                    "contact": "555-0199"});
            }
            _ => {}
        }
        let new: NewReferral = input(new)?;
        let program = match new.program_id {
            Some(p) => Some(store.op().program::<purpose::Refer>(p).await?),
            None => None,
        };
        let linked = match new.client_id {
            Some(c) => Some(store.op().place::<purpose::Refer>(c).await?),
            None => None,
        };
        let referral = store
            .create_referral(
                &store.op().role::<purpose::Refer>().await?,
                program.as_ref(),
                linked.as_ref(),
                &new,
                received,
            )
            .await
            .with_context(|| format!("creating demo referral {n}"))?;
        let mut at = received;
        let next = |at: Timestamp| at.checked_add(jiff::SignedDuration::from_hours(26));
        let moves: &[ReferralState] = match spec.via {
            Via::Moves(m) => m,
            Via::Screened(decision, after) => {
                at = next(at)?;
                let s: NewScreening = input(json!({"decision": decision,
                    "reasons": "demo screening: motivated, can tolerate a group setting",
                    "measure_response_id": null}))?;
                store
                    .record_screening(
                        &store
                            .op()
                            .referral::<purpose::ScreeningCreate>(referral.id)
                            .await?,
                        &s,
                        at,
                    )
                    .await
                    .with_context(|| format!("screening demo referral {n}"))?;
                after
            }
        };
        for &to in moves {
            at = next(at)?;
            let t: NewTransition = input(json!({"to": to, "reason": null,
                "client_id": if to == S::Placed { client } else { None }}))?;
            let link = match t.client_id {
                Some(c) => Some(store.op().place::<purpose::LinkReferral>(c).await?),
                None => None,
            };
            store
                .transition_referral(
                    &store
                        .op()
                        .referral::<purpose::ReferralTransition>(referral.id)
                        .await?,
                    link.as_ref(),
                    &t,
                    at.min(noon),
                )
                .await
                .with_context(|| format!("moving demo referral {n} to {to}"))?;
        }
    }

    // A public self-referral waiting for intake.
    let form: SelfReferralForm = input(
        json!({"name": "Quinn Alder", "email": "quinn.alder@example.test",
        "looking_for": "a weekly group for social anxiety, after work",
        "preferred_times": [{"weekday": "wednesday", "part_of_day": "evening"}]}),
    )?;
    let limit = RateLimit {
        max: 5,
        overall: 60,
        per_group: 15,
        window: jiff::SignedDuration::from_hours(1),
    };
    store
        .submit_self_referral(
            &form,
            PublicSource {
                address: "demo",
                group: None,
            },
            limit,
            &AuditContext::public(&RequestMeta::default()),
            stamp(today, 1, 20)?,
        )
        .await
        .context("a demo self-referral")?;

    // Part 2 consents for the substance-use clients: the first revoked, the second expired,
    // the rest in force; disclosures made while each was in force.
    for (k, &c) in substance_use.iter().enumerate() {
        let client = store
            .client(&store.op().client::<purpose::ClientRead>(c).await?, noon)
            .await?;
        let name = format!("{} {}", client.given_name, client.family_name);
        let signed = day(today, 40)?;
        let expires_on = if k == 1 {
            day(today, 5)?
        } else {
            day(today, -180)?
        };
        let recipient = if k % 2 == 0 {
            "Harbor County Probation Office"
        } else {
            "Dr. Demo Primary Care"
        };
        let terms: Part2Terms = input(json!({
            "patient_name": name, "discloser": "Riverside behavioral health programs",
            "recipient": recipient,
            "information": "attendance, level of care and progress in substance use treatment",
            "purpose": "coordination of care", "expiry_event": null,
            "signature": name, "signed_on": signed,
        }))?;
        let consent = store
            .record_part2_consent(
                &store.op().client::<purpose::Part2ConsentCreate>(c).await?,
                &terms,
                Some(expires_on),
                stamp(today, 40, 15)?,
                signed,
            )
            .await
            .context("a demo Part 2 consent")?;
        if k < 3 {
            let d: NewDisclosure = input(json!({"recipient": recipient,
                "information": "attendance dates for the last month", "purpose": "coordination of care"}))?;
            store
                .record_disclosure(
                    &store.op().client::<purpose::DisclosureCreate>(c).await?,
                    &d,
                    stamp(today, 20, 15)?,
                    day(today, 20)?,
                )
                .await
                .context("a demo disclosure")?;
        }
        if k == 0 {
            store
                .revoke_part2_consent(
                    &store.op().client::<purpose::ConsentRevoke>(c).await?,
                    consent.id,
                    RevocationReason::RevokedByPatient,
                    stamp(today, 10, 15)?,
                    day(today, 10)?,
                )
                .await
                .context("revoking a demo Part 2 consent")?;
        }
    }
    // A disclosure for a client outside Part 2 (in the accounting, no consent needed).
    if let Some(&c) = clients.iter().find(|c| !substance_use.contains(c)) {
        let d: NewDisclosure = input(json!({"recipient": "Dr. Demo Primary Care",
            "information": "group schedule and attendance", "purpose": "coordination of care"}))?;
        store
            .record_disclosure(
                &store.op().client::<purpose::DisclosureCreate>(c).await?,
                &d,
                stamp(today, 3, 15)?,
                day(today, 3)?,
            )
            .await
            .context("a demo disclosure")?;
    }
    tracing::info!(
        referrals = REFERRALS.len() + 1,
        part2_consents = substance_use.len(),
        "demo intake seeded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on an unexpected error"
    )]

    use std::collections::BTreeSet;

    use circle_domain::intake::ReferralState;
    use jiff::civil::date;

    use super::*;

    #[tokio::test]
    async fn the_demo_has_every_intake_state_signed_agreements_and_part2_consents() {
        let db = circle_testkit::TestDb::new().await;
        let today = date(2026, 5, 6);
        crate::demo::seed(&db.store, today).await.unwrap();
        let now = stamp(today, 0, 12).unwrap();
        let page = PageRequest {
            after: 0,
            limit: 200,
        };
        let referrals = db
            .store
            .list_referrals(
                &db.store
                    .op()
                    .listing::<purpose::ReferralList>()
                    .await
                    .unwrap(),
                None,
                page,
                now,
            )
            .await
            .unwrap()
            .items;
        let states: BTreeSet<ReferralState> = referrals.iter().map(|r| r.state).collect();
        assert_eq!(states.len(), ReferralState::ALL.len(), "{states:?}");
        let paths: BTreeSet<_> = referrals.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), 3);
        // The pending public self-referral.
        assert!(referrals.iter().any(|r| {
            r.state == ReferralState::Referred
                && r.details
                    .email
                    .as_ref()
                    .is_some_and(|e| e.as_str() == "quinn.alder@example.test")
        }));

        let clients = db
            .store
            .list_clients(
                &db.store
                    .op()
                    .listing::<purpose::ClientList>()
                    .await
                    .unwrap(),
                page,
                now,
            )
            .await
            .unwrap()
            .items;
        let (mut revoked, mut expired, mut in_force) = (0, 0, 0);
        for c in &clients {
            let consents = db
                .store
                .consents(
                    &db.store
                        .op()
                        .client::<purpose::ConsentRead>(c.id)
                        .await
                        .unwrap(),
                    now,
                    today,
                )
                .await
                .unwrap();
            let memberships = db
                .store
                .client_memberships(
                    &db.store
                        .op()
                        .client::<purpose::ClientMemberships>(c.id)
                        .await
                        .unwrap(),
                    now,
                )
                .await
                .unwrap();
            // Every member signed no later than their first membership starts (people
            // only on a waitlist have not joined a group yet).
            if !memberships.is_empty() {
                let signed = consents.group_agreements[0].signed_on;
                assert!(memberships.iter().all(|m| m.start_date >= signed));
            }
            for p in &consents.part2 {
                if p.revoked_at.is_some() {
                    revoked += 1;
                } else if !p.in_force {
                    expired += 1;
                } else {
                    in_force += 1;
                }
            }
        }
        assert_eq!((revoked, expired), (1, 1));
        assert!(in_force > 0);
    }
}
