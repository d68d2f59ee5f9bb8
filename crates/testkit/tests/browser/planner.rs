//! Browser tests: planner pages.

#[allow(unused_imports)]
use super::*;
