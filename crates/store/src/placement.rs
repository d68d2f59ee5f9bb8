//! Placement: the facts of one (client, group) pair read inside a transaction (shared by
//! enrollment, suggestions, offers and transition plans, so every path checks the same
//! rules), waitlists, seat offers and level-of-care transitions.
//!
//! Offers move on their own: whenever a seat is free (nobody's membership covers it and no
//! open offer holds it) the next eligible waiting client gets one, in the same transaction
//! as the change that freed it. Expiry is processed lazily at the start of every waitlist
//! and offer read or write, and by `expire_offers`, which `circle serve` calls periodically.
//! "Today" for a group is the date in its program's time zone.

use crate::access::AuditContext;
use crate::access::{
    ClientAccess, GroupAccess, ListScope, Listing, OfferAccess, PlaceAccess, purpose,
};
use circle_domain::DomainError;
use circle_domain::Rule;
use circle_domain::audit::AuditAction;
use circle_domain::care::LevelOfCare;
use circle_domain::group::Group;
use circle_domain::ids::{ClientId, GroupId, MembershipId, OfferId, WaitlistEntryId};
use circle_domain::membership::{EnrollmentFacts, Membership, check_enrollment};
use circle_domain::placement::{
    CandidateFacts, LevelChange, NewWaitlistEntry, OFFER_HOURS, Offer, OfferState, Suggestion,
    TransitionItem, TransitionPlan, WaitlistEntry, WaitlistStatus, rank, suggest,
    transition_options,
};
use circle_domain::schedule::{WeeklyMeeting, weekly_schedules_overlap};
use circle_domain::text::{ShortText, TimeZoneName};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::audit::{Record, append};
use crate::codec::{LockTable, date, lock_row, read, ts};
use crate::groups::{
    GROUP_COLUMNS, GroupRow, MEMBERSHIP_COLUMNS, MembershipRow, Tx, group_in, program_in,
};
use crate::people::client_in;
use crate::{Store, StoreError};

const OFFER_COLUMNS: &str = "id, waitlist_entry_id, group_id, client_id, start_date, state, \
     offered_at, expires_at, responded_at, membership_id";

const ENTRY_COLUMNS: &str = "w.id, w.group_id, w.client_id, w.priority, w.note, w.status, w.added_at, \
     (SELECT o.id FROM offers o WHERE o.waitlist_entry_id = w.id AND o.state = 'open') AS open_offer_id";

#[derive(sqlx::FromRow)]
struct OfferRow {
    id: i64,
    waitlist_entry_id: i64,
    group_id: i64,
    client_id: i64,
    start_date: String,
    state: String,
    offered_at: String,
    expires_at: String,
    responded_at: Option<String>,
    membership_id: Option<i64>,
}

impl TryFrom<OfferRow> for Offer {
    type Error = StoreError;
    fn try_from(r: OfferRow) -> Result<Self, StoreError> {
        Ok(Offer {
            id: OfferId(r.id),
            waitlist_entry_id: WaitlistEntryId(r.waitlist_entry_id),
            group_id: GroupId(r.group_id),
            client_id: ClientId(r.client_id),
            start_date: read::date(&r.start_date, "start_date")?,
            state: read::vocab(&r.state, "state", OfferState::parse)?,
            offered_at: read::ts(&r.offered_at, "offered_at")?,
            expires_at: read::ts(&r.expires_at, "expires_at")?,
            responded_at: read::opt_ts(r.responded_at.as_deref(), "responded_at")?,
            membership_id: r.membership_id.map(MembershipId),
        })
    }
}

fn note_aad(id: i64) -> circle_vault::Aad {
    crate::sealed::WAITLIST_NOTE.aad(id)
}

/// The facts of one (client, group) pair on a start date, read in the caller's transaction.
pub(crate) struct PairFacts {
    client_level: Option<LevelOfCare>,
    active_members: u32,
    held_by_offers: u32,
    already_member: bool,
    separated: bool,
    clash: bool,
    newcomer_limit: u32,
    other_starts: Vec<Date>,
}

impl PairFacts {
    pub(crate) fn enrollment<'a>(&'a self, group: &'a Group, start: Date) -> EnrollmentFacts<'a> {
        EnrollmentFacts {
            group,
            start_date: start,
            client_level: self.client_level,
            active_members: self.active_members,
            held_by_offers: self.held_by_offers,
            already_member: self.already_member,
            separated_from_a_member: self.separated,
            schedule_clash: self.clash,
            newcomer_limit: self.newcomer_limit,
            other_starts: &self.other_starts,
        }
    }
}

fn count(n: i64, what: &'static str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(what))
}

/// Reads everything the enrollment rules need about placing `client` in `group` from
/// `start`. A membership counts (its seat, its time, its separations) while it has no end
/// or ends after both `start` and `today`: a scheduled end (a taper, a planned discharge)
/// still holds the seat until then, and a membership that has already ended does not.
pub(crate) async fn pair_facts(
    tx: &mut Tx<'_>,
    group: &Group,
    client: ClientId,
    client_level: Option<LevelOfCare>,
    start: Date,
    today: Date,
) -> Result<PairFacts, StoreError> {
    let on = date(start.max(today));
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND (end_date IS NULL OR end_date > $2)",
    )
    .bind(group.id.0)
    .bind(&on)
    .fetch_one(&mut **tx)
    .await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM offers WHERE group_id = $1 AND state = 'open' AND client_id <> $2",
    )
    .bind(group.id.0)
    .bind(client.0)
    .fetch_one(&mut **tx)
    .await?;
    let already: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND client_id = $2 AND end_date IS NULL",
    )
    .bind(group.id.0)
    .bind(client.0)
    .fetch_one(&mut **tx)
    .await?;
    let separated: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships m JOIN separations s \
         ON (s.client_low = m.client_id AND s.client_high = $2) \
         OR (s.client_high = m.client_id AND s.client_low = $2) \
         WHERE m.group_id = $1 AND (m.end_date IS NULL OR m.end_date > $3)",
    )
    .bind(group.id.0)
    .bind(client.0)
    .bind(&on)
    .fetch_one(&mut **tx)
    .await?;
    let program = program_in(tx, group.program_id)
        .await?
        .ok_or(StoreError::Corrupt("program_id"))?;
    let others = sqlx::query_as::<_, MeetingsRow>(
        "SELECT g.meetings, p.time_zone FROM memberships m \
         JOIN therapy_groups g ON g.id = m.group_id JOIN programs p ON p.id = g.program_id \
         WHERE m.client_id = $1 AND (m.end_date IS NULL OR m.end_date > $3) AND m.group_id <> $2",
    )
    .bind(client.0)
    .bind(group.id.0)
    .bind(&on)
    .fetch_all(&mut **tx)
    .await?;
    let tz = program.time_zone.time_zone();
    let mut clash = false;
    for r in others {
        let meetings: Vec<WeeklyMeeting> = read::json(&r.meetings, "meetings")?;
        let other_tz: TimeZoneName = read::parsed(r.time_zone, "time_zone")?;
        if weekly_schedules_overlap(
            (&group.meetings, &tz),
            (&meetings, &other_tz.time_zone()),
            start,
        )? {
            clash = true;
            break;
        }
    }
    let other_starts = sqlx::query_scalar::<_, String>(
        "SELECT start_date FROM memberships WHERE group_id = $1 AND client_id <> $2 \
         AND (end_date IS NULL OR end_date > $3)",
    )
    .bind(group.id.0)
    .bind(client.0)
    .bind(&on)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|d| read::date(d, "start_date"))
    .collect::<Result<Vec<_>, _>>()?;
    Ok(PairFacts {
        client_level,
        active_members: count(active, "memberships")?,
        held_by_offers: count(held, "offers")?,
        already_member: already > 0,
        separated: separated > 0,
        clash,
        newcomer_limit: program.newcomers_per_session,
        other_starts,
    })
}

/// Writes a membership after its rules were checked, and settles the client's waitlist
/// entry and open offer for the group (placed, accepted).
pub(crate) async fn insert_membership(
    tx: &mut Tx<'_>,
    group: GroupId,
    client: ClientId,
    start: Date,
    at: Timestamp,
) -> Result<Membership, StoreError> {
    let now = ts(at);
    let row = sqlx::query_as::<_, MembershipRow>(&format!(
        "INSERT INTO memberships (group_id, client_id, start_date, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $4) RETURNING {MEMBERSHIP_COLUMNS}"
    ))
    .bind(group.0)
    .bind(client.0)
    .bind(date(start))
    .bind(&now)
    .fetch_one(&mut **tx)
    .await?;
    let membership = Membership::try_from(row)?;
    sqlx::query(
        "UPDATE offers SET state = 'accepted', responded_at = $1, membership_id = $2, \
         version = version + 1, updated_at = $1 \
         WHERE group_id = $3 AND client_id = $4 AND state = 'open'",
    )
    .bind(&now)
    .bind(membership.id.0)
    .bind(group.0)
    .bind(client.0)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE waitlist_entries SET status = 'placed', version = version + 1, updated_at = $1 \
         WHERE group_id = $2 AND client_id = $3 AND status IN ('waiting','offered')",
    )
    .bind(&now)
    .bind(group.0)
    .bind(client.0)
    .execute(&mut **tx)
    .await?;
    Ok(membership)
}

/// The group's local date at `at`.
pub(crate) async fn group_today(
    tx: &mut Tx<'_>,
    group: &Group,
    at: Timestamp,
) -> Result<Date, StoreError> {
    let program = program_in(tx, group.program_id)
        .await?
        .ok_or(StoreError::Corrupt("program_id"))?;
    Ok(at.to_zoned(program.time_zone.time_zone()).date())
}

/// How one waiting client stands for a seat: the start date they could be offered, or
/// none when a rule keeps them out.
async fn offerable_start(
    tx: &mut Tx<'_>,
    group: &Group,
    client: ClientId,
    today: Date,
) -> Result<Option<Date>, StoreError> {
    let c = client_in(tx, client).await?;
    let Some(first) = group.enrollment.next_join_date(today) else {
        return Ok(None);
    };
    let mut start = first;
    // At most two tries: the first joinable date, then the newcomer limit's next date.
    for _ in 0..2 {
        let pf = pair_facts(tx, group, client, c.current_level, start, today).await?;
        let s = suggest(&CandidateFacts {
            enrollment: pf.enrollment(group, start),
            availability: &c.availability,
            concerns: &c.concerns,
        });
        if s.eligible {
            return Ok(Some(start));
        }
        let only_dates = s
            .exclusions
            .iter()
            .all(|e| matches!(e.rule, Rule::NewcomerLimit | Rule::BetweenModuleBoundaries));
        match s.next_joinable_date {
            Some(d) if only_dates && d > start => start = d,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// An open offer past its expiry.
#[derive(sqlx::FromRow)]
struct DueOfferRow {
    id: i64,
    waitlist_entry_id: i64,
    client_id: i64,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    note: Option<String>,
    group_id: i64,
    client_id: i64,
    priority: i64,
    status: String,
    added_at: String,
    open_offer_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct MeetingsRow {
    meetings: String,
    time_zone: String,
}

#[derive(sqlx::FromRow)]
struct WaitingRow {
    id: i64,
    client_id: i64,
}

#[derive(sqlx::FromRow)]
struct EntryOwnerRow {
    group_id: i64,
    client_id: i64,
}

impl Store {
    /// Offers every free seat of a group to the next eligible waiting clients, in priority
    /// then arrival order, skipping those a rule keeps out. Returns the offers made.
    pub(crate) async fn refill_group(
        &self,
        tx: &mut Tx<'_>,
        group_id: GroupId,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<Vec<OfferId>, StoreError> {
        let group = group_in(tx, group_id).await?;
        let today = group_today(tx, &group, at).await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND (end_date IS NULL OR end_date > $2)",
        )
        .bind(group_id.0)
        .bind(date(today))
        .fetch_one(&mut **tx)
        .await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offers WHERE group_id = $1 AND state = 'open'",
        )
        .bind(group_id.0)
        .fetch_one(&mut **tx)
        .await?;
        let mut free = i64::from(group.max_size) - active - open;
        let mut made = Vec::new();
        if free <= 0 {
            return Ok(made);
        }
        let waiting = sqlx::query_as::<_, WaitingRow>(
            "SELECT id, client_id FROM waitlist_entries WHERE group_id = $1 AND status = 'waiting' \
             ORDER BY priority, added_at, id",
        )
        .bind(group_id.0)
        .fetch_all(&mut **tx)
        .await?;
        let now = ts(at);
        let expires_ts = at
            .checked_add(SignedDuration::from_hours(OFFER_HOURS))
            .map_err(|_| StoreError::Corrupt("expires_at"))?;
        let expires = ts(expires_ts);
        for r in &waiting {
            if free <= 0 {
                break;
            }
            let entry = r.id;
            let client = ClientId(r.client_id);
            let Some(start) = offerable_start(tx, &group, client, today).await? else {
                continue;
            };
            // Another server refilling this group at the same moment offers the same seat
            // to the same first client: its offer stands and this one stops here.
            let Some(id) = sqlx::query_scalar::<_, i64>(
                "INSERT INTO offers (waitlist_entry_id, group_id, client_id, start_date, state, \
                 offered_at, expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $5, $5) \
                 ON CONFLICT (waitlist_entry_id) WHERE state = 'open' DO NOTHING RETURNING id",
            )
            .bind(entry)
            .bind(group_id.0)
            .bind(client.0)
            .bind(date(start))
            .bind(&now)
            .bind(&expires)
            .fetch_optional(&mut **tx)
            .await?
            else {
                break;
            };
            sqlx::query(
                "UPDATE waitlist_entries SET status = 'offered', version = version + 1, updated_at = $1 \
                 WHERE id = $2",
            )
            .bind(&now)
            .bind(entry)
            .execute(&mut **tx)
            .await?;
            append(
                tx,
                self.audit_key(),
                at,
                Record::success(ctx, AuditAction::OfferWrite, &[client])
                    .object(format!("offer:{id}")),
            )
            .await?;
            // The person hears of it from the same transaction (issue 18).
            self.queue_seat_offer(
                tx,
                OfferId(id),
                client,
                group.program_id,
                start,
                expires_ts,
                at,
            )
            .await?;
            made.push(OfferId(id));
            free -= 1;
        }
        Ok(made)
    }

    /// Expires open offers past their time (their waitlist entries end as expired), then
    /// refills every group with waiting clients: expired offers and seats freed by
    /// memberships that ended since move on to the next eligible client. Returns how many
    /// offers expired.
    pub(crate) async fn process_waitlists(
        &self,
        tx: &mut Tx<'_>,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let now = ts(at);
        let due = sqlx::query_as::<_, DueOfferRow>(
            "SELECT id, waitlist_entry_id, client_id FROM offers WHERE state = 'open' AND expires_at <= $1 ORDER BY id",
        )
        .bind(&now)
        .fetch_all(&mut **tx)
        .await?;
        for r in &due {
            let id = r.id;
            let done = sqlx::query(
                "UPDATE offers SET state = 'expired', version = version + 1, updated_at = $1 \
                 WHERE id = $2 AND state = 'open'",
            )
            .bind(&now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                // Answered or expired by a concurrent request in the meantime.
                continue;
            }
            sqlx::query(
                "UPDATE waitlist_entries SET status = 'expired', version = version + 1, updated_at = $1 WHERE id = $2",
            )
            .bind(&now)
            .bind(r.waitlist_entry_id)
            .execute(&mut **tx)
            .await?;
            let client = [ClientId(r.client_id)];
            append(
                tx,
                self.audit_key(),
                at,
                Record::success(ctx, AuditAction::OfferWrite, &client)
                    .object(format!("offer:{id}")),
            )
            .await?;
        }
        let groups: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT group_id FROM waitlist_entries WHERE status = 'waiting' ORDER BY group_id",
        )
        .fetch_all(&mut **tx)
        .await?;
        for g in groups {
            self.refill_group(tx, GroupId(g), ctx, at).await?;
        }
        Ok(due.len())
    }

    /// Expires overdue offers and moves them on (the `circle serve` keeper calls this).
    /// Returns how many offers expired.
    pub async fn expire_offers(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = self
            .process_waitlists(&mut tx, &AuditContext::nobody(), now)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Every group as a placement for a client from `start`, eligible or excluded with its
    /// reasons, ranked by clinical fit. Audited as one read of the client.
    pub async fn placement_suggestions(
        &self,
        a: &ClientAccess<purpose::PlacementSuggest>,
        start: Date,
        at: Timestamp,
    ) -> Result<Vec<Suggestion>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let c = client_in(&mut tx, client).await?;
        let groups = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(Group::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(groups.len());
        for g in &groups {
            let today = group_today(&mut tx, g, at).await?;
            let pf = pair_facts(&mut tx, g, client, c.current_level, start, today).await?;
            out.push(suggest(&CandidateFacts {
                enrollment: pf.enrollment(g, start),
                availability: &c.availability,
                concerns: &c.concerns,
            }));
        }
        rank(&mut out);
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::PlacementSuggest, &[client]),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    fn entry_of(&self, r: EntryRow) -> Result<WaitlistEntry, StoreError> {
        let id = r.id;
        let note = match r.note {
            Some(sealed) => {
                let text = self.open_sealed(&sealed, &note_aad(id), "waitlist_entries.note")?;
                Some(
                    ShortText::parse(&text)
                        .map_err(|_| StoreError::Corrupt("waitlist_entries.note"))?,
                )
            }
            None => None,
        };
        Ok(WaitlistEntry {
            id: WaitlistEntryId(id),
            group_id: GroupId(r.group_id),
            client_id: ClientId(r.client_id),
            priority: u8::try_from(r.priority).map_err(|_| StoreError::Corrupt("priority"))?,
            note,
            status: read::vocab(&r.status, "status", WaitlistStatus::parse)?,
            added_at: read::ts(&r.added_at, "added_at")?,
            open_offer_id: r.open_offer_id.map(OfferId),
        })
    }

    async fn entry_in(
        &self,
        tx: &mut Tx<'_>,
        id: WaitlistEntryId,
    ) -> Result<WaitlistEntry, StoreError> {
        let row = sqlx::query_as::<_, EntryRow>(&format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries w WHERE w.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::not_found("waitlist entry"))?;
        self.entry_of(row)
    }

    /// Puts a client on a group's waitlist. If the group has a free seat the client may
    /// be offered it at once (in this transaction).
    pub async fn add_to_waitlist(
        &self,
        g: &GroupAccess<purpose::WaitlistWrite>,
        c: &PlaceAccess<purpose::Waitlist>,
        new: &NewWaitlistEntry,
        at: Timestamp,
    ) -> Result<WaitlistEntry, StoreError> {
        let (group, ctx) = (g.group(), g.audit());
        if c.client() != new.client_id {
            return Err(DomainError::invalid("client_id", "names no client").into());
        }
        new.validate()?;
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Groups, group.0).await? {
            return Err(DomainError::not_found("group").into());
        }
        self.process_waitlists(&mut tx, ctx, at).await?;
        client_in(&mut tx, new.client_id)
            .await
            .map_err(|_| DomainError::invalid("client_id", "names no client"))?;
        let member: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND client_id = $2 AND end_date IS NULL",
        )
        .bind(group.0)
        .bind(new.client_id.0)
        .fetch_one(&mut *tx)
        .await?;
        if member > 0 {
            return Err(DomainError::conflict(
                Rule::AlreadyMember,
                "the client already has an active membership in this group",
            )
            .into());
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM waitlist_entries WHERE group_id = $1 AND client_id = $2 \
             AND status IN ('waiting','offered')",
        )
        .bind(group.0)
        .bind(new.client_id.0)
        .fetch_one(&mut *tx)
        .await?;
        if waiting > 0 {
            return Err(DomainError::conflict(
                Rule::Duplicate,
                "the client is already on this group's waitlist",
            )
            .into());
        }
        let now = ts(at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO waitlist_entries (group_id, client_id, priority, status, added_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'waiting', $4, $4, $4) RETURNING id",
        )
        .bind(group.0)
        .bind(new.client_id.0)
        .bind(i64::from(new.priority))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(note) = &new.note {
            let sealed = self.seal(note.as_str(), &note_aad(id))?;
            sqlx::query("UPDATE waitlist_entries SET note = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::WaitlistWrite, &[new.client_id])
                .object(format!("waitlist:{id}")),
        )
        .await?;
        self.refill_group(&mut tx, group, ctx, at).await?;
        let entry = self.entry_in(&mut tx, WaitlistEntryId(id)).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// A group's waitlist (waiting and offered), by priority then arrival.
    pub async fn waitlist(
        &self,
        a: &GroupAccess<purpose::WaitlistRead>,
        at: Timestamp,
    ) -> Result<Vec<WaitlistEntry>, StoreError> {
        let (group, ctx) = (a.group(), a.audit());
        let mut tx = self.begin_write().await?;
        group_in(&mut tx, group).await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let rows = sqlx::query_as::<_, EntryRow>(&format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries w WHERE w.group_id = $1 \
             AND w.status IN ('waiting','offered') ORDER BY w.priority, w.added_at, w.id"
        ))
        .bind(group.0)
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(|r| self.entry_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<ClientId> = list.iter().map(|e| e.client_id).collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::WaitlistRead, &ids).object(group),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Every waitlist the listing reaches (waiting and offered), by group, then priority
    /// then arrival: the waitlist page's one read instead of one per group (issue 14: the
    /// page was the slowest, at a transaction, a waitlist pass and an audit row per group).
    /// Audited as one `waitlist.read` naming every client listed. A clinician's or a
    /// client's listing reaches no waitlist (the purpose refuses their roles anyway).
    pub async fn waitlists(
        &self,
        listing: &Listing<purpose::WaitlistRead>,
        at: Timestamp,
    ) -> Result<Vec<WaitlistEntry>, StoreError> {
        let ctx = listing.audit();
        let director = match listing.scope() {
            ListScope::All => None,
            ListScope::Programs { director, .. } => Some(*director),
            ListScope::Caseload { .. } | ListScope::Own(_) => return Ok(vec![]),
        };
        let mut tx = self.begin_write().await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let rows = sqlx::query_as::<_, EntryRow>(&format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries w \
             WHERE w.status IN ('waiting','offered') \
             AND ($1 = -1 OR EXISTS (SELECT 1 FROM therapy_groups wg WHERE wg.id = w.group_id \
                  AND {})) ORDER BY w.group_id, w.priority, w.added_at, w.id",
            crate::director_programs::director_program("$1", "wg.program_id")
        ))
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(|r| self.entry_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids: Vec<ClientId> = list.iter().map(|e| e.client_id).collect();
        ids.sort_unstable();
        ids.dedup();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::WaitlistRead, &ids),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Takes a client off a waitlist; an open offer to them is withdrawn and moves on.
    /// `a` is the access to the entry's group: an entry of another group is answered as
    /// not found.
    pub async fn remove_from_waitlist(
        &self,
        a: &GroupAccess<purpose::WaitlistWrite>,
        id: WaitlistEntryId,
        at: Timestamp,
    ) -> Result<WaitlistEntry, StoreError> {
        let ctx = a.audit();
        let mut tx = self.begin_write().await?;
        let entry = self.entry_in(&mut tx, id).await?;
        if entry.group_id != a.group() {
            return Err(DomainError::not_found("waitlist entry").into());
        }
        lock_row(&mut tx, LockTable::Groups, entry.group_id.0).await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let entry = self.entry_in(&mut tx, id).await?;
        if !matches!(
            entry.status,
            WaitlistStatus::Waiting | WaitlistStatus::Offered
        ) {
            return Err(DomainError::conflict(
                Rule::InUse,
                format!("this waitlist entry is already {}", entry.status),
            )
            .into());
        }
        let now = ts(at);
        sqlx::query(
            "UPDATE offers SET state = 'withdrawn', version = version + 1, updated_at = $1 \
             WHERE waitlist_entry_id = $2 AND state = 'open'",
        )
        .bind(&now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE waitlist_entries SET status = 'removed', version = version + 1, updated_at = $1 WHERE id = $2",
        )
        .bind(&now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::WaitlistWrite, &[entry.client_id])
                .object(format!("waitlist:{}", id.0)),
        )
        .await?;
        self.refill_group(&mut tx, entry.group_id, ctx, at).await?;
        let entry = self.entry_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The client and group of a waitlist entry (for authorization; no content).
    pub async fn waitlist_entry_owner(
        &self,
        id: WaitlistEntryId,
    ) -> Result<(GroupId, ClientId), StoreError> {
        let row = sqlx::query_as::<_, EntryOwnerRow>(
            "SELECT group_id, client_id FROM waitlist_entries WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("waitlist entry"))?;
        Ok((GroupId(row.group_id), ClientId(row.client_id)))
    }

    /// The client an offer is for (for authorization; no content).
    pub async fn offer_client(&self, id: OfferId) -> Result<ClientId, StoreError> {
        let c: Option<i64> = sqlx::query_scalar("SELECT client_id FROM offers WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(ClientId(c.ok_or(DomainError::not_found("offer"))?))
    }

    /// The group an offer is for (for authorization; no content).
    pub async fn offer_group(&self, id: OfferId) -> Result<GroupId, StoreError> {
        let g: Option<i64> = sqlx::query_scalar("SELECT group_id FROM offers WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(GroupId(g.ok_or(DomainError::not_found("offer"))?))
    }

    /// Offers, newest first, optionally in one state: every offer for intake and
    /// clinic-wide directors, those of a scoped director's groups, a client's own.
    /// Moves the waitlists on first (expired offers, freed seats), as every waitlist and
    /// offer read does.
    pub async fn offers(
        &self,
        listing: &Listing<purpose::OfferList>,
        state: Option<OfferState>,
        at: Timestamp,
    ) -> Result<Vec<Offer>, StoreError> {
        let mut tx = self.begin_write().await?;
        self.process_waitlists(&mut tx, listing.audit(), at).await?;
        let list = offers_in(&mut tx, listing, state, None).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(
                listing.audit(),
                AuditAction::OfferRead,
                &offer_clients(&list),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }

    /// The open offers not yet past their time, read without moving the waitlists on: a
    /// plain read (no write lock) for summaries such as Today's card, which every staff
    /// page view shows. What moving on would change (an offer just expired, a seat freed
    /// by a membership's end date) shows on the next waitlist or offer read, or after the
    /// keeper's next pass.
    pub async fn current_offers(
        &self,
        listing: &Listing<purpose::OfferList>,
        at: Timestamp,
    ) -> Result<Vec<Offer>, StoreError> {
        let mut tx = self.begin_read().await?;
        let list = offers_in(&mut tx, listing, Some(OfferState::Open), Some(at)).await?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(
                listing.audit(),
                AuditAction::OfferRead,
                &offer_clients(&list),
            ),
        )
        .await?;
        Ok(list)
    }

    async fn offer_in(tx: &mut Tx<'_>, id: OfferId) -> Result<Offer, StoreError> {
        let row = sqlx::query_as::<_, OfferRow>(&format!(
            "SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::not_found("offer"))?;
        Offer::try_from(row)
    }

    /// One offer; the read is audited.
    pub async fn offer(
        &self,
        a: &OfferAccess<purpose::OfferRead>,
        at: Timestamp,
    ) -> Result<Offer, StoreError> {
        let (id, ctx) = (a.offer(), a.audit());
        let mut tx = self.begin_write().await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::OfferRead, &[offer.client_id])
                .object(format!("offer:{}", id.0)),
        )
        .await?;
        tx.commit().await?;
        Ok(offer)
    }

    /// Accepts an open offer: places the client through every enrollment rule, in one
    /// transaction with the group's row locked.
    pub async fn accept_offer(
        &self,
        a: &OfferAccess<purpose::OfferWrite>,
        at: Timestamp,
    ) -> Result<(Offer, Membership), StoreError> {
        let (id, ctx) = (a.offer(), a.audit());
        let mut tx = self.begin_write().await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        lock_row(&mut tx, LockTable::Groups, offer.group_id.0).await?;
        lock_row(&mut tx, LockTable::Clients, offer.client_id.0).await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        offer.check_open()?;
        let group = group_in(&mut tx, offer.group_id).await?;
        let today = group_today(&mut tx, &group, at).await?;
        let start = offer.start_date.max(today);
        let c = client_in(&mut tx, offer.client_id).await?;
        let pf = pair_facts(&mut tx, &group, c.id, c.current_level, start, today).await?;
        check_enrollment(&pf.enrollment(&group, start))?;
        let membership = insert_membership(&mut tx, group.id, c.id, start, at).await?;
        let settled = Self::offer_in(&mut tx, id).await?;
        if settled.state != OfferState::Accepted {
            // Expired or withdrawn by a concurrent request: nothing is written.
            return Err(DomainError::conflict(
                Rule::OfferClosed,
                format!(
                    "this offer is {} and can no longer be answered",
                    settled.state
                ),
            )
            .into());
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::MembershipCreate, &[c.id]).object(membership.id),
        )
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::OfferWrite, &[c.id])
                .object(format!("offer:{}", id.0)),
        )
        .await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok((offer, membership))
    }

    /// Declines an open offer: the client leaves the waitlist and the seat moves on to the
    /// next eligible waiting client, in the same transaction.
    pub async fn decline_offer(
        &self,
        a: &OfferAccess<purpose::OfferWrite>,
        at: Timestamp,
    ) -> Result<Offer, StoreError> {
        let (id, ctx) = (a.offer(), a.audit());
        let mut tx = self.begin_write().await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        lock_row(&mut tx, LockTable::Groups, offer.group_id.0).await?;
        self.process_waitlists(&mut tx, ctx, at).await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        offer.check_open()?;
        let now = ts(at);
        let done = sqlx::query(
            "UPDATE offers SET state = 'declined', responded_at = $1, version = version + 1, \
             updated_at = $1 WHERE id = $2 AND state = 'open'",
        )
        .bind(&now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DomainError::conflict(
                Rule::OfferClosed,
                "this offer was answered or expired a moment ago",
            )
            .into());
        }
        sqlx::query(
            "UPDATE waitlist_entries SET status = 'declined', version = version + 1, updated_at = $1 WHERE id = $2",
        )
        .bind(&now)
        .bind(offer.waitlist_entry_id.0)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::OfferWrite, &[offer.client_id])
                .object(format!("offer:{}", id.0)),
        )
        .await?;
        self.refill_group(&mut tx, offer.group_id, ctx, at).await?;
        let offer = Self::offer_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(offer)
    }

    /// The client's memberships that do not fit their current level of care, each with
    /// suggested groups at the new level. Audited as one read of the client.
    pub async fn transition_plan(
        &self,
        a: &ClientAccess<purpose::TransitionRead>,
        at: Timestamp,
    ) -> Result<TransitionPlan, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        let c = client_in(&mut tx, client).await?;
        let groups = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(Group::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        let mut items = Vec::new();
        if let Some(level) = c.current_level {
            // A day's margin around UTC: each membership is then judged by its group's
            // own local date.
            let utc_yesterday = at
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
                .yesterday()
                .map_err(|_| StoreError::Corrupt("today"))?;
            let memberships = sqlx::query_as::<_, MembershipRow>(&format!(
                "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE client_id = $1 \
                 AND (end_date IS NULL OR end_date > $2) ORDER BY id"
            ))
            .bind(client.0)
            .bind(date(utc_yesterday))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(Membership::try_from)
            .collect::<Result<Vec<_>, _>>()?;
            let at_level: Vec<&Group> = groups
                .iter()
                .filter(|g| g.eligible_levels.contains(&level))
                .collect();
            for m in &memberships {
                let Some(old) = groups.iter().find(|g| g.id == m.group_id) else {
                    continue;
                };
                let today = group_today(&mut tx, old, at).await?;
                if old.eligible_levels.contains(&level) || m.end_date.is_some_and(|e| e <= today) {
                    continue;
                }
                let from = m.end_date.unwrap_or(today).max(today);
                let mut candidates = Vec::new();
                for g in &at_level {
                    let start = g.enrollment.next_join_date(from).unwrap_or(from);
                    let pf = pair_facts(&mut tx, g, client, Some(level), start, today).await?;
                    let s = suggest(&CandidateFacts {
                        enrollment: pf.enrollment(g, start),
                        availability: &c.availability,
                        concerns: &c.concerns,
                    });
                    candidates.push((*g, s.eligible));
                }
                items.push(TransitionItem {
                    membership_id: m.id,
                    group_id: old.id,
                    group_name: old.name.clone(),
                    ends_on: m.end_date,
                    suggestions: transition_options(old, &candidates),
                });
            }
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::TransitionRead, &[client]),
        )
        .await?;
        tx.commit().await?;
        Ok(TransitionPlan {
            client_id: client,
            level_of_care: c.current_level,
            items,
        })
    }
}

/// Within `change_level`'s transaction: checks the taper and, when there is one, sets the
/// end of the memberships that do not fit the new level to `taper_weeks` after the change.
pub(crate) async fn apply_taper(
    store: &Store,
    tx: &mut Tx<'_>,
    client: ClientId,
    change: LevelChange,
    started_on: Date,
    ctx: &AuditContext,
    at: Timestamp,
) -> Result<(), StoreError> {
    change.check()?;
    let Some(weeks) = change.taper_weeks else {
        return Ok(());
    };
    let end = started_on
        .checked_add(jiff::Span::new().days(i64::from(weeks) * 7))
        .map_err(|_| DomainError::invalid("started_on", "is outside the supported calendar"))?;
    let rows = sqlx::query_as::<_, MembershipRow>(&format!(
        "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE client_id = $1 AND end_date IS NULL ORDER BY id"
    ))
    .bind(client.0)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let m = Membership::try_from(r)?;
        let g = group_in(tx, m.group_id).await?;
        if g.eligible_levels.contains(&change.to) {
            continue;
        }
        let ends = end.max(m.start_date.tomorrow().unwrap_or(end));
        sqlx::query(
            "UPDATE memberships SET end_date = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        )
        .bind(date(ends))
        .bind(ts(at))
        .bind(m.id.0)
        .execute(&mut **tx)
        .await?;
        append(
            tx,
            store.audit_key(),
            at,
            Record::success(ctx, AuditAction::MembershipUpdate, &[client]).object(m.id),
        )
        .await?;
    }
    Ok(())
}

// --- intake ---
/// A group's seats as the programs-and-groups page shows them: counts only, no client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupSeats {
    /// Members whose membership covers the group's today (a scheduled end holds the seat
    /// until then), as the offer refill counts them.
    pub filled: u32,
    /// Seats held by open offers.
    pub held_by_offers: u32,
    /// Clients waiting or holding an offer.
    pub waitlist: u32,
}

impl Store {
    /// How full a group is and how long its waitlist (no client ids, so nothing to audit).
    pub async fn group_seats(
        &self,
        group: GroupId,
        at: Timestamp,
    ) -> Result<GroupSeats, StoreError> {
        let mut tx = self.begin_write().await?;
        let g = group_in(&mut tx, group).await?;
        let today = group_today(&mut tx, &g, at).await?;
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let filled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND (end_date IS NULL OR end_date > $2)",
        )
        .bind(group.0)
        .bind(date(today))
        .fetch_one(&mut *tx)
        .await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offers WHERE group_id = $1 AND state = 'open'",
        )
        .bind(group.0)
        .fetch_one(&mut *tx)
        .await?;
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM waitlist_entries WHERE group_id = $1 AND status IN ('waiting','offered')",
        )
        .bind(group.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(GroupSeats {
            filled: count(filled),
            held_by_offers: count(held),
            waitlist: count(waiting),
        })
    }
}
// --- end intake ---

/// The offers a listing may see, newest first (at most 500), optionally in one state and
/// optionally only those expiring after `unexpired_at`.
async fn offers_in(
    tx: &mut Tx<'_>,
    listing: &Listing<purpose::OfferList>,
    state: Option<OfferState>,
    unexpired_at: Option<Timestamp>,
) -> Result<Vec<Offer>, StoreError> {
    let (client, director) = match listing.scope() {
        ListScope::All => (None, None),
        ListScope::Programs { director, .. } => (None, Some(*director)),
        ListScope::Own(c) => (Some(*c), None),
        ListScope::Caseload { .. } => (Some(ClientId(-1)), None),
    };
    let rows = sqlx::query_as::<_, OfferRow>(&format!(
        "SELECT {OFFER_COLUMNS} FROM offers WHERE ($1 = '' OR state = $1) \
         AND ($2 = -1 OR client_id = $2) \
         AND ($3 = -1 OR EXISTS (SELECT 1 FROM therapy_groups og WHERE og.id = offers.group_id \
              AND {})) AND ($4 = '' OR expires_at > $4) ORDER BY id DESC LIMIT 500",
        crate::director_programs::director_program("$3", "og.program_id")
    ))
    .bind(state.map_or("", |s| s.as_str()))
    .bind(client.map_or(-1, |c| c.0))
    .bind(director.map_or(-1, |d| d.0))
    .bind(unexpired_at.map(ts).unwrap_or_default())
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(Offer::try_from).collect()
}

/// The clients an offer listing names, each once (for its audit entry).
fn offer_clients(list: &[Offer]) -> Vec<ClientId> {
    let mut ids: Vec<ClientId> = list.iter().map(|o| o.client_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
