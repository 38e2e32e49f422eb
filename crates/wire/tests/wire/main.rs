//! The one integration test binary of jitgate-wire.

// Test helpers outside #[test] functions panic on purpose when a fixture or strategy is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod captured;
mod render;
mod roundtrip;
