//! Browser tests: intake pages.

#[allow(unused_imports)]
use super::*;
