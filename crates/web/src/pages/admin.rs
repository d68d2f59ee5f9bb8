//! Administration: users, roles, MFA reset, the audit report, emergency-access review.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
