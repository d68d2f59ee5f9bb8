//! The client list and the client chart, and reading one progress note.
//!
//! The list is the caller's clients (directors and intake every client, a clinician their
//! caseload) with a search by name or record number. The chart shows what the caller's
//! role may see (the service decides: intake gets no clinical content); a chart outside a
//! clinician's caseload is the calm "Not found" page, naming nothing of the client.
//! Measures are drawn as server-rendered SVG trend charts, one per instrument, with the
//! instrument's severity bands shaded; every number is also in a table beside it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use circle_app::chart::{Chart, ClinicalChart};
use circle_app::purpose;
use circle_app::{App, AppError, PageRequest};
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, NoteId};
use circle_domain::measure::{InstrumentView, MeasureResponse};
use circle_domain::user::Role;
use serde::Deserialize;

use super::vocab::Label;
use super::{Nav, PageError, Signed, explain, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/clients", get(list))
        .route("/clients/{id}", get(chart))
        .route("/notes/{id}", get(note))
}

/// "Mon 4 May 2026" in the clinic's time zone.
fn day_of(app: &App, t: jiff::Timestamp) -> String {
    day_in(app.clinic_time_zone(), t)
}

fn day_in(tz: &jiff::tz::TimeZone, t: jiff::Timestamp) -> String {
    t.to_zoned(tz.clone()).strftime("%a %-d %b %Y").to_string()
}

/// An instant as the clinic reads it ("Mon 4 May 2026, 14:05").
fn when(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

fn hours(minutes: u32) -> String {
    super::vocab::hours(i64::from(minutes))
}

// The list.

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: i64,
}

struct ListRow {
    id: i64,
    name: String,
    record_number: String,
    date_of_birth: String,
    level: String,
}

#[derive(Template)]
#[template(path = "chart_list.html")]
struct ListPage {
    nav: Option<Nav>,
    q: String,
    caseload: bool,
    rows: Vec<ListRow>,
    next: Option<String>,
    messages: Vec<String>,
}

async fn list(
    State(app): State<App>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    if !signed.actor.may::<purpose::ClientList>() {
        return Err(PageError::Forbidden);
    }
    let q = query.q.trim().to_owned();
    let page = PageRequest {
        after: query.after.max(0),
        limit: 50,
    };
    let (rows, next, messages, status) = match app.search_clients(&signed.actor, &q, page).await {
        Ok(found) => {
            let rows = found
                .items
                .iter()
                .map(|c| ListRow {
                    id: c.id.0,
                    name: format!("{}, {}", c.family_name, c.given_name),
                    record_number: c.record_number.to_string(),
                    date_of_birth: c.date_of_birth.to_string(),
                    level: c
                        .current_level
                        .map_or("No open episode", |l| l.label())
                        .to_owned(),
                })
                .collect();
            let next = found.next_after.map(|after| {
                let mut s = form_urlencoded::Serializer::new(String::new());
                s.append_pair("q", &q);
                s.append_pair("after", &after.to_string());
                format!("/clients?{}", s.finish())
            });
            (rows, next, vec![], StatusCode::OK)
        }
        Err(e @ AppError::Domain(DomainError::Invalid(_))) => (
            vec![],
            None,
            vec![format!("The search was not run: {}", explain(&e))],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(e.into()),
    };
    Ok(html(
        status,
        ListPage {
            nav: Some(signed.nav()),
            q,
            caseload: signed.actor.role() == Role::Clinician,
            rows,
            next,
            messages,
        },
    ))
}

// The chart.

struct EpisodeRow {
    level: &'static str,
    program: String,
    started: String,
    ended: String,
}

struct MembershipRow {
    group: String,
    start: String,
    end: String,
    status: &'static str,
}

struct AgreementRow {
    version: String,
    signed_on: String,
    method: &'static str,
}

struct ConsentRow {
    recipient: String,
    purpose: String,
    signed_on: String,
    expires: String,
    state: &'static str,
}

struct AttendanceRow {
    day: String,
    group: String,
    status: &'static str,
    minutes: u32,
}

struct NoteRow {
    id: i64,
    day: String,
    group: String,
    author: String,
    state: &'static str,
}

struct AlertRow {
    open: bool,
    raised: String,
    instrument: String,
    what: String,
    acknowledged: String,
    /// What the clinician did, as written when acknowledging.
    action: String,
}

struct WeekRow {
    week: String,
    level: &'static str,
    required: String,
    attended: String,
    status: &'static str,
    label: &'static str,
    summary: String,
}

/// One shaded severity band of a trend chart.
struct BandShape {
    y: i64,
    height: i64,
    label: String,
    label_y: i64,
    class: &'static str,
}

/// One administration on a trend chart and in its table.
struct PointShape {
    x: i64,
    y: i64,
    total: i64,
    day: String,
    severity: String,
}

/// A y-axis tick.
struct Tick {
    y: i64,
    value: i64,
}

/// One instrument's trend: an SVG drawn from numbers only, and the same numbers as rows.
struct Trend {
    code: String,
    name: String,
    desc: String,
    bands: Vec<BandShape>,
    points: Vec<PointShape>,
    line: String,
    ticks: Vec<Tick>,
}

#[derive(Template)]
#[template(path = "chart_client.html")]
struct ChartPage {
    nav: Option<Nav>,
    name: String,
    preferred: Option<String>,
    record_number: String,
    date_of_birth: String,
    level: String,
    email: Option<String>,
    phone: Option<String>,
    concerns: Vec<&'static str>,
    emergency: bool,
    episodes: Vec<EpisodeRow>,
    memberships: Vec<MembershipRow>,
    agreements: Vec<AgreementRow>,
    consents: Vec<ConsentRow>,
    clinical: bool,
    /// Safety alerts are not an administrator's, even under emergency access.
    alerts_shown: bool,
    attendance: Vec<AttendanceRow>,
    notes: Vec<NoteRow>,
    trends: Vec<Trend>,
    alerts: Vec<AlertRow>,
    weeks: Vec<WeekRow>,
}

async fn chart(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let chart = match app.chart(&signed.actor, ClientId(id)).await {
        Ok(c) => c,
        // The service answers 404 for a chart outside one's caseload; a role that may
        // never open charts (a client) gets the same calm page.
        Err(AppError::Domain(DomainError::Forbidden)) if signed.actor.role() == Role::Client => {
            return Err(PageError::NotFound);
        }
        Err(e) => return Err(e.into()),
    };
    let page = chart_page(&app, &signed, chart).await?;
    Ok(html(StatusCode::OK, page))
}

/// A program's or group's name, or "another program" for one outside a scoped director's
/// programs: the client is theirs, the other program's records are not (the service
/// answers 404 for them, which must not turn the whole chart into a 404).
fn elsewhere(name: Result<impl ToString, AppError>) -> Result<String, PageError> {
    match name {
        Ok(n) => Ok(n.to_string()),
        Err(AppError::Domain(DomainError::NotFound { .. })) => Ok("another program".to_owned()),
        Err(e) => Err(e.into()),
    }
}

async fn chart_page(app: &App, signed: &Signed, chart: Chart) -> Result<ChartPage, PageError> {
    let c = &chart.client;
    let mut episodes = Vec::with_capacity(chart.episodes.len());
    for e in chart.episodes.iter().rev() {
        let program = match e.program_id {
            Some(p) => elsewhere(app.program(&signed.actor, p).await.map(|p| p.name))?,
            None => "—".to_owned(),
        };
        episodes.push(EpisodeRow {
            level: e.level_of_care.label(),
            program,
            started: e.started_on.to_string(),
            ended: e
                .ended_on
                .map_or_else(|| "open".to_owned(), |d| d.to_string()),
        });
    }
    let mut memberships = Vec::with_capacity(chart.memberships.len());
    let mut group_names: Vec<(i64, String)> = vec![];
    for m in &chart.memberships {
        let group = match group_names.iter().find(|(g, _)| *g == m.group_id.0) {
            Some((_, n)) => n.clone(),
            None => {
                let n = elsewhere(app.group(&signed.actor, m.group_id).await.map(|g| g.name))?;
                group_names.push((m.group_id.0, n.clone()));
                n
            }
        };
        memberships.push(MembershipRow {
            group,
            start: m.start_date.to_string(),
            end: m.end_date.map_or_else(String::new, |d| d.to_string()),
            status: m.status.label(),
        });
    }
    let agreements = chart
        .consents
        .group_agreements
        .iter()
        .map(|a| AgreementRow {
            version: a.version.clone(),
            signed_on: a.signed_on.to_string(),
            method: match a.method {
                circle_domain::intake::SignatureMethod::Electronic => "signed electronically",
                circle_domain::intake::SignatureMethod::Paper => "signed on paper",
            },
        })
        .collect();
    let consents = chart
        .consents
        .part2
        .iter()
        .map(|p| ConsentRow {
            recipient: p.terms.recipient.to_string(),
            purpose: p.terms.purpose.to_string(),
            signed_on: p.terms.signed_on.to_string(),
            expires: p
                .expires_on
                .map(|d| d.to_string())
                .or_else(|| p.terms.expiry_event.as_ref().map(|e| e.to_string()))
                .unwrap_or_default(),
            state: if p.revoked_at.is_some() {
                "revoked"
            } else if p.in_force {
                "in force"
            } else {
                "not in force"
            },
        })
        .collect();
    let mut page = ChartPage {
        nav: Some(signed.nav()),
        name: format!("{} {}", c.given_name, c.family_name),
        preferred: c.preferred_name.as_ref().map(|n| n.to_string()),
        record_number: c.record_number.to_string(),
        date_of_birth: c.date_of_birth.to_string(),
        level: c
            .current_level
            .map_or("No open episode", |l| l.label())
            .to_owned(),
        email: c.email.as_ref().map(|e| e.to_string()),
        phone: c.phone.as_ref().map(|p| p.to_string()),
        concerns: c.concerns.iter().map(|x| x.label()).collect(),
        emergency: chart.emergency_access_id.is_some(),
        episodes,
        memberships,
        agreements,
        consents,
        clinical: false,
        alerts_shown: signed.actor.may::<purpose::AlertList>(),
        attendance: vec![],
        notes: vec![],
        trends: vec![],
        alerts: vec![],
        weeks: vec![],
    };
    if let Some(clinical) = &chart.clinical {
        fill_clinical(app, &mut page, clinical);
    }
    Ok(page)
}

fn fill_clinical(app: &App, page: &mut ChartPage, c: &ClinicalChart) {
    use circle_domain::compliance::ComplianceStatus as S;
    page.clinical = true;
    page.attendance = c
        .attendance
        .iter()
        .map(|a| AttendanceRow {
            day: day_of(app, a.starts_at),
            group: a.group_name.clone(),
            status: a.status.label(),
            minutes: a.minutes,
        })
        .collect();
    page.notes = c
        .notes
        .iter()
        .map(|n| NoteRow {
            id: n.id.0,
            day: day_of(app, n.starts_at),
            group: n.group_name.clone(),
            author: n.author.clone(),
            state: match n.state {
                circle_domain::note::NoteState::Draft => "draft",
                circle_domain::note::NoteState::AwaitingCosign => "awaiting co-signature",
                circle_domain::note::NoteState::Signed => "signed",
            },
        })
        .collect();
    page.trends = c
        .instruments
        .iter()
        .map(|i| {
            let of: Vec<&MeasureResponse> = c
                .measures
                .iter()
                .filter(|m| m.instrument == i.code)
                .collect();
            trend(app.clinic_time_zone(), i, &of)
        })
        .collect();
    page.alerts = c
        .alerts
        .iter()
        .map(|a| AlertRow {
            open: a.acknowledged_at.is_none(),
            raised: when(app, a.raised_at),
            instrument: super::vocab::instrument(&a.instrument),
            what: a
                .items
                .iter()
                .map(|i| format!("item {} answered {}", i.item_id, i.value))
                .collect::<Vec<_>>()
                .join(", "),
            acknowledged: a.acknowledged_at.map(|t| when(app, t)).unwrap_or_default(),
            action: a.action_taken.clone().unwrap_or_default(),
        })
        .collect();
    page.weeks = c
        .weeks
        .iter()
        .rev()
        .map(|w| WeekRow {
            week: w.week_start.strftime("%-d %b %Y").to_string(),
            level: w.level_of_care.label(),
            required: hours(w.required_minutes),
            attended: hours(w.attended_minutes),
            status: w.status.as_str(),
            label: if w.status == S::AtRisk && w.scheduled_minutes == 0 {
                "No group this week"
            } else {
                w.status.label()
            },
            summary: w.summary.clone(),
        })
        .collect();
}

// The trend chart's geometry (SVG user units).
const W: i64 = 600;
const H: i64 = 220;
const LEFT: i64 = 40;
const RIGHT: i64 = 170;
const TOP: i64 = 10;
const BOTTOM: i64 = 30;

/// The SVG shapes of one instrument's scores over time: x by date, y by total on the
/// instrument's full range, its bands shaded behind.
fn trend(tz: &jiff::tz::TimeZone, i: &InstrumentView, of: &[&MeasureResponse]) -> Trend {
    let (min, max) = (i.total_min, i.total_max.max(i.total_min + 1));
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let y_of = |v: i64| TOP + (max - v.clamp(min, max)) * plot_h / (max - min);
    let bands = i
        .bands
        .iter()
        .enumerate()
        .map(|(n, b)| {
            // A band of whole scores min..=max covers [min, max + 1) on the axis.
            let top = y_of((b.max + 1).min(max));
            let bottom = y_of(b.min);
            BandShape {
                y: top,
                height: (bottom - top).max(1),
                label: b.label.clone(),
                label_y: (top + bottom) / 2 + 4,
                class: BAND_CLASSES[n.min(BAND_CLASSES.len() - 1)],
            }
        })
        .collect();
    let first = of.iter().map(|m| m.administered_at).min();
    let last = of.iter().map(|m| m.administered_at).max();
    let span = match (first, last) {
        (Some(f), Some(l)) => l.as_second() - f.as_second(),
        _ => 0,
    };
    let points: Vec<PointShape> = of
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let t = m.administered_at;
            let x = match first {
                Some(f) if span > 0 => LEFT + (t.as_second() - f.as_second()) * plot_w / span,
                // One point, or all at one instant: spread by order.
                _ if of.len() > 1 => {
                    LEFT + i64::try_from(n).unwrap_or(0) * plot_w
                        / (i64::try_from(of.len()).unwrap_or(1) - 1).max(1)
                }
                _ => LEFT + plot_w / 2,
            };
            PointShape {
                x,
                y: y_of(m.total),
                total: m.total,
                day: day_in(tz, t),
                severity: m.severity.clone(),
            }
        })
        .collect();
    let line = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let step = if max - min > 12 { 5 } else { 2 };
    let ticks = (min..=max)
        // The top of the range too, unless it would crowd the tick below it.
        .filter(|v| (v - min) % step == 0 || (*v == max && (max - min) % step >= 3))
        .map(|v| Tick {
            y: y_of(v),
            value: v,
        })
        .collect();
    let desc = match (points.first(), points.last()) {
        (Some(f), Some(l)) if points.len() > 1 => format!(
            "{} scores from {} to {}: first {} ({}), latest {} ({}).",
            points.len(),
            f.day,
            l.day,
            f.total,
            f.severity,
            l.total,
            l.severity
        ),
        (Some(f), _) => format!("One score, {} on {} ({}).", f.total, f.day, f.severity),
        _ => "No scores yet.".to_owned(),
    };
    Trend {
        code: i.code.clone(),
        name: i.name.clone(),
        desc,
        bands,
        points,
        line,
        ticks,
    }
}

/// Band shades from least to most severe (drawn under the line; labels carry the meaning).
const BAND_CLASSES: [&str; 5] = ["band-0", "band-1", "band-2", "band-3", "band-4"];

// One note.

struct AddendumRow {
    signed: String,
    author: String,
    text: String,
}

#[derive(Template)]
#[template(path = "chart_note.html")]
struct NotePage {
    nav: Option<Nav>,
    client_id: i64,
    client: String,
    group: String,
    day: String,
    author: String,
    state: &'static str,
    signed: String,
    cosigned: String,
    fields: Vec<(&'static str, String)>,
    addenda: Vec<AddendumRow>,
}

async fn note(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let note = match app.progress_note(&signed.actor, NoteId(id)).await {
        Ok(n) => n,
        // A note one may not read is "not found", as a chart outside one's caseload is.
        Err(AppError::Domain(DomainError::Forbidden)) => return Err(PageError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let session = app.session(&signed.actor, note.meta.session_id).await?;
    let group = app.group(&signed.actor, session.group_id).await?;
    let author_name = |c: circle_domain::ids::ClinicianId| {
        let app = app.clone();
        let actor = signed.actor.clone();
        async move {
            app.clinician(&actor, c)
                .await
                .map(|c| format!("{} {}", c.given_name, c.family_name))
        }
    };
    // The chart's name for the client: a facilitator outside the caseload (a substitute)
    // reads the note but not the chart, so the roster name from the chart is optional.
    let client = match app.client(&signed.actor, note.client_id).await {
        Ok(c) => format!("{} {}", c.given_name, c.family_name),
        Err(AppError::Internal(e)) => return Err(AppError::Internal(e).into()),
        Err(_) => "this member".to_owned(),
    };
    let mut addenda = Vec::with_capacity(note.meta.addenda.len());
    for a in &note.meta.addenda {
        addenda.push(AddendumRow {
            signed: when(&app, a.signed_at),
            author: author_name(a.author_clinician_id).await?,
            text: a.text.to_string(),
        });
    }
    let b = &note.body;
    let page = NotePage {
        nav: Some(signed.nav()),
        client_id: note.client_id.0,
        client,
        group: group.name.to_string(),
        day: day_of(&app, session.starts_at),
        author: author_name(note.meta.author_clinician_id).await?,
        state: match note.meta.state {
            circle_domain::note::NoteState::Draft => "Draft",
            circle_domain::note::NoteState::AwaitingCosign => "Awaiting co-signature",
            circle_domain::note::NoteState::Signed => "Signed",
        },
        signed: note
            .meta
            .signed_at
            .map(|t| when(&app, t))
            .unwrap_or_default(),
        cosigned: match (&note.meta.cosigned_by, &note.meta.cosigned_at) {
            (Some(by), Some(at)) => format!("{}, {}", author_name(*by).await?, when(&app, *at)),
            _ => String::new(),
        },
        fields: vec![
            ("Presentation", b.presentation.to_string()),
            ("Participation", b.participation.to_string()),
            ("Progress toward goals", b.progress.to_string()),
            ("Plan", b.plan.to_string()),
        ],
        addenda,
    };
    Ok(html(StatusCode::OK, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(total: i64, at: &str) -> MeasureResponse {
        MeasureResponse {
            id: total,
            client_id: ClientId(1),
            instrument: "phq9".to_owned(),
            answers: Default::default(),
            total,
            severity: "s".to_owned(),
            administered_at: at.parse().expect("a test instant"),
            alert_id: None,
        }
    }

    #[test]
    fn a_trend_shades_every_band_over_the_whole_range_and_places_points_by_date_and_score() {
        let phq9 = InstrumentView::from(&circle_domain::measure::phq9());
        let rs = [
            response(18, "2026-04-06T14:00:00Z"),
            response(12, "2026-04-20T14:00:00Z"),
            response(7, "2026-05-04T14:00:00Z"),
        ];
        let of: Vec<&MeasureResponse> = rs.iter().collect();
        let t = trend(&jiff::tz::TimeZone::UTC, &phq9, &of);
        assert_eq!(t.bands.len(), 5);
        // The bands tile the plot from bottom to top without gaps or overlaps.
        let covered: i64 = t.bands.iter().map(|b| b.height).sum();
        assert_eq!(covered, H - TOP - BOTTOM);
        assert_eq!(
            t.bands[0].y + t.bands[0].height,
            H - BOTTOM,
            "minimal at the bottom"
        );
        assert_eq!(t.bands[4].y, TOP, "severe at the top");
        let xs: Vec<i64> = t.points.iter().map(|p| p.x).collect();
        assert_eq!(xs, vec![LEFT, LEFT + (W - LEFT - RIGHT) / 2, W - RIGHT]);
        let ys: Vec<i64> = t.points.iter().map(|p| p.y).collect();
        assert!(
            ys[0] < ys[1] && ys[1] < ys[2],
            "a lower score is drawn lower: {ys:?}"
        );
        assert_eq!(t.line.split(' ').count(), 3);
        assert!(
            t.desc
                .starts_with("3 scores from Mon 6 Apr 2026 to Mon 4 May 2026"),
            "{}",
            t.desc
        );
    }

    #[test]
    fn hours_read_as_people_say_them() {
        assert_eq!(hours(540), "9 h");
        assert_eq!(hours(95), "1 h 35 min");
        assert_eq!(hours(65), "1 h 5 min");
    }
}
