//! Public pages: the directory of groups open to self-referral and the referral form for outside therapists.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
