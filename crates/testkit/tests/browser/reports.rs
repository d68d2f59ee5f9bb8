//! Browser tests: reports pages.

#[allow(unused_imports)]
use super::*;
