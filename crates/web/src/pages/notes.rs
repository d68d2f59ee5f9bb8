//! Notes on the session screen: group note, progress notes, signatures, addenda, drafts.

use axum::Router;
use circle_app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
