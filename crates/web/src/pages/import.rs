//! The administrators' import page (issue 15): the clinic's CSV files uploaded in one
//! multipart form (one file input per kind), checked by a dry run or imported in one
//! transaction by `App::import_clinic`, the service `circle import` calls. The outcome is
//! the page again: every problem by file, row and column, or the counts per kind. Nothing
//! from the files is shown back, and nothing from them is logged.

use askama::Template;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use circle_app::App;
use circle_app::import::{FILES, ImportOutcome, KINDS};

use super::vocab::count;
use super::{Nav, PageError, Signed, html};

/// The largest upload: a clinic's files with a few thousand clients fit well inside it.
const IMPORT_LIMIT: usize = 8 * 1024 * 1024;

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new().route(
        "/admin/import",
        get(form)
            .post(upload)
            .layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
    )
}

struct ProblemRow {
    file: &'static str,
    row: usize,
    column: String,
    message: String,
}

struct OutcomeView {
    heading: String,
    dry_run: bool,
    problems: Vec<ProblemRow>,
    /// (kind, created or to create, already in Circle).
    counts: Vec<(&'static str, usize, usize)>,
}

#[derive(Template)]
#[template(path = "admin_import.html")]
struct ImportPage {
    nav: Option<Nav>,
    csrf: String,
    files: &'static [&'static str],
    dry_run: bool,
    outcome: Option<OutcomeView>,
}

fn page(
    signed: &Signed,
    status: StatusCode,
    dry_run: bool,
    outcome: Option<OutcomeView>,
) -> Response {
    html(
        status,
        ImportPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            files: &FILES,
            dry_run,
            outcome,
        },
    )
}

async fn form(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    app.may_import(&signed.actor).await?;
    Ok(page(&signed, StatusCode::OK, true, None))
}

/// The upload. The body is read as multipart only after the caller was let through, so
/// every other role is refused with 403 whatever it sends.
async fn upload(
    State(app): State<App>,
    signed: Signed,
    request: Request,
) -> Result<Response, PageError> {
    app.may_import(&signed.actor).await?;
    let mut csrf = String::new();
    let mut dry_run = false;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut unreadable = false;
    let mut multipart = match Multipart::from_request(request, &app).await {
        Ok(m) => Some(m),
        Err(_) => {
            unreadable = true;
            None
        }
    };
    while let Some(m) = multipart.as_mut() {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                unreadable = true;
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "dry_run" => dry_run = true,
            _ => {
                let Ok(bytes) = field.bytes().await else {
                    unreadable = true;
                    break;
                };
                // An input left empty still sends a part, with no file in it.
                if !bytes.is_empty() {
                    files.push((name, bytes.to_vec()));
                }
            }
        }
    }
    if !unreadable {
        super::form::check_upload_token(&signed, &csrf)?;
    }
    if unreadable || files.is_empty() {
        let message = if unreadable {
            "The upload could not be read: send the form of this page (multipart), with files \
             of at most 8 MB together."
        } else {
            "Choose at least one file."
        };
        return Ok(page(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            dry_run,
            Some(OutcomeView {
                heading: "Nothing was imported".to_owned(),
                dry_run,
                problems: vec![ProblemRow {
                    file: "(upload)",
                    row: 0,
                    column: String::new(),
                    message: message.to_owned(),
                }],
                counts: Vec::new(),
            }),
        ));
    }
    let outcome = app.import_clinic(&signed.actor, &files, dry_run).await?;
    let status = if outcome.report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(page(&signed, status, dry_run, Some(view(&outcome))))
}

/// The outcome's heading in words with its counts ("1 problem found", "10 records
/// created"; the command's report keeps its own lines).
fn heading(o: &ImportOutcome) -> String {
    let r = &o.report;
    let created = r.created();
    if !r.problems.is_empty() {
        format!(
            "{} found; nothing was written",
            count(r.problems.len(), "problem", "problems")
        )
    } else if created == 0 {
        "Nothing to import: every row is already in Circle; nothing was changed".to_owned()
    } else if o.dry_run {
        format!(
            "Dry run: no problems; {} would be created; nothing was written",
            count(created, "record", "records")
        )
    } else {
        format!(
            "Imported: {} created in one transaction",
            count(created, "record", "records")
        )
    }
}

fn view(o: &ImportOutcome) -> OutcomeView {
    OutcomeView {
        heading: heading(o),
        dry_run: o.dry_run,
        problems: o
            .report
            .problems
            .iter()
            .map(|p| ProblemRow {
                file: p.file,
                row: p.row,
                column: p.column.clone(),
                message: p.message.clone(),
            })
            .collect(),
        counts: KINDS
            .iter()
            .map(|k| {
                let c = o.report.counts.get(k).copied().unwrap_or_default();
                (*k, c.created, c.unchanged)
            })
            .collect(),
    }
}
