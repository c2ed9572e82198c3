//! SIP wire layer.
