//! The status codes edgesip answers with, each with its reason phrase
//! (RFC 3261 §21), so a code and its phrase are written in one place.

/// A status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
}

impl Status {
    const fn new(code: u16, reason: &'static str) -> Status {
        Status { code, reason }
    }
}

pub const OK: Status = Status::new(200, "OK");
pub const BAD_REQUEST: Status = Status::new(400, "Bad Request");
pub const UNAUTHORIZED: Status = Status::new(401, "Unauthorized");
pub const FORBIDDEN: Status = Status::new(403, "Forbidden");
pub const NOT_FOUND: Status = Status::new(404, "Not Found");
pub const INTERVAL_TOO_BRIEF: Status = Status::new(423, "Interval Too Brief");
pub const BAD_EXTENSION: Status = Status::new(420, "Bad Extension");
pub const UNSUPPORTED_URI_SCHEME: Status = Status::new(416, "Unsupported URI Scheme");
pub const LOOP_DETECTED: Status = Status::new(482, "Loop Detected");
pub const TOO_MANY_HOPS: Status = Status::new(483, "Too Many Hops");
pub const NOT_ACCEPTABLE_HERE: Status = Status::new(488, "Not Acceptable Here");
pub const SERVER_INTERNAL_ERROR: Status = Status::new(500, "Server Internal Error");
pub const SERVICE_UNAVAILABLE: Status = Status::new(503, "Service Unavailable");
pub const VERSION_NOT_SUPPORTED: Status = Status::new(505, "Version Not Supported");
pub const MESSAGE_TOO_LARGE: Status = Status::new(513, "Message Too Large");
