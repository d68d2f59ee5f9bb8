//! A read-only FHIR R4 (4.0.1) JSON API under `/fhir/r4` (issue 15).
//!
//! Every handler goes through the same services as the JSON API, so the same gate decides
//! (a clinician's search sees their caseload, a client only themself, a director linked
//! to programs only those programs) and every read of client data is audited by the
//! service that made it. Resources about a client protected by 42 CFR Part 2 carry the
//! policy's security labels and §2.32's notice ([`map::label_part2`]). Errors are
//! `OperationOutcome`s with the status the JSON API would answer.
//!
//! Ids of resources that belong to one client or one session carry the owner
//! (`EpisodeOfCare/{client}.{episode}`, `Encounter/{session}.{client}`), so a read goes
//! straight to that client's or session's gate: an id that is out of reach answers 404
//! exactly like one that does not exist.
//!
//! Searches gather what the caller may see, filter it by the parameters the
//! CapabilityStatement declares for the type, and page it with `_count` and a `next`
//! link (an `_offset` into the same ordered result). Unknown parameters are refused
//! (400), never silently ignored: a filter that is not applied would return too much.

pub mod export;
pub mod map;

use std::collections::{BTreeSet, HashMap};

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use circle_app::{Actor, App, AppError, PageRequest, purpose};
use circle_domain::DomainError;
use circle_domain::care::Concern;
use circle_domain::ids::{ClientId, ClinicianId, GroupId, ProgramId, RoomId, SessionId};
use circle_domain::session::Session;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::extract::{bearer, request_meta};
use crate::problem::ApiError;

/// The media type of every FHIR response.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Where the FHIR API lives.
pub const BASE: &str = "/fhir/r4";

/// The resource types served, in the CapabilityStatement's order.
pub const TYPES: &[&str] = &[
    "Patient",
    "EpisodeOfCare",
    "Group",
    "CareTeam",
    "Encounter",
    "Appointment",
    "Observation",
    "QuestionnaireResponse",
    "Questionnaire",
    "Practitioner",
    "Location",
    "HealthcareService",
    "Organization",
    "PractitionerRole",
    "ServiceRequest",
    "Consent",
    "DocumentReference",
    "AuditEvent",
];

/// The search parameters each type supports (besides `_count`, `_offset` and `_format`).
pub fn search_params(kind: &str) -> &'static [&'static str] {
    match kind {
        "EpisodeOfCare" | "Encounter" | "Consent" | "ServiceRequest" | "DocumentReference"
        | "AuditEvent" => &["_id", "patient", "date"],
        "Appointment" => &["_id", "date"],
        "Observation" | "QuestionnaireResponse" => &["_id", "patient", "date", "_lastUpdated"],
        _ => &["_id"],
    }
}

/// The FHIR routes (with the Bulk Data export's).
pub fn router() -> Router<App> {
    Router::new()
        .route("/fhir/r4/metadata", get(metadata))
        .merge(export::router())
        .route("/fhir/r4/{kind}", get(search))
        .route("/fhir/r4/{kind}/{id}", get(read))
}

// --- errors -----------------------------------------------------------------------------

/// An error answered as an `OperationOutcome`, with the status the JSON API would use.
pub struct FhirError(ApiError);

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}
impl From<AppError> for FhirError {
    fn from(e: AppError) -> Self {
        Self(ApiError::from(e))
    }
}
impl From<DomainError> for FhirError {
    fn from(e: DomainError) -> Self {
        Self(ApiError::Domain(e))
    }
}

/// The `OperationOutcome` issue code for an HTTP status.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        409 => "conflict",
        422 => "processing",
        429 => "throttled",
        _ => "exception",
    }
}

/// An `OperationOutcome` with one error issue.
pub fn outcome(status: StatusCode, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": issue_code(status), "diagnostics": diagnostics}],
    })
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (status, problem, internal) = self.0.problem();
        if let Some(cause) = internal {
            // Causes name drivers and columns, never client data (see `ApiError::from`).
            tracing::error!(cause = %cause.0, "FHIR request failed");
        }
        let mut text = problem.detail.clone();
        for e in &problem.errors {
            text.push_str(&format!("; {}: {}", e.field, e.message));
        }
        let mut resp = fhir_json(status, &outcome(status, &text));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A FHIR JSON response.
pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp
}

type FhirResult<T> = Result<T, FhirError>;

/// The signed-in caller, or 401 as an `OperationOutcome`.
pub struct FhirAuth(pub Actor);

impl FromRequestParts<App> for FhirAuth {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .ok_or(FhirError(ApiError::Domain(DomainError::Unauthenticated)))?;
        let actor = app.authenticate(token).await?;
        Ok(FhirAuth(actor.with_request(request_meta(parts))))
    }
}

/// The absolute base URL of this server's FHIR API, as the caller reached it (for
/// `fullUrl` and paging links).
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'[' | b']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}{BASE}")
}

// --- CapabilityStatement ---------------------------------------------------------------------

/// `GET /fhir/r4/metadata`: what this server does (public, as FHIR expects).
async fn metadata(headers: HeaderMap) -> Response {
    fhir_json(StatusCode::OK, &capability_statement(&base_url(&headers)))
}

fn param_doc(name: &str) -> Value {
    let (kind, doc) = match name {
        "_id" => ("token", "the resource id"),
        "patient" => (
            "reference",
            "Patient/{id} or {id}: the client the resource is about",
        ),
        "date" => (
            "date",
            "prefix eq, ne, gt, ge, lt, le (default eq) and a date or an instant; repeat for a range. \
             Encounter, Appointment and DocumentReference searches without a date look 366 days \
             back, AuditEvent searches 31 days",
        ),
        "_lastUpdated" => ("date", "as date, on meta.lastUpdated"),
        _ => ("string", ""),
    };
    json!({"name": name, "type": kind, "documentation": doc})
}

fn capability_statement(base: &str) -> Value {
    let resources: Vec<Value> = TYPES
        .iter()
        .map(|t| {
            let mut params: Vec<Value> = search_params(t).iter().map(|p| param_doc(p)).collect();
            params.push(json!({"name": "_count", "type": "number",
                "documentation": "page size, 1–1000 (default 50); the Bundle's next link pages on"}));
            json!({
                "type": t,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": params,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "publisher": "Circle",
        "kind": "instance",
        "software": {"name": "Circle", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Circle group therapy", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Authorization: Bearer token from POST /api/v1/auth/login; \
                every read passes Circle's access gate and is audited.",
            "security": {"service": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "OAuth"}], "text": "bearer token"}]},
            "resource": resources,
            "operation": [{"name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}],
        }],
    })
}

// --- search parameters -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prefix {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A date parameter: the instant range `[start, end)` its value names, and how to compare.
#[derive(Debug, Clone)]
struct DateParam {
    prefix: Prefix,
    start: Timestamp,
    end: Timestamp,
}

impl DateParam {
    fn parse(name: &str, raw: &str) -> FhirResult<Self> {
        let (prefix, value) = match raw.get(..2) {
            Some("eq") => (Prefix::Eq, &raw[2..]),
            Some("ne") => (Prefix::Ne, &raw[2..]),
            Some("gt") => (Prefix::Gt, &raw[2..]),
            Some("ge") => (Prefix::Ge, &raw[2..]),
            Some("lt") => (Prefix::Lt, &raw[2..]),
            Some("le") => (Prefix::Le, &raw[2..]),
            _ => (Prefix::Eq, raw),
        };
        let bad = || {
            FhirError(ApiError::field(
                StatusCode::BAD_REQUEST,
                "bad_query",
                name.to_owned(),
                "must be an optional prefix (eq, ne, gt, ge, lt, le) and a date (YYYY-MM-DD) or an instant with an offset".to_owned(),
            ))
        };
        if let Ok(d) = value.parse::<Date>() {
            let start = d.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| bad())?;
            let end = start.tomorrow().map_err(|_| bad())?;
            return Ok(Self {
                prefix,
                start: start.timestamp(),
                end: end.timestamp(),
            });
        }
        let at: Timestamp = value.parse().map_err(|_| bad())?;
        Ok(Self {
            prefix,
            start: at,
            end: at
                .checked_add(jiff::SignedDuration::from_secs(1))
                .map_err(|_| bad())?,
        })
    }

    fn matches(&self, t: Timestamp) -> bool {
        match self.prefix {
            Prefix::Eq => self.start <= t && t < self.end,
            Prefix::Ne => !(self.start <= t && t < self.end),
            Prefix::Gt => t >= self.end,
            Prefix::Ge => t >= self.start,
            Prefix::Lt => t < self.start,
            Prefix::Le => t < self.end,
        }
    }

    /// The earliest instant a match can have, if bounded below.
    fn lower(&self) -> Option<Timestamp> {
        match self.prefix {
            Prefix::Eq | Prefix::Ge => Some(self.start),
            Prefix::Gt => Some(self.end),
            _ => None,
        }
    }

    /// The instant every match is before, if bounded above.
    fn upper(&self) -> Option<Timestamp> {
        match self.prefix {
            Prefix::Eq | Prefix::Le => Some(self.end),
            Prefix::Lt => Some(self.start),
            _ => None,
        }
    }
}

/// A search's parameters, checked against what the type supports.
#[derive(Debug, Clone, Default)]
pub struct Search {
    ids: Option<BTreeSet<String>>,
    patient: Option<ClientId>,
    dates: Vec<DateParam>,
    last_updated: Vec<DateParam>,
    count: usize,
    offset: usize,
}

const MAX_COUNT: usize = 1000;

impl Search {
    fn parse(kind: &str, query: Option<&str>) -> FhirResult<Self> {
        let allowed = search_params(kind);
        let mut s = Search {
            count: 50,
            ..Search::default()
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "_count" => {
                    s.count = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_COUNT).contains(n))
                        .ok_or_else(|| field("_count", "must be a whole number 1–1000"))?;
                }
                "_offset" => {
                    s.offset = v
                        .parse()
                        .map_err(|_| field("_offset", "must be a whole number"))?;
                }
                "_format" => {
                    if !matches!(v, "json" | "application/json" | "application/fhir+json") {
                        return Err(field("_format", "only json is served"));
                    }
                }
                "_id" if allowed.contains(&"_id") => {
                    let set = s.ids.get_or_insert_with(BTreeSet::new);
                    set.extend(v.split(',').map(str::to_owned));
                }
                "patient" if allowed.contains(&"patient") => {
                    let id = v.strip_prefix("Patient/").unwrap_or(v);
                    s.patient = Some(ClientId(id.parse().map_err(|_| {
                        field("patient", "must be Patient/{id} or {id} with a numeric id")
                    })?));
                }
                "date" if allowed.contains(&"date") => s.dates.push(DateParam::parse(k, v)?),
                "_lastUpdated" if allowed.contains(&"_lastUpdated") => {
                    s.last_updated.push(DateParam::parse(k, v)?);
                }
                other => {
                    return Err(field(
                        other,
                        &format!(
                            "is not a search parameter of {kind} here (supported: {}, _count)",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(s)
    }

    /// The window of instants a date search can match (for gathering sessions).
    fn window(&self, default_from: Timestamp, default_until: Timestamp) -> (Timestamp, Timestamp) {
        let from = self
            .dates
            .iter()
            .filter_map(DateParam::lower)
            .max()
            .unwrap_or(default_from);
        let until = self
            .dates
            .iter()
            .filter_map(DateParam::upper)
            .min()
            .unwrap_or(default_until);
        (from, until)
    }

    /// Whether a resource passes the `_id`, `date` and `_lastUpdated` filters.
    fn keeps(&self, kind: &str, r: &Value) -> bool {
        if let Some(ids) = &self.ids
            && !r["id"].as_str().is_some_and(|id| ids.contains(id))
        {
            return false;
        }
        if !self.dates.is_empty() {
            let Some(t) = resource_date(kind, r) else {
                return false;
            };
            if !self.dates.iter().all(|d| d.matches(t)) {
                return false;
            }
        }
        if !self.last_updated.is_empty() {
            let Some(t) = r["meta"]["lastUpdated"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
            else {
                return false;
            };
            if !self.last_updated.iter().all(|d| d.matches(t)) {
                return false;
            }
        }
        true
    }
}

fn field(name: &str, rule: &str) -> FhirError {
    FhirError(ApiError::field(
        StatusCode::BAD_REQUEST,
        "bad_query",
        name.to_owned(),
        rule.to_owned(),
    ))
}

/// The instant a `date` search compares: when the encounter, appointment, observation or
/// response happened, or the day an episode started (UTC midnight).
pub(crate) fn resource_date(kind: &str, r: &Value) -> Option<Timestamp> {
    let text = match kind {
        "Encounter" | "EpisodeOfCare" => r["period"]["start"].as_str()?,
        "Appointment" => r["start"].as_str()?,
        "Observation" => r["effectiveDateTime"].as_str()?,
        "QuestionnaireResponse" => r["authored"].as_str()?,
        "ServiceRequest" => r["authoredOn"].as_str()?,
        "Consent" => r["dateTime"].as_str()?,
        "DocumentReference" => r["date"].as_str()?,
        "AuditEvent" => r["recorded"].as_str()?,
        _ => return None,
    };
    text.parse::<Timestamp>().ok().or_else(|| {
        text.parse::<Date>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

// --- handlers --------------------------------------------------------------------------------

async fn search(
    State(app): State<App>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
    FhirAuth(actor): FhirAuth,
) -> FhirResult<Response> {
    check_type(&kind)?;
    let params = Search::parse(&kind, query.as_deref())?;
    let mut reader = Reader::new(&app, &actor);
    let all: Vec<Value> = reader
        .gather(&kind, &params)
        .await?
        .into_iter()
        .filter(|r| params.keeps(&kind, r))
        .collect();
    let base = base_url(&headers);
    Ok(fhir_json(
        StatusCode::OK,
        &bundle(&base, &kind, query.as_deref(), &params, all),
    ))
}

async fn read(
    State(app): State<App>,
    Path((kind, id)): Path<(String, String)>,
    FhirAuth(actor): FhirAuth,
) -> FhirResult<Response> {
    check_type(&kind)?;
    let mut reader = Reader::new(&app, &actor);
    let r = reader.read(&kind, &id).await?;
    Ok(fhir_json(StatusCode::OK, &r))
}

fn check_type(kind: &str) -> FhirResult<()> {
    if TYPES.contains(&kind) {
        Ok(())
    } else {
        Err(DomainError::not_found("resource type").into())
    }
}

/// A searchset Bundle of one page, with `self` and (when more remain) `next` links.
fn bundle(base: &str, kind: &str, query: Option<&str>, params: &Search, all: Vec<Value>) -> Value {
    let total = all.len();
    let link_with_offset = |offset: usize| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if k != "_offset" && k != "_count" {
                q.append_pair(&k, &v);
            }
        }
        q.append_pair("_count", &params.count.to_string());
        q.append_pair("_offset", &offset.to_string());
        format!("{base}/{kind}?{}", q.finish())
    };
    let mut links = vec![json!({"relation": "self", "url": link_with_offset(params.offset)})];
    if params.offset + params.count < total {
        links.push(
            json!({"relation": "next", "url": link_with_offset(params.offset + params.count)}),
        );
    }
    let entries: Vec<Value> = all
        .into_iter()
        .skip(params.offset)
        .take(params.count)
        .map(|r| {
            let full = format!("{base}/{kind}/{}", r["id"].as_str().unwrap_or_default());
            json!({"fullUrl": full, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !entries.is_empty() {
        b["entry"] = Value::Array(entries);
    }
    b
}

// --- reading through the services ------------------------------------------------------------

/// Reads resources for one caller through the services, remembering which clients are
/// protected by Part 2 (so each is looked up once per request).
pub struct Reader<'a> {
    app: &'a App,
    actor: &'a Actor,
    part2: HashMap<ClientId, bool>,
}

/// The most pages of 200 a listing is followed through (200,000 rows): a bound, not a
/// clinic's expected size.
const MAX_PAGES: usize = 1000;

/// The audit trail in sequence order, a page of 1,000 at a time.
fn audit_query() -> circle_app::audit_types::AuditQuery {
    circle_app::audit_types::AuditQuery {
        from: None,
        until: None,
        actor: None,
        client: None,
        action: None,
        outcome: None,
        sort: circle_app::audit_types::AuditSort::Seq,
        descending: false,
        offset: 0,
        limit: 1000,
    }
}

fn parse_id<T>(id: &str, wrap: impl Fn(i64) -> T) -> FhirResult<T> {
    id.parse::<i64>()
        .map(wrap)
        .map_err(|_| DomainError::not_found("resource").into())
}

/// `{a}.{b}` ids of resources owned by a client or a session.
fn parse_pair(id: &str) -> FhirResult<(i64, i64)> {
    let (a, b) = id
        .split_once('.')
        .ok_or_else(|| FhirError::from(DomainError::not_found("resource")))?;
    Ok((parse_id(a, |x| x)?, parse_id(b, |x| x)?))
}

impl<'a> Reader<'a> {
    pub fn new(app: &'a App, actor: &'a Actor) -> Self {
        Self {
            app,
            actor,
            part2: HashMap::new(),
        }
    }

    /// Whether a client's records are protected by 42 CFR Part 2 (a substance-use
    /// concern). When the caller cannot read the client's record, the answer is yes: a
    /// label too many is safe, one too few is not.
    pub async fn is_part2(&mut self, client: ClientId) -> bool {
        if let Some(p) = self.part2.get(&client) {
            return *p;
        }
        let p = match self.app.client(self.actor, client).await {
            Ok(c) => c.concerns.contains(&Concern::SubstanceUse),
            Err(_) => true,
        };
        self.part2.insert(client, p);
        p
    }

    async fn labelled(&mut self, client: ClientId, mut r: Value) -> Value {
        if self.is_part2(client).await {
            map::label_part2(&mut r);
        }
        r
    }

    /// One resource by id.
    pub async fn read(&mut self, kind: &str, id: &str) -> FhirResult<Value> {
        let (app, actor) = (self.app, self.actor);
        let not_found = || FhirError::from(DomainError::not_found("resource"));
        let today = app.today();
        Ok(match kind {
            "Patient" => {
                let c = app.client(actor, parse_id(id, ClientId)?).await?;
                self.part2
                    .insert(c.id, c.concerns.contains(&Concern::SubstanceUse));
                self.labelled(c.id, map::patient(&c)).await
            }
            "EpisodeOfCare" => {
                let (c, e) = parse_pair(id)?;
                let ep = app
                    .episodes(actor, ClientId(c))
                    .await?
                    .into_iter()
                    .find(|x| x.id.0 == e)
                    .ok_or_else(not_found)?;
                self.labelled(ep.client_id, map::episode_of_care(&ep)).await
            }
            "Group" => {
                let g = app.group(actor, parse_id(id, GroupId)?).await?;
                let members = self.members_if_reached(g.id).await?;
                map::group(&g, members.as_deref(), today)
            }
            "CareTeam" => map::care_team(&app.group(actor, parse_id(id, GroupId)?).await?),
            "Encounter" => {
                if let Ok((s, c)) = parse_pair(id) {
                    let (session, telehealth) = self.session(SessionId(s)).await?;
                    let a = app
                        .attendance(actor, session.id)
                        .await?
                        .into_iter()
                        .find(|a| a.client_id.0 == c && a.status.attended())
                        .ok_or_else(not_found)?;
                    let r = map::member_encounter(&session, &a, telehealth);
                    self.labelled(a.client_id, r).await
                } else {
                    let sid = parse_id(id, SessionId)?;
                    // The session's encounter needs the same right as its attendance.
                    app.attendance(actor, sid).await?;
                    let (session, telehealth) = self.session(sid).await?;
                    map::session_encounter(&session, telehealth)
                }
            }
            "Appointment" => map::appointment(&app.session(actor, parse_id(id, SessionId)?).await?),
            "Observation" | "QuestionnaireResponse" => {
                let (c, r) = parse_pair(id)?;
                let list = self.measure_resources(kind, ClientId(c)).await?;
                list.into_iter()
                    .find(|x| x["id"].as_str() == Some(id))
                    .filter(|_| r > 0)
                    .ok_or_else(not_found)?
            }
            "Questionnaire" => map::questionnaire(&app.instrument(actor, id).await?),
            "Practitioner" => {
                map::practitioner(&app.clinician(actor, parse_id(id, ClinicianId)?).await?)
            }
            "Location" => map::location(&app.room(actor, parse_id(id, RoomId)?).await?),
            "HealthcareService" => {
                map::healthcare_service(&app.program(actor, parse_id(id, ProgramId)?).await?)
            }
            "Organization" if id == map::CLINIC_ID => map::organization(app.clinic_identity()),
            "PractitionerRole" => {
                map::practitioner_role(&app.clinician(actor, parse_id(id, ClinicianId)?).await?)
            }
            "ServiceRequest" => {
                let r = app.referral(actor, parse_id(id, |x| x)?).await?;
                self.referral_resource(&r).await
            }
            "Consent" => {
                let (c, rest) = id.split_once('.').ok_or_else(not_found)?;
                let client = parse_id(c, ClientId)?;
                self.consents(client)
                    .await?
                    .into_iter()
                    .find(|x| x["id"].as_str() == Some(id))
                    .filter(|_| !rest.is_empty())
                    .ok_or_else(not_found)?
            }
            "DocumentReference" => {
                let (sid, client) = match id.split_once('.') {
                    Some((s, c)) => (parse_id(s, SessionId)?, Some(parse_id(c, ClientId)?)),
                    None => (parse_id(id, SessionId)?, None),
                };
                let session = app.session(actor, sid).await?;
                self.notes_of(&session, client, client.is_none())
                    .await?
                    .into_iter()
                    .find(|x| x["id"].as_str() == Some(id))
                    .ok_or_else(not_found)?
            }
            "AuditEvent" => {
                // The trail's sequence numbers run 1, 2, 3…: entry n is at offset n - 1.
                let seq: i64 = parse_id(id, |x| x)?;
                let q = circle_app::audit_types::AuditQuery {
                    offset: u32::try_from(seq - 1).map_err(|_| not_found())?,
                    limit: 1,
                    ..audit_query()
                };
                app.audit_events(actor, &q)
                    .await?
                    .iter()
                    .find(|e| e.seq == seq)
                    .map(map::audit_event)
                    .ok_or_else(not_found)?
            }
            _ => return Err(not_found()),
        })
    }

    /// Every resource of a type the caller may see (narrowed to one patient when the search
    /// names one), before the generic filters.
    pub async fn gather(&mut self, kind: &str, s: &Search) -> FhirResult<Vec<Value>> {
        let (app, actor) = (self.app, self.actor);
        let today = app.today();
        Ok(match kind {
            "Patient" => {
                let mut out = vec![];
                for c in self.patients(None).await? {
                    let c = app.client(actor, c).await?;
                    self.part2
                        .insert(c.id, c.concerns.contains(&Concern::SubstanceUse));
                    out.push(self.labelled(c.id, map::patient(&c)).await);
                }
                out
            }
            "EpisodeOfCare" => {
                let mut out = vec![];
                for c in self.patients(s.patient).await? {
                    for e in app.episodes(actor, c).await? {
                        out.push(self.labelled(c, map::episode_of_care(&e)).await);
                    }
                }
                out
            }
            "Observation" | "QuestionnaireResponse" => {
                let mut out = vec![];
                for c in self.patients(s.patient).await? {
                    out.extend(self.measure_resources(kind, c).await?);
                }
                out
            }
            "Group" | "CareTeam" => {
                let mut out = vec![];
                for g in self.groups().await? {
                    if kind == "CareTeam" {
                        out.push(map::care_team(&g));
                    } else {
                        let members = self.members_if_reached(g.id).await?;
                        out.push(map::group(&g, members.as_deref(), today));
                    }
                }
                out
            }
            "Encounter" => self.encounters(s).await?,
            "Appointment" => {
                let mut out = vec![];
                for g in self.groups().await? {
                    for session in self.sessions_in(g.id, s).await? {
                        out.push(map::appointment(&session));
                    }
                }
                out
            }
            "Questionnaire" => app
                .list_instruments(actor)
                .await?
                .iter()
                .map(map::questionnaire)
                .collect(),
            "Practitioner" => {
                let mut out = vec![];
                let mut page = PageRequest {
                    after: 0,
                    limit: 200,
                };
                for _ in 0..MAX_PAGES {
                    let p = app.list_clinicians(actor, page).await?;
                    out.extend(p.items.iter().map(map::practitioner));
                    match p.next_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                out
            }
            "Location" => {
                let mut out = vec![];
                let mut page = PageRequest {
                    after: 0,
                    limit: 200,
                };
                for _ in 0..MAX_PAGES {
                    let p = app.list_rooms(actor, page).await?;
                    out.extend(p.items.iter().map(map::location));
                    match p.next_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                out
            }
            "HealthcareService" => {
                let mut out = vec![];
                let mut page = PageRequest {
                    after: 0,
                    limit: 200,
                };
                for _ in 0..MAX_PAGES {
                    let p = app.list_programs(actor, page).await?;
                    out.extend(p.items.iter().map(map::healthcare_service));
                    match p.next_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                out
            }
            "Organization" => {
                // The clinic is no secret, but only signed-in staff and clients ask.
                vec![map::organization(app.clinic_identity())]
            }
            "PractitionerRole" => {
                let mut out = vec![];
                let mut page = PageRequest {
                    after: 0,
                    limit: 200,
                };
                for _ in 0..MAX_PAGES {
                    let p = app.list_clinicians(actor, page).await?;
                    out.extend(p.items.iter().map(map::practitioner_role));
                    match p.next_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                out
            }
            "ServiceRequest" => {
                let mut out = vec![];
                let mut page = PageRequest {
                    after: 0,
                    limit: 200,
                };
                for _ in 0..MAX_PAGES {
                    let p = app.list_referrals(actor, None, page).await?;
                    for r in &p.items {
                        if s.patient.is_none() || r.client_id == s.patient {
                            out.push(self.referral_resource(r).await);
                        }
                    }
                    match p.next_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                out
            }
            "Consent" => {
                let mut out = vec![];
                for c in self.patients(s.patient).await? {
                    out.extend(self.consents(c).await?);
                }
                out
            }
            "DocumentReference" => self.documents(s).await?,
            "AuditEvent" => self.audit_events(s).await?,
            _ => vec![],
        })
    }

    /// The clients a search covers: the one named (its gate decides), the caller
    /// themself for a client, or the caller's listing (caseload, programs, clinic).
    pub async fn patients(&mut self, named: Option<ClientId>) -> FhirResult<Vec<ClientId>> {
        let (app, actor) = (self.app, self.actor);
        if let Some(c) = named {
            return Ok(vec![c]);
        }
        if let Some(own) = actor.client_id() {
            return Ok(vec![own]);
        }
        let mut out = vec![];
        let mut page = PageRequest {
            after: 0,
            limit: 200,
        };
        for _ in 0..MAX_PAGES {
            let p = app.list_clients(actor, page).await?;
            out.extend(p.items.iter().map(|c| c.id));
            for c in &p.items {
                self.part2
                    .insert(c.id, c.concerns.contains(&Concern::SubstanceUse));
            }
            match p.next_after {
                Some(after) => page.after = after,
                None => break,
            }
        }
        Ok(out)
    }

    async fn groups(&self) -> FhirResult<Vec<circle_domain::group::Group>> {
        let mut out = vec![];
        let mut page = PageRequest {
            after: 0,
            limit: 200,
        };
        for _ in 0..MAX_PAGES {
            let p = self.app.list_groups(self.actor, None, page).await?;
            out.extend(p.items);
            match p.next_after {
                Some(after) => page.after = after,
                None => break,
            }
        }
        Ok(out)
    }

    /// A group's members when the caller may see them (the gate's own answer), else none:
    /// a group's design facts are wider than its roster.
    async fn members_if_reached(
        &self,
        group: GroupId,
    ) -> FhirResult<Option<Vec<circle_domain::membership::GroupMember>>> {
        if !self.actor.reaches_group::<purpose::GroupMemberships>(group) {
            return Ok(None);
        }
        Ok(Some(self.app.group_members(self.actor, group).await?))
    }

    /// A session and whether its group meets by telehealth.
    async fn session(&self, id: SessionId) -> FhirResult<(Session, bool)> {
        let s = self.app.session(self.actor, id).await?;
        let g = self.app.group(self.actor, s.group_id).await?;
        Ok((s, g.is_telehealth()))
    }

    /// A group's sessions in the search's date window (366 days back to tomorrow when it
    /// names none).
    async fn sessions_in(&self, group: GroupId, s: &Search) -> FhirResult<Vec<Session>> {
        let now = self.app.now();
        let day = jiff::SignedDuration::from_hours(24);
        let (from, until) = s.window(
            now.checked_sub(day * 366).unwrap_or(now),
            now.checked_add(day).unwrap_or(now),
        );
        let tz = self.app.clinic_time_zone().clone();
        let mut from_d = from
            .to_zoned(tz.clone())
            .date()
            .yesterday()
            .unwrap_or(Date::MIN);
        let until_d = until.to_zoned(tz).date().tomorrow().unwrap_or(Date::MAX);
        let mut out = vec![];
        while from_d < until_d {
            let next = from_d
                .checked_add(jiff::Span::new().days(366))
                .unwrap_or(until_d)
                .min(until_d);
            out.extend(self.app.sessions(self.actor, group, from_d, next).await?);
            from_d = next;
        }
        Ok(out)
    }

    /// Encounters: a named patient's own (one per attended session of their groups), or
    /// for every group whose attendance the caller may read, each session's Encounter and
    /// its attending members'.
    async fn encounters(&mut self, s: &Search) -> FhirResult<Vec<Value>> {
        let (app, actor) = (self.app, self.actor);
        if !actor.may::<purpose::AttendanceRead>() {
            return Err(DomainError::Forbidden.into());
        }
        let mut out = vec![];
        let groups: Vec<(GroupId, bool)> = match s.patient {
            Some(c) => {
                let mut gs = vec![];
                for m in app.client_memberships(actor, c).await? {
                    if !gs.iter().any(|(g, _)| *g == m.group_id) {
                        let g = app.group(actor, m.group_id).await?;
                        gs.push((g.id, g.is_telehealth()));
                    }
                }
                gs
            }
            None => self
                .groups()
                .await?
                .iter()
                .map(|g| (g.id, g.is_telehealth()))
                .collect(),
        };
        for (g, telehealth) in groups {
            if !actor.reaches_group::<purpose::AttendanceRead>(g) {
                continue;
            }
            for session in self.sessions_in(g, s).await? {
                if session.status != circle_domain::session::SessionStatus::Held {
                    continue;
                }
                let attendance = app.attendance(actor, session.id).await?;
                if s.patient.is_none() {
                    out.push(map::session_encounter(&session, telehealth));
                }
                for a in attendance {
                    if !a.status.attended() || s.patient.is_some_and(|p| p != a.client_id) {
                        continue;
                    }
                    let r = map::member_encounter(&session, &a, telehealth);
                    out.push(self.labelled(a.client_id, r).await);
                }
            }
        }
        Ok(out)
    }

    /// A referral as a ServiceRequest, labelled when its client is protected by Part 2
    /// (or when no client is linked yet: its reason may name substance use, and a label too
    /// many is safe).
    async fn referral_resource(&mut self, r: &circle_domain::intake::Referral) -> Value {
        let v = map::service_request(r);
        match r.client_id {
            Some(c) => self.labelled(c, v).await,
            None => {
                let mut v = v;
                map::label_part2(&mut v);
                v
            }
        }
    }

    /// A client's consents: each signed group agreement and each Part 2 consent.
    async fn consents(&mut self, client: ClientId) -> FhirResult<Vec<Value>> {
        let c = self.app.consents(self.actor, client).await?;
        let mut out = vec![];
        for a in &c.group_agreements {
            out.push(self.labelled(client, map::agreement_consent(a)).await);
        }
        for p in &c.part2 {
            out.push(self.labelled(client, map::part2_consent(p)).await);
        }
        Ok(out)
    }

    /// A session's signed notes as DocumentReferences: its group note (when `group_note`)
    /// and its members' progress notes (only `client`'s when given). Only a caller who may
    /// read the notes gets them at all, so the text goes only where the notes' gate lets
    /// it; drafts and notes awaiting a co-signature are not documents yet.
    async fn notes_of(
        &mut self,
        session: &Session,
        client: Option<ClientId>,
        group_note: bool,
    ) -> FhirResult<Vec<Value>> {
        use circle_domain::note::NoteState;
        let (app, actor) = (self.app, self.actor);
        let mut out = vec![];
        if group_note {
            match app.group_note(actor, session.id).await {
                Ok(n) if n.meta.state == NoteState::Signed => {
                    out.push(map::group_note_document(&n, session.group_id));
                }
                Ok(_) | Err(AppError::Domain(DomainError::NotFound { .. })) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for n in app.progress_notes(actor, session.id).await? {
            if n.meta.state != NoteState::Signed || client.is_some_and(|c| c != n.client_id) {
                continue;
            }
            let v = map::progress_note_document(&n);
            out.push(self.labelled(n.client_id, v).await);
        }
        Ok(out)
    }

    /// Signed notes of the held sessions in the search's window, for the groups whose
    /// notes the caller may read (a named patient: their groups, their progress notes).
    async fn documents(&mut self, s: &Search) -> FhirResult<Vec<Value>> {
        let (app, actor) = (self.app, self.actor);
        if !actor.may::<purpose::NoteRead>() {
            return Err(DomainError::Forbidden.into());
        }
        let groups: Vec<GroupId> = match s.patient {
            Some(c) => {
                let mut gs: Vec<GroupId> = app
                    .client_memberships(actor, c)
                    .await?
                    .iter()
                    .map(|m| m.group_id)
                    .collect();
                gs.sort();
                gs.dedup();
                gs
            }
            None => self.groups().await?.iter().map(|g| g.id).collect(),
        };
        let mut out = vec![];
        for g in groups {
            if !actor.reaches_group::<purpose::NoteRead>(g) {
                continue;
            }
            for session in self.sessions_in(g, s).await? {
                if session.status != circle_domain::session::SessionStatus::Held {
                    continue;
                }
                out.extend(
                    self.notes_of(&session, s.patient, s.patient.is_none())
                        .await?,
                );
            }
        }
        Ok(out)
    }

    /// The audit trail in the search's window (31 days back when it names none), newest
    /// first, for administrators; a named patient narrows it to entries about them.
    async fn audit_events(&mut self, s: &Search) -> FhirResult<Vec<Value>> {
        let now = self.app.now();
        let day = jiff::SignedDuration::from_hours(24);
        let (from, until) = s.window(
            now.checked_sub(day * 31).unwrap_or(now),
            now.checked_add(day).unwrap_or(now),
        );
        let mut out = vec![];
        let mut q = circle_app::audit_types::AuditQuery {
            from: Some(from),
            until: Some(until),
            client: s.patient,
            ..audit_query()
        };
        for _ in 0..MAX_PAGES {
            let page = self.app.audit_events(self.actor, &q).await?;
            out.extend(page.iter().map(map::audit_event));
            if page.len() < q.limit as usize {
                break;
            }
            q.offset += q.limit;
        }
        Ok(out)
    }

    /// A client's Observations or QuestionnaireResponses, one per administration.
    async fn measure_resources(&mut self, kind: &str, client: ClientId) -> FhirResult<Vec<Value>> {
        let (app, actor) = (self.app, self.actor);
        let responses = app.measures(actor, client).await?;
        let mut instruments: HashMap<String, circle_domain::measure::InstrumentView> =
            HashMap::new();
        let mut out = vec![];
        for r in &responses {
            if !instruments.contains_key(&r.instrument) {
                match app.instrument(actor, &r.instrument).await {
                    Ok(i) => {
                        instruments.insert(r.instrument.clone(), i);
                    }
                    // An instrument the caller may not see is left out with its responses.
                    Err(AppError::Domain(DomainError::NotFound { .. })) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(i) = instruments.get(&r.instrument) else {
                continue;
            };
            let v = if kind == "Observation" {
                map::observation(r, i)
            } else {
                map::questionnaire_response(r, i)
            };
            out.push(self.labelled(client, v).await);
        }
        Ok(out)
    }
}
