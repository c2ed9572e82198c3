//! Runs whole calls through the real `Proxy::handle`, with no sockets: the
//! driver for instruction counts and profiles of the core alone.
//!
//!   calls 1leg|2legs|2legs_nat [CALLS]
//!   valgrind --tool=callgrind target/release/calls 2legs 20000
//!
//! Prints the number of messages handled; divide the profiler's total by it.

use edgesip_bench::{Legs, Scenario, STEPS};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "2legs".into());
    let calls: usize = args.next().map_or(10_000, |n| n.parse().expect("CALLS"));
    let (legs, nat) = match which.as_str() {
        "1leg" => (Legs::One, false),
        "2legs" => (Legs::Two, false),
        "2legs_nat" => (Legs::Two, true),
        _ => panic!("usage: calls 1leg|2legs|2legs_nat [CALLS]"),
    };
    let mut s = Scenario::new(legs, nat, 64);
    let mut out = vec![0u8; edgesip::sip::MAX_DATAGRAM];
    let mut sent = 0usize;
    for call in 0..calls {
        for step in 0..STEPS.len() {
            sent += s.run(call, step, &mut out).map_or(0, |t| t.len);
        }
    }
    println!("{} messages, {sent} bytes out", calls * STEPS.len());
}
