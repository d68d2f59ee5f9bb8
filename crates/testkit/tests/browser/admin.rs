//! Browser tests: admin pages.

#[allow(unused_imports)]
use super::*;
