//! The webhook path against its floor, in the same run on the same input: verify
//! (HMAC-SHA256, constant-time compare) + parse + normalise a Shopify checkout with 1, 10
//! and 50 line items, next to the least any handler must do with that body — its
//! HMAC-SHA256 plus a `serde_json` parse to a `Value`.

use std::hint::black_box;

use cartback_bench::fixtures::{self, SECRET};
use cartback_core::model::cart::Platform;
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::platforms::webhook::{Headers, parse_webhook};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn webhook(c: &mut Criterion) {
    let check = SignatureCheck::Required(Secret::new(SECRET));
    let mut group = c.benchmark_group("webhook");
    for items in [1usize, 10, 50] {
        let body = fixtures::checkout(items);
        let headers = Headers::new()
            .with("X-Shopify-Topic", "checkouts/update")
            .with("X-Shopify-Hmac-Sha256", fixtures::signature(&body))
            .with(
                "X-Shopify-Webhook-Id",
                "0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a51",
            )
            .with("X-Shopify-Shop-Domain", fixtures::SHOP);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("floor", items), &body, |b, body| {
            b.iter(|| fixtures::floor(black_box(SECRET.as_bytes()), black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("cartback", items), &body, |b, body| {
            b.iter(|| {
                parse_webhook(
                    Platform::Shopify,
                    black_box(&headers),
                    black_box(body),
                    &check,
                    jiff::Timestamp::UNIX_EPOCH,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
