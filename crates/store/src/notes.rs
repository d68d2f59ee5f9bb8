//! Group notes, progress notes and their addenda. Note text is clinical free text: each
//! body is sealed with the vault, bound to its table and row id, and never stored in
//! clear. Signing stores a SHA-256 hash of the signed content; a signed note changes only
//! by addenda. Every read and write appends its audit entry in the same transaction.

use crate::access::{AuditContext, ListScope, Listing, ProgressAccess, SessionAccess, purpose};
use circle_domain::audit::AuditAction;
use circle_domain::ids::{AddendumId, ClientId, ClinicianId, GroupId, NoteId, SessionId};
use circle_domain::note::{
    Addendum, CosignNote, GroupNote, GroupNoteBody, GroupNoteInput, NewAddendum, NoteKind,
    NoteMeta, NoteState, OverdueForClinician, OverdueNote, ProgressNote, ProgressNoteBody,
    ProgressNoteInput, SignNote, check_addendum, check_editable, cosign, find_names, sign,
};
use circle_domain::session::{AttendanceStatus, Session, check_attendance_allowed};
use circle_domain::text::NoteText;
use circle_domain::{DomainError, Rule};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, read, ts, whole_second};
use crate::people::clinician_in;
use crate::programs::stale;
use crate::{Store, StoreError};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// A note of a batch before it is written: whom it is about (none for the group note),
/// the note with its content as JSON, and its free-text fields for the name check.
type Pending = (
    Option<ClientId>,
    NoteToWrite<String>,
    Vec<(&'static str, String)>,
);

/// One note to write with `Store::record_session_notes`: its author, its content, and
/// whether the author signs it at once.
#[derive(Debug, Clone)]
pub struct NoteToWrite<B> {
    pub author: ClinicianId,
    pub body: B,
    pub sign: bool,
}

/// Which table a note lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Group,
    Progress,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Group => "group_notes",
            Table::Progress => "progress_notes",
        }
    }

    fn kind(self) -> NoteKind {
        match self {
            Table::Group => NoteKind::Group,
            Table::Progress => NoteKind::Progress,
        }
    }

    fn aad(self, id: i64) -> circle_vault::Aad {
        match self {
            Table::Group => crate::sealed::GROUP_NOTE_BODY.aad(id),
            Table::Progress => crate::sealed::PROGRESS_NOTE_BODY.aad(id),
        }
    }
}

fn addendum_aad(id: i64) -> circle_vault::Aad {
    crate::sealed::ADDENDUM_BODY.aad(id)
}

const NOTE_COLUMNS: &str = "id, session_id, author_clinician_id, state, body, content_hash, \
     signed_at, cosigned_by, cosigned_at, names_confirmed, version";

/// A note row before its body is opened.
struct Row {
    meta: NoteMeta,
    client_id: Option<ClientId>,
    sealed: String,
}

/// A row of `NOTE_COLUMNS`, with `client_id` for a progress note (a group note has none:
/// the column is absent from its select).
#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    session_id: i64,
    author_clinician_id: i64,
    state: String,
    /// Sealed.
    body: String,
    content_hash: Option<String>,
    signed_at: Option<String>,
    cosigned_by: Option<i64>,
    cosigned_at: Option<String>,
    /// 0 or 1: an integer on both databases.
    names_confirmed: i64,
    version: i64,
    #[sqlx(default)]
    client_id: Option<i64>,
}

fn row_of(r: NoteRow, table: Table) -> Result<Row, StoreError> {
    Ok(Row {
        meta: NoteMeta {
            id: NoteId(r.id),
            kind: table.kind(),
            session_id: SessionId(r.session_id),
            author_clinician_id: ClinicianId(r.author_clinician_id),
            state: read::vocab(&r.state, "state", NoteState::parse)?,
            content_hash: r.content_hash,
            signed_at: read::opt_ts(r.signed_at.as_deref(), "signed_at")?,
            cosigned_by: r.cosigned_by.map(ClinicianId),
            cosigned_at: read::opt_ts(r.cosigned_at.as_deref(), "cosigned_at")?,
            names_check_confirmed: r.names_confirmed != 0,
            addenda: vec![],
            version: r.version,
        },
        client_id: match table {
            Table::Group => None,
            Table::Progress => Some(ClientId(
                r.client_id.ok_or(StoreError::Corrupt("client_id"))?,
            )),
        },
        sealed: r.body,
    })
}

/// A client's id and name columns.
#[derive(sqlx::FromRow)]
struct ClientNamesRow {
    id: i64,
    #[sqlx(flatten)]
    names: crate::sessions::NameColumns,
}

/// A session whose note is due, with who must write it; `client_id` for a progress note
/// (absent from the group notes' select).
#[derive(sqlx::FromRow)]
struct OverdueRow {
    id: i64,
    group_id: i64,
    ends_at: String,
    note_due_hours: i64,
    note_id: Option<i64>,
    state: Option<String>,
    responsible: i64,
    #[sqlx(default)]
    client_id: Option<i64>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over what was signed: which note, about whom, by whom, and its content.
fn content_hash(table: Table, row: &Row, body_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(table.name().as_bytes());
    h.update(b"\n");
    h.update(row.meta.id.0.to_string().as_bytes());
    h.update(b"\n");
    h.update(row.meta.session_id.0.to_string().as_bytes());
    h.update(b"\n");
    h.update(row.client_id.map_or(String::new(), |c| c.0.to_string()));
    h.update(b"\n");
    h.update(row.meta.author_clinician_id.0.to_string().as_bytes());
    h.update(b"\n");
    h.update(body_json.as_bytes());
    hex(&h.finalize())
}

/// The session row inside a transaction (no curriculum topic resolution).
async fn session_in(tx: &mut Tx<'_>, id: SessionId) -> Result<Session, StoreError> {
    let row = sqlx::query_as::<_, crate::sessions::SessionRow>(&format!(
        "SELECT {} FROM sessions WHERE id = $1",
        crate::sessions::SESSION_COLUMNS
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(DomainError::not_found("session"))?;
    Session::try_from(row)
}

/// The author of a note written under an access: a clinician (a director without a
/// clinician record reads notes but does not write them).
fn author_of(clinician: Option<ClinicianId>) -> Result<ClinicianId, StoreError> {
    clinician.ok_or_else(|| DomainError::Forbidden.into())
}

/// Checks that a progress note is the one an access was granted for (its session and
/// member); another note is answered as not found.
async fn check_subject(
    store: &Store,
    id: NoteId,
    subject: (SessionId, ClientId),
) -> Result<(), StoreError> {
    if store.progress_note_subject(id).await? != subject {
        return Err(DomainError::not_found("note").into());
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AddendumRow {
    id: i64,
    body: String,
    author_clinician_id: i64,
    content_hash: String,
    signed_at: String,
}

#[derive(sqlx::FromRow)]
struct NoteSubjectRow {
    session_id: i64,
    client_id: i64,
}

#[derive(sqlx::FromRow)]
struct LeadsRow {
    lead_facilitator_id: i64,
    co_facilitator_id: Option<i64>,
}

impl Store {
    fn open_body<B: DeserializeOwned>(&self, table: Table, row: &Row) -> Result<B, StoreError> {
        let text = self.open_sealed(&row.sealed, &table.aad(row.meta.id.0), table.name())?;
        // A signed note is checked against the digest taken when it was signed: a row
        // changed behind Circle's back is an integrity error, never a valid note.
        if let Some(stored) = &row.meta.content_hash
            && content_hash(table, row, &text) != *stored
        {
            return Err(StoreError::Integrity("note"));
        }
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("note body"))
    }

    async fn addenda_in(
        &self,
        tx: &mut Tx<'_>,
        table: Table,
        note: NoteId,
    ) -> Result<Vec<Addendum>, StoreError> {
        let rows = sqlx::query_as::<_, AddendumRow>(
            "SELECT id, author_clinician_id, body, content_hash, signed_at FROM note_addenda \
             WHERE note_table = $1 AND note_id = $2 ORDER BY id",
        )
        .bind(table.name())
        .bind(note.0)
        .fetch_all(&mut **tx)
        .await?;
        rows.into_iter()
            .map(|r| {
                let id = r.id;
                let text = self.open_sealed(&r.body, &addendum_aad(id), "note_addenda.body")?;
                Ok(Addendum {
                    id: AddendumId(id),
                    author_clinician_id: ClinicianId(r.author_clinician_id),
                    text: NoteText::parse(&text)
                        .map_err(|_| StoreError::Corrupt("note_addenda.body"))?,
                    content_hash: r.content_hash,
                    signed_at: read::ts(&r.signed_at, "signed_at")?,
                })
            })
            .collect()
    }

    async fn note_row(&self, tx: &mut Tx<'_>, table: Table, id: NoteId) -> Result<Row, StoreError> {
        let extra = if table == Table::Progress {
            ", client_id"
        } else {
            ""
        };
        let row = sqlx::query_as::<_, NoteRow>(&format!(
            "SELECT {NOTE_COLUMNS}{extra} FROM {} WHERE id = $1",
            table.name()
        ))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::not_found("note"))?;
        row_of(row, table)
    }

    async fn find_note_id(
        &self,
        tx: &mut Tx<'_>,
        table: Table,
        session: SessionId,
        client: Option<ClientId>,
    ) -> Result<Option<NoteId>, StoreError> {
        let id: Option<i64> = match client {
            None => {
                sqlx::query_scalar(&format!(
                    "SELECT id FROM {} WHERE session_id = $1",
                    table.name()
                ))
                .bind(session.0)
                .fetch_optional(&mut **tx)
                .await?
            }
            Some(c) => {
                sqlx::query_scalar(&format!(
                    "SELECT id FROM {} WHERE session_id = $1 AND client_id = $2",
                    table.name()
                ))
                .bind(session.0)
                .bind(c.0)
                .fetch_optional(&mut **tx)
                .await?
            }
        };
        Ok(id.map(NoteId))
    }

    async fn full_note<B: DeserializeOwned>(
        &self,
        tx: &mut Tx<'_>,
        table: Table,
        id: NoteId,
    ) -> Result<(NoteMeta, Option<ClientId>, B), StoreError> {
        let row = self.note_row(tx, table, id).await?;
        let body: B = self.open_body(table, &row)?;
        let mut meta = row.meta;
        meta.addenda = self.addenda_in(tx, table, id).await?;
        Ok((meta, row.client_id, body))
    }

    /// Creates or updates (autosave) a draft. A new note needs no version; an existing
    /// draft is updated only with its current version.
    #[allow(
        clippy::too_many_arguments,
        reason = "one command: which note, by whom, what, and the audit facts"
    )]
    async fn save_draft<B: Serialize>(
        &self,
        tx: &mut Tx<'_>,
        table: Table,
        session: &Session,
        client: Option<ClientId>,
        author: ClinicianId,
        version: Option<i64>,
        body: &B,
        at: Timestamp,
    ) -> Result<NoteId, StoreError> {
        let body_json = json(body);
        let now = ts(at);
        match self.find_note_id(tx, table, session.id, client).await? {
            None => {
                let id: i64 = match client {
                    None => {
                        sqlx::query_scalar(
                            "INSERT INTO group_notes (session_id, author_clinician_id, state, body, \
                             created_at, updated_at) VALUES ($1, $2, 'draft', '', $3, $3) RETURNING id",
                        )
                        .bind(session.id.0)
                        .bind(author.0)
                        .bind(&now)
                        .fetch_one(&mut **tx)
                        .await?
                    }
                    Some(c) => {
                        sqlx::query_scalar(
                            "INSERT INTO progress_notes (session_id, client_id, author_clinician_id, \
                             state, body, created_at, updated_at) VALUES ($1, $2, $3, 'draft', '', $4, $4) \
                             RETURNING id",
                        )
                        .bind(session.id.0)
                        .bind(c.0)
                        .bind(author.0)
                        .bind(&now)
                        .fetch_one(&mut **tx)
                        .await?
                    }
                };
                let sealed = self.seal(&body_json, &table.aad(id))?;
                sqlx::query(&format!(
                    "UPDATE {} SET body = $1 WHERE id = $2",
                    table.name()
                ))
                .bind(sealed)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                Ok(NoteId(id))
            }
            Some(id) => {
                let row = self.note_row(tx, table, id).await?;
                check_editable(row.meta.state)?;
                let Some(version) = version else {
                    return Err(DomainError::conflict(
                        Rule::Duplicate,
                        "this note already exists; send its version to update the draft",
                    )
                    .into());
                };
                if version != row.meta.version {
                    return Err(stale());
                }
                let sealed = self.seal(&body_json, &table.aad(id.0))?;
                let done = sqlx::query(&format!(
                    "UPDATE {} SET body = $1, version = version + 1, updated_at = $2 \
                     WHERE id = $3 AND version = $4 AND state = 'draft'",
                    table.name()
                ))
                .bind(sealed)
                .bind(&now)
                .bind(id.0)
                .bind(version)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(stale());
                }
                Ok(id)
            }
        }
    }

    /// Locks the session and checks that notes can be written for it: not cancelled and
    /// already started.
    async fn writable_session(
        &self,
        tx: &mut Tx<'_>,
        session: SessionId,
        at: Timestamp,
    ) -> Result<Session, StoreError> {
        if !lock_row(tx, LockTable::Sessions, session.0).await? {
            return Err(DomainError::not_found("session").into());
        }
        let s = session_in(tx, session).await?;
        check_attendance_allowed(&s, at)?;
        Ok(s)
    }

    // Group notes.

    /// The group note of a session (one `note.read` entry).
    pub async fn group_note(
        &self,
        a: &SessionAccess<purpose::NoteRead>,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let (session, ctx) = (a.session(), a.audit());
        let mut tx = self.begin_read().await?;
        let id = self
            .find_note_id(&mut tx, Table::Group, session, None)
            .await?
            .ok_or(DomainError::not_found("group note"))?;
        let (meta, _, body) = self.full_note(&mut tx, Table::Group, id).await?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::NoteRead, &[]).object(format!("group_note:{id}")),
        )
        .await?;
        Ok(GroupNote { meta, body })
    }

    /// Creates or autosaves the draft group note of a session. The topic defaults to the
    /// session's and the facilitators to those present (or the group's leads).
    pub async fn save_group_note(
        &self,
        a: &SessionAccess<purpose::NoteWrite>,
        input: &GroupNoteInput,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let (session, ctx, author) = (a.session(), a.audit(), author_of(a.clinician())?);
        input.body.validate()?;
        let mut body = input.body.clone();
        if body.topic.is_none() || body.facilitators.is_empty() {
            let full = self.session(session).await?;
            if body.topic.is_none() {
                body.topic = full.topic.clone();
            }
            if body.facilitators.is_empty() {
                body.facilitators = if full.facilitators_present.is_empty() {
                    let (lead, co) = self.group_leads(full.group_id).await?;
                    std::iter::once(lead).chain(co).collect()
                } else {
                    full.facilitators_present.clone()
                };
            }
        }
        let mut tx = self.begin_write().await?;
        let s = self.writable_session(&mut tx, session, at).await?;
        for (i, c) in body.facilitators.iter().enumerate() {
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM clinicians WHERE id = $1")
                .bind(c.0)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(DomainError::invalid(
                    format!("facilitators/{i}"),
                    "names no clinician",
                )
                .into());
            }
        }
        let id = self
            .save_draft(
                &mut tx,
                Table::Group,
                &s,
                None,
                author,
                input.version,
                &body,
                at,
            )
            .await?;
        let (meta, _, body) = self.full_note(&mut tx, Table::Group, id).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteWrite, &[]).object(format!("group_note:{id}")),
        )
        .await?;
        tx.commit().await?;
        Ok(GroupNote { meta, body })
    }

    /// The id of a session's group note, if one was started (for authorization).
    pub async fn group_note_id(&self, session: SessionId) -> Result<NoteId, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT id FROM group_notes WHERE session_id = $1")
            .bind(session.0)
            .fetch_optional(self.pool())
            .await?
            .map(NoteId)
            .ok_or_else(|| DomainError::not_found("group note").into())
    }

    pub async fn sign_group_note(
        &self,
        a: &SessionAccess<purpose::NoteSign>,
        req: &SignNote,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let (session, ctx, signer) = (a.session(), a.audit(), author_of(a.clinician())?);
        let id = self.group_note_id(session).await?;
        let (meta, _, body) = self
            .sign_note::<GroupNoteBody>(Table::Group, id, signer, req, ctx, at)
            .await?;
        Ok(GroupNote { meta, body })
    }

    pub async fn cosign_group_note(
        &self,
        a: &SessionAccess<purpose::NoteCosign>,
        req: &CosignNote,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let (session, ctx, cosigner) = (a.session(), a.audit(), author_of(a.clinician())?);
        let id = self.group_note_id(session).await?;
        let (meta, _, body) = self
            .cosign_note::<GroupNoteBody>(Table::Group, id, cosigner, req, ctx, at)
            .await?;
        Ok(GroupNote { meta, body })
    }

    pub async fn add_group_addendum(
        &self,
        a: &SessionAccess<purpose::NoteAddendum>,
        new: &NewAddendum,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let (session, ctx, author) = (a.session(), a.audit(), author_of(a.clinician())?);
        let id = self.group_note_id(session).await?;
        let (meta, _, body) = self
            .add_addendum::<GroupNoteBody>(Table::Group, id, author, new, ctx, at)
            .await?;
        Ok(GroupNote { meta, body })
    }

    // Progress notes.

    /// The session and client a progress note is about (for authorization; no content).
    pub async fn progress_note_subject(
        &self,
        id: NoteId,
    ) -> Result<(SessionId, ClientId), StoreError> {
        let row = sqlx::query_as::<_, NoteSubjectRow>(
            "SELECT session_id, client_id FROM progress_notes WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("note"))?;
        Ok((SessionId(row.session_id), ClientId(row.client_id)))
    }

    /// One progress note (one `note.read` entry).
    pub async fn progress_note(
        &self,
        a: &ProgressAccess<purpose::NoteRead>,
        id: NoteId,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        check_subject(self, id, a.subject()).await?;
        let ctx = a.audit();
        let mut tx = self.begin_read().await?;
        let (meta, client, body) = self
            .full_note::<ProgressNoteBody>(&mut tx, Table::Progress, id)
            .await?;
        let client = client.ok_or(StoreError::Corrupt("client_id"))?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::NoteRead, &[client]).object(id),
        )
        .await?;
        Ok(ProgressNote {
            meta,
            client_id: client,
            body,
        })
    }

    /// The progress notes of a session (one `note.list` entry naming the members).
    pub async fn progress_notes(
        &self,
        a: &SessionAccess<purpose::NoteList>,
        at: Timestamp,
    ) -> Result<Vec<ProgressNote>, StoreError> {
        let (session, ctx) = (a.session(), a.audit());
        let mut tx = self.begin_read().await?;
        session_in(&mut tx, session).await?;
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM progress_notes WHERE session_id = $1 ORDER BY id")
                .bind(session.0)
                .fetch_all(&mut *tx)
                .await?;
        let mut notes = vec![];
        for id in ids {
            let (meta, client, body) = self
                .full_note::<ProgressNoteBody>(&mut tx, Table::Progress, NoteId(id))
                .await?;
            notes.push(ProgressNote {
                meta,
                client_id: client.ok_or(StoreError::Corrupt("client_id"))?,
                body,
            });
        }
        let clients: Vec<ClientId> = notes.iter().map(|n| n.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::NoteList, &clients).object(session),
        )
        .await?;
        Ok(notes)
    }

    /// Creates or autosaves a member's draft progress note; the member must have attended.
    pub async fn save_progress_note(
        &self,
        a: &ProgressAccess<purpose::NoteWrite>,
        input: &ProgressNoteInput,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        let ((session, client), ctx) = (a.subject(), a.audit());
        let author = author_of(a.clinician())?;
        let mut tx = self.begin_write().await?;
        let s = self.writable_session(&mut tx, session, at).await?;
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM attendance WHERE session_id = $1 AND client_id = $2",
        )
        .bind(session.0)
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?;
        let attended = status
            .as_deref()
            .and_then(AttendanceStatus::parse)
            .is_some_and(AttendanceStatus::attended);
        if !attended {
            return Err(DomainError::conflict(
                Rule::NotAttending,
                "a progress note is written for a member whose attendance at this session is recorded as present, late or left early",
            )
            .into());
        }
        let id = self
            .save_draft(
                &mut tx,
                Table::Progress,
                &s,
                Some(client),
                author,
                input.version,
                &input.body,
                at,
            )
            .await?;
        let (meta, _, body) = self
            .full_note::<ProgressNoteBody>(&mut tx, Table::Progress, id)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteWrite, &[client]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(ProgressNote {
            meta,
            client_id: client,
            body,
        })
    }

    pub async fn sign_progress_note(
        &self,
        a: &ProgressAccess<purpose::NoteSign>,
        id: NoteId,
        req: &SignNote,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        check_subject(self, id, a.subject()).await?;
        let (ctx, signer) = (a.audit(), author_of(a.clinician())?);
        let (meta, client, body) = self
            .sign_note::<ProgressNoteBody>(Table::Progress, id, signer, req, ctx, at)
            .await?;
        Ok(ProgressNote {
            meta,
            client_id: client.ok_or(StoreError::Corrupt("client_id"))?,
            body,
        })
    }

    pub async fn cosign_progress_note(
        &self,
        a: &ProgressAccess<purpose::NoteCosign>,
        id: NoteId,
        req: &CosignNote,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        check_subject(self, id, a.subject()).await?;
        let (ctx, cosigner) = (a.audit(), author_of(a.clinician())?);
        let (meta, client, body) = self
            .cosign_note::<ProgressNoteBody>(Table::Progress, id, cosigner, req, ctx, at)
            .await?;
        Ok(ProgressNote {
            meta,
            client_id: client.ok_or(StoreError::Corrupt("client_id"))?,
            body,
        })
    }

    pub async fn add_progress_addendum(
        &self,
        a: &ProgressAccess<purpose::NoteAddendum>,
        id: NoteId,
        new: &NewAddendum,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        check_subject(self, id, a.subject()).await?;
        let (ctx, author) = (a.audit(), author_of(a.clinician())?);
        let (meta, client, body) = self
            .add_addendum::<ProgressNoteBody>(Table::Progress, id, author, new, ctx, at)
            .await?;
        Ok(ProgressNote {
            meta,
            client_id: client.ok_or(StoreError::Corrupt("client_id"))?,
            body,
        })
    }

    /// The names of the other members on a session's roster, and the member's own names.
    async fn roster_names(
        &self,
        tx: &mut Tx<'_>,
        session: &Session,
        client: ClientId,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let rows = sqlx::query_as::<_, ClientNamesRow>(
            "SELECT c.id, c.given_name, c.family_name, c.preferred_name \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             WHERE m.group_id = $1 AND m.start_date <= $2 AND (m.end_date IS NULL OR m.end_date > $2) \
             AND m.status <> 'on_hold' \
             UNION SELECT c.id, c.given_name, c.family_name, c.preferred_name \
             FROM clients c WHERE c.id = $3",
        )
        .bind(session.group_id.0)
        .bind(date(session.local_date))
        .bind(client.0)
        .fetch_all(&mut **tx)
        .await?;
        let (mut others, mut own) = (vec![], vec![]);
        for r in rows {
            let names = r.names.words()?;
            if r.id == client.0 {
                own.extend(names);
            } else {
                others.extend(names);
            }
        }
        Ok((others, own))
    }

    async fn sign_note<B: Serialize + DeserializeOwned + NoteFields>(
        &self,
        table: Table,
        id: NoteId,
        signer: ClinicianId,
        req: &SignNote,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<(NoteMeta, Option<ClientId>, B), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = self.note_row(&mut tx, table, id).await?;
        if row.meta.version != req.version {
            return Err(stale());
        }
        self.sign_in::<B>(&mut tx, table, row, signer, req.confirm_names_checked, at)
            .await?;
        let clients: Vec<ClientId> = self
            .note_row(&mut tx, table, id)
            .await?
            .client_id
            .into_iter()
            .collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteSign, &clients).object(object_of(table, id)),
        )
        .await?;
        let out = self.full_note(&mut tx, table, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Signs a note inside a transaction: the author's signature (a trainee's note then
    /// awaits a co-signature), the name check of a progress note, the content hash.
    async fn sign_in<B: Serialize + DeserializeOwned + NoteFields>(
        &self,
        tx: &mut Tx<'_>,
        table: Table,
        row: Row,
        signer: ClinicianId,
        confirm_names_checked: bool,
        at: Timestamp,
    ) -> Result<NoteState, StoreError> {
        let session = session_in(tx, row.meta.session_id).await?;
        let author = clinician_in(tx, row.meta.author_clinician_id).await?;
        let next = sign(
            row.meta.state,
            author.id,
            signer,
            author.licensed_on(session.local_date),
        )?;
        let body: B = self.open_body(table, &row)?;
        if let Some(client) = row.client_id {
            let (others, own) = self.roster_names(tx, &session, client).await?;
            let hits = find_names(&body.fields(), &others, &own);
            if !hits.is_empty() && !confirm_names_checked {
                return Err(hits.refusal().into());
            }
        }
        let hash = content_hash(table, &row, &json(&body));
        let now = ts(at);
        let done = sqlx::query(&format!(
            "UPDATE {} SET state = $1, content_hash = $2, signed_at = $3, names_confirmed = $4, \
             version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7",
            table.name()
        ))
        .bind(next.as_str())
        .bind(&hash)
        .bind((next == NoteState::Signed).then(|| now.clone()))
        .bind(i64::from(confirm_names_checked))
        .bind(&now)
        .bind(row.meta.id.0)
        .bind(row.meta.version)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(stale());
        }
        Ok(next)
    }

    /// Writes a session's notes at once (seeding and imports): an optional group note
    /// and, for each member who attended (in client-id order, with their index), the
    /// progress note `progress_for` returns, if any — each as a draft or signed by its
    /// author (a trainee's then awaits co-signature), sealed, name-checked and hashed as
    /// the one-at-a-time commands do. One transaction, audited as one `note.write` entry
    /// (and one `note.sign` entry when anything was signed). Returns how many notes it
    /// wrote.
    pub async fn record_session_notes<F>(
        &self,
        a: &SessionAccess<purpose::NoteWrite>,
        group: Option<NoteToWrite<GroupNoteBody>>,
        mut progress_for: F,
        at: Timestamp,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(usize, ClientId) -> Option<NoteToWrite<ProgressNoteBody>> + Send,
    {
        let (session, ctx) = (a.session(), a.audit());
        let topic = match &group {
            Some(g) if g.body.topic.is_none() => self.session(session).await?.topic,
            _ => None,
        };
        let mut tx = self.begin_write().await?;
        let s = self.writable_session(&mut tx, session, at).await?;
        let attended: Vec<i64> = sqlx::query_scalar(
            "SELECT client_id FROM attendance WHERE session_id = $1 \
             AND status IN ('present', 'late', 'left_early') ORDER BY client_id",
        )
        .bind(session.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut notes: Vec<Pending> = vec![];
        if let Some(g) = group {
            g.body.validate()?;
            let mut body = g.body;
            if body.topic.is_none() {
                body.topic = topic;
            }
            notes.push((
                None,
                NoteToWrite {
                    author: g.author,
                    body: json(&body),
                    sign: g.sign,
                },
                vec![],
            ));
        }
        for (i, c) in attended.iter().enumerate() {
            let client = ClientId(*c);
            if let Some(n) = progress_for(i, client) {
                let fields = n
                    .body
                    .fields()
                    .into_iter()
                    .map(|(f, t)| (f, t.to_owned()))
                    .collect();
                notes.push((
                    Some(client),
                    NoteToWrite {
                        author: n.author,
                        body: json(&n.body),
                        sign: n.sign,
                    },
                    fields,
                ));
            }
        }
        // The facts signing needs, read once per session: the roster's names and each
        // author's license on the session's date.
        let mut licensed: std::collections::HashMap<ClinicianId, bool> = Default::default();
        let roster = sqlx::query_as::<_, ClientNamesRow>(
            "SELECT c.id, c.given_name, c.family_name, c.preferred_name \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             WHERE m.group_id = $1 AND m.start_date <= $2 AND (m.end_date IS NULL OR m.end_date > $2) \
             AND m.status <> 'on_hold'",
        )
        .bind(s.group_id.0)
        .bind(date(s.local_date))
        .fetch_all(&mut *tx)
        .await?;
        let mut names: Vec<(i64, String)> = vec![];
        for r in roster {
            let id = r.id;
            names.extend(r.names.words()?.into_iter().map(|n| (id, n)));
        }
        let now = ts(at);
        let (mut clients, mut signed) = (vec![], false);
        for (client, note, fields) in &notes {
            let table = if client.is_some() {
                Table::Progress
            } else {
                Table::Group
            };
            let state = if note.sign {
                let ok = match licensed.get(&note.author) {
                    Some(ok) => *ok,
                    None => {
                        let ok = clinician_in(&mut tx, note.author)
                            .await?
                            .licensed_on(s.local_date);
                        licensed.insert(note.author, ok);
                        ok
                    }
                };
                if let Some(c) = client {
                    let others: Vec<String> = names
                        .iter()
                        .filter(|(id, _)| *id != c.0)
                        .map(|(_, n)| n.clone())
                        .collect();
                    let own: Vec<String> = names
                        .iter()
                        .filter(|(id, _)| *id == c.0)
                        .map(|(_, n)| n.clone())
                        .collect();
                    let fields: Vec<(&'static str, &str)> =
                        fields.iter().map(|(f, t)| (*f, t.as_str())).collect();
                    let hits = find_names(&fields, &others, &own);
                    if !hits.is_empty() {
                        return Err(hits.refusal().into());
                    }
                }
                signed = true;
                sign(NoteState::Draft, note.author, note.author, ok)?
            } else {
                NoteState::Draft
            };
            let id: i64 = match client {
                Some(c) => {
                    sqlx::query_scalar(
                        "INSERT INTO progress_notes (session_id, client_id, author_clinician_id, \
                         state, body, created_at, updated_at) VALUES ($1, $4, $2, 'draft', '', $3, $3) \
                         RETURNING id",
                    )
                    .bind(session.0)
                    .bind(note.author.0)
                    .bind(&now)
                    .bind(c.0)
                    .fetch_one(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO group_notes (session_id, author_clinician_id, state, body, \
                         created_at, updated_at) VALUES ($1, $2, 'draft', '', $3, $3) RETURNING id",
                    )
                    .bind(session.0)
                    .bind(note.author.0)
                    .bind(&now)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            let row = Row {
                meta: NoteMeta {
                    id: NoteId(id),
                    kind: table.kind(),
                    session_id: session,
                    author_clinician_id: note.author,
                    state,
                    content_hash: None,
                    signed_at: None,
                    cosigned_by: None,
                    cosigned_at: None,
                    names_check_confirmed: false,
                    addenda: vec![],
                    version: 1,
                },
                client_id: *client,
                sealed: String::new(),
            };
            let hash = note.sign.then(|| content_hash(table, &row, &note.body));
            sqlx::query(&format!(
                "UPDATE {} SET body = $1, state = $2, content_hash = $3, signed_at = $4 WHERE id = $5",
                table.name()
            ))
            .bind(self.seal(&note.body, &table.aad(id))?)
            .bind(state.as_str())
            .bind(hash)
            .bind((state == NoteState::Signed).then(|| now.clone()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            clients.extend(*client);
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteWrite, &clients).object(session),
        )
        .await?;
        if signed {
            append(
                &mut tx,
                self.audit_key(),
                at,
                Record::success(ctx, AuditAction::NoteSign, &clients).object(session),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(notes.len())
    }

    async fn cosign_note<B: DeserializeOwned>(
        &self,
        table: Table,
        id: NoteId,
        cosigner: ClinicianId,
        req: &CosignNote,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<(NoteMeta, Option<ClientId>, B), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = self.note_row(&mut tx, table, id).await?;
        if row.meta.version != req.version {
            return Err(stale());
        }
        let session = session_in(&mut tx, row.meta.session_id).await?;
        let who = clinician_in(&mut tx, cosigner).await?;
        cosign(
            row.meta.state,
            row.meta.author_clinician_id,
            cosigner,
            who.licensed_on(session.local_date),
        )?;
        let now = ts(at);
        let done = sqlx::query(&format!(
            "UPDATE {} SET state = 'signed', signed_at = $1, cosigned_by = $2, cosigned_at = $1, \
             version = version + 1, updated_at = $1 WHERE id = $3 AND version = $4 \
             AND state = 'awaiting_cosign'",
            table.name()
        ))
        .bind(&now)
        .bind(cosigner.0)
        .bind(id.0)
        .bind(req.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(stale());
        }
        let clients: Vec<ClientId> = row.client_id.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteCosign, &clients).object(object_of(table, id)),
        )
        .await?;
        let out = self.full_note(&mut tx, table, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn add_addendum<B: DeserializeOwned>(
        &self,
        table: Table,
        id: NoteId,
        author: ClinicianId,
        new: &NewAddendum,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<(NoteMeta, Option<ClientId>, B), StoreError> {
        new.validate()?;
        let mut tx = self.begin_write().await?;
        let row = self.note_row(&mut tx, table, id).await?;
        check_addendum(row.meta.state)?;
        let who = clinician_in(&mut tx, author).await?;
        let today = at.to_zoned(jiff::tz::TimeZone::UTC).date();
        if !who.licensed_on(today) {
            return Err(DomainError::conflict(
                Rule::LicenseNotActive,
                "an addendum is signed by its author, who needs an active license",
            )
            .into());
        }
        let now = ts(at);
        let mut h = Sha256::new();
        h.update(format!("{}\n{}\n{}\n{now}\n", table.name(), id.0, author.0).as_bytes());
        h.update(new.text.as_str().as_bytes());
        let hash = hex(&h.finalize());
        let aid: i64 = sqlx::query_scalar(
            "INSERT INTO note_addenda (note_table, note_id, author_clinician_id, body, content_hash, \
             signed_at, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $5, $5, $5) RETURNING id",
        )
        .bind(table.name())
        .bind(id.0)
        .bind(author.0)
        .bind(&hash)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let sealed = self.seal(new.text.as_str(), &addendum_aad(aid))?;
        sqlx::query("UPDATE note_addenda SET body = $1 WHERE id = $2")
            .bind(sealed)
            .bind(aid)
            .execute(&mut *tx)
            .await?;
        let clients: Vec<ClientId> = row.client_id.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::NoteAddendum, &clients).object(object_of(table, id)),
        )
        .await?;
        let out = self.full_note(&mut tx, table, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Notes not signed within their program's window after their session ended: group
    /// notes of held sessions, and progress notes of members who attended (missing ones
    /// included), grouped by the clinician responsible — the author, or the session's
    /// lead for a note not yet started. `clinician` narrows to one clinician. Audited as
    /// one `note.list` entry naming the members concerned.
    /// Overdue notes: a clinician's own, a director's programs' (every group for the
    /// clinic-wide).
    pub async fn overdue_notes(
        &self,
        listing: &Listing<purpose::OverdueNotes>,
        now: Timestamp,
    ) -> Result<Vec<OverdueForClinician>, StoreError> {
        let ctx = listing.audit();
        let (clinician, director) = match listing.scope() {
            ListScope::All => (None, None),
            ListScope::Programs { director, .. } => (None, Some(*director)),
            ListScope::Caseload { clinician, .. } => (Some(*clinician), None),
            ListScope::Own(_) => (Some(ClinicianId(-1)), None),
        };
        let mut tx = self.begin_read().await?;
        // Only the sessions in `notes_open` (migration 0033, kept by triggers): the held
        // sessions whose notes are not all signed, not every session the clinic ever held.
        // (`IN`, not a join, so that SQLite starts from that short list.)
        let who = clinician.map_or(-1, |c| c.0);
        let director = director.map_or(-1, |d| d.0);
        let in_programs = crate::director_programs::director_program("$3", "g.program_id");
        let cutoff = ts(now);
        let groups = sqlx::query_as::<_, OverdueRow>(&format!(
            "SELECT s.id, s.group_id, s.ends_at, p.note_due_hours, n.id AS note_id, n.state, \
             COALESCE(n.author_clinician_id, s.lead_facilitator_id) AS responsible \
             FROM sessions s JOIN therapy_groups g ON g.id = s.group_id \
             JOIN programs p ON p.id = g.program_id \
             LEFT JOIN group_notes n ON n.session_id = s.id \
             WHERE s.id IN (SELECT session_id FROM notes_open) \
             AND s.status = 'held' AND s.ends_at < $1 AND (n.id IS NULL OR n.state <> 'signed') \
             AND ($2 = -1 OR COALESCE(n.author_clinician_id, s.lead_facilitator_id) = $2) \
             AND ($3 = -1 OR {in_programs}) \
             ORDER BY s.ends_at, s.id",
        ))
        .bind(&cutoff)
        .bind(who)
        .bind(director)
        .fetch_all(&mut *tx)
        .await?;
        let progress = sqlx::query_as::<_, OverdueRow>(&format!(
            "SELECT s.id, s.group_id, s.ends_at, p.note_due_hours, n.id AS note_id, n.state, \
             a.client_id, COALESCE(n.author_clinician_id, s.lead_facilitator_id) AS responsible \
             FROM sessions s JOIN therapy_groups g ON g.id = s.group_id \
             JOIN programs p ON p.id = g.program_id \
             JOIN attendance a ON a.session_id = s.id AND a.status IN ('present', 'late', 'left_early') \
             LEFT JOIN progress_notes n ON n.session_id = s.id AND n.client_id = a.client_id \
             WHERE s.id IN (SELECT session_id FROM notes_open) \
             AND s.status = 'held' AND s.ends_at < $1 AND (n.id IS NULL OR n.state <> 'signed') \
             AND ($2 = -1 OR COALESCE(n.author_clinician_id, s.lead_facilitator_id) = $2) \
             AND ($3 = -1 OR {in_programs}) \
             ORDER BY s.ends_at, s.id, a.client_id",
        ))
        .bind(&cutoff)
        .bind(who)
        .bind(director)
        .fetch_all(&mut *tx)
        .await?;
        let mut by: std::collections::BTreeMap<i64, Vec<OverdueNote>> = Default::default();
        let mut clients = vec![];
        for (kind, rows) in [(NoteKind::Group, &groups), (NoteKind::Progress, &progress)] {
            for r in rows {
                let hours = r.note_due_hours;
                let due = read::ts(&r.ends_at, "ends_at")?
                    .checked_add(jiff::SignedDuration::from_hours(hours))
                    .map_err(|_| StoreError::Corrupt("note_due_hours"))?;
                if due > now {
                    continue;
                }
                let client_id = match kind {
                    NoteKind::Progress => Some(ClientId(
                        r.client_id.ok_or(StoreError::Corrupt("client_id"))?,
                    )),
                    NoteKind::Group => None,
                };
                clients.extend(client_id);
                by.entry(r.responsible).or_default().push(OverdueNote {
                    kind,
                    session_id: SessionId(r.id),
                    group_id: GroupId(r.group_id),
                    client_id,
                    note_id: r.note_id.map(NoteId),
                    state: read::opt_vocab(r.state.as_deref(), "state", NoteState::parse)?,
                    due_at: whole_second(due),
                });
            }
        }
        clients.sort();
        clients.dedup();
        tx.commit().await?;
        self.audit_read(
            now,
            Record::success(ctx, AuditAction::NoteList, &clients).object("overdue"),
        )
        .await?;
        Ok(by
            .into_iter()
            .map(|(c, notes)| OverdueForClinician {
                clinician_id: ClinicianId(c),
                notes,
            })
            .collect())
    }

    /// Whether the clinician leads, co-leads or was present at the session (for notes).
    pub async fn facilitates(
        &self,
        session: &Session,
        clinician: ClinicianId,
    ) -> Result<bool, StoreError> {
        if session.facilitators_present.contains(&clinician) {
            return Ok(true);
        }
        let mut conn = self.pool().acquire().await?;
        let g = {
            let row = sqlx::query_as::<_, LeadsRow>(
                "SELECT lead_facilitator_id, co_facilitator_id FROM therapy_groups WHERE id = $1",
            )
            .bind(session.group_id.0)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(DomainError::not_found("group"))?;
            (row.lead_facilitator_id, row.co_facilitator_id)
        };
        Ok(g.0 == clinician.0 || g.1 == Some(clinician.0))
    }

    /// Whether a clinician holds a license active on a date.
    pub async fn clinician_licensed_on(
        &self,
        clinician: ClinicianId,
        on: jiff::civil::Date,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(clinician_in(&mut conn, clinician).await?.licensed_on(on))
    }
}

fn object_of(table: Table, id: NoteId) -> String {
    match table {
        Table::Group => format!("group_note:{id}"),
        Table::Progress => id.to_string(),
    }
}

/// The free-text fields of a note body, for the name check.
trait NoteFields {
    fn fields(&self) -> Vec<(&'static str, &str)>;
}

impl NoteFields for GroupNoteBody {
    fn fields(&self) -> Vec<(&'static str, &str)> {
        GroupNoteBody::fields(self)
    }
}

impl NoteFields for ProgressNoteBody {
    fn fields(&self) -> Vec<(&'static str, &str)> {
        ProgressNoteBody::fields(self)
    }
}
