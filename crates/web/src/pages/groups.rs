//! Programs and groups: seats, schedule, facilitators, memberships.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
