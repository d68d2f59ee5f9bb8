//! FHIR Bulk Data export (`$export`): to come.

use axum::Router;
use circle_app::App;

pub fn router() -> Router<App> {
    Router::new()
}
