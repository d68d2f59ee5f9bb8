//! What the client list and the client chart read that no other feature reads: a search
//! of clients by name or record number, and one client's clinical activity (attendance
//! history, the list of their progress notes without content, their safety alerts and
//! their weeks of compliance) in one transaction.
//!
//! A chart view audits once per kind of data it shows, never once per row: one
//! `attendance.read`, one `note.list`, one `alert.list` and one `compliance.read`, each
//! naming the client, so a minimum-necessary review still sees what kind was read.

use std::collections::BTreeMap;

use crate::access::{ClientAccess, Listing, purpose};
use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::care::LevelOfCare;
use circle_domain::client::Client;
use circle_domain::compliance::WeekSession;
use circle_domain::ids::{ClientId, ClinicianId, NoteId, ProgramId, SessionId};
use circle_domain::measure::SafetyAlert;
use circle_domain::note::NoteState;
use circle_domain::session::AttendanceStatus;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::Record;
use crate::codec::{date, page_of, read};
use crate::measures::{ALERT_COLUMNS, AlertRow};
use crate::people::{CLIENT_COLUMNS, ClientRow, client_in};
use crate::reports::{ClientWeekFacts, SEATS, week_session};
use crate::{Page, PageRequest, Store, StoreError};

/// One session a client's attendance was recorded for.
#[derive(Debug, Clone)]
pub struct AttendanceLine {
    pub session_id: SessionId,
    pub group_name: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub status: AttendanceStatus,
    pub minutes: u32,
}

/// A progress note as a chart lists it: who wrote it for which session, and its state;
/// never its content (opening it is a separate, audited read).
#[derive(Debug, Clone)]
pub struct NoteLine {
    pub id: NoteId,
    pub session_id: SessionId,
    pub group_name: String,
    pub starts_at: Timestamp,
    pub author: String,
    pub state: NoteState,
}

/// Which parts of the clinical activity to read and whose notes may be listed.
#[derive(Debug, Clone)]
pub struct ActivityRequest {
    /// `Some(c)`: only notes of sessions clinician `c` facilitated (the notes `c` may
    /// open); `None`: every note of the client.
    pub notes_of: Option<ClinicianId>,
    /// `Some(programs)`: only the attendance and notes of sessions of these programs'
    /// groups (a scoped director's: the sessions they may open). The compliance weeks
    /// still count every group, as the hours rule does.
    pub only_programs: Option<Vec<ProgramId>>,
    /// Whether safety alerts are read (not for administrators, even in an emergency).
    pub alerts: bool,
    /// The Mondays of the compliance weeks to read, oldest first (at most 26).
    pub first_monday: Date,
    pub weeks: u32,
}

/// One client's clinical activity.
#[derive(Debug, Clone)]
pub struct Activity {
    pub attendance: Vec<AttendanceLine>,
    pub notes: Vec<NoteLine>,
    pub alerts: Vec<SafetyAlert>,
    pub weeks: Vec<(Date, Option<ClientWeekFacts>)>,
}

/// One attendance record with its session and group.
#[derive(sqlx::FromRow)]
struct AttendanceLineRow {
    session_id: i64,
    status: String,
    minutes: i64,
    starts_at: String,
    ends_at: String,
    group_name: String,
    program_id: i64,
}

/// One progress note's listing facts, with who facilitated its session.
#[derive(sqlx::FromRow)]
struct NoteLineRow {
    id: i64,
    session_id: i64,
    state: String,
    starts_at: String,
    facilitators_present: String,
    group_name: String,
    program_id: i64,
    lead_facilitator_id: i64,
    co_facilitator_id: Option<i64>,
    author_given: String,
    author_family: String,
}

/// An episode overlapping a week, with its program's required minutes.
#[derive(sqlx::FromRow)]
struct WeekEpisodeRow {
    program_id: Option<i64>,
    level_of_care: String,
    weekly_required_minutes: Option<i64>,
    started_on: String,
    ended_on: Option<String>,
}

/// A session a membership holds in a week, with the client's attended minutes.
#[derive(sqlx::FromRow)]
struct WeekSessionRow {
    id: i64,
    local_date: String,
    starts_at: String,
    ends_at: String,
    status: String,
    attended: Option<i64>,
}

/// The most attendance rows a chart shows (about two years of a weekly group).
const ATTENDANCE_LIMIT: i64 = 200;

/// `needle` as a lower-case LIKE pattern matching anywhere, with `%`, `_` and `\` escaped.
fn like_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl Store {
    /// Clients in `scope` whose name (given, family, preferred, or given and family
    /// together) or record number contains `needle`, case-insensitively; all of them when
    /// `needle` is empty. In id order, one page; the listing is audited with the ids it
    /// returned, like `list_clients`.
    pub async fn search_clients(
        &self,
        listing: &Listing<purpose::ClientList>,
        needle: &str,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Client>, StoreError> {
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let (clinician, since) = scope.binds();
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients c WHERE c.id > $1 \
             AND {} \
             AND ($5 = '%%' OR LOWER(c.record_number) LIKE $5 ESCAPE '\\' \
                  OR LOWER(c.given_name || ' ' || c.family_name) LIKE $5 ESCAPE '\\' \
                  OR LOWER(COALESCE(c.preferred_name, '') || ' ' || c.family_name) LIKE $5 ESCAPE '\\') \
             ORDER BY c.id LIMIT $2",
            scope.condition("$3", "$4")
        ))
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .bind(clinician)
        .bind(since)
        .bind(like_pattern(needle.trim()))
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .into_iter()
            .map(Client::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let page = page_of(items, page.limit, |c| c.id.0);
        let ids: Vec<ClientId> = page.items.iter().map(|c| c.id).collect();
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::ClientList, &ids))
            .await?;
        Ok(page)
    }

    /// One client's attendance history (newest first), progress-note list, safety alerts
    /// (open first, when asked) and compliance weeks, in one transaction with one audit entry
    /// per kind read.
    pub async fn client_activity(
        &self,
        a: &ClientAccess<purpose::ChartRead>,
        req: ActivityRequest,
        at: Timestamp,
    ) -> Result<Activity, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        if req.weeks > 26 {
            return Err(DomainError::invalid("weeks", "must be at most 26").into());
        }
        let mut tx = self.begin_read().await?;
        client_in(&mut tx, client).await?;

        let rows = sqlx::query_as::<_, AttendanceLineRow>(
            "SELECT a.session_id, a.status, a.minutes, s.starts_at, s.ends_at, g.name AS group_name, \
             g.program_id FROM attendance a JOIN sessions s ON s.id = a.session_id \
             JOIN therapy_groups g ON g.id = s.group_id \
             WHERE a.client_id = $1 ORDER BY s.starts_at DESC, s.id DESC LIMIT $2",
        )
        .bind(client.0)
        .bind(ATTENDANCE_LIMIT)
        .fetch_all(&mut *tx)
        .await?;
        let in_scope = |program_id: i64| match &req.only_programs {
            Some(programs) => programs.contains(&ProgramId(program_id)),
            None => true,
        };
        let mut attendance = Vec::with_capacity(rows.len());
        for r in rows {
            if !in_scope(r.program_id) {
                continue;
            }
            attendance.push(AttendanceLine {
                session_id: SessionId(r.session_id),
                group_name: r.group_name,
                starts_at: read::ts(&r.starts_at, "starts_at")?,
                ends_at: read::ts(&r.ends_at, "ends_at")?,
                status: read::vocab(&r.status, "status", AttendanceStatus::parse)?,
                minutes: read::uint(r.minutes, "minutes")?,
            });
        }

        let rows = sqlx::query_as::<_, NoteLineRow>(
            "SELECT n.id, n.session_id, n.state, s.starts_at, s.facilitators_present, \
             g.name AS group_name, g.program_id, g.lead_facilitator_id, g.co_facilitator_id, \
             cl.given_name AS author_given, cl.family_name AS author_family \
             FROM progress_notes n JOIN sessions s ON s.id = n.session_id \
             JOIN therapy_groups g ON g.id = s.group_id \
             JOIN clinicians cl ON cl.id = n.author_clinician_id \
             WHERE n.client_id = $1 ORDER BY s.starts_at DESC, n.id DESC",
        )
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut notes = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(c) = req.notes_of {
                let present: Vec<ClinicianId> =
                    read::json(&r.facilitators_present, "facilitators_present")?;
                let leads = r.lead_facilitator_id == c.0 || r.co_facilitator_id == Some(c.0);
                if !leads && !present.contains(&c) {
                    continue;
                }
            }
            if !in_scope(r.program_id) {
                continue;
            }
            notes.push(NoteLine {
                id: NoteId(r.id),
                session_id: SessionId(r.session_id),
                group_name: r.group_name,
                starts_at: read::ts(&r.starts_at, "starts_at")?,
                author: format!("{} {}", r.author_given, r.author_family),
                state: read::vocab(&r.state, "state", NoteState::parse)?,
            });
        }

        let alerts = if req.alerts {
            let rows = sqlx::query_as::<_, AlertRow>(&format!(
                "SELECT {ALERT_COLUMNS} FROM safety_alerts WHERE client_id = $1 \
                 ORDER BY CASE WHEN acknowledged_at IS NULL THEN 0 ELSE 1 END, raised_at DESC, id DESC"
            ))
            .bind(client.0)
            .fetch_all(&mut *tx)
            .await?;
            rows.into_iter()
                .map(|r| self.alert_of(r))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![]
        };

        let weeks = weeks_facts(&mut tx, client, req.first_monday, req.weeks).await?;

        let mut actions = vec![AuditAction::AttendanceRead, AuditAction::NoteList];
        if req.alerts {
            actions.push(AuditAction::AlertList);
        }
        actions.push(AuditAction::ComplianceRead);
        tx.commit().await?;
        let named = [client];
        self.audit_reads(
            at,
            actions
                .into_iter()
                .map(|action| Record::success(ctx, action, &named).object("chart")),
        )
        .await?;
        Ok(Activity {
            attendance,
            notes,
            alerts,
            weeks,
        })
    }
}

/// One client's weeks for compliance (as `compliance_week` reads one week for many), from
/// `first_monday` for `weeks` weeks: per week, the level in force at the week's end and the
/// sessions their memberships hold (`None` when no episode covers the week). Two statements
/// for the whole range, not two per week: the chart shows several weeks on every view.
async fn weeks_facts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client: ClientId,
    first_monday: Date,
    weeks: u32,
) -> Result<Vec<(Date, Option<ClientWeekFacts>)>, StoreError> {
    let too_late = || DomainError::invalid("week", "must be a date before 9999");
    let mondays = (0..weeks)
        .map(|n| {
            first_monday
                .checked_add(jiff::Span::new().days(7 * i64::from(n)))
                .map_err(|_| too_late())
        })
        .collect::<Result<Vec<Date>, _>>()?;
    let end = first_monday
        .checked_add(jiff::Span::new().days(7 * i64::from(weeks)))
        .map_err(|_| too_late())?;
    let episodes = sqlx::query_as::<_, WeekEpisodeRow>(
        "SELECT e.program_id, e.level_of_care, p.weekly_required_minutes, e.started_on, e.ended_on \
         FROM episodes e LEFT JOIN programs p ON p.id = e.program_id \
         WHERE e.client_id = $1 AND e.started_on < $2 AND (e.ended_on IS NULL OR e.ended_on > $3) \
         ORDER BY e.started_on, e.id",
    )
    .bind(client.0)
    .bind(date(end))
    .bind(date(first_monday))
    .fetch_all(&mut **tx)
    .await?;
    let rows = sqlx::query_as::<_, WeekSessionRow>(&format!(
        "SELECT s.id, s.local_date, s.starts_at, s.ends_at, s.status, a.minutes AS attended \
             {SEATS} AND m.client_id = $1 AND s.local_date >= $2 AND s.local_date < $3 \
             ORDER BY s.starts_at, s.id"
    ))
    .bind(client.0)
    .bind(date(first_monday))
    .bind(date(end))
    .fetch_all(&mut **tx)
    .await?;
    let spans = episodes
        .iter()
        .map(|e| {
            Ok((
                read::date(&e.started_on, "started_on")?,
                read::opt_date(e.ended_on.as_deref(), "ended_on")?,
                e,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Each session once (two memberships may hold it), by the week (from `first_monday`)
    // its day falls in.
    let mut by_week: BTreeMap<Date, BTreeMap<i64, WeekSession>> = BTreeMap::new();
    for r in rows {
        let day = read::date(&r.local_date, "local_date")?;
        let days = first_monday
            .until(day)
            .map_err(|_| StoreError::Corrupt("local_date"))?
            .get_days();
        let Some(&monday) = usize::try_from(days / 7).ok().and_then(|n| mondays.get(n)) else {
            return Err(StoreError::Corrupt("local_date"));
        };
        by_week
            .entry(monday)
            .or_default()
            .entry(r.id)
            .or_insert(week_session(
                r.id,
                &r.starts_at,
                &r.ends_at,
                &r.status,
                r.attended,
            )?);
    }
    let mut out = Vec::with_capacity(mondays.len());
    for monday in mondays {
        let next_monday = monday
            .checked_add(jiff::Span::new().days(7))
            .map_err(|_| too_late())?;
        // Ordered by start: the last episode covering the week is the level in force at
        // the week's end.
        let in_force = spans
            .iter()
            .rev()
            .find(|(started, ended, _)| *started < next_monday && ended.is_none_or(|d| d > monday))
            .map(|(_, _, e)| *e);
        let Some(r) = in_force else {
            out.push((monday, None));
            continue;
        };
        let mut sessions: Vec<WeekSession> = by_week
            .remove(&monday)
            .map(|s| s.into_values().collect())
            .unwrap_or_default();
        sessions.sort_by_key(|s| (s.starts_at, s.session_id));
        out.push((
            monday,
            Some(ClientWeekFacts {
                client_id: client,
                program_id: r.program_id.map(ProgramId),
                level_of_care: read::vocab(&r.level_of_care, "level_of_care", LevelOfCare::parse)?,
                program_required_minutes: r
                    .weekly_required_minutes
                    .map(|m| read::uint(m, "weekly_required_minutes"))
                    .transpose()?,
                sessions,
            }),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn a_search_matches_anywhere_and_its_wildcards_are_literal() {
        assert_eq!(like_pattern("Ana"), "%ana%");
        assert_eq!(like_pattern("50%_x\\"), "%50\\%\\_x\\\\%");
        assert_eq!(like_pattern(""), "%%");
    }
}
