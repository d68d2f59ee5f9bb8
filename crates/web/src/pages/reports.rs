//! Reports: census, attendance, compliance, outcomes, billing export.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
