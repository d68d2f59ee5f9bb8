//! Reports: weekly hours compliance, diagnoses, and the billing export (CSV).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use circle_app::App;
use circle_domain::billing::{BillingLine, DiagnosesInput, DiagnosisCode, spreadsheet_safe};
use circle_domain::compliance::ClientWeek;
use circle_domain::ids::{ClientId, ProgramId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

/// Which week, and optionally which program.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Any date in the week (Monday to Sunday); default this week.
    #[param(value_type = Option<String>, format = Date)]
    pub week: Option<jiff::civil::Date>,
    pub program_id: Option<i64>,
}

/// Weekly group hours per client against their level's requirement, flagged during the
/// week ("6 h attended, 9 h required, 2 sessions left"); those at risk first. Directors
/// see every client, a clinician their caseload.
#[utoipa::path(get, path = "/api/v1/compliance", tag = "reports", params(ComplianceQuery),
    responses((status = 200, body = Vec<ClientWeek>), Errors), security(("bearer" = [])))]
pub async fn compliance(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<ComplianceQuery>,
) -> Result<Json<Vec<ClientWeek>>, ApiError> {
    Ok(Json(
        app.compliance(&a, q.week, q.program_id.map(ProgramId))
            .await?,
    ))
}

/// A client's diagnosis codes (ICD-10-CM), primary first.
#[utoipa::path(get, path = "/api/v1/clients/{id}/diagnoses", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<DiagnosisCode>), Errors), security(("bearer" = [])))]
pub async fn get_diagnoses(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<DiagnosisCode>>, ApiError> {
    Ok(Json(app.diagnoses(&a, ClientId(id)).await?))
}

/// Replace a client's diagnosis codes (at most 12, none repeated, primary first).
#[utoipa::path(put, path = "/api/v1/clients/{id}/diagnoses", tag = "clients", params(("id" = i64, Path)),
    request_body = DiagnosesInput, responses((status = 200, body = Vec<DiagnosisCode>), Errors), security(("bearer" = [])))]
pub async fn set_diagnoses(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DiagnosesInput>,
) -> Result<Json<Vec<DiagnosisCode>>, ApiError> {
    Ok(Json(app.set_diagnoses(&a, ClientId(id), &body).await?))
}

/// The service dates to export, inclusive, and optionally one program.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(value_type = String, format = Date)]
    pub from: jiff::civil::Date,
    #[param(value_type = String, format = Date)]
    pub until: jiff::civil::Date,
    pub program_id: Option<i64>,
}

const CSV_HEADER: [&str; 15] = [
    "line_type",
    "client_record_number",
    "service_date",
    "program",
    "group",
    "rendering_clinician",
    "rendering_license",
    "code",
    "minutes",
    "diagnosis_codes",
    "session_id",
    "rendering_npi",
    "place_of_service",
    "modifier",
    "billable",
];

/// The billing export (directors): one line per attending member per session with a
/// signed progress note (the program's code, CPT 90853 by default, with the member's own
/// diagnoses), plus per-diem lines (S9480 / H0015 / H0035) for days meeting the program's
/// daily minimum. Each line carries the rendering clinician's NPI, the CMS place of
/// service (the program's; 10 or 02 by telehealth, with modifier 95) and whether it is
/// billable (a session line on a per-diem day only when the program bills both).
/// Audited as one `billing.export` naming every client in it.
#[utoipa::path(get, path = "/api/v1/billing/export", tag = "reports", params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "CSV with a header row"), Errors),
    security(("bearer" = [])))]
pub async fn billing_export(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let lines = app
        .billing_export(&a, q.from, q.until, q.program_id.map(ProgramId))
        .await?;
    let body = to_csv(&lines).map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    let name = format!(
        "attachment; filename=\"circle-billing-{}-{}.csv\"",
        q.from, q.until
    );
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The service dates of a claim file, inclusive (`to` is accepted for `until`), and
/// optionally one program.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClaimQuery {
    #[param(value_type = String, format = Date)]
    pub from: jiff::civil::Date,
    #[serde(alias = "to")]
    #[param(value_type = String, format = Date)]
    pub until: jiff::civil::Date,
    pub program_id: Option<i64>,
}

/// The X12 837P professional claim file (005010X222A1) for the billable lines of the
/// billing export (directors): one claim per client, program and service date, the clinic
/// as billing provider, each session's rendering clinician by NPI, POS per line and
/// modifier 95 on telehealth. Circle records no insurance, so the interchange is marked
/// as test data for a clearinghouse to complete. Audited as one `billing.export` naming
/// every client in it; 422 naming the setting when the clinic's NPI, EIN or address is
/// missing, or the field when a line cannot be claimed.
#[utoipa::path(get, path = "/api/v1/billing/837p", tag = "reports", params(ClaimQuery),
    responses((status = 200, content_type = "application/edi-x12", body = String, description = "An X12 837P interchange"), Errors),
    security(("bearer" = [])))]
pub async fn claim_file_837p(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<ClaimQuery>,
) -> Result<Response, ApiError> {
    let body = app
        .claim_file_837p(&a, q.from, q.until, q.program_id.map(ProgramId))
        .await?;
    Ok(claim_response(body, q.from, q.until))
}

/// A claim file as a download (the API and the billing page).
pub(crate) fn claim_response(
    body: String,
    from: jiff::civil::Date,
    until: jiff::civil::Date,
) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/edi-x12"),
    );
    // Dates print as YYYY-MM-DD: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"circle-837p-{from}-{until}.x12\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(crate) fn to_csv(lines: &[BillingLine]) -> Result<String, csv::Error> {
    // RFC 4180: CRLF line ends; every field quoted, so a `;` or `,` inside a name never
    // splits a cell in a spreadsheet that guesses its delimiter.
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for l in lines {
        let date = l.service_date.to_string();
        let minutes = l.minutes.to_string();
        let session = l.session_id.map(|s| s.to_string()).unwrap_or_default();
        w.write_record([
            l.kind.as_str(),
            &spreadsheet_safe(&l.record_number),
            &date,
            &spreadsheet_safe(&l.program),
            &spreadsheet_safe(&l.group),
            &spreadsheet_safe(&l.rendering_clinician),
            &spreadsheet_safe(&l.rendering_license),
            &l.code,
            &minutes,
            &l.diagnosis_codes,
            &session,
            &l.rendering_npi,
            l.place_of_service.as_str(),
            &l.modifier,
            if l.billable { "yes" } else { "no" },
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field written was a Rust string, so the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use circle_domain::billing::LineKind;
    use circle_domain::program::PlaceOfService;

    #[test]
    fn the_csv_quotes_every_field_ends_lines_with_crlf_and_defuses_formulas() {
        let line = BillingLine {
            kind: LineKind::Session,
            record_number: "R-1".to_owned(),
            service_date: jiff::civil::date(2026, 5, 4),
            program: "Adult PHP".to_owned(),
            group: "PHP;=1+1".to_owned(),
            rendering_clinician: "Doe, Jo".to_owned(),
            rendering_license: "lmhc MA L-1".to_owned(),
            rendering_npi: "1234567893".to_owned(),
            code: "G0410".to_owned(),
            modifier: "95".to_owned(),
            place_of_service: PlaceOfService::Telehealth10,
            minutes: 50,
            diagnosis_codes: "F33.1".to_owned(),
            session_id: Some(7),
            billable: false,
            claim: Default::default(),
        };
        let csv = to_csv(&[line]).unwrap_or_default();
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(rows.len(), 3, "{csv:?}");
        assert_eq!(rows[2], "");
        assert_eq!(
            rows[1],
            "\"session\",\"R-1\",\"2026-05-04\",\"Adult PHP\",\"'PHP;=1+1\",\"Doe, Jo\",\"lmhc MA L-1\",\"G0410\",\"50\",\"F33.1\",\"7\",\"1234567893\",\"10\",\"95\",\"no\""
        );
    }
}
