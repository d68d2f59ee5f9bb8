//! Reports: the census by program and level of care, attendance rates per group over a
//! date range, weekly hours compliance, outcomes per group (a server-rendered SVG chart
//! with its numbers in a table), and the billing export as a download.
//!
//! Each page calls one service, which checks the role and writes the audit entry: the
//! census is for directors and intake; attendance, compliance and outcomes for directors
//! (every group) and clinicians (their own groups and caseload); the billing export for
//! directors only.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use circle_app::figures::{GroupOutcome, InstrumentOutcome};
use circle_app::purpose;
use circle_app::{Actor, App, AppError, PageRequest};
use circle_domain::compliance::ComplianceStatus;
use circle_domain::ids::{ClientId, ProgramId};
use jiff::civil::Date;
use serde::Deserialize;

use super::vocab::Label;
use super::{Nav, PageError, Signed, explain, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/reports", get(index))
        .route("/reports/census", get(census))
        .route("/reports/attendance", get(attendance))
        .route("/reports/compliance", get(compliance))
        .route("/reports/outcomes", get(outcomes))
        .route("/reports/billing", get(billing_form))
        .route("/reports/billing/export", get(billing_export))
        .route("/reports/billing/837p", get(claim_file_837p))
}

/// The reports a role may open, as (path, title, what it shows).
fn reports_for(actor: &Actor) -> Vec<(&'static str, &'static str, &'static str)> {
    let census = (
        "/reports/census",
        "Census",
        "Active clients, memberships and open seats by program; clients by level of care.",
    );
    let attendance = (
        "/reports/attendance",
        "Attendance rates",
        "Per group over a date range: held sessions, attended and absent.",
    );
    let compliance = (
        "/reports/compliance",
        "Weekly hours compliance",
        "Per client for a week: met, on track, at risk or short.",
    );
    let outcomes = (
        "/reports/outcomes",
        "Outcomes",
        "Per group: mean PHQ-9 and GAD-7 change from first to latest score.",
    );
    let billing = (
        "/reports/billing",
        "Billing export",
        "Download the claim lines for a date range as CSV.",
    );
    // The same purposes the services check: a report is listed exactly when it opens.
    [
        (actor.may::<purpose::ReportCensus>(), census),
        (actor.may::<purpose::ReportAttendance>(), attendance),
        (actor.may::<purpose::ComplianceRead>(), compliance),
        (actor.may::<purpose::ReportOutcomes>(), outcomes),
        (actor.may::<purpose::BillingExport>(), billing),
    ]
    .into_iter()
    .filter_map(|(shown, report)| shown.then_some(report))
    .collect()
}

#[derive(Template)]
#[template(path = "reports_index.html")]
struct IndexPage {
    nav: Option<Nav>,
    reports: Vec<(&'static str, &'static str, &'static str)>,
}

async fn index(signed: Signed) -> Result<Response, PageError> {
    let reports = reports_for(&signed.actor);
    if reports.is_empty() {
        return Err(PageError::Forbidden);
    }
    Ok(html(
        StatusCode::OK,
        IndexPage {
            nav: Some(signed.nav()),
            reports,
        },
    ))
}

/// A date query parameter: absent or empty gives `default`; anything else must be a date.
/// `field` is the field's label on the page, so the sentence points at it (issue 14: the
/// pages said "from: must be a date (YYYY-MM-DD)").
fn date_param(
    value: Option<&str>,
    field: &'static str,
    default: Date,
    problems: &mut Vec<String>,
) -> Date {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => v.parse::<Date>().unwrap_or_else(|_| {
            problems.push(format!("{field}: write a date, such as 2026-05-04."));
            default
        }),
    }
}

fn days_before(day: Date, n: i64) -> Date {
    day.saturating_sub(jiff::Span::new().days(n))
}

/// Hours the one way pages write them ("7 h 30 min").
fn hours(minutes: u32) -> String {
    super::vocab::hours(i64::from(minutes))
}

/// `?format=csv` on a report: its table as a download instead of the page.
#[derive(Deserialize, Default)]
pub struct FormatQuery {
    format: Option<String>,
}

fn wants_csv(format: Option<&str>) -> bool {
    format.is_some_and(|f| f.trim().eq_ignore_ascii_case("csv"))
}

/// A report table as an RFC 4180 CSV download: a header row, CRLF line ends, fields quoted
/// when they must be, and every cell made safe for spreadsheets (a leading `=`, `+`, `-`,
/// `@`, tab or CR is neutralised, as the billing export does: `spreadsheet_safe`).
pub(super) fn csv_download(
    name: &str,
    columns: &[&str],
    rows: &[Vec<String>],
) -> Result<Response, PageError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let written = w.write_record(columns).and_then(|()| {
        rows.iter().try_for_each(|r| {
            w.write_record(
                r.iter()
                    .map(|c| circle_domain::billing::spreadsheet_safe(c).into_owned()),
            )
        })
    });
    let bytes = written
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()))
        .map_err(|cause| {
            tracing::error!(cause = %cause, "writing a report's CSV failed");
            PageError::Internal
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

// The census.

struct CensusRow {
    program: String,
    level: &'static str,
    groups: u32,
    active_clients: u32,
    memberships: u32,
    seats: u32,
    open_seats: u32,
}

#[derive(Template)]
#[template(path = "reports_census.html")]
struct CensusPage {
    nav: Option<Nav>,
    day: String,
    programs: Vec<CensusRow>,
    totals: CensusRow,
    levels: Vec<(&'static str, u32)>,
}

async fn census(
    State(app): State<App>,
    signed: Signed,
    Query(f): Query<FormatQuery>,
) -> Result<Response, PageError> {
    let census = app.census(&signed.actor).await?;
    let programs: Vec<CensusRow> = census
        .programs
        .iter()
        .map(|p| CensusRow {
            program: p.program.clone(),
            level: p.level_of_care.label(),
            groups: p.groups,
            active_clients: p.active_clients,
            memberships: p.memberships,
            seats: p.seats,
            open_seats: p.open_seats,
        })
        .collect();
    let totals = CensusRow {
        program: "All programs".to_owned(),
        level: "",
        groups: programs.iter().map(|p| p.groups).sum(),
        active_clients: census.active_clients,
        memberships: programs.iter().map(|p| p.memberships).sum(),
        seats: programs.iter().map(|p| p.seats).sum(),
        open_seats: programs.iter().map(|p| p.open_seats).sum(),
    };
    if wants_csv(f.format.as_deref()) {
        let rows: Vec<Vec<String>> = programs
            .iter()
            .chain(std::iter::once(&totals))
            .map(|p| {
                vec![
                    p.program.clone(),
                    p.level.to_owned(),
                    p.groups.to_string(),
                    p.active_clients.to_string(),
                    p.memberships.to_string(),
                    p.seats.to_string(),
                    p.open_seats.to_string(),
                ]
            })
            .collect();
        return csv_download(
            &format!("circle-census-{}", app.today()),
            &[
                "Program",
                "Level of care",
                "Groups",
                "Active clients",
                "Memberships",
                "Seats",
                "Open seats",
            ],
            &rows,
        );
    }
    Ok(html(
        StatusCode::OK,
        CensusPage {
            nav: Some(signed.nav()),
            day: app.today().strftime("%A %-d %B %Y").to_string(),
            programs,
            totals,
            levels: census.levels.iter().map(|(l, n)| (l.label(), *n)).collect(),
        },
    ))
}

// Attendance rates.

#[derive(Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

struct AttendanceRow {
    group: String,
    program: String,
    held: u32,
    present: u32,
    late: u32,
    left_early: u32,
    excused: u32,
    unexcused: u32,
    rate: String,
}

#[derive(Template)]
#[template(path = "reports_attendance.html")]
struct AttendancePage {
    nav: Option<Nav>,
    from: String,
    until: String,
    messages: Vec<String>,
    rows: Vec<AttendanceRow>,
}

async fn attendance(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let today = app.today();
    let mut messages = vec![];
    let from = date_param(
        q.from.as_deref(),
        "From",
        days_before(today, 27),
        &mut messages,
    );
    let until = date_param(
        q.until.as_deref(),
        "Until (inclusive)",
        today,
        &mut messages,
    );
    let page = |messages: Vec<String>, rows: Vec<AttendanceRow>| AttendancePage {
        nav: Some(signed.nav()),
        from: q.from.clone().unwrap_or_else(|| from.to_string()),
        until: q.until.clone().unwrap_or_else(|| until.to_string()),
        messages,
        rows,
    };
    if !messages.is_empty() {
        refuse_clinical_roles(&signed.actor)?;
        return Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            page(messages, vec![]),
        ));
    }
    let figures = match app.attendance_rates(&signed.actor, from, until).await {
        Ok(f) => f,
        Err(e @ AppError::Domain(circle_domain::DomainError::Invalid(_))) => {
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(vec![explain(&e)], vec![]),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let rows = figures
        .iter()
        .map(|g| AttendanceRow {
            group: g.group.clone(),
            program: g.program.clone(),
            held: g.held_sessions,
            present: g.present,
            late: g.late,
            left_early: g.left_early,
            excused: g.absent_excused,
            unexcused: g.absent_unexcused,
            rate: g
                .rate_percent()
                .map_or_else(|| "—".to_owned(), |r| format!("{r}%")),
        })
        .collect::<Vec<AttendanceRow>>();
    if wants_csv(q.format.as_deref()) {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.group.clone(),
                    r.program.clone(),
                    r.held.to_string(),
                    r.present.to_string(),
                    r.late.to_string(),
                    r.left_early.to_string(),
                    r.excused.to_string(),
                    r.unexcused.to_string(),
                    r.rate.clone(),
                ]
            })
            .collect();
        return csv_download(
            &format!("circle-attendance-{from}-{until}"),
            &[
                "Group",
                "Program",
                "Held sessions",
                "Present",
                "Late",
                "Left early",
                "Absent (excused)",
                "Absent",
                "Attendance rate",
            ],
            &table,
        );
    }
    Ok(html(StatusCode::OK, page(vec![], rows)))
}

/// Input problems are explained only to roles that may use the report at all.
fn refuse_clinical_roles(actor: &Actor) -> Result<(), PageError> {
    if actor.may::<purpose::ReportAttendance>() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

// Compliance.

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
    format: Option<String>,
}

struct ComplianceRow {
    client: String,
    record: String,
    level: &'static str,
    attended: String,
    required: String,
    status: &'static str,
    status_class: &'static str,
    summary: String,
}

#[derive(Template)]
#[template(path = "reports_compliance.html")]
struct CompliancePage {
    nav: Option<Nav>,
    week: String,
    monday: String,
    messages: Vec<String>,
    counts: Vec<(&'static str, usize)>,
    rows: Vec<ComplianceRow>,
}

/// A client with no group session in the week (not in a group yet).
const NO_GROUP: &str = "No group this week";

fn status_label(s: ComplianceStatus) -> (&'static str, &'static str) {
    match s {
        ComplianceStatus::Met | ComplianceStatus::OnTrack => (s.label(), "ok"),
        ComplianceStatus::AtRisk => (s.label(), "danger"),
        ComplianceStatus::Short => (s.label(), "warn"),
    }
}

/// Every client the caller may list, by id (one audited listing per 200 clients).
async fn client_names(
    app: &App,
    actor: &Actor,
) -> Result<HashMap<ClientId, (String, String)>, PageError> {
    let mut names = HashMap::new();
    let mut page = PageRequest {
        after: 0,
        limit: 200,
    };
    loop {
        let found = app.list_clients(actor, page).await?;
        for c in &found.items {
            names.insert(c.id, (c.roster_name(), c.record_number.to_string()));
        }
        match found.next_after {
            Some(after) => page.after = after,
            None => return Ok(names),
        }
    }
}

async fn compliance(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<WeekQuery>,
) -> Result<Response, PageError> {
    let today = app.today();
    let mut messages = vec![];
    let day = date_param(
        q.week.as_deref(),
        "Any day in the week",
        today,
        &mut messages,
    );
    let monday = circle_domain::compliance::week_start(day);
    let week_text = q.week.clone().unwrap_or_else(|| day.to_string());
    if !messages.is_empty() {
        refuse_clinical_roles(&signed.actor)?;
        return Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            CompliancePage {
                nav: Some(signed.nav()),
                week: week_text,
                monday: String::new(),
                messages,
                counts: vec![],
                rows: vec![],
            },
        ));
    }
    let weeks = app.compliance(&signed.actor, Some(day), None).await?;
    let names = client_names(&app, &signed.actor).await?;
    // Someone with no group session this week is not "at risk" of missing sessions: they
    // need a group. Counted and labelled apart.
    let unscheduled = |w: &circle_domain::compliance::ClientWeek| {
        w.status == ComplianceStatus::AtRisk && w.scheduled_minutes == 0
    };
    let mut counts: Vec<(&'static str, usize)> = [
        ComplianceStatus::AtRisk,
        ComplianceStatus::Short,
        ComplianceStatus::OnTrack,
        ComplianceStatus::Met,
    ]
    .iter()
    .map(|s| {
        (
            status_label(*s).0,
            weeks
                .iter()
                .filter(|w| w.status == *s && !unscheduled(w))
                .count(),
        )
    })
    .collect();
    counts.push((NO_GROUP, weeks.iter().filter(|w| unscheduled(w)).count()));
    let rows = weeks
        .iter()
        .map(|w| {
            let (client, record) = names
                .get(&w.client_id)
                .cloned()
                .unwrap_or_else(|| (format!("Client {}", w.client_id.0), String::new()));
            let (status, status_class) = if unscheduled(w) {
                (NO_GROUP, "warn")
            } else {
                status_label(w.status)
            };
            ComplianceRow {
                client,
                record,
                level: w.level_of_care.label(),
                attended: hours(w.attended_minutes),
                required: hours(w.required_minutes),
                status,
                status_class,
                summary: w.summary.clone(),
            }
        })
        .collect::<Vec<ComplianceRow>>();
    if wants_csv(q.format.as_deref()) {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.client.clone(),
                    r.record.clone(),
                    r.level.to_owned(),
                    r.attended.clone(),
                    r.required.clone(),
                    r.status.to_owned(),
                    r.summary.clone(),
                ]
            })
            .collect();
        return csv_download(
            &format!("circle-compliance-{monday}"),
            &[
                "Client",
                "Record",
                "Level of care",
                "Attended",
                "Required",
                "Status",
                "Summary",
            ],
            &table,
        );
    }
    Ok(html(
        StatusCode::OK,
        CompliancePage {
            nav: Some(signed.nav()),
            week: week_text,
            monday: monday.strftime("%A %-d %B %Y").to_string(),
            messages,
            counts,
            rows,
        },
    ))
}

// Outcomes.

struct OutcomeRow {
    group: String,
    program: String,
    members: u32,
    measured: u32,
    first: String,
    latest: String,
    change: String,
}

/// One group's pair of bars on a chart.
struct Bar {
    label: String,
    y: u32,
    first_w: u32,
    latest_w: u32,
    first: String,
    latest: String,
}

struct Chart {
    id: &'static str,
    title: String,
    desc: String,
    height: u32,
    bars: Vec<Bar>,
    ticks: Vec<(u32, u32)>,
    rows: Vec<OutcomeRow>,
}

#[derive(Template)]
#[template(path = "reports_outcomes.html")]
struct OutcomesPage {
    nav: Option<Nav>,
    charts: Vec<Chart>,
}

/// The chart's geometry: labels on the left, bars from `CHART_X`, `CHART_W` wide.
const CHART_X: u32 = 230;
const CHART_W: u32 = 360;
const ROW_H: u32 = 48;
const TOP: u32 = 40;

/// A group name that fits left of the bars (the full name is in the title, the
/// description and the table).
fn short_label(name: &str) -> String {
    const FITS: usize = 30;
    if name.chars().count() <= FITS {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(FITS - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

fn one_decimal(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn signed_decimal(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:+.1}"))
}

/// A bar's width for a mean on a scale of `max` (never negative, never past the axis).
fn width(v: Option<f64>, max: u32) -> u32 {
    let w = v.unwrap_or(0.0).clamp(0.0, f64::from(max)) / f64::from(max) * f64::from(CHART_W);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=CHART_W above"
    )]
    let w = w.round() as u32;
    w
}

fn chart(
    id: &'static str,
    name: &str,
    max: u32,
    groups: &[(&GroupOutcome, &InstrumentOutcome)],
) -> Chart {
    let measured: Vec<&(&GroupOutcome, &InstrumentOutcome)> =
        groups.iter().filter(|(_, o)| o.measured > 0).collect();
    let bars: Vec<Bar> = (0_u32..)
        .zip(&measured)
        .map(|(i, (g, o))| Bar {
            label: short_label(&g.group),
            y: TOP + i * ROW_H,
            first_w: width(o.mean_first, max),
            latest_w: width(o.mean_latest, max),
            first: one_decimal(o.mean_first),
            latest: one_decimal(o.mean_latest),
        })
        .collect();
    let desc = if measured.is_empty() {
        format!("No group has members with two or more {name} scores yet.")
    } else {
        measured
            .iter()
            .map(|(g, o)| {
                format!(
                    "{}: first {}, latest {} ({} measured)",
                    g.group,
                    one_decimal(o.mean_first),
                    one_decimal(o.mean_latest),
                    o.measured
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let step = if max > 21 { 9 } else { 7 };
    let ticks = (0..=max)
        .step_by(step as usize)
        .map(|v| (CHART_X + v * CHART_W / max, v))
        .collect();
    let n = u32::try_from(bars.len()).unwrap_or(u32::MAX);
    Chart {
        id,
        title: format!("Mean {name} total, first and latest score, per group (0–{max})"),
        desc,
        height: TOP + n.max(1) * ROW_H + 30,
        bars,
        ticks,
        rows: groups
            .iter()
            .map(|(g, o)| OutcomeRow {
                group: g.group.clone(),
                program: g.program.clone(),
                members: g.members,
                measured: o.measured,
                first: one_decimal(o.mean_first),
                latest: one_decimal(o.mean_latest),
                change: signed_decimal(o.mean_change()),
            })
            .collect(),
    }
}

async fn outcomes(
    State(app): State<App>,
    signed: Signed,
    Query(f): Query<FormatQuery>,
) -> Result<Response, PageError> {
    let groups = app.outcomes(&signed.actor).await?;
    let charts: Vec<Chart> = [("phq9", "PHQ-9", 27), ("gad7", "GAD-7", 21)]
        .into_iter()
        .map(|(code, name, max)| {
            let pairs: Vec<(&GroupOutcome, &InstrumentOutcome)> = groups
                .iter()
                .filter_map(|g| {
                    g.instruments
                        .iter()
                        .find(|i| i.instrument == code)
                        .map(|i| (g, i))
                })
                .collect();
            chart(code, name, max, &pairs)
        })
        .collect();
    if wants_csv(f.format.as_deref()) {
        let table: Vec<Vec<String>> = charts
            .iter()
            .flat_map(|c| {
                let instrument = super::vocab::instrument(c.id);
                c.rows.iter().map(move |r| {
                    vec![
                        instrument.clone(),
                        r.group.clone(),
                        r.program.clone(),
                        r.members.to_string(),
                        r.measured.to_string(),
                        r.first.clone(),
                        r.latest.clone(),
                        r.change.clone(),
                    ]
                })
            })
            .collect();
        return csv_download(
            &format!("circle-outcomes-{}", app.today()),
            &[
                "Instrument",
                "Group",
                "Program",
                "Members",
                "Measured twice",
                "Mean first score",
                "Mean latest score",
                "Mean change",
            ],
            &table,
        );
    }
    Ok(html(
        StatusCode::OK,
        OutcomesPage {
            nav: Some(signed.nav()),
            charts,
        },
    ))
}

// The billing export.

#[derive(Deserialize)]
pub struct ExportQuery {
    from: Option<String>,
    until: Option<String>,
    program: Option<String>,
}

#[derive(Template)]
#[template(path = "reports_billing.html")]
struct BillingPage {
    nav: Option<Nav>,
    from: String,
    until: String,
    program: String,
    programs: Vec<(i64, String)>,
    messages: Vec<String>,
}

async fn billing_page(
    app: &App,
    signed: &Signed,
    q: &ExportQuery,
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let today = app.today();
    let programs = app
        .list_programs(
            &signed.actor,
            PageRequest {
                after: 0,
                limit: 200,
            },
        )
        .await?
        .items
        .into_iter()
        .map(|p| (p.id.0, p.name.to_string()))
        .collect();
    let text = |v: &Option<String>, default: Date| {
        v.clone()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    Ok(html(
        status,
        BillingPage {
            nav: Some(signed.nav()),
            from: text(&q.from, days_before(today, 30)),
            until: text(&q.until, today),
            program: q.program.clone().unwrap_or_default(),
            programs,
            messages,
        },
    ))
}

async fn billing_form(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    if !signed.actor.may::<purpose::BillingExport>() {
        return Err(PageError::Forbidden);
    }
    billing_page(&app, &signed, &q, vec![], StatusCode::OK).await
}

/// The same CSV as `GET /api/v1/billing/export`, through the same service (one
/// `billing.export` audit entry), as a download.
async fn billing_export(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    billing_download(app, signed, q, Download::Csv).await
}

/// The same 837P claim file as `GET /api/v1/billing/837p`, as a download.
async fn claim_file_837p(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    billing_download(app, signed, q, Download::Claim837p).await
}

#[derive(Clone, Copy)]
enum Download {
    Csv,
    Claim837p,
}

async fn billing_download(
    app: App,
    signed: Signed,
    q: ExportQuery,
    download: Download,
) -> Result<Response, PageError> {
    let today = app.today();
    let mut messages = vec![];
    let from = date_param(
        q.from.as_deref(),
        "Service dates from",
        days_before(today, 30),
        &mut messages,
    );
    let until = date_param(
        q.until.as_deref(),
        "Until (inclusive)",
        today,
        &mut messages,
    );
    let program = match q
        .program
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match p.parse::<i64>() {
            Ok(id) => Some(ProgramId(id)),
            Err(_) => {
                messages.push("Program: choose one of the programs listed.".to_owned());
                None
            }
        },
    };
    if !messages.is_empty() {
        if !signed.actor.may::<purpose::BillingExport>() {
            return Err(PageError::Forbidden);
        }
        return billing_page(
            &app,
            &signed,
            &q,
            messages,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let lines = match download {
        Download::Csv => {
            app.billing_export(&signed.actor, from, until, program)
                .await
        }
        Download::Claim837p => {
            match app
                .claim_file_837p(&signed.actor, from, until, program)
                .await
            {
                Ok(body) => return Ok(crate::api::reports::claim_response(body, from, until)),
                Err(e) => Err(e),
            }
        }
    };
    let lines = match lines {
        Ok(lines) => lines,
        Err(e @ AppError::Domain(circle_domain::DomainError::Invalid(_))) => {
            return billing_page(
                &app,
                &signed,
                &q,
                vec![explain(&e)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let body = crate::api::reports::to_csv(&lines).map_err(|e| {
        tracing::error!(error = %e, "writing the billing CSV failed");
        PageError::Internal
    })?;
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // Dates print as YYYY-MM-DD: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"circle-billing-{from}-{until}.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_show_one_decimal_only_when_needed() {
        assert_eq!(hours(540), "9 h");
        assert_eq!(hours(450), "7 h 30 min");
        assert_eq!(hours(0), "0 h");
    }

    #[test]
    fn a_bar_is_as_wide_as_its_mean_on_the_scale_and_never_past_the_axis() {
        assert_eq!(width(Some(13.5), 27), CHART_W / 2);
        assert_eq!(width(Some(40.0), 27), CHART_W);
        assert_eq!(width(Some(-3.0), 27), 0);
        assert_eq!(width(None, 21), 0);
    }

    #[test]
    fn a_long_group_name_is_shortened_on_the_chart_only() {
        assert_eq!(short_label("Monday process"), "Monday process");
        let long = "IOP evening — CBT skills (telehealth) for adults";
        let short = short_label(long);
        assert_eq!(short.chars().count(), 30);
        assert!(short.ends_with('…') && long.starts_with(short.trim_end_matches('…')));
    }
}
