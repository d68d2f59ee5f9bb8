//! The client portal: own groups and schedule, the group agreement, check-ins, the calendar feed.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
