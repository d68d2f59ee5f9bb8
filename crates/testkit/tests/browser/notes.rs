//! Browser tests: notes pages.

#[allow(unused_imports)]
use super::*;
