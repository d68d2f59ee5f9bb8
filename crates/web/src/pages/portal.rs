//! The client portal: own groups and schedule, the group agreement, check-ins, the calendar
//! feed. Everything shown is the signed-in client's own; nothing names another member.
//!
//! The calendar feed (`/feed/{secret}.ics`) is RFC 5545 written by hand rather than with
//! the `icalendar` crate: the feed needs a VTIMEZONE built from the zone's real
//! transitions (which that crate does not generate), and the rest is a dozen property
//! lines whose escaping (§3.3.11) and line folding (§3.1) are done here and unit-tested —
//! a dependency would not save code.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form};
use circle_app::portal::{OwnGroup, OwnSession, Portal};
use circle_app::{Actor, App};
use circle_domain::ids::ClientId;
use circle_domain::intake::{GROUP_AGREEMENT_TEXT, GROUP_AGREEMENT_VERSION, SignAgreement};
use circle_domain::measure::{DueReason, NewMeasureResponse};
use jiff::tz::TimeZone;

use super::vocab::Label;
use super::{CookiePolicy, Nav, PageError, Signed, explain, form_value, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/me", get(home))
        .route("/me/agreement", post(sign_agreement))
        .route("/me/check-in/{code}", get(check_in_form).post(check_in))
        .route("/me/check-in/{code}/thanks", get(check_in_thanks))
        .route("/me/feed", post(create_feed))
        .route("/me/feed/revoke", post(revoke_feed))
        .route("/feed/{file}", get(feed))
}

/// A group as its member sees it.
struct GroupView {
    name: String,
    kind: String,
    when: String,
    place: String,
}

/// An upcoming session as its member sees it.
struct SessionView {
    day: String,
    time: String,
    group: String,
    place: String,
    cancelled: bool,
}

struct DueView {
    code: String,
    name: &'static str,
    reason: &'static str,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<&'static str>,
    messages: Vec<String>,
    groups: Vec<GroupView>,
    sessions: Vec<SessionView>,
    agreement_signed: Option<String>,
    agreement_text: &'static str,
    agreement_version: &'static str,
    due: Vec<DueView>,
    /// The check-ins a client may take when none is due (a client who feels worse
    /// mid-cycle checks in off-cycle; an item-9 answer alerts the care team all the same).
    any_time: Vec<(&'static str, &'static str)>,
    feed_created: Option<String>,
    feed_url: Option<String>,
}

/// "New York time" for `America/New_York`: how people name a zone.
pub(crate) fn zone_words(name: &str) -> String {
    let city = name.rsplit('/').next().unwrap_or(name).replace('_', " ");
    format!("{city} time")
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

fn place(room: Option<&str>) -> String {
    room.map_or_else(|| "Telehealth (video)".to_owned(), str::to_owned)
}

fn weekday_plural(d: circle_domain::schedule::Weekday) -> String {
    format!("{}s", d.label())
}

/// "Mondays 10:00–11:30" for each weekly meeting.
pub(crate) fn meeting_times(g: &circle_domain::group::Group) -> String {
    g.meetings
        .iter()
        .map(|m| {
            let end = m
                .start
                .checked_add(jiff::Span::new().minutes(i64::from(m.minutes)))
                .unwrap_or(m.start);
            format!(
                "{} {}–{}",
                weekday_plural(m.weekday),
                m.start.strftime("%H:%M"),
                end.strftime("%H:%M")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn group_view(g: &OwnGroup) -> GroupView {
    GroupView {
        name: g.group.name.to_string(),
        kind: g.group.kind.label().to_owned(),
        when: format!("{} ({})", meeting_times(&g.group), zone_words(&g.time_zone)),
        place: place(g.room_name.as_deref()),
    }
}

fn session_view(s: &OwnSession) -> SessionView {
    let tz = zone(&s.time_zone);
    let start = s.starts_at.to_zoned(tz.clone());
    let end = s.ends_at.to_zoned(tz);
    SessionView {
        day: start.strftime("%A %-d %B %Y").to_string(),
        time: format!(
            "{}–{} {}",
            start.strftime("%H:%M"),
            end.strftime("%H:%M"),
            start.strftime("%Z")
        ),
        group: s.group_name.clone(),
        place: place(s.room_name.as_deref()),
        cancelled: s.cancelled,
    }
}

fn instrument_name(code: &str) -> &'static str {
    match code {
        "phq9" => "Mood check-in (PHQ-9)",
        "gad7" => "Worry check-in (GAD-7)",
        _ => "Check-in",
    }
}

fn home_page(
    clinic: &TimeZone,
    signed: &Signed,
    p: &Portal,
    notice: Option<&'static str>,
    messages: Vec<String>,
    feed_url: Option<String>,
) -> HomePage {
    HomePage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        notice,
        messages,
        groups: p.groups.iter().map(group_view).collect(),
        sessions: p.sessions.iter().map(session_view).collect(),
        agreement_signed: p
            .agreement_signed
            .map(|d| d.strftime("%-d %B %Y").to_string()),
        agreement_text: GROUP_AGREEMENT_TEXT,
        agreement_version: GROUP_AGREEMENT_VERSION,
        due: p
            .due
            .iter()
            .map(|d| DueView {
                code: d.instrument.clone(),
                name: instrument_name(&d.instrument),
                reason: match d.reason {
                    DueReason::Intake => "as you start with us",
                    DueReason::Routine => "it is time for your regular check-in",
                    DueReason::Discharge => "as your time with us comes to an end",
                },
            })
            .collect(),
        any_time: ["phq9", "gad7"]
            .into_iter()
            .filter(|code| !p.due.iter().any(|d| d.instrument == *code))
            .map(|code| (code, instrument_name(code)))
            .collect(),
        feed_created: p
            .feed_created
            .map(|t| t.to_zoned(clinic.clone()).strftime("%-d %B %Y").to_string()),
        feed_url,
    }
}

#[derive(serde::Deserialize)]
struct Done {
    done: Option<String>,
}

/// The client's home: their groups, upcoming sessions, agreement, check-ins and feed.
async fn home(
    State(app): State<App>,
    signed: Signed,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> Result<Response, PageError> {
    let p = app.portal(&signed.actor).await?;
    let notice = match q.done.as_deref() {
        Some("agreement") => Some("Thank you. Your signature on the group agreement is saved."),
        Some("feed-revoked") => {
            Some("Your calendar link is switched off. Calendars using it no longer update.")
        }
        _ => None,
    };
    Ok(html(
        StatusCode::OK,
        home_page(app.clinic_time_zone(), &signed, &p, notice, vec![], None),
    ))
}

fn own_client(actor: &Actor) -> Result<ClientId, PageError> {
    actor.client_id().ok_or(PageError::Forbidden)
}

async fn sign_agreement(
    State(app): State<App>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let client = own_client(&signed.actor)?;
    if form_value(&fields, "agree") != "yes" {
        let p = app.portal(&signed.actor).await?;
        let page = home_page(
            app.clinic_time_zone(),
            &signed,
            &p,
            None,
            vec![
                "I agree: tick the box to say you have read the agreement and agree to it."
                    .to_owned(),
            ],
            None,
        );
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    let body = SignAgreement {
        signed_on: None,
        version: Some(form_value(&fields, "version").to_owned()),
    };
    match app.sign_group_agreement(&signed.actor, client, &body).await {
        Ok(_) => Ok(Redirect::to("/me?done=agreement").into_response()),
        Err(e @ circle_app::AppError::Domain(circle_domain::DomainError::Invalid(_))) => {
            let p = app.portal(&signed.actor).await?;
            let page = home_page(
                app.clinic_time_zone(),
                &signed,
                &p,
                None,
                vec![explain(&e)],
                None,
            );
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(e) => Err(e.into()),
    }
}

// Check-ins.

struct ItemView {
    id: String,
    text: String,
    /// Value, words, and whether it was the answer given (a refused form keeps them).
    options: Vec<(i64, String, bool)>,
}

#[derive(Template)]
#[template(path = "portal_check_in.html")]
struct CheckInPage {
    nav: Option<Nav>,
    csrf: String,
    code: String,
    title: &'static str,
    items: Vec<ItemView>,
    messages: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal_thanks.html")]
struct ThanksPage {
    nav: Option<Nav>,
    support: bool,
}

fn check_in_page(
    signed: &Signed,
    inst: &circle_domain::measure::InstrumentView,
    chosen: &BTreeMap<String, i64>,
    messages: Vec<String>,
) -> CheckInPage {
    CheckInPage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        code: inst.code.clone(),
        title: instrument_name(&inst.code),
        items: inst
            .items
            .iter()
            .map(|i| ItemView {
                id: i.id.clone(),
                text: i.text.clone(),
                options: i
                    .options
                    .iter()
                    .map(|o| {
                        let picked = chosen.get(&i.id) == Some(&o.value);
                        (o.value, o.label.clone(), picked)
                    })
                    .collect(),
            })
            .collect(),
        messages,
    }
}

/// The client's own instruments only: a code a client may not answer is "not found".
async fn own_instrument(
    app: &App,
    signed: &Signed,
    code: &str,
) -> Result<circle_domain::measure::InstrumentView, PageError> {
    own_client(&signed.actor)?;
    Ok(app.instrument(&signed.actor, code).await?)
}

async fn check_in_form(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let inst = own_instrument(&app, &signed, &code).await?;
    Ok(html(
        StatusCode::OK,
        check_in_page(&signed, &inst, &BTreeMap::new(), vec![]),
    ))
}

async fn check_in(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let client = own_client(&signed.actor)?;
    let inst = own_instrument(&app, &signed, &code).await?;
    let mut answers = BTreeMap::new();
    let mut missing = Vec::new();
    for (n, item) in inst.items.iter().enumerate() {
        match form_value(&fields, &format!("item_{}", item.id)).parse::<i64>() {
            Ok(v) if item.options.iter().any(|o| o.value == v) => {
                answers.insert(item.id.clone(), v);
            }
            _ => missing.push(format!("Question {}: choose one answer", n + 1)),
        }
    }
    if !missing.is_empty() {
        return Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            check_in_page(&signed, &inst, &answers, missing),
        ));
    }
    let new = NewMeasureResponse {
        instrument: inst.code.clone(),
        answers,
        administered_at: None,
    };
    match app.record_measure(&signed.actor, client, &new).await {
        Ok(_) => Ok(Redirect::to(&format!("/me/check-in/{}/thanks", inst.code)).into_response()),
        Err(e @ circle_app::AppError::Domain(circle_domain::DomainError::Invalid(_))) => Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            check_in_page(&signed, &inst, &new.answers, vec![explain(&e)]),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A calm thank-you, never a score; crisis resources are prominent when the latest answer
/// to a safety item was above 0 (read back from the client's own record, so the URL
/// carries nothing about it).
async fn check_in_thanks(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let client = own_client(&signed.actor)?;
    let inst = own_instrument(&app, &signed, &code).await?;
    let list = app.measures(&signed.actor, client).await?;
    let support = list
        .iter()
        .rev()
        .find(|r| r.instrument == inst.code)
        .is_some_and(|r| {
            inst.safety_items
                .iter()
                .any(|i| r.answers.get(i).is_some_and(|v| *v > 0))
        });
    Ok(html(
        StatusCode::OK,
        ThanksPage {
            nav: Some(signed.nav()),
            support,
        },
    ))
}

// The calendar feed.

/// The feed's address on this server, from the request's `Host`.
fn feed_url(headers: &HeaderMap, policy: CookiePolicy, secret: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if policy.secure { "https" } else { "http" };
    format!("{scheme}://{host}/feed/{secret}.ics")
}

/// Makes or replaces the feed and shows its address once (only a digest is kept, so it
/// cannot be shown again): the page is the answer to the POST rather than a redirect, so
/// the secret never sits in a URL of the browser's history.
async fn create_feed(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    headers: HeaderMap,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let secret = app.create_calendar_feed(&signed.actor).await?;
    let p = app.portal(&signed.actor).await?;
    let url = feed_url(&headers, policy, &secret);
    Ok(html(
        StatusCode::OK,
        home_page(
            app.clinic_time_zone(),
            &signed,
            &p,
            Some(
                "Your calendar link is ready. Copy it now: for your privacy it is shown only once.",
            ),
            vec![],
            Some(url),
        ),
    ))
}

async fn revoke_feed(
    State(app): State<App>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    app.revoke_calendar_feed(&signed.actor).await?;
    Ok(Redirect::to("/me?done=feed-revoked").into_response())
}

/// `GET /feed/{secret}.ics`: no session (calendar apps cannot sign in); the secret is the
/// key. Unknown or revoked → 404, reading and changing nothing.
async fn feed(
    State(app): State<App>,
    Path(file): Path<String>,
    parts: axum::http::request::Parts,
) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return PageError::NotFound.into_response();
    };
    let meta = crate::extract::request_meta(&parts);
    match app.calendar_feed(secret, &meta).await {
        Ok(Some(sessions)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            ics::calendar(&sessions, app.now()),
        )
            .into_response(),
        Ok(None) => PageError::NotFound.into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// RFC 5545 writing: escaping, folding, and VTIMEZONE from the zone's transitions.
mod ics {
    use std::collections::BTreeSet;

    use circle_app::portal::OwnSession;
    use jiff::Timestamp;
    use jiff::tz::{Offset, TimeZone};

    /// TEXT values escape backslash, semicolon, comma and newlines (§3.3.11).
    pub fn escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                ';' => out.push_str("\\;"),
                ',' => out.push_str("\\,"),
                '\n' => out.push_str("\\n"),
                '\r' => {}
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out
    }

    /// Folds a content line at 75 octets, never inside a UTF-8 character (§3.1), and ends
    /// it with CRLF.
    pub fn fold(line: &str, out: &mut String) {
        let mut width = 0;
        for c in line.chars() {
            let n = c.len_utf8();
            if width + n > 75 {
                out.push_str("\r\n ");
                width = 1;
            }
            out.push(c);
            width += n;
        }
        out.push_str("\r\n");
    }

    fn utc(t: Timestamp) -> String {
        t.strftime("%Y%m%dT%H%M%SZ").to_string()
    }

    fn offset(o: Offset) -> String {
        let s = o.seconds();
        let sign = if s < 0 { '-' } else { '+' };
        let a = s.unsigned_abs();
        format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
    }

    /// The VTIMEZONE for `name` covering `[from, until]`: each transition in that span as
    /// its own STANDARD or DAYLIGHT observance (no RRULE to get wrong), starting with the
    /// one in force at `from`.
    fn vtimezone(
        name: &str,
        tz: &TimeZone,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<String>,
    ) {
        out.push("BEGIN:VTIMEZONE".to_owned());
        out.push(format!("TZID:{name}"));
        let mut observances = Vec::new();
        if let Some(t) = tz.preceding(from).next() {
            observances.push(t.timestamp());
        }
        observances.extend(
            tz.following(from)
                .take_while(|t| t.timestamp() <= until)
                .map(|t| t.timestamp()),
        );
        if observances.is_empty() {
            let o = tz.to_offset(from);
            out.extend([
                "BEGIN:STANDARD".to_owned(),
                "DTSTART:19700101T000000".to_owned(),
                format!("TZOFFSETFROM:{}", offset(o)),
                format!("TZOFFSETTO:{}", offset(o)),
                "END:STANDARD".to_owned(),
            ]);
        }
        for at in observances {
            let info = tz.to_offset_info(at);
            let before = tz.to_offset(
                at.checked_sub(jiff::SignedDuration::from_secs(1))
                    .unwrap_or(at),
            );
            let kind = if info.dst().is_dst() {
                "DAYLIGHT"
            } else {
                "STANDARD"
            };
            // DTSTART is the local time of the change as read before it (§3.6.5).
            let local = before.to_datetime(at);
            out.push(format!("BEGIN:{kind}"));
            out.push(format!("DTSTART:{}", local.strftime("%Y%m%dT%H%M%S")));
            out.push(format!("TZOFFSETFROM:{}", offset(before)));
            out.push(format!("TZOFFSETTO:{}", offset(info.offset())));
            out.push(format!("TZNAME:{}", escape(info.abbreviation())));
            out.push(format!("END:{kind}"));
        }
        out.push("END:VTIMEZONE".to_owned());
    }

    /// The calendar: one VTIMEZONE per zone used, one VEVENT per session (group name,
    /// local time with its TZID, room or "Telehealth"; nothing about other members, no
    /// clinical content).
    pub fn calendar(sessions: &[OwnSession], now: Timestamp) -> String {
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_owned(),
            "VERSION:2.0".to_owned(),
            "PRODID:-//Circle//Group schedule//EN".to_owned(),
            "CALSCALE:GREGORIAN".to_owned(),
            "METHOD:PUBLISH".to_owned(),
            "X-WR-CALNAME:My groups".to_owned(),
        ];
        let zones: BTreeSet<&str> = sessions.iter().map(|s| s.time_zone.as_str()).collect();
        if let Some(first) = zones.iter().next() {
            lines.push(format!("X-WR-TIMEZONE:{first}"));
        }
        let from = sessions.iter().map(|s| s.starts_at).min().unwrap_or(now);
        let until = sessions.iter().map(|s| s.ends_at).max().unwrap_or(now);
        for name in &zones {
            if let Ok(tz) = TimeZone::get(name) {
                vtimezone(name, &tz, from, until, &mut lines);
            }
        }
        for s in sessions {
            lines.push("BEGIN:VEVENT".to_owned());
            lines.push(format!("UID:session-{}@circle", s.session_id));
            lines.push(format!("DTSTAMP:{}", utc(now)));
            match TimeZone::get(&s.time_zone) {
                Ok(tz) => {
                    let local =
                        |t: Timestamp| t.to_zoned(tz.clone()).strftime("%Y%m%dT%H%M%S").to_string();
                    lines.push(format!(
                        "DTSTART;TZID={}:{}",
                        s.time_zone,
                        local(s.starts_at)
                    ));
                    lines.push(format!("DTEND;TZID={}:{}", s.time_zone, local(s.ends_at)));
                }
                // A zone this build does not know: exact UTC times are still right.
                Err(_) => {
                    lines.push(format!("DTSTART:{}", utc(s.starts_at)));
                    lines.push(format!("DTEND:{}", utc(s.ends_at)));
                }
            }
            lines.push(format!("SUMMARY:{}", escape(&s.group_name)));
            let location = match &s.room_name {
                Some(r) => r.clone(),
                None => "Telehealth".to_owned(),
            };
            lines.push(format!("LOCATION:{}", escape(&location)));
            lines.push(
                if s.cancelled {
                    "STATUS:CANCELLED"
                } else {
                    "STATUS:CONFIRMED"
                }
                .to_owned(),
            );
            lines.push("TRANSP:OPAQUE".to_owned());
            lines.push("END:VEVENT".to_owned());
        }
        lines.push("END:VCALENDAR".to_owned());
        let mut out = String::new();
        for l in &lines {
            fold(l, &mut out);
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use circle_domain::ids::GroupId;

        #[test]
        fn text_is_escaped_and_long_lines_fold_at_75_octets_between_characters() {
            assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
            let mut out = String::new();
            let long = format!("SUMMARY:{}", "é".repeat(60));
            fold(&long, &mut out);
            for line in out.split("\r\n").filter(|l| !l.is_empty()) {
                assert!(line.len() <= 75, "{line}");
            }
            let unfolded = out.replace("\r\n ", "");
            assert_eq!(unfolded, format!("{long}\r\n"));
        }

        #[test]
        fn summer_and_winter_sessions_carry_their_local_times_and_the_zone() {
            let s = |id: i64, start: &str, end: &str| OwnSession {
                session_id: id,
                group_id: GroupId(1),
                group_name: "Monday, process".to_owned(),
                starts_at: start.parse().unwrap(),
                ends_at: end.parse().unwrap(),
                time_zone: "America/New_York".to_owned(),
                room_name: None,
                cancelled: false,
            };
            let cal = calendar(
                &[
                    s(1, "2026-10-26T14:00:00Z", "2026-10-26T15:30:00Z"),
                    s(2, "2026-11-02T15:00:00Z", "2026-11-02T16:30:00Z"),
                ],
                "2026-10-20T12:00:00Z".parse().unwrap(),
            );
            assert!(cal.contains("DTSTART;TZID=America/New_York:20261026T100000\r\n"));
            assert!(cal.contains("DTSTART;TZID=America/New_York:20261102T100000\r\n"));
            assert!(cal.contains("TZID:America/New_York\r\n"));
            // The fall-back change on 1 November 2026 at 02:00 EDT.
            assert!(cal.contains(
                "BEGIN:STANDARD\r\nDTSTART:20261101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
            ), "{cal}");
            assert!(cal.contains("SUMMARY:Monday\\, process\r\n"));
            assert!(cal.contains("LOCATION:Telehealth\r\n"));
            assert!(cal.starts_with("BEGIN:VCALENDAR\r\n") && cal.ends_with("END:VCALENDAR\r\n"));
        }
    }
}
