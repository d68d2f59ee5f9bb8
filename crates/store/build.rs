//! `sqlx::migrate!` reads the migration files at compile time, but on stable Rust a proc
//! macro cannot tell Cargo which files it read: without this, a new migration is not
//! embedded until some source file of this crate changes (sqlx's documented remedy).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
