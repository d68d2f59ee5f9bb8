//! The planner: runs, progress, proposals, approval.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
