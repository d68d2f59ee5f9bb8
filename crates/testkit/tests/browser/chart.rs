//! Browser tests: chart pages.

#[allow(unused_imports)]
use super::*;
