//! RESP2, the Redis protocol, as a pure codec: no I/O, no runtime.
//!
//! Replies are built as [`Reply`] values and appended to the connection's
//! output as bytes.

mod reply;

pub use reply::Reply;
