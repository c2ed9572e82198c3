//! ns per `Message::parse` and per parse + proxy rewrite + emit, for a
//! ~1 KB INVITE with SDP and a ~400-byte 200 OK. The fixtures and the
//! rewrites are in `src/lib.rs`.
//!
//!   cd tests/bench && nice cargo bench
//!   cd tests/bench && nice cargo bench -- invite   # one group only

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgesip::hmac::HmacKey;
use edgesip::sip::{Message, MAX_DATAGRAM};
use edgesip_bench::{check_fixtures, rewrite_request, rewrite_response, INVITE, OK_200};
use std::hint::black_box;

type Rewrite = fn(&Message, &mut [u8]) -> Result<usize, edgesip::sip::Error>;

fn wire(c: &mut Criterion) {
    check_fixtures();
    let cases: [(&str, &[u8], Rewrite); 2] = [
        ("invite_1k", INVITE, rewrite_request),
        ("ok200_400b", OK_200, rewrite_response),
    ];
    // One send buffer, reused across iterations as the proxy does.
    let mut out = vec![0u8; MAX_DATAGRAM];
    let mut g = c.benchmark_group("wire");
    for (name, raw, rewrite) in cases {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("parse", name), raw, |b, raw| {
            b.iter(|| {
                let m = Message::parse(black_box(raw)).unwrap();
                black_box(m.headers().len())
            })
        });
        g.bench_with_input(BenchmarkId::new("parse_rewrite", name), raw, |b, raw| {
            b.iter(|| {
                let m = Message::parse(black_box(raw)).unwrap();
                let n = rewrite(&m, &mut out).unwrap();
                black_box(&out[..n]);
            })
        });
    }
    g.finish();

    // Context: the HMAC-MD5 a real proxy spends on its branch (or To-tag),
    // which the rewrite above takes precomputed.
    let key = HmacKey::new(b"0123456789abcdef0123456789abcdef");
    c.bench_function("context/branch_hmac_md5", |b| {
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
