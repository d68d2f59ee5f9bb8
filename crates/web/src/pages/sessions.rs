//! Today's sessions and the session screen: the roster with preferred names and attendance
//! for a whole group in one form (status and, for late arrival or early leave, minutes).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circle_app::App;
use circle_app::purpose;
use circle_domain::client::Client;
use circle_domain::compliance::ComplianceStatus;
use circle_domain::ids::{ClientId, SessionId};
use circle_domain::intake::ReferralState;
use circle_domain::session::{
    AttendanceInput, AttendanceStatus, Participation, RosterEntry, Session, SessionStatus,
    check_attendance_allowed,
};
use circle_domain::user::Role;
use serde::Deserialize;

use super::form::{Filled, PageForm, Rows, row_field};
use super::vocab::Label;
use super::{Nav, PageError, Signed, explain, html, refusal};

struct AgendaRow {
    id: i64,
    time: String,
    group: String,
    room: String,
    status: &'static str,
}

struct AlertRow {
    id: i64,
    client_id: i64,
    client: String,
    /// `tel:` target (digits and a leading +) and the number as written, when on file.
    phone: Option<(String, String)>,
    total: i64,
    /// Why the last acknowledgement of this alert was refused, shown by its field.
    error: Option<String>,
    what: String,
    instrument: String,
    raised: String,
}

struct OverdueRow {
    session_id: i64,
    what: String,
    due: String,
}

struct RiskRow {
    client: String,
    summary: String,
}

/// One of Today's summary cards: a count, what it counts, and how urgent it is (`tone`:
/// `danger`, `warn`, `ok` or `info`, a CSS class; the words say it too, so colour is
/// never the only signal).
struct Card {
    anchor: &'static str,
    title: &'static str,
    count: usize,
    tone: &'static str,
    detail: String,
}

impl Card {
    fn new(anchor: &'static str, title: &'static str, count: usize, urgent: &'static str) -> Self {
        Card {
            anchor,
            title,
            count,
            tone: if count > 0 { urgent } else { "ok" },
            detail: String::new(),
        }
    }

    fn detail(mut self, d: String) -> Self {
        self.detail = d;
        self
    }
}

struct OfferRow {
    client: String,
    group: String,
    start: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "today.html")]
struct TodayPage {
    nav: Option<Nav>,
    csrf: String,
    day: String,
    cards: Vec<Card>,
    mine: bool,
    sessions: Vec<AgendaRow>,
    messages: Vec<String>,
    /// What the last change did, in words (an acknowledged alert left the list silently).
    done: Option<&'static str>,
    show_alerts: bool,
    alerts: Vec<AlertRow>,
    show_clinical: bool,
    overdue: Vec<OverdueRow>,
    at_risk: Vec<RiskRow>,
    show_intake: bool,
    offers: Vec<OfferRow>,
    /// Per referral state: its key (the intake page's anchor), label and count.
    referrals: Vec<(&'static str, &'static str, i64)>,
    /// A clinician's referrals to screen: id, who, received.
    to_screen: Vec<(i64, String, String)>,
}

/// "18:00–19:30" in the clinic's time zone.
fn span(app: &App, s: &Session) -> String {
    let tz = app.clinic_time_zone();
    let start = s
        .starts_at
        .to_zoned(tz.clone())
        .strftime("%H:%M")
        .to_string();
    let end = s.ends_at.to_zoned(tz.clone()).strftime("%H:%M").to_string();
    format!("{start}–{end}")
}

/// An instant as the clinic reads it ("Mon 4 May, 14:05").
fn local(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

/// Clients' roster names (preferred first name, last initial) for the rows a page shows,
/// read in one audited read with the caller's access: each client once per page, however
/// many rows name them (a client with two open alerts, an overdue note and a waitlist offer
/// is one read, not four), and one read for all of them, not one per name.
struct RosterNames {
    known: std::collections::HashMap<ClientId, Client>,
}

impl RosterNames {
    async fn load(app: &App, signed: &Signed, ids: &[ClientId]) -> Result<Self, PageError> {
        let known = app
            .clients_with_ids(&signed.actor, ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        Ok(RosterNames { known })
    }

    /// The roster name; a client the lists showed but the caller may no longer list (a
    /// membership ended between the two reads) is named by nothing identifying.
    fn of(&self, id: ClientId) -> String {
        self.known
            .get(&id)
            .map_or_else(|| "A client".to_owned(), Client::roster_name)
    }

    fn client(&self, id: ClientId) -> Option<&Client> {
        self.known.get(&id)
    }
}

#[derive(Deserialize)]
pub struct TodayQuery {
    done: Option<String>,
}

pub async fn today(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<TodayQuery>,
) -> Result<Response, PageError> {
    // Only a fixed sentence is shown: nothing from the query string reaches the page.
    let done = (q.done.as_deref() == Some("acknowledged")).then_some(
        "The alert was acknowledged; what you did is recorded with it on the client's chart.",
    );
    today_page(&app, &signed, vec![], None, done, StatusCode::OK).await
}

/// Today; `alert_error` is a refused acknowledgement (alert id, what to fix), shown by
/// that alert's field.
async fn today_page(
    app: &App,
    signed: &Signed,
    messages: Vec<String>,
    alert_error: Option<(i64, String)>,
    done: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let role = signed.actor.role();
    let day = app.today();
    let actor = &signed.actor;
    let clinical = actor.may::<purpose::AlertList>();
    let intake = actor.may::<purpose::OfferList>() && actor.is_staff();
    // The lists first, then every client they name in one read. The lists are independent
    // reads, so they run at once: each waits for its audit entry's commit, and waiting
    // together they share one.
    let (items, open_alerts, overdue_notes, weeks, open_offers) = tokio::try_join!(
        app.agenda(actor, day),
        async {
            if clinical {
                app.alerts(actor, Some(circle_domain::measure::AlertState::Open))
                    .await
            } else {
                Ok(vec![])
            }
        },
        async {
            if clinical {
                app.overdue_notes(actor).await
            } else {
                Ok(vec![])
            }
        },
        async {
            if clinical {
                app.compliance(actor, None, None).await
            } else {
                Ok(vec![])
            }
        },
        async {
            if intake {
                app.current_offers(actor).await
            } else {
                Ok(vec![])
            }
        },
    )?;
    let overdue_notes: Vec<_> = overdue_notes.into_iter().flat_map(|o| o.notes).collect();
    let sessions: Vec<AgendaRow> = items
        .iter()
        .map(|i| AgendaRow {
            id: i.session.id.0,
            time: span(app, &i.session),
            group: i.group_name.clone(),
            room: i
                .room_name
                .clone()
                .unwrap_or_else(|| "Telehealth".to_owned()),
            status: i.session.status.label(),
        })
        .collect();
    // Someone with no group session this week is not at risk of missing sessions: they
    // need a group (the waitlist, the planner). Counted apart, not listed.
    let (risky, unplaced): (Vec<_>, Vec<_>) = weeks
        .into_iter()
        .filter(|w| w.status == ComplianceStatus::AtRisk)
        .partition(|w| w.scheduled_minutes > 0);
    let unscheduled = unplaced.len();
    let named: Vec<ClientId> = open_alerts
        .iter()
        .map(|a| a.client_id)
        .chain(overdue_notes.iter().filter_map(|o| o.client_id))
        .chain(risky.iter().map(|w| w.client_id))
        .chain(open_offers.iter().map(|o| o.client_id))
        .collect();
    // The names, and the counts and lists that need no names, at once (as above).
    let (names, referral_counts, screening) = tokio::try_join!(
        RosterNames::load(app, signed, &named),
        async {
            if intake {
                Ok(app.referral_counts(actor).await?)
            } else {
                Ok(vec![])
            }
        },
        async {
            if role == Role::Clinician {
                let page = circle_app::PageRequest {
                    after: 0,
                    limit: 200,
                };
                Ok(app
                    .list_referrals(actor, Some(ReferralState::Screening), page)
                    .await?
                    .items)
            } else {
                Ok(vec![])
            }
        },
    )?;
    let mut alerts = vec![];
    for a in open_alerts {
        let items: Vec<String> = a
            .items
            .iter()
            .map(|i| format!("item {} with {}", i.item_id, i.value))
            .collect();
        let phone = names
            .client(a.client_id)
            .and_then(|c| c.phone.as_ref())
            .map(|p| {
                let digits: String = p
                    .as_str()
                    .chars()
                    .filter(|ch| ch.is_ascii_digit() || *ch == '+')
                    .collect();
                (digits, p.to_string())
            });
        alerts.push(AlertRow {
            id: a.id,
            client_id: a.client_id.0,
            client: names.of(a.client_id),
            phone,
            total: a.total,
            error: alert_error
                .as_ref()
                .filter(|(id, _)| *id == a.id)
                .map(|(_, e)| e.clone()),
            what: items.join(", "),
            instrument: match a.instrument.as_str() {
                "phq9" => "PHQ-9".to_owned(),
                "gad7" => "GAD-7".to_owned(),
                other => other.to_uppercase(),
            },
            raised: local(app, a.raised_at),
        });
    }
    let overdue: Vec<OverdueRow> = overdue_notes
        .into_iter()
        .map(|o| OverdueRow {
            session_id: o.session_id.0,
            what: match o.client_id {
                Some(c) => format!("Progress note for {}", names.of(c)),
                None => "Group note".to_owned(),
            },
            due: local(app, o.due_at),
        })
        .collect();
    let at_risk: Vec<RiskRow> = risky
        .into_iter()
        .map(|w| RiskRow {
            client: names.of(w.client_id),
            summary: w.summary,
        })
        .collect();
    let mut offers = vec![];
    let mut group_names = std::collections::HashMap::new();
    for o in open_offers {
        let group = match group_names.get(&o.group_id) {
            Some(name) => name,
            None => {
                let name = app.group(&signed.actor, o.group_id).await?.name.to_string();
                group_names.entry(o.group_id).or_insert(name)
            }
        };
        offers.push(OfferRow {
            client: names.of(o.client_id),
            group: group.clone(),
            start: o.start_date.to_string(),
            expires: local(app, o.expires_at),
        });
    }
    let mut referrals = vec![];
    if intake {
        let counts = referral_counts;
        for state in [
            ReferralState::Referred,
            ReferralState::Screening,
            ReferralState::Ready,
        ] {
            let n = counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            referrals.push((state.as_str(), state.label(), n));
        }
    }
    // A clinician assigned to screen a referral finds it here (the service lists only
    // those assigned to them).
    let mut to_screen = vec![];
    for r in screening {
        to_screen.push((r.id, r.details.name.to_string(), local(app, r.received_at)));
    }
    let mut cards = vec![];
    if clinical {
        cards.push(Card::new(
            "alerts-h",
            "Safety alerts",
            alerts.len(),
            "danger",
        ));
    }
    cards.push(Card {
        tone: "info",
        ..Card::new(
            "sessions-h",
            if role == Role::Clinician {
                "My sessions today"
            } else {
                "Sessions today"
            },
            sessions.len(),
            "info",
        )
    });
    if clinical {
        cards.push(Card::new(
            "overdue-h",
            "Notes overdue",
            overdue.len(),
            "warn",
        ));
        let mut risk = Card::new("risk-h", "Weekly hours at risk", at_risk.len(), "danger");
        if unscheduled > 0 {
            risk = risk.detail(super::vocab::count(
                unscheduled,
                "client has no group this week",
                "clients have no group this week",
            ));
        }
        cards.push(risk);
    }
    if intake {
        cards.push(Card::new(
            "offers-h",
            "Offers waiting",
            offers.len(),
            "warn",
        ));
        let waiting: i64 = referrals.iter().map(|(_, _, n)| n).sum();
        cards.push(Card::new(
            "referrals-h",
            "Referrals waiting",
            usize::try_from(waiting).unwrap_or(usize::MAX),
            "warn",
        ));
    }
    if role == Role::Clinician {
        cards.push(Card::new(
            "screen-h",
            "Referrals to screen",
            to_screen.len(),
            "warn",
        ));
    }
    Ok(html(
        status,
        TodayPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            day: day.strftime("%A %-d %B %Y").to_string(),
            done,
            cards,
            mine: role == Role::Clinician,
            sessions,
            messages,
            show_alerts: clinical,
            alerts,
            show_clinical: clinical,
            overdue,
            at_risk,
            show_intake: intake,
            offers,
            referrals,
            to_screen,
        },
    ))
}

#[derive(Deserialize)]
pub struct AcknowledgeForm {
    action_taken: String,
}

/// Acknowledges a safety alert with the action taken; a refusal is explained on Today.
pub async fn acknowledge_alert(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<AcknowledgeForm>,
) -> Result<Response, PageError> {
    let form = form.into_parsed()?;
    let action = form.action_taken.trim();
    let length = action.chars().count();
    if length == 0 || length > 2000 {
        let why = if length == 0 {
            "Write in \u{201c}Action taken\u{201d} what you did (for example, who called the client and the plan agreed), then acknowledge."
        } else {
            "\u{201c}Action taken\u{201d} is too long: keep it under 2,000 characters."
        };
        return today_page(
            &app,
            &signed,
            vec![],
            Some((id, why.to_owned())),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let ack = circle_domain::measure::Acknowledgement {
        action_taken: action.to_owned(),
    };
    match app.acknowledge_alert(&signed.actor, id, &ack).await {
        Ok(_) => Ok(Redirect::to("/today?done=acknowledged").into_response()),
        Err(e) => {
            let why = refusal(e)?;
            today_page(
                &app,
                &signed,
                vec![format!("The alert was not acknowledged: {why}")],
                None,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

struct MemberRow {
    client_id: i64,
    name: String,
    status: &'static str,
    minutes: String,
    participation: Vec<&'static str>,
    /// What was ticked, in words, for the folded box's summary (a ticked participation
    /// was hidden until the box was opened).
    chosen: String,
    /// Why what was posted for the row's attendance, minutes or participation was refused.
    status_error: Option<String>,
    minutes_error: Option<String>,
    part_error: Option<String>,
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    nav: Option<Nav>,
    csrf: String,
    id: i64,
    group: String,
    when: String,
    room: Option<String>,
    /// The join URL, for the session's facilitators and directors only.
    join_url: Option<String>,
    /// Whether the join-link form is offered (the session's facilitators and directors).
    can_set_join_url: bool,
    status: &'static str,
    topic: Option<String>,
    can_record: bool,
    /// Why attendance cannot be taken now (a session to come, a cancelled one).
    closed: Option<String>,
    roster: Vec<MemberRow>,
    statuses: Vec<(&'static str, &'static str)>,
    participation: Vec<(&'static str, &'static str)>,
    full_minutes: u32,
    messages: Vec<String>,
    saved: Option<String>,
    notes: Option<super::notes::NotesView>,
}

/// Described, never scored: silence is a valid way to be in group.
const PARTICIPATION: [(Participation, &str); 7] = [
    (Participation::Shared, "Shared"),
    (Participation::ListenedPassed, "Listened / passed"),
    (Participation::GaveFeedback, "Gave feedback"),
    (Participation::PractisedSkill, "Practised a skill"),
    (Participation::SupportedPeer, "Supported a peer"),
    (Participation::AskedQuestion, "Asked a question"),
    (Participation::CompletedHomework, "Completed homework"),
];

const STATUSES: [(AttendanceStatus, &str); 5] = [
    (AttendanceStatus::Present, "Present"),
    (AttendanceStatus::Late, "Late"),
    (AttendanceStatus::LeftEarly, "Left early"),
    (AttendanceStatus::AbsentExcused, "Absent (excused)"),
    (AttendanceStatus::AbsentUnexcused, "Absent"),
];

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<u32>,
    /// What a note form just did (`saved`, `signed`, ...).
    note: Option<String>,
}

pub async fn session_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let saved = q.saved.map(|n| match n {
        1 => "Attendance saved for 1 member.".to_owned(),
        n => format!("Attendance saved for {n} members."),
    });
    let saved = saved.or_else(|| q.note.as_deref().and_then(super::notes::done_message));
    render_session(
        &app,
        &signed,
        SessionId(id),
        vec![],
        saved,
        StatusCode::OK,
        super::notes::Feedback::default(),
        None,
    )
    .await
}

/// The session screen: attendance (as `sheet` posted it, with each row's errors, when the
/// sheet was refused), then the notes (with `feedback` at the note a refused change was
/// about).
#[allow(
    clippy::too_many_arguments,
    reason = "the screen and what each of its refused forms brings back"
)]
pub(super) async fn render_session(
    app: &App,
    signed: &Signed,
    id: SessionId,
    messages: Vec<String>,
    saved: Option<String>,
    status: StatusCode,
    feedback: super::notes::Feedback,
    sheet: Option<&Filled>,
) -> Result<Response, PageError> {
    let session = app.session(&signed.actor, id).await?;
    let roster = app.roster(&signed.actor, id).await?;
    let group = app.group(&signed.actor, session.group_id).await?;
    let room = match group.room_id {
        Some(r) => Some(app.room(&signed.actor, r).await?.name.to_string()),
        None => None,
    };
    let join_url = app.session_join_url(&signed.actor, id).await?;
    let tz = app.clinic_time_zone();
    let when = format!(
        "{} {}",
        session
            .starts_at
            .to_zoned(tz.clone())
            .strftime("%a %-d %b %Y"),
        span(app, &session)
    );
    // The form is offered only when the service would take it: a session still to come
    // says when attendance opens instead of refusing every row after the tap.
    let may_record = signed.actor.may::<purpose::AttendanceWrite>();
    let opens = check_attendance_allowed(&session, app.now());
    let can_record = may_record && opens.is_ok();
    let closed = match opens {
        _ if !may_record => None,
        Ok(()) => None,
        Err(_) if session.status == SessionStatus::Cancelled => {
            Some("The session was cancelled: no attendance is taken.".to_owned())
        }
        Err(_) => Some(format!(
            "Attendance opens when the session starts, {}.",
            session
                .starts_at
                .to_zoned(tz.clone())
                .strftime("%A %-d %B at %H:%M")
        )),
    };
    let notes =
        super::notes::session_notes(app, signed, &session, &group, &roster, feedback).await?;
    Ok(html(
        status,
        SessionPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            id: id.0,
            group: group.name.to_string(),
            when,
            room,
            can_set_join_url: signed.actor.may::<purpose::SessionJoinUrl>(),
            join_url,
            status: session.status.label(),
            topic: session.topic.as_ref().map(|t| t.to_string()),
            can_record,
            closed,
            roster: roster.iter().map(|r| member_row(r, sheet)).collect(),
            statuses: STATUSES.iter().map(|(s, l)| (s.as_str(), *l)).collect(),
            participation: PARTICIPATION
                .iter()
                .map(|(p, l)| (p.as_str(), *l))
                .collect(),
            full_minutes: session.minutes(),
            messages,
            saved,
            notes,
        },
    ))
}

/// A member's row: as the refused `sheet` posted it, else as recorded.
fn member_row(r: &RosterEntry, sheet: Option<&Filled>) -> MemberRow {
    let c = r.client_id.0;
    if let Some(f) = sheet {
        let participation: Vec<Participation> = f
            .values(&row_field("part", c))
            .into_iter()
            .filter_map(|v| Participation::parse(v.trim()))
            .collect();
        return MemberRow {
            client_id: c,
            name: r.display_name.clone(),
            // Only a listed choice can be shown chosen again.
            status: AttendanceStatus::parse(f.value(&row_field("status", c)).trim())
                .map_or("", AttendanceStatus::as_str),
            minutes: f.value(&row_field("minutes", c)).to_owned(),
            participation: participation.iter().map(|p| p.as_str()).collect(),
            chosen: PARTICIPATION
                .iter()
                .filter(|(p, _)| participation.contains(p))
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join(", "),
            status_error: f.error(&row_field("status", c)),
            minutes_error: f.error(&row_field("minutes", c)),
            part_error: f.error(&row_field("part", c)),
        };
    }
    let (status, minutes) = match &r.attendance {
        Some(a)
            if matches!(
                a.status,
                AttendanceStatus::Late | AttendanceStatus::LeftEarly
            ) =>
        {
            (a.status.as_str(), a.minutes.to_string())
        }
        Some(a) => (a.status.as_str(), String::new()),
        None => ("", String::new()),
    };
    MemberRow {
        client_id: r.client_id.0,
        name: r.display_name.clone(),
        status,
        minutes,
        participation: r
            .attendance
            .iter()
            .flat_map(|a| a.participation.iter().map(|p| p.as_str()))
            .collect(),
        chosen: PARTICIPATION
            .iter()
            .filter(|(p, _)| {
                r.attendance
                    .as_ref()
                    .is_some_and(|a| a.participation.contains(p))
            })
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
            .join(", "),
        status_error: None,
        minutes_error: None,
        part_error: None,
    }
}

/// One member's row of the attendance sheet: `status_<client>`, `minutes_<client>` and
/// `part_<client>` (a box per participation).
#[derive(Deserialize)]
pub struct AttendanceRow {
    /// None when no choice was made for the member: nothing to record for them yet.
    status: Option<AttendanceStatus>,
    /// For late arrival and early leave only.
    minutes: Option<u32>,
    part: Vec<Participation>,
}

/// A row's field as the sheet labels it.
fn sheet_label(field: &str) -> &'static str {
    match field {
        "status" => "Attendance",
        "minutes" => "Minutes",
        "part" | "participation" => "Participation",
        _ => "Attendance",
    }
}

/// Every error of the sheet, each by the member's roster name and the field's label; an
/// error of a row that is not on the roster names no one.
fn sheet_messages(roster: &[RosterEntry], sheet: &Filled) -> Vec<String> {
    sheet
        .errors()
        .map(|(key, rule)| {
            let (field, id) = key.rsplit_once('_').unwrap_or((key, ""));
            let who = roster
                .iter()
                .find(|r| r.client_id.0.to_string() == id)
                .map_or("A row of the sheet", |r| r.display_name.as_str());
            format!("{who}: {}: {rule}", sheet_label(field))
        })
        .collect()
}

/// Saves every member whose status, minutes or participation changed. A sheet with a
/// value that is not one of its choices saves nothing and comes back with the error by
/// that member's field; a change the service refuses is shown by its member's field too,
/// and the members saved stay saved.
pub async fn record_attendance(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Rows<ClientId, AttendanceRow>>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    // Who may not take this session's attendance is told so before the sheet's rules.
    let roster = app.roster(&signed.actor, session).await?;
    let (parsed, mut sheet) = form.into_parts();
    let rows = match parsed {
        Ok(rows) => rows,
        Err(errors) => {
            sheet.field_errors(errors);
            let mut messages = vec!["Nothing was saved: the sheet has values to fix.".to_owned()];
            messages.extend(sheet_messages(&roster, &sheet));
            return render_session(
                &app,
                &signed,
                session,
                messages,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                super::notes::Feedback::default(),
                Some(&sheet),
            )
            .await;
        }
    };
    let mut failed = vec![];
    let mut saved = 0;
    for member in &roster {
        let c = member.client_id.0;
        let Some(row) = rows.get(&member.client_id) else {
            continue;
        };
        let Some(status) = row.status else {
            continue;
        };
        let mut participation = row.part.clone();
        if !status.attended() {
            // An absence has no participation; the boxes may still be ticked on the page.
            participation.clear();
        }
        participation.sort();
        participation.dedup();
        // Minutes only mean something for late arrival and early leave.
        let minutes = row
            .minutes
            .filter(|_| matches!(status, AttendanceStatus::Late | AttendanceStatus::LeftEarly));
        // Participation alone is a change: a facilitator who ticks "shared" after saving
        // the statuses expects it kept.
        let unchanged = member.attendance.as_ref().is_some_and(|a| {
            let mut had = a.participation.clone();
            had.sort();
            had.dedup();
            a.status == status && minutes.is_none_or(|m| m == a.minutes) && had == participation
        });
        if unchanged {
            continue;
        }
        let input = AttendanceInput {
            status,
            minutes,
            participation,
        };
        match app
            .record_attendance(&signed.actor, session, member.client_id, &input)
            .await
        {
            Ok(_) => saved += 1,
            Err(circle_app::AppError::Internal(cause)) => {
                tracing::error!(cause = %cause, "recording attendance failed");
                failed.push(format!(
                    "{}: something went wrong; nothing was saved for this member",
                    member.display_name
                ));
            }
            // The service's field rule, by the member's field (`minutes` → `minutes_12`).
            Err(circle_app::AppError::Domain(circle_domain::DomainError::Invalid(errors))) => {
                let mut by_row = circle_domain::FieldErrors::default();
                for f in errors.0 {
                    let field = if f.field == "participation" {
                        "part"
                    } else {
                        f.field.as_str()
                    };
                    by_row.push(row_field(field, c), f.message);
                }
                sheet.field_errors(by_row);
            }
            Err(e) => failed.push(format!("{}: {}", member.display_name, explain(&e))),
        }
    }
    let mut messages = sheet_messages(&roster, &sheet);
    messages.extend(failed);
    if messages.is_empty() {
        return Ok(Redirect::to(&format!("/sessions/{id}?saved={saved}")).into_response());
    }
    let note = (saved > 0).then(|| {
        format!(
            "Attendance saved for {}.",
            super::vocab::count(saved, "member", "members")
        )
    });
    render_session(
        &app,
        &signed,
        session,
        messages,
        note,
        StatusCode::UNPROCESSABLE_ENTITY,
        super::notes::Feedback::default(),
        Some(&sheet),
    )
    .await
}
