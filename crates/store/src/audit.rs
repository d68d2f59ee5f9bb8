//! The audit trail: append-only, tamper-evident, written in the same transaction as the
//! change it records, and for a read committed before the read answers (`read_audit`'s
//! group commit) — either way a failed audit write fails the action.
//!
//! Each entry's MAC is HMAC-SHA-256(key, previous MAC ‖ canonical entry). The key lives
//! outside the database (derived from the audit key file), so someone who can edit the
//! database can neither change, drop, insert nor reorder entries without `verify_audit`
//! reporting the first broken link. Entries cut from the end, with `audit_head` set back to
//! match, leave a shorter chain that verifies: only the witness outside the database
//! (`crate::witness`) tells them apart, which `verify_audit_with` compares against.

use circle_domain::audit::{AuditAction, AuditEntry, AuditOutcome, DataCategory};
use circle_domain::ids::{ClientId, UserId};
use circle_domain::user::Role;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use sqlx::AnyConnection;

use crate::access::AuditContext;
use crate::codec::{read, ts};
use crate::witness::{WitnessFinding, WitnessLog, check_set, judge};
use crate::{Backend, Store, StoreError};

/// The secret that keys the audit chain. Not `Clone`, no `Debug` output of its bytes.
///
/// It also counts the entries appended with it in this process, so the witness keeper can
/// checkpoint after every so many appends without the append path knowing of it.
pub struct AuditKey {
    bytes: [u8; 32],
    appended: AtomicU64,
}

impl AuditKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            appended: AtomicU64::new(0),
        }
    }

    /// Entries appended with this key by this process (committed or not).
    pub(crate) fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        // Best-effort wipe; the key is also held only once, behind an Arc.
        self.bytes = [0; 32];
    }
}

/// One entry to append.
pub(crate) struct Record<'a> {
    pub ctx: &'a AuditContext,
    pub action: AuditAction,
    pub client_ids: &'a [ClientId],
    pub object_id: Option<String>,
    pub outcome: AuditOutcome,
}

impl<'a> Record<'a> {
    pub fn success(ctx: &'a AuditContext, action: AuditAction, client_ids: &'a [ClientId]) -> Self {
        Self {
            ctx,
            action,
            client_ids,
            object_id: None,
            outcome: AuditOutcome::Success,
        }
    }

    pub fn object(mut self, id: impl ToString) -> Self {
        self.object_id = Some(id.to_string());
        self
    }
}

/// Client ids as the chain's MAC covers them (`,3,9,`); reviews by client use the
/// `audit_clients` rows written beside each entry instead.
fn encode_ids(ids: &[ClientId]) -> String {
    let mut s = String::from(",");
    for id in ids {
        s.push_str(&id.0.to_string());
        s.push(',');
    }
    s
}

fn decode_ids(s: &str) -> Result<Vec<ClientId>, StoreError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map(ClientId)
                .map_err(|_| StoreError::Corrupt("client_ids"))
        })
        .collect()
}

/// The fields a MAC covers.
struct Fields<'a> {
    seq: i64,
    at: &'a str,
    actor: Option<i64>,
    role: Option<&'a str>,
    action: &'a str,
    category: &'a str,
    client_ids: &'a str,
    object_id: Option<&'a str>,
    outcome: &'a str,
    request_id: Option<&'a str>,
    source: Option<&'a str>,
    emergency_access_id: Option<i64>,
}

impl Fields<'_> {
    /// The fields in a fixed order as one JSON array. The emergency access id joined the
    /// log later (migration 0004): it is appended only when set, so entries written before
    /// it existed keep their MACs.
    fn canonical(&self) -> String {
        let mut v = vec![
            serde_json::json!(self.seq),
            serde_json::json!(self.at),
            serde_json::json!(self.actor),
            serde_json::json!(self.role),
            serde_json::json!(self.action),
            serde_json::json!(self.category),
            serde_json::json!(self.client_ids),
            serde_json::json!(self.object_id),
            serde_json::json!(self.outcome),
            serde_json::json!(self.request_id),
            serde_json::json!(self.source),
        ];
        if let Some(e) = self.emergency_access_id {
            v.push(serde_json::json!(e));
        }
        serde_json::Value::Array(v).to_string()
    }
}

pub(crate) fn mac_of(key: &AuditKey, prev: &str, canonical: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key.bytes) else {
        return String::new();
    };
    mac.update(prev.as_bytes());
    mac.update(b"\n");
    mac.update(canonical.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The chain's head: the last sequence number and its MAC.
#[derive(sqlx::FromRow)]
struct HeadRow {
    seq: i64,
    mac: String,
}

/// Appends one entry inside `tx` (see [`append_many`]).
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: Option<&AuditKey>,
    at: Timestamp,
    r: Record<'_>,
) -> Result<(), StoreError> {
    append_many(tx, key, &[(at, r)]).await
}

/// Audit-log rows one `INSERT` writes (14 parameters each).
const LOG_ROWS: usize = 64;
/// `audit_clients` rows one `INSERT` writes (2 parameters each).
const CLIENT_ROWS: usize = 400;

/// Appends entries inside `tx`, in order, each chained to the one before. The head row is
/// updated first: that takes the row lock (PostgreSQL) or the write lock (SQLite) and so
/// serialises appends; it is moved on by all the entries at once and its MAC set to the
/// last one's, so a batch costs four statements, not four per entry (a chart view records
/// one entry per kind of data it read; group commit writes many views' entries together).
/// The MACs are the ones appending the entries one by one would give.
pub(crate) async fn append_many(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: Option<&AuditKey>,
    entries: &[(Timestamp, Record<'_>)],
) -> Result<(), StoreError> {
    let key = key.ok_or_else(|| {
        StoreError::Config("no audit key is configured; the action was not performed".to_owned())
    })?;
    if entries.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(entries.len()).map_err(|_| StoreError::Corrupt("audit batch"))?;
    let head = sqlx::query_as::<_, HeadRow>(
        "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, mac",
    )
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    // The head's MAC is still the last entry's before this batch.
    let (first, mut prev) = (head.seq - n + 1, head.mac);
    struct Row<'r> {
        seq: i64,
        at: String,
        r: &'r Record<'r>,
        ids: String,
        prev: String,
        mac: String,
    }
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(entries.len());
    let mut named: Vec<(i64, i64)> = vec![];
    for (seq, (at, r)) in (first..).zip(entries) {
        let at = ts(*at);
        let ids = encode_ids(r.client_ids);
        let c = Fields {
            seq,
            at: &at,
            actor: r.ctx.actor_user_id().map(|u| u.0),
            role: r.ctx.actor_role().map(|x| x.as_str()),
            action: r.action.as_str(),
            category: r.action.category().as_str(),
            client_ids: &ids,
            object_id: r.object_id.as_deref(),
            outcome: r.outcome.as_str(),
            request_id: r.ctx.request_id(),
            source: r.ctx.source(),
            emergency_access_id: r.ctx.emergency_access_id(),
        }
        .canonical();
        let mac = mac_of(key, &prev, &c);
        let mut clients: Vec<i64> = r.client_ids.iter().map(|c| c.0).collect();
        clients.sort_unstable();
        clients.dedup();
        named.extend(clients.into_iter().map(|c| (seq, c)));
        rows.push(Row {
            seq,
            at,
            r,
            ids,
            prev: std::mem::replace(&mut prev, mac.clone()),
            mac,
        });
    }
    for chunk in rows.chunks(LOG_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let marks: Vec<String> = (1..=14).map(|k| format!("${}", i * 14 + k)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, category, client_ids, \
             object_id, outcome, request_id, source, prev_mac, mac, emergency_access_id) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let r = row.r;
            q = q
                .bind(row.seq)
                .bind(&row.at)
                .bind(r.ctx.actor_user_id().map(|u| u.0))
                .bind(r.ctx.actor_role().map(|x| x.as_str()))
                .bind(r.action.as_str())
                .bind(r.action.category().as_str())
                .bind(&row.ids)
                .bind(r.object_id.as_deref())
                .bind(r.outcome.as_str())
                .bind(r.ctx.request_id())
                .bind(r.ctx.source())
                .bind(&row.prev)
                .bind(&row.mac)
                .bind(r.ctx.emergency_access_id());
        }
        q.execute(&mut **tx).await?;
    }
    // One statement per chunk, not one per client: a listing's entry names up to hundreds
    // (Today's hours list names every client in a program).
    for chunk in named.chunks(CLIENT_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO audit_clients (seq, client_id) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (seq, client) in chunk {
            q = q.bind(*seq).bind(*client);
        }
        q.execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE audit_head SET mac = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&mut **tx)
        .await?;
    key.appended.fetch_add(n.unsigned_abs(), Ordering::Relaxed);
    Ok(())
}

/// The first link of the chain that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: &'static str,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: i64,
    pub first_broken: Option<BrokenLink>,
}

/// Sort keys of the audit report: an allow-list, so no caller text reaches SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditSort {
    Seq,
    At,
    Actor,
    Role,
    Action,
    Category,
    Clients,
    Object,
    Outcome,
    RequestId,
    Source,
}

impl AuditSort {
    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "seq" => Self::Seq,
            "at" => Self::At,
            "actor_user_id" => Self::Actor,
            "actor_role" => Self::Role,
            "action" => Self::Action,
            "category" => Self::Category,
            "client_ids" => Self::Clients,
            "object_id" => Self::Object,
            "outcome" => Self::Outcome,
            "request_id" => Self::RequestId,
            "source" => Self::Source,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Self::Seq => "seq",
            Self::At => "at",
            Self::Actor => "actor_user_id",
            Self::Role => "actor_role",
            Self::Action => "action",
            Self::Category => "category",
            Self::Clients => "client_ids",
            Self::Object => "object_id",
            Self::Outcome => "outcome",
            Self::RequestId => "request_id",
            Self::Source => "source",
        }
    }
}

/// Filters of the audit report.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub actor: Option<UserId>,
    pub client: Option<ClientId>,
    pub action: Option<AuditAction>,
    pub outcome: Option<AuditOutcome>,
    pub sort: AuditSort,
    pub descending: bool,
    pub offset: u32,
    pub limit: u32,
}

#[derive(sqlx::FromRow)]
struct AuditEntryRow {
    seq: i64,
    at: String,
    actor_user_id: Option<i64>,
    actor_role: Option<String>,
    action: String,
    category: String,
    client_ids: String,
    object_id: Option<String>,
    outcome: String,
    request_id: Option<String>,
    source: Option<String>,
    emergency_access_id: Option<i64>,
}

impl TryFrom<AuditEntryRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditEntryRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            seq: r.seq,
            at: read::ts(&r.at, "at")?,
            actor_user_id: r.actor_user_id.map(UserId),
            actor_role: r
                .actor_role
                .map(|x| Role::parse(&x).ok_or(StoreError::Corrupt("actor_role")))
                .transpose()?,
            action: read::vocab(&r.action, "action", AuditAction::parse)?,
            category: read::vocab(&r.category, "category", DataCategory::parse)?,
            client_ids: decode_ids(&r.client_ids)?,
            object_id: r.object_id,
            outcome: read::vocab(&r.outcome, "outcome", AuditOutcome::parse)?,
            request_id: r.request_id,
            source: r.source,
            emergency_access_id: r.emergency_access_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChainLinkRow {
    seq: i64,
    prev_mac: String,
    at: String,
    actor_role: Option<String>,
    action: String,
    category: String,
    client_ids: String,
    object_id: Option<String>,
    outcome: String,
    request_id: Option<String>,
    source: Option<String>,
    actor_user_id: Option<i64>,
    emergency_access_id: Option<i64>,
    mac: String,
}

/// An account as an audit page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPerson {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    /// The clinician's name, for a clinician's account.
    pub clinician_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AuditPersonRow {
    id: i64,
    email: String,
    role: String,
    given_name: Option<String>,
    family_name: Option<String>,
}

/// A client as an audit page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditClient {
    pub id: ClientId,
    pub record_number: String,
    /// Only for a reviewer whose role reads client names.
    pub name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AuditClientRow {
    id: i64,
    record_number: String,
    given_name: String,
    family_name: String,
}

impl Store {
    /// Records an attempt that authorization refused, in a transaction of its own.
    pub(crate) async fn record_denied(
        &self,
        ctx: &AuditContext,
        action: AuditAction,
        client_ids: &[ClientId],
        object_id: Option<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        append(
            &mut tx,
            self.audit_key(),
            now,
            Record {
                ctx,
                action,
                client_ids,
                object_id,
                outcome: AuditOutcome::Denied,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit report: filtered, sorted by an allow-listed key, paged. Reading the audit
    /// is itself audited.
    pub async fn audit_report(
        &self,
        who: &crate::access::RoleAccess<crate::access::purpose::AuditReview>,
        q: &AuditQuery,
        now: Timestamp,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let ctx = who.audit();
        let mut tx = self.begin_read().await?;
        let sql = format!(
            "SELECT seq, at, actor_user_id, actor_role, action, category, client_ids, object_id, \
             outcome, request_id, source, emergency_access_id FROM audit_log \
             WHERE ($1 = '' OR at >= $1) AND ($2 = '' OR at < $2) AND ($3 = -1 OR actor_user_id = $3) \
             AND ($4 = -1 OR seq IN (SELECT ac.seq FROM audit_clients ac WHERE ac.client_id = $4)) AND ($5 = '' OR action = $5) AND ($6 = '' OR outcome = $6) \
             ORDER BY {} {}, seq {} LIMIT $7 OFFSET $8",
            q.sort.column(),
            if q.descending { "DESC" } else { "ASC" },
            if q.descending { "DESC" } else { "ASC" },
        );
        let rows = sqlx::query_as::<_, AuditEntryRow>(&sql)
            .bind(q.from.map(ts).unwrap_or_default())
            .bind(q.until.map(ts).unwrap_or_default())
            .bind(q.actor.map_or(-1, |a| a.0))
            .bind(q.client.map_or(-1, |c| c.0))
            .bind(q.action.map(|a| a.as_str().to_owned()).unwrap_or_default())
            .bind(q.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default())
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *tx)
            .await?;
        let entries = rows
            .into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(now, Record::success(ctx, AuditAction::AuditRead, &[]))
            .await?;
        Ok(entries)
    }

    /// Every account, for naming the people an audit trail shows (issue 14: "user 1"):
    /// disabled ones too, since the trail outlives them. Audited as `user.list`.
    pub async fn audit_people(
        &self,
        who: &crate::access::RoleAccess<crate::access::purpose::AuditReview>,
        at: Timestamp,
    ) -> Result<Vec<AuditPerson>, StoreError> {
        let rows = sqlx::query_as::<_, AuditPersonRow>(
            "SELECT u.id, u.email, u.role, c.given_name, c.family_name FROM users u \
             LEFT JOIN clinicians c ON c.id = u.clinician_id ORDER BY u.id",
        )
        .fetch_all(self.pool())
        .await?;
        let people = rows
            .into_iter()
            .map(|r| {
                Ok(AuditPerson {
                    id: UserId(r.id),
                    email: r.email,
                    role: Role::parse(&r.role).ok_or(StoreError::Corrupt("users.role"))?,
                    clinician_name: match (r.given_name, r.family_name) {
                        (Some(g), Some(f)) => Some(format!("{g} {f}")),
                        _ => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.audit_read(at, Record::success(who.audit(), AuditAction::UserList, &[]))
            .await?;
        Ok(people)
    }

    /// The clients among `ids` as an audit page shows them: the record number, and the
    /// name only with `names` (the reviewer's role reads client names). One `client.list`
    /// entry names those read; nothing read, nothing recorded.
    pub async fn audit_clients(
        &self,
        who: &crate::access::RoleAccess<crate::access::purpose::AuditReview>,
        names: Option<&crate::access::RoleAccess<crate::access::purpose::AuditClientNames>>,
        ids: &[ClientId],
        at: Timestamp,
    ) -> Result<Vec<AuditClient>, StoreError> {
        let mut ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.begin_read().await?;
        let mut out = Vec::with_capacity(ids.len());
        // Bounded statements, as `clients_with_ids` reads them.
        for chunk in ids.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, record_number, given_name, family_name FROM clients \
                 WHERE id IN ({}) ORDER BY id",
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<_, AuditClientRow>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *tx).await? {
                out.push(AuditClient {
                    id: ClientId(r.id),
                    record_number: r.record_number,
                    name: names.map(|_| format!("{} {}", r.given_name, r.family_name)),
                });
            }
        }
        tx.commit().await?;
        let found: Vec<ClientId> = out.iter().map(|c| c.id).collect();
        self.audit_reads(
            at,
            (!found.is_empty())
                .then(|| Record::success(who.audit(), AuditAction::ClientList, &found)),
        )
        .await?;
        Ok(out)
    }

    /// The client whose record number is `record` (any case; the exact spelling first), for
    /// filtering the audit report by the record number its table shows. Audited as a
    /// `client.list` naming the client found; nothing found, nothing recorded.
    pub async fn audit_client_by_record(
        &self,
        who: &crate::access::RoleAccess<crate::access::purpose::AuditReview>,
        record: &str,
        at: Timestamp,
    ) -> Result<Option<ClientId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM clients WHERE LOWER(record_number) = LOWER($1) \
             ORDER BY CASE WHEN record_number = $1 THEN 0 ELSE 1 END, id LIMIT 1",
        )
        .bind(record)
        .fetch_optional(self.pool())
        .await?;
        let found: Vec<ClientId> = id.map(ClientId).into_iter().collect();
        self.audit_reads(
            at,
            (!found.is_empty())
                .then(|| Record::success(who.audit(), AuditAction::ClientList, &found)),
        )
        .await?;
        Ok(found.first().copied())
    }

    /// Checks every link of the chain and the head; reports the first broken one. Reads
    /// one snapshot, so appends while it runs are neither seen nor mistaken for damage.
    pub async fn verify_audit(&self) -> Result<VerifyReport, StoreError> {
        let key = self.require_audit_key()?;
        let mut tx = self.begin_snapshot().await?;
        let report = walk(&mut tx, key).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// `verify_audit`, and the log compared with its witness, in one snapshot.
    pub async fn verify_audit_with(
        &self,
        witness: &WitnessLog,
    ) -> Result<(VerifyReport, WitnessFinding), StoreError> {
        let key = self.require_audit_key()?;
        let mut tx = self.begin_snapshot().await?;
        let report = walk(&mut tx, key).await?;
        let finding = compare(&mut tx, witness).await?;
        tx.commit().await?;
        Ok((report, finding))
    }

    /// The log compared with its witness, without walking the chain: what a server checks
    /// when it starts.
    pub async fn compare_with_witness(
        &self,
        witness: &WitnessLog,
    ) -> Result<WitnessFinding, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let finding = compare(&mut tx, witness).await?;
        tx.commit().await?;
        Ok(finding)
    }

    /// Where the chain ends, as `audit_head` says (committed appends only).
    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let mut conn = self.pool().acquire().await?;
        head(&mut conn).await
    }

    /// The MAC of entry `seq`, if the log holds it.
    pub(crate) async fn audit_mac_at(&self, seq: i64) -> Result<Option<String>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(macs_at(&mut conn, &[seq]).await?.remove(&seq))
    }

    pub(crate) fn require_audit_key(&self) -> Result<&AuditKey, StoreError> {
        self.audit_key()
            .ok_or_else(|| StoreError::Config("no audit key is configured".to_owned()))
    }

    /// A read-only transaction that sees one snapshot throughout (SQLite's read
    /// transactions always do; PostgreSQL needs REPEATABLE READ for it).
    pub(crate) async fn begin_snapshot(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

/// Where the chain ends: its last sequence number and MAC (0 and "genesis" when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub mac: String,
}

pub(crate) async fn head(conn: &mut AnyConnection) -> Result<ChainHead, StoreError> {
    let row = sqlx::query_as::<_, HeadRow>("SELECT seq, mac FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    Ok(ChainHead {
        seq: row.seq,
        mac: row.mac,
    })
}

/// The last entry the log holds (0 when empty), whatever `audit_head` claims.
async fn log_end(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let end: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(&mut *conn)
        .await?;
    Ok(end.unwrap_or(0))
}

async fn macs_at(
    conn: &mut AnyConnection,
    seqs: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    let mut out = HashMap::new();
    for &seq in seqs {
        if let Some(mac) =
            sqlx::query_scalar::<_, String>("SELECT mac FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&mut *conn)
                .await?
        {
            out.insert(seq, mac);
        }
    }
    Ok(out)
}

/// Compares the log `conn` sees with `witness`.
pub(crate) async fn compare(
    conn: &mut AnyConnection,
    witness: &WitnessLog,
) -> Result<WitnessFinding, StoreError> {
    let end = log_end(conn).await?;
    let mut seqs: Vec<i64> = check_set(witness)
        .iter()
        .map(|r| r.record.seq)
        .filter(|s| (1..=end).contains(s))
        .collect();
    seqs.push(end);
    seqs.sort_unstable();
    seqs.dedup();
    let macs = macs_at(conn, &seqs).await?;
    Ok(judge(end, &macs, witness))
}

/// The clients `audit_clients` indexes for the `n` entries after `after`, by entry,
/// sorted.
async fn indexed_clients(
    conn: &mut AnyConnection,
    after: i64,
    n: usize,
) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
    let last = after.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT seq, client_id FROM audit_clients WHERE seq > $1 AND seq <= $2 \
         ORDER BY seq, client_id",
    )
    .bind(after)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for (seq, client) in rows {
        out.entry(seq).or_default().push(client);
    }
    Ok(out)
}

/// Checks every link of the chain `conn` sees, and its head.
pub(crate) async fn walk(
    conn: &mut AnyConnection,
    key: &AuditKey,
) -> Result<VerifyReport, StoreError> {
    let mut expected_seq = 1_i64;
    let mut prev = "genesis".to_owned();
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query_as::<_, ChainLinkRow>(
            "SELECT seq, at, actor_user_id, actor_role, action, category, client_ids, object_id, \
             outcome, request_id, source, prev_mac, mac, emergency_access_id FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            break;
        }
        // The clients each entry names, as the review index holds them (`audit_clients`):
        // outside the MAC, so checked against the MAC-covered column here.
        let indexed = indexed_clients(conn, after, rows.len()).await?;
        for r in rows {
            let seq = r.seq;
            let broken = |reason| {
                Ok(VerifyReport {
                    entries: expected_seq - 1,
                    first_broken: Some(BrokenLink { seq, reason }),
                })
            };
            if seq != expected_seq {
                return broken(if seq > expected_seq {
                    "entries are missing before this one"
                } else {
                    "an entry was inserted"
                });
            }
            if r.prev_mac != prev {
                return broken(
                    "the link to the previous entry is broken (entries removed or reordered)",
                );
            }
            let (at, role, action, category) = (r.at, r.actor_role, r.action, r.category);
            let (client_ids, object_id, outcome) = (r.client_ids, r.object_id, r.outcome);
            let (request_id, source) = (r.request_id, r.source);
            let c = Fields {
                seq,
                at: &at,
                actor: r.actor_user_id,
                role: role.as_deref(),
                action: &action,
                category: &category,
                client_ids: &client_ids,
                object_id: object_id.as_deref(),
                outcome: &outcome,
                request_id: request_id.as_deref(),
                source: source.as_deref(),
                emergency_access_id: r.emergency_access_id,
            }
            .canonical();
            let mac = r.mac;
            if mac_of(key, &prev, &c) != mac {
                return broken("the entry was modified");
            }
            let mut named: Vec<i64> = decode_ids(&client_ids)?.iter().map(|c| c.0).collect();
            named.sort_unstable();
            named.dedup();
            if indexed.get(&seq).map_or(&[][..], Vec::as_slice) != named.as_slice() {
                return broken(
                    "the clients indexed for review (audit_clients) differ from the entry's",
                );
            }
            prev = mac;
            expected_seq += 1;
            after = seq;
        }
    }
    let head = head(conn).await?;
    let entries = expected_seq - 1;
    if head.seq != entries || head.mac != prev {
        return Ok(VerifyReport {
            entries,
            first_broken: Some(BrokenLink {
                seq: entries + 1,
                reason: "entries were removed from the end of the log",
            }),
        });
    }
    Ok(VerifyReport {
        entries,
        first_broken: None,
    })
}
