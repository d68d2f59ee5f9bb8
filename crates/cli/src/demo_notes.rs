//! The demo clinic's curricula and clinical notes. Entirely synthetic: generic clinical
//! phrasing chosen deterministically, no names of anyone in any note.
//!
//! Held sessions get a signed group note and a signed progress note for every member
//! who attended, with a few exceptions that show the workflow: the demo clinician's
//! recent notes include some left unsigned past the program's window (overdue), their
//! sessions of the last day and a half are not written yet (due soon), one trainee's note
//! awaits a licensed co-signature, and one signed note carries an addendum. Each session's
//! notes are written in one transaction (`Store::record_session_notes`) to keep seeding
//! quick.

use anyhow::{Context, Result};
use circle_domain::care::{GroupKind, Modality};
use circle_domain::ids::{ClinicianId, GroupId};
use circle_domain::note::{GroupNoteBody, ProgressNoteBody};
use circle_domain::session::{Participation, Session};
use circle_store::Store;
use circle_store::access::purpose;
use circle_store::notes::NoteToWrite;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const NOTES_SEED: u64 = 0x00C1_4C1E_DE30_0003;

/// The curriculum of a demo group: DBT's four modules (a rolling group moves through one
/// per module), session topics for CBT and mindfulness skills, psychoeducation and
/// relapse prevention. Process and transition groups follow the members, not a syllabus.
pub(crate) fn curriculum(kind: GroupKind, modality: Option<Modality>) -> &'static [&'static str] {
    match (kind, modality) {
        (GroupKind::Skills, Some(Modality::Dbt)) => &[
            "Mindfulness",
            "Distress tolerance",
            "Emotion regulation",
            "Interpersonal effectiveness",
        ],
        (GroupKind::Skills, Some(Modality::Cbt)) => &[
            "Thoughts, feelings and behaviours",
            "Catching automatic thoughts",
            "Common thinking traps",
            "Building balanced thoughts",
            "Behavioural activation",
            "Problem solving",
            "Relaxation and paced breathing",
            "Keeping the gains",
        ],
        (GroupKind::Skills, _) => &[
            "Breath awareness",
            "Body scan",
            "Mindful movement",
            "Noticing thoughts as thoughts",
            "Self-compassion",
            "Mindfulness in daily life",
        ],
        (GroupKind::Psychoeducation, _) => &[
            "Stress and the body",
            "Sleep and mood",
            "Understanding medications",
            "Nutrition and movement",
            "Building a support network",
            "Planning for difficult days",
        ],
        (GroupKind::RelapsePrevention, _) => &[
            "Triggers and high-risk situations",
            "Cravings and urge surfing",
            "Early warning signs",
            "A personal coping plan",
            "Lapse versus relapse",
            "Repairing relationships",
        ],
        (GroupKind::Process | GroupKind::Transition, _) => &[],
    }
}

const THEMES: &[&str] = &[
    "Members explored trust and what makes the group feel safe enough to speak.",
    "Discussion centred on managing stress at work and at home.",
    "Members reflected on setbacks this week and how they responded to them.",
    "The group considered how isolation and connection affect mood.",
    "Themes of shame and self-criticism emerged; members offered one another support.",
    "Members talked about sleep, routine and energy across the week.",
];

const INTERVENTIONS: &[&str] = &[
    "Facilitators modelled reflective listening and linked members' experiences.",
    "Skill taught and rehearsed in pairs; homework assigned for the week.",
    "Brief grounding exercise at the start; psychoeducation on the topic with discussion.",
    "Facilitators invited quieter members without pressure and validated passing.",
    "Guided practice followed by group feedback on what was useful.",
];

const PRESENTATION: &[&str] = &[
    "Alert and oriented; mood described as steady; affect congruent.",
    "Appeared tired but engaged; reports a difficult week.",
    "Calm and attentive; mood described as improving.",
    "Somewhat restless early on, settled as the session went on.",
    "Bright affect; reports better sleep this week.",
];

const PARTICIPATION: &[&str] = &[
    "Shared about coping with a stressful situation and received feedback.",
    "Listened attentively and passed when invited to share, which is welcome here.",
    "Offered supportive feedback to peers.",
    "Practised the session's skill and described how it felt.",
    "Asked questions about the topic and related it to daily life.",
];

const PROGRESS: &[&str] = &[
    "Reports using the breathing skill twice this week; progress toward the coping goal.",
    "Identified one trigger and a plan for it; steady progress.",
    "Attendance consistent; beginning to name emotions more readily.",
    "Reports fewer days of low mood; continues to work on routine.",
    "Describes setting a boundary at home; progress toward the interpersonal goal.",
];

const PLAN: &[&str] = &[
    "Continue group; practise the skill of the week daily.",
    "Continue group; review coping plan next session.",
    "Continue group; encourage use of support contacts between sessions.",
    "Continue current plan; check in on sleep next session.",
];

/// How a member took part, described and never scored: often sharing, sometimes
/// listening and passing (welcome in group), with feedback or skills practice.
pub(crate) fn participation(rng: &mut StdRng) -> Vec<Participation> {
    use Participation::*;
    let r: f64 = rng.r#gen();
    if r < 0.25 {
        vec![ListenedPassed]
    } else if r < 0.30 {
        vec![]
    } else if r < 0.60 {
        vec![Shared]
    } else if r < 0.80 {
        vec![Shared, GaveFeedback]
    } else {
        vec![Shared, PractisedSkill]
    }
}

fn pick(rng: &mut StdRng, from: &[&str]) -> String {
    from[rng.gen_range(0..from.len())].to_owned()
}

fn input<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).context("demo note does not match the note schema")
}

fn progress_body(rng: &mut StdRng) -> Result<ProgressNoteBody> {
    input(json!({
        "presentation": pick(rng, PRESENTATION),
        "participation": pick(rng, PARTICIPATION),
        "progress": pick(rng, PROGRESS),
        "plan": pick(rng, PLAN),
    }))
}

/// Writes the demo's notes for `held` sessions (attendance already taken). `facilitator`
/// is the demo clinician whose overdue notes show; `trainee` the supervised trainee.
/// Returns how many notes were written.
pub(crate) async fn seed_notes(
    store: &Store,
    held: &[Session],
    facilitator: ClinicianId,
    trainee: ClinicianId,
    now: Timestamp,
) -> Result<usize> {
    let mut leads: std::collections::HashMap<GroupId, (ClinicianId, Option<ClinicianId>)> =
        Default::default();
    for s in held {
        if let std::collections::hash_map::Entry::Vacant(e) = leads.entry(s.group_id) {
            e.insert(store.group_leads(s.group_id).await?);
        }
    }
    // The demo clinician's sessions: those ended within 36 hours are not written yet;
    // of the ones before, the latest two keep some unsigned notes (overdue).
    let recent = now
        .checked_sub(SignedDuration::from_hours(36))
        .context("the demo clock is outside the supported calendar")?;
    let mut mine: Vec<&Session> = held
        .iter()
        .filter(|s| leads[&s.group_id].0 == facilitator && s.ends_at < recent)
        .collect();
    mine.sort_by_key(|s| s.ends_at);
    let overdue: Vec<_> = mine.iter().rev().take(2).map(|s| s.id).collect();
    // The trainee's note: the latest held session the trainee co-facilitates.
    let trainee_session = held
        .iter()
        .filter(|s| leads[&s.group_id].1 == Some(trainee))
        .filter(|s| leads[&s.group_id].0 != facilitator || s.ends_at < recent)
        .max_by_key(|s| s.ends_at)
        .map(|s| s.id);

    let started = std::time::Instant::now();
    let mut written = 0;
    let mut addendum_for = None;
    for (i, s) in held.iter().enumerate() {
        let (lead, co) = leads[&s.group_id];
        if lead == facilitator && s.ends_at >= recent {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(NOTES_SEED ^ s.id.0.unsigned_abs());
        // Written and signed within the hour after the session.
        let at = s
            .ends_at
            .checked_add(SignedDuration::from_mins(40 + (i as i64 % 20)))
            .context("a demo session ends outside the supported calendar")?;
        let body: GroupNoteBody = input(json!({
            "themes": pick(&mut rng, THEMES),
            "interventions": pick(&mut rng, INTERVENTIONS),
        }))?;
        // The topic is the session's (the store fills it in).
        let group = GroupNoteBody {
            facilitators: std::iter::once(lead).chain(co).collect(),
            ..body
        };
        let is_overdue = overdue.contains(&s.id);
        // The most recent overdue session has no group note yet.
        let group = (overdue.first() != Some(&s.id)).then_some(NoteToWrite {
            author: lead,
            body: group,
            sign: true,
        });
        let is_trainees = trainee_session == Some(s.id);
        let mut bodies = Vec::new();
        for _ in 0..16 {
            bodies.push(progress_body(&mut rng)?);
        }
        let mut first_signed = None;
        written += store
            .record_session_notes(
                &store.op().session::<purpose::NoteWrite>(s.id).await?,
                group,
                |k, client| {
                    let body = bodies.get(k % bodies.len())?.clone();
                    Some(if is_overdue && k < 2 {
                        NoteToWrite {
                            author: lead,
                            body,
                            sign: false,
                        }
                    } else if is_trainees && k == 0 {
                        NoteToWrite {
                            author: trainee,
                            body,
                            sign: true,
                        }
                    } else {
                        first_signed.get_or_insert(client);
                        NoteToWrite {
                            author: lead,
                            body,
                            sign: true,
                        }
                    })
                },
                at,
            )
            .await
            .context("writing a demo session's notes")?;
        if lead == facilitator
            && !is_overdue
            && let Some(client) = first_signed
        {
            addendum_for = Some((s.id, client));
        }
    }

    // One signed note of the demo clinician's carries an addendum.
    if let Some((session, client)) = addendum_for {
        let notes = store
            .progress_notes(
                &store.op().session::<purpose::NoteList>(session).await?,
                now,
            )
            .await
            .context("reading a demo session's notes")?;
        if let Some(note) = notes.iter().find(|n| n.client_id == client) {
            let new = input(json!({
                "text": "Late entry: member called the next day to say the skill helped over \
                         the weekend; no change to the plan."
            }))?;
            store
                .add_progress_addendum(
                    &store
                        .op_as(facilitator)
                        .progress::<purpose::NoteAddendum>(session, client)
                        .await?,
                    note.meta.id,
                    &new,
                    now,
                )
                .await
                .context("adding a demo addendum")?;
        }
    }
    tracing::info!(
        notes = written,
        elapsed_ms = started.elapsed().as_millis(),
        "demo notes"
    );
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on an unexpected error"
    )]

    use circle_domain::note::{NoteKind, NoteState};
    use jiff::civil::date;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_shows_signed_overdue_cosign_and_amended_notes_and_curriculum_topics() {
        let db = circle_testkit::TestDb::new().await;
        let today = date(2026, 5, 6);
        let summary = crate::demo::seed(&db.store, today).await.unwrap();
        let store = &db.store;
        let now = today
            .at(12, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp();

        // A few overdue notes, all the demo clinician's (and perhaps the trainee's note
        // awaiting its co-signature), among them a group note not yet started.
        let every = store.op().listing::<purpose::OverdueNotes>().await.unwrap();
        let overdue = store.overdue_notes(&every, now).await.unwrap();
        let mine = overdue
            .iter()
            .find(|o| o.clinician_id == summary.clinician_clinician)
            .expect("the demo clinician has overdue notes");
        assert!((3..=6).contains(&mine.notes.len()), "{overdue:?}");
        assert!(
            mine.notes
                .iter()
                .any(|n| n.kind == NoteKind::Group && n.state.is_none())
        );
        assert!(overdue.len() <= 2, "{overdue:?}");

        // A week on, the trainee's note still awaits its co-signature.
        let later = now.checked_add(SignedDuration::from_hours(24 * 7)).unwrap();
        let all = store.overdue_notes(&every, later).await.unwrap();
        assert!(
            all.iter()
                .flat_map(|o| &o.notes)
                .any(|n| n.state == Some(NoteState::AwaitingCosign)),
            "a trainee's note awaits co-signature"
        );

        // Most held sessions have signed notes; one carries an addendum; skills groups
        // show their curriculum's topics.
        let groups = store
            .list_groups(
                None,
                circle_store::PageRequest {
                    after: 0,
                    limit: 200,
                },
            )
            .await
            .unwrap()
            .items;
        let (mut signed, mut addenda, mut topics) = (0, 0, std::collections::BTreeSet::new());
        for g in &groups {
            let sessions = store
                .list_sessions(g.id, date(2026, 3, 1), today)
                .await
                .unwrap();
            for s in &sessions {
                if let Some(t) = &s.topic {
                    topics.insert(t.as_str().to_owned());
                }
            }
            if g.lead_facilitator_id != summary.clinician_clinician {
                continue;
            }
            for s in sessions {
                let notes = store
                    .progress_notes(
                        &store.op().session::<purpose::NoteList>(s.id).await.unwrap(),
                        now,
                    )
                    .await
                    .unwrap();
                signed += notes
                    .iter()
                    .filter(|n| n.meta.state == NoteState::Signed)
                    .count();
                addenda += notes.iter().map(|n| n.meta.addenda.len()).sum::<usize>();
            }
        }
        assert!(signed > 50, "{signed}");
        assert_eq!(addenda, 1);
        for t in [
            "Distress tolerance",
            "Catching automatic thoughts",
            "Body scan",
        ] {
            assert!(topics.contains(t), "{t}: {topics:?}");
        }
    }
}
