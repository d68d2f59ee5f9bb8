//! The client list and the client chart.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
