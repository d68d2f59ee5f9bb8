//! Browser tests: portal pages.

#[allow(unused_imports)]
use super::*;
