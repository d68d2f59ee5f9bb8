//! The calendar: a week per program, clinician or room.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
