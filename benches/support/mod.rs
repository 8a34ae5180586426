//! What the benches share: the fixed-response loopback server, the counting allocator and the
//! fixtures. Each bench uses part of it.
#![allow(dead_code)]

pub mod counting_alloc;
pub mod fixed_server;
pub mod fixtures;
