//! Generation throughput: `cargo bench -p leadladder-synth`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadladder_synth::{Lang, SynthConfig, write_csv};

fn bench(c: &mut Criterion) {
    const LEADS: usize = 50_000;
    let mut group = c.benchmark_group("synth");
    group.throughput(Throughput::Elements(LEADS as u64));
    group.sample_size(20);
    for lang in [Lang::En, Lang::Zh] {
        let cfg = SynthConfig {
            leads: LEADS,
            seed: 7,
            lang,
            ..SynthConfig::default()
        };
        group.bench_function(format!("{lang}_{LEADS}_leads"), |b| {
            b.iter(|| write_csv(&cfg, std::io::sink(), |_| {}))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
