//! Hostile conditions: servers that throttle, fail, hang, cut answers short or never answer;
//! absurd durations and lifetimes; bad input refused before any network call; secrets kept out
//! of every `Debug`, `Display`, error and log line. `reply_size.rs` and `secret_hygiene.rs` are
//! binaries of their own: one installs a counting global allocator, the other captures every log
//! line of its flows, which other tests' threads in the same process would blur.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod call_deadline;
mod entra;
mod mock_server_drop;
mod powerbi;
mod saturating_time;
