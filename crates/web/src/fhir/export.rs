//! FHIR Bulk Data export (Bulk Data Access 2.0, issue 15): `GET /fhir/r4/$export` and
//! `GET /fhir/r4/Group/{id}/$export` with `Prefer: respond-async` answer 202 with a status
//! URL in `Content-Location`; the status answers 202 with `X-Progress` while the job runs
//! and 200 with the manifest when it is done; each NDJSON file is downloaded by the
//! requester only; `DELETE` on the status URL cancels.
//!
//! An export is a disclosure out of the clinic, so the kick-off names its `recipient` and
//! `purpose` (Circle's own required parameters), and the job records one disclosure per
//! client in the accounting of disclosures before that client's records are written. A
//! client protected by 42 CFR Part 2 is included only when a consent in force names that
//! recipient for that purpose (the same rule as `POST /api/v1/clients/{id}/disclosures`);
//! otherwise they are left out and counted in the manifest's `error` OperationOutcome. An
//! included Part 2 client's resources carry the policy's labels and §2.32's notice, and so
//! does the manifest.
//!
//! The job lives in the database (migration 0024) and is worked on by a background task of
//! whichever server claims it, as its requester (read through the gate, audited); a job
//! whose server stopped is claimed again after its heartbeat goes stale and re-run from
//! the start.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use circle_app::fhir_export::{ClaimedExport, ExportJob, ExportTerms};
use circle_app::{Actor, App, AppError};
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, GroupId};
use circle_domain::intake::NewDisclosure;
use serde_json::{Value, json};

use super::{FhirAuth, FhirError, Reader, Search, base_url, fhir_json, map, outcome};
use crate::problem::ApiError;

/// The resource types an export holds, in file order. The per-client ones are read for
/// each client the export covers; `Group` is the exported group, or every group the
/// requester reaches.
pub const EXPORT_TYPES: &[&str] = &[
    "Patient",
    "EpisodeOfCare",
    "Encounter",
    "Observation",
    "QuestionnaireResponse",
    "ServiceRequest",
    "Consent",
    "DocumentReference",
    "Group",
    "Organization",
    "PractitionerRole",
    "AuditEvent",
];

/// The types not read per client: the clinic's own facts (and, when asked for by name,
/// the audit trail).
const CLINIC_TYPES: &[&str] = &["Group", "Organization", "PractitionerRole", "AuditEvent"];

/// The types an export without `_type` holds: all but the audit trail, which leaves only
/// when named (and only for a requester who may read it: administrators).
fn default_types() -> Vec<String> {
    EXPORT_TYPES
        .iter()
        .filter(|t| **t != "AuditEvent")
        .map(|t| (*t).to_owned())
        .collect()
}

pub fn router() -> Router<App> {
    Router::new()
        .route("/fhir/r4/$export", get(kick_off_system))
        .route("/fhir/r4/Group/{id}/$export", get(kick_off_group))
        .route("/fhir/r4/$export-status/{job}", get(status).delete(cancel))
        .route("/fhir/r4/$export-file/{job}/{file}", get(file))
}

fn bad(field: &str, rule: &str) -> FhirError {
    FhirError(ApiError::field(
        StatusCode::BAD_REQUEST,
        "bad_query",
        field.to_owned(),
        rule.to_owned(),
    ))
}

/// The kick-off's parameters, checked: the types, and the recipient and purpose.
fn kick_off_params(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Vec<String>, ExportTerms), FhirError> {
    let async_preferred = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == "respond-async"));
    if !async_preferred {
        return Err(bad("Prefer", "must be respond-async (Bulk Data kick-off)"));
    }
    let mut types: Option<Vec<String>> = None;
    let (mut recipient, mut purpose, mut since) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "_type" => {
                let mut list = vec![];
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !EXPORT_TYPES.contains(&t) {
                        return Err(bad(
                            "_type",
                            &format!("may list only {}", EXPORT_TYPES.join(", ")),
                        ));
                    }
                    list.push(t.to_owned());
                }
                types.get_or_insert_with(Vec::new).extend(list);
            }
            "_outputFormat" => {
                if !matches!(
                    v.as_ref(),
                    "application/fhir+ndjson" | "application/ndjson" | "ndjson"
                ) {
                    return Err(bad("_outputFormat", "only application/fhir+ndjson is made"));
                }
            }
            "_since" => {
                since = Some(v.parse::<jiff::Timestamp>().map_err(|_| {
                    bad(
                        "_since",
                        "must be an instant with a time zone offset, e.g. 2026-05-01T00:00:00Z",
                    )
                })?);
            }
            "recipient" => recipient = Some(v.into_owned()),
            "purpose" => purpose = Some(v.into_owned()),
            other => {
                return Err(bad(
                    other,
                    "is not a kick-off parameter here (supported: _type, _since, _outputFormat, recipient, purpose)",
                ));
            }
        }
    }
    let (Some(recipient), Some(purpose)) = (recipient, purpose) else {
        return Err(bad(
            "recipient",
            "recipient and purpose are required: an export is a disclosure, recorded for every client it holds",
        ));
    };
    // The same rules as a disclosure recorded by hand (lengths, characters).
    disclosure(&recipient, &purpose, "check")?;
    let mut types = types.unwrap_or_else(default_types);
    types.sort_by_key(|t| EXPORT_TYPES.iter().position(|x| x == t));
    types.dedup();
    Ok((
        types,
        ExportTerms {
            recipient,
            purpose,
            since,
        },
    ))
}

fn disclosure(
    recipient: &str,
    purpose: &str,
    information: &str,
) -> Result<NewDisclosure, FhirError> {
    serde_json::from_value(json!({
        "recipient": recipient, "purpose": purpose, "information": information,
    }))
    .map_err(|e| {
        let field = ["recipient", "purpose"]
            .into_iter()
            .find(|f| e.to_string().contains(f))
            .unwrap_or("recipient");
        bad(
            field,
            "must be 1–200 characters of text without control characters",
        )
    })
}

async fn kick_off(
    app: &App,
    actor: &Actor,
    headers: &HeaderMap,
    query: Option<&str>,
    group: Option<GroupId>,
    path: &str,
) -> Result<Response, FhirError> {
    let (types, terms) = kick_off_params(headers, query)?;
    let base = base_url(headers);
    let request_url = match query {
        Some(q) if !q.is_empty() => format!("{base}{path}?{q}"),
        _ => format!("{base}{path}"),
    };
    let id = app
        .start_export(actor, group, &types, &terms, &request_url)
        .await?;
    let mut resp = (StatusCode::ACCEPTED, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/$export-status/{id}")) {
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(resp)
}

async fn kick_off_system(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    FhirAuth(actor): FhirAuth,
) -> Result<Response, FhirError> {
    kick_off(&app, &actor, &headers, query.as_deref(), None, "/$export").await
}

async fn kick_off_group(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    FhirAuth(actor): FhirAuth,
) -> Result<Response, FhirError> {
    let g = id
        .parse::<i64>()
        .map(GroupId)
        .map_err(|_| FhirError::from(DomainError::not_found("group")))?;
    kick_off(
        &app,
        &actor,
        &headers,
        query.as_deref(),
        Some(g),
        &format!("/Group/{id}/$export"),
    )
    .await
}

fn parse_job(raw: &str) -> Result<i64, FhirError> {
    raw.parse()
        .map_err(|_| FhirError::from(DomainError::not_found("export")))
}

/// The manifest of a finished job (Bulk Data 2.0).
fn manifest(base: &str, job: &ExportJob) -> Value {
    let entry = |f: &circle_app::fhir_export::ExportFile| {
        json!({
            "type": f.resource_type,
            "url": format!("{base}/$export-file/{}/{}", job.id, f.id),
            "count": f.resources,
        })
    };
    let output: Vec<Value> = job
        .files
        .iter()
        .filter(|f| f.resource_type != "OperationOutcome")
        .map(entry)
        .collect();
    let error: Vec<Value> = job
        .files
        .iter()
        .filter(|f| f.resource_type == "OperationOutcome")
        .map(entry)
        .collect();
    json!({
        "transactionTime": job.transaction_time,
        "request": job.request_url,
        "requiresAccessToken": true,
        "output": output,
        "error": error,
        // Bulk Data reserves `extension` for a server's own information.
        "extension": {
            "part2Notice": map::PART2_NOTICE,
            "withheldForWantOfConsent": job.withheld,
        },
    })
}

async fn status(
    State(app): State<App>,
    headers: HeaderMap,
    Path(job): Path<String>,
    FhirAuth(actor): FhirAuth,
) -> Result<Response, FhirError> {
    let job = app.export_status(&actor, parse_job(&job)?).await?;
    match job.state.as_str() {
        "done" => {
            let mut resp = (
                StatusCode::OK,
                manifest(&base_url(&headers), &job).to_string(),
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }
        "failed" => Ok(fhir_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &outcome(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!(
                    "the export failed: {}",
                    job.error.as_deref().unwrap_or("unknown")
                ),
            ),
        )),
        "cancelled" => Err(DomainError::not_found("export").into()),
        _ => {
            let mut resp = (StatusCode::ACCEPTED, "").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{}% ({})", job.progress, job.state)) {
                resp.headers_mut().insert("x-progress", v);
            }
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(resp)
        }
    }
}

async fn cancel(
    State(app): State<App>,
    Path(job): Path<String>,
    FhirAuth(actor): FhirAuth,
) -> Result<Response, FhirError> {
    app.cancel_export(&actor, parse_job(&job)?).await?;
    Ok((StatusCode::ACCEPTED, "").into_response())
}

async fn file(
    State(app): State<App>,
    Path((job, file)): Path<(String, String)>,
    FhirAuth(actor): FhirAuth,
) -> Result<Response, FhirError> {
    let file = file
        .parse()
        .map_err(|_| FhirError::from(DomainError::not_found("export file")))?;
    let (_, body) = app.export_file(&actor, parse_job(&job)?, file).await?;
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+ndjson"),
    );
    Ok(resp)
}

// --- the worker ------------------------------------------------------------------------------

/// How often an idle worker looks for a job.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts this server's export worker: it claims queued jobs (and jobs whose server
/// stopped) one at a time and runs them.
pub fn spawn_worker(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match app.claim_export().await {
                Ok(Some(job)) => {
                    let id = job.id;
                    if let Err(e) = run(&app, job).await {
                        // Causes name drivers and columns, never client data.
                        tracing::error!(export.id = id, error = %e, "FHIR export failed");
                        let _ = app.fail_export(id, "internal error").await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a FHIR export failed"),
            }
        }
    })
}

/// Runs one claimed job to its end (done, failed, or stopped because it was cancelled).
async fn run(app: &App, job: ClaimedExport) -> Result<(), String> {
    let internal = |e: AppError| format!("{e:?}");
    let refused = |e: FhirError| format!("{:?}", e.0);
    let Some(actor) = app.export_actor(job.requested_by).await.map_err(internal)? else {
        app.fail_export(job.id, "the requester's account is disabled")
            .await
            .map_err(internal)?;
        return Ok(());
    };
    let mut reader = Reader::new(app, &actor);
    // Only the clinic's own facts asked for: no client's records leave, so none is
    // disclosed (a Group names its members, so it counts as about them).
    let about_clients = job.types.iter().any(|t| {
        !matches!(
            t.as_str(),
            "Organization" | "PractitionerRole" | "AuditEvent"
        )
    });
    let clients: Vec<ClientId> = match job.group_id {
        _ if !about_clients => vec![],
        Some(g) => {
            let mut v: Vec<ClientId> = app
                .group_members(&actor, g)
                .await
                .map_err(internal)?
                .iter()
                .map(|m| m.membership.client_id)
                .collect();
            v.sort();
            v.dedup();
            v
        }
        None => reader.patients(None).await.map_err(refused)?,
    };
    let information = format!(
        "FHIR bulk export {}: {} of each client",
        job.id,
        job.types.join(", ")
    );
    let mut files: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut withheld = 0i64;
    let mut exported: std::collections::HashSet<String> = std::collections::HashSet::new();
    let total = clients.len().max(1);
    for (n, client) in clients.iter().enumerate() {
        let progress = u8::try_from(n * 100 / total).unwrap_or(99);
        if !app
            .export_heartbeat(job.id, progress)
            .await
            .map_err(internal)?
        {
            return Ok(()); // cancelled
        }
        let Ok(new) = disclosure(&job.terms.recipient, &job.terms.purpose, &information) else {
            app.fail_export(job.id, "the export's recipient or purpose is invalid")
                .await
                .map_err(internal)?;
            return Ok(());
        };
        // The disclosure is recorded before the records are written; for a Part 2 client
        // it is refused without a consent in force for this recipient and purpose.
        // Once per job and client: a job re-run after its server stopped finds the
        // disclosure the first run recorded and records none again.
        match app
            .record_export_disclosure(&actor, *client, job.id, &new)
            .await
        {
            Ok(_) => {}
            Err(AppError::Domain(DomainError::Conflict(_))) => {
                withheld += 1;
                continue;
            }
            // Out of the requester's reach now (moved since the kick-off): left out.
            Err(AppError::Domain(DomainError::NotFound { .. })) => continue,
            Err(e) => return Err(internal(e)),
        }
        exported.insert(format!("Patient/{client}"));
        for kind in EXPORT_TYPES.iter().filter(|t| !CLINIC_TYPES.contains(t)) {
            if !job.types.iter().any(|t| t == kind) {
                continue;
            }
            let search = Search {
                patient: Some(*client),
                count: 1,
                ..Search::default()
            };
            let found = if *kind == "Patient" {
                vec![
                    reader
                        .read("Patient", &client.to_string())
                        .await
                        .map_err(refused)?,
                ]
            } else {
                match reader.gather(kind, &search).await {
                    Ok(v) => v,
                    // A type the requester's role may not read (none for a director).
                    Err(e) if is_refusal(&e) => vec![],
                    Err(e) => return Err(refused(e)),
                }
            };
            let lines = files.entry(kind).or_default();
            lines.extend(
                found
                    .iter()
                    .filter(|r| changed_since(kind, r, job.terms.since))
                    .map(Value::to_string),
            );
        }
    }
    if job.types.iter().any(|t| t == "Group") {
        let groups = match job.group_id {
            Some(g) => vec![
                reader
                    .read("Group", &g.to_string())
                    .await
                    .map_err(refused)?,
            ],
            None => reader
                .gather("Group", &Search::default())
                .await
                .map_err(refused)?,
        };
        // A group names only the members this export holds: a member left out (no Part 2
        // consent for this recipient) is not revealed by the group's roster either.
        let groups = groups.into_iter().map(|g| only_members(g, &exported));
        files
            .entry("Group")
            .or_default()
            .extend(groups.map(|g| g.to_string()));
    }
    for kind in ["Organization", "PractitionerRole", "AuditEvent"] {
        if !job.types.iter().any(|t| t == kind) {
            continue;
        }
        let found = match reader.gather(kind, &Search::default()).await {
            Ok(v) => v,
            // The audit trail for a requester who may not read it (a director): left out.
            Err(e) if is_refusal(&e) => vec![],
            Err(e) => return Err(refused(e)),
        };
        files.entry(kind).or_default().extend(
            found
                .iter()
                .filter(|r| changed_since(kind, r, job.terms.since))
                .map(Value::to_string),
        );
    }
    if !app.export_heartbeat(job.id, 99).await.map_err(internal)? {
        return Ok(());
    }
    for kind in EXPORT_TYPES {
        if let Some(lines) = files.get(kind)
            && !lines.is_empty()
        {
            let mut body = lines.join("\n");
            body.push('\n');
            app.add_export_file(job.id, kind, &body, i64::try_from(lines.len()).unwrap_or(0))
                .await
                .map_err(internal)?;
        }
    }
    if withheld > 0 {
        let oo = json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "suppressed",
                "diagnostics": format!(
                    "{withheld} client(s) left out: their records are protected by 42 CFR Part 2 \
                     and no consent in force names this recipient for this purpose")}],
        });
        app.add_export_file(job.id, "OperationOutcome", &format!("{oo}\n"), 1)
            .await
            .map_err(internal)?;
    }
    app.finish_export(job.id, withheld)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Whether a resource belongs in an export `_since` an instant: its `meta.lastUpdated`, or
/// else the time it records (an encounter's start, a response's, a note's signature), is
/// at or after it. A resource with neither (a Patient, a Group: Circle keeps no change
/// time for them) is always included, as Bulk Data allows for resources whose change time
/// is unknown.
fn changed_since(kind: &str, r: &Value, since: Option<jiff::Timestamp>) -> bool {
    let Some(since) = since else {
        return true;
    };
    let stamp = r["meta"]["lastUpdated"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .or_else(|| super::resource_date(kind, r));
    stamp.is_none_or(|t| t >= since)
}

/// A Group with only the members in `kept`, and its quantity counted again.
fn only_members(mut g: Value, kept: &std::collections::HashSet<String>) -> Value {
    if let Some(members) = g.get_mut("member").and_then(Value::as_array_mut) {
        members.retain(|m| {
            m["entity"]["reference"]
                .as_str()
                .is_some_and(|r| kept.contains(r))
        });
        let active = members.iter().filter(|m| m["inactive"] != true).count();
        let empty = members.is_empty();
        if empty && let Some(o) = g.as_object_mut() {
            o.remove("member");
        }
        if g.get("quantity").is_some() {
            g["quantity"] = json!(active);
        }
    }
    g
}

fn is_refusal(e: &FhirError) -> bool {
    matches!(
        e.0,
        ApiError::Domain(DomainError::Forbidden | DomainError::NotFound { .. })
    )
}
