//! Intake: referrals, screening, consents, placement suggestions, waitlist and offers.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
