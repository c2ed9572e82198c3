//! ns per `Message::parse` of a ~1 KB INVITE with SDP and a ~400-byte
//! 200 OK, and per `Proxy::handle` (the real core: parse, validate, route,
//! rewrite, emit) for each message of a call and for whole calls, with one
//! leg, two legs, and two legs with `--nat`. The fixtures and the calls are
//! in `src/`.
//!
//!   cd tests/bench && nice cargo bench
//!   cd tests/bench && nice cargo bench -- handle   # one group only

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgesip::hmac::HmacKey;
use edgesip::sip::{Message, MAX_DATAGRAM};
use edgesip_bench::{check_fixtures, Legs, Scenario, INVITE, OK_200, STEPS};
use std::hint::black_box;

/// Distinct calls each scenario cycles through.
const CALLS: usize = 64;

fn wire(c: &mut Criterion) {
    check_fixtures();
    let mut g = c.benchmark_group("parse");
    for (name, raw) in [("invite_1k", INVITE), ("ok200_400b", OK_200)] {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), raw, |b, raw| {
            b.iter(|| {
                let m = Message::parse(black_box(raw)).unwrap();
                black_box(m.headers().len())
            })
        });
    }
    g.finish();

    // One send buffer, reused across iterations as the shell does.
    let mut out = vec![0u8; MAX_DATAGRAM];
    let scenarios = [
        ("1leg", Legs::One, false),
        ("2legs", Legs::Two, false),
        ("2legs_nat", Legs::Two, true),
    ];
    let mut g = c.benchmark_group("handle");
    for (name, legs, nat) in scenarios {
        let mut s = Scenario::new(legs, nat, CALLS);
        // One message again and again: a retransmission, to the proxy.
        for (step, what) in STEPS.iter().enumerate() {
            let mut call = 0;
            g.bench_function(BenchmarkId::new(name, what), |b| {
                b.iter(|| {
                    call += 1;
                    black_box(s.run(call, step, &mut out).map(|t| t.len))
                })
            });
        }
    }
    g.finish();

    // Whole calls (a new dialog each, so --nat sets up and ends a relay
    // call every time): divide by 4 for the cost per message.
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(STEPS.len() as u64));
    for (name, legs, nat) in scenarios {
        let mut s = Scenario::new(legs, nat, CALLS);
        let mut call = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                call += 1;
                for step in 0..STEPS.len() {
                    black_box(s.run(call, step, &mut out).map(|t| t.len));
                }
            })
        });
    }
    g.finish();

    // Context: one HMAC-MD5, what each token MAC costs.
    let key = HmacKey::new(b"0123456789abcdef0123456789abcdef");
    c.bench_function("context/hmac_md5", |b| {
        b.iter(|| {
            key.mac(&[
                black_box(b"z9hG4bK776asdhds"),
                b"a84b4c76e66710@pc33.atlanta.example.com",
                b"314159",
            ])
        })
    });
}

criterion_group!(benches, wire);
criterion_main!(benches);
