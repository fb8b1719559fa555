//! RESP2, the Redis protocol, as a pure codec: no I/O, no runtime.
//!
//! A connection's bytes go into a [`RequestDecoder`], which hands back each
//! command as its list of arguments; replies are built as [`Reply`] values
//! and appended to the connection's output as bytes. Both request forms
//! Redis accepts are decoded: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`,
//! what every client library, `redis-cli` and `redis-benchmark` send) and
//! inline (`GET k\r\n`, what a person types into telnet).
//!
//! The decoder's invariants, relied on by the server above it:
//!
//! - **Split reads do not matter.** The commands decoded from a byte stream,
//!   and the error that ends it if any, are the same however the stream is
//!   cut into `feed` calls.
//! - **Lengths are checked before allocation.** An argument count, a bulk
//!   length or a line longer than its [`Limits`] is refused as soon as its
//!   header is buffered; no buffer is sized from a number the peer sent
//!   beyond what the peer has already sent.
//! - **Work is linear in bytes received.** A partly received command is not
//!   scanned again from its start on each call, nor is its payload copied
//!   again.
//! - **An error is final.** After a [`ProtocolError`] the stream has lost
//!   its framing; the decoder returns the same error from then on, and the
//!   server answers `-ERR Protocol error: ...` and closes the connection, as
//!   Redis does.

mod error;
mod inline;
mod reply;
mod request;

pub use error::ProtocolError;
pub use reply::Reply;
pub use request::{Limits, RequestDecoder};
