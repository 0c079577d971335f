//! A soak: the platform at about 70% of its measured capacity for five minutes, with a realistic
//! mix, must give no unexpected status, keep up with the schedule, and keep its memory flat.
//!
//! Opt-in (it is ignored by default): `scripts/test.sh --soak`, or
//! `cargo test --release -p e2e-tests --test soak -- --ignored --nocapture`.
//! `SOAK_SECONDS` shortens or lengthens the run (default 300).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use e2e_tests::{
    Platform, SERVICES,
    load::{self, Kind, Load, Mix, Record},
};
use loadgen::Kind as _;

/// Readers list and read, a few write, fewer log in again (password hashing is the costliest
/// request there is). Writes stay few for a reason of the test database's: nx-27017's every
/// command slows as the collection grows (its count took 0.5 ms at 3 000 blogs, 3 ms at 20 000),
/// so a write-heavy soak would measure the capacity of a database that no longer exists by the
/// end, not the services' steadiness.
const MIX: [(Kind, u64); 4] = [
    (Kind::List, 60),
    (Kind::Read, 35),
    (Kind::Write, 3),
    (Kind::Login, 2),
];
/// The share of the measured capacity the soak asks for.
const LOAD_FACTOR: f64 = 0.7;
/// Senders in the capacity burst: enough to keep every service and the database busy.
const BURST_WORKERS: usize = 16;
const BURST: Duration = Duration::from_secs(15);
/// Requests the open-loop schedule lets wait at once; a start that finds this many is skipped and
/// shows as a lower achieved rate. Room for a few hundred milliseconds of stall (this machine is
/// shared) before starts are skipped; a platform that cannot keep up fills it whatever its size.
const MAX_IN_FLIGHT: usize = 128;
/// The least share of the target rate the platform must achieve.
const MIN_ACHIEVED: f64 = 0.9;
/// How much a service's resident memory may grow over the soak. The start is measured after a
/// warm-up with [`MAX_IN_FLIGHT`] senders, the most the soak ever has in flight, so connections
/// and pools are as many as they get, and after the burst has filled the span queues (bounded:
/// 2 048 spans each). What may still move: allocator fragmentation, up to 5.5 MiB in blog-service
/// here, and in authen-service one argon2 block (19 MiB), resident or returned to the system
/// depending on where it lies in the heap when the sample is taken (its RSS swung between 225
/// and 244 MiB throughout). At ~450 requests a second for 5 minutes, a leak of 200 bytes a
/// request would still exceed this bound.
const RSS_GROWTH_BOUND_KIB: u64 = 24 * 1024;
/// How often resident memory is sampled during the run, and the rate and latency summed up, to
/// show them flat.
const RSS_SAMPLE_EVERY: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a five-minute soak: run it with scripts/test.sh --soak"]
async fn soak_at_70_percent_of_capacity_keeps_answers_and_memory_steady() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|value| value.parse().expect("SOAK_SECONDS is a whole number"))
        .unwrap_or(300);
    let platform = Platform::start().await;
    // Hundreds of thousands of spans: count them, keep none.
    platform.collector.count_only();
    let mix = Mix::prepare(&platform, &MIX).await;

    // Capacity: a closed-loop burst of the same mix, after a warm-up at the most requests at once
    // the soak may have.
    let warm_up = Load::closed_loop(&platform.api, &mix, MAX_IN_FLIGHT);
    tokio::time::sleep(Duration::from_secs(5)).await;
    warm_up.stop().await;
    let burst = Load::closed_loop(&platform.api, &mix, BURST_WORKERS);
    tokio::time::sleep(BURST).await;
    let burst_elapsed = burst.origin.elapsed();
    let burst_records = burst.stop().await;
    let capacity = burst_records.len() as f64 / burst_elapsed.as_secs_f64();
    let target = capacity * LOAD_FACTOR;
    println!(
        "capacity: {capacity:.0} requests/s ({BURST_WORKERS} senders for {BURST:?}; p50 {:?}, \
         p99 {:?}); soaking at {target:.0}/s for {seconds} s",
        load::latency_percentile(&burst_records, 50),
        load::latency_percentile(&burst_records, 99),
    );

    // The soak: open loop at the target rate, with resident memory sampled as it runs.
    let rss = || names().map(|service| platform.rss_kib(service));
    let start_rss = rss();
    let spans_before = platform.collector.received();
    let started = Instant::now();
    let mut samples = vec![(Duration::ZERO, start_rss)];
    let run = load::open_loop(
        &platform.api,
        &mix,
        target,
        Duration::from_secs(seconds),
        MAX_IN_FLIGHT,
    );
    tokio::pin!(run);
    let mut sampler = tokio::time::interval(RSS_SAMPLE_EVERY);
    sampler.tick().await;
    let soak = loop {
        tokio::select! {
            soak = &mut run => break soak,
            _ = sampler.tick() => samples.push((started.elapsed(), rss())),
        }
    };
    let end_rss = rss();
    // The last tick may have come just before the end: the end replaces it.
    if samples
        .last()
        .is_some_and(|(at, _)| started.elapsed() - *at < Duration::from_secs(1))
    {
        samples.pop();
    }
    samples.push((started.elapsed(), end_rss));
    let spans = platform.collector.received() - spans_before;
    let achieved = soak.records.len() as f64 / soak.elapsed.as_secs_f64();

    println!(
        "{}",
        table(
            &soak, capacity, target, achieved, spans, &start_rss, &end_rss
        )
    );
    println!("{}", timeline(&soak.records, started, &samples));

    let unexpected: Vec<&Record> = soak.records.iter().filter(|r| !r.succeeded()).collect();
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers:\n{}",
        unexpected.len(),
        load::describe(&unexpected, started)
    );
    assert!(
        achieved >= target * MIN_ACHIEVED,
        "achieved {achieved:.1}/s of the {target:.1}/s asked ({} starts skipped)",
        soak.skipped
    );
    for ((service, start), end) in names().iter().zip(start_rss).zip(end_rss) {
        assert!(
            end <= start + RSS_GROWTH_BOUND_KIB,
            "{service}-service grew from {start} KiB to {end} KiB"
        );
    }
}

/// The services' short names, in start order.
fn names() -> [&'static str; 4] {
    SERVICES.map(|service| service.name)
}

/// The soak's summary: rates, statuses and latencies per kind, and memory per service.
fn table(
    soak: &load::OpenLoop,
    capacity: f64,
    target: f64,
    achieved: f64,
    spans: u64,
    start_rss: &[u64; 4],
    end_rss: &[u64; 4],
) -> String {
    let records = &soak.records;
    let mut lines = vec![
        format!(
            "soak: {:.0} s, {} requests, {} starts skipped, {spans} spans exported",
            soak.elapsed.as_secs_f64(),
            records.len(),
            soak.skipped
        ),
        format!(
            "  rate (requests/s)     capacity {capacity:.1}   target {target:.1} ({:.0}%)   \
             achieved {achieved:.1} ({:.1}% of target)",
            LOAD_FACTOR * 100.0,
            achieved / target * 100.0
        ),
        format!(
            "  {:<22}{:>8}  {:<34}{:>10}{:>10}",
            "request", "count", "statuses", "p50", "p99"
        ),
    ];
    let mut by_kind: BTreeMap<Kind, Vec<Record>> = BTreeMap::new();
    for record in records {
        by_kind.entry(record.kind).or_default().push(record.clone());
    }
    let row = |label: &str, records: &[Record]| {
        format!(
            "  {label:<22}{:>8}  {:<34}{:>10}{:>10}",
            records.len(),
            load::status_counts(records),
            format!("{:.1?}", load::latency_percentile(records, 50)),
            format!("{:.1?}", load::latency_percentile(records, 99)),
        )
    };
    for (kind, records) in &by_kind {
        lines.push(row(kind.label(), records));
    }
    lines.push(row("all", records));
    lines.push(format!(
        "  {:<22}{:>10}{:>10}{:>12}",
        "RSS (MiB)", "start", "end", "change"
    ));
    for ((service, start), end) in names().iter().zip(start_rss).zip(end_rss) {
        lines.push(format!(
            "  {:<22}{:>10.1}{:>10.1}{:>+12.1}",
            format!("{service}-service"),
            *start as f64 / 1024.0,
            *end as f64 / 1024.0,
            (*end as f64 - *start as f64) / 1024.0
        ));
    }
    lines.join("\n")
}

/// Per sampling interval: the requests started in it (per second), their latency, and each
/// service's resident memory at its end.
fn timeline(records: &[Record], started: Instant, samples: &[(Duration, [u64; 4])]) -> String {
    let mut lines = vec![
        format!("  timeline, every {RSS_SAMPLE_EVERY:?} (RSS in MiB):"),
        format!(
            "  {:>6}{:>9}{:>10}{:>10}  {}",
            "at",
            "req/s",
            "p50",
            "p99",
            names().map(|s| format!("{s:>8}")).join("")
        ),
    ];
    let mut from = Duration::ZERO;
    for (i, (at, rss)) in samples.iter().enumerate() {
        let memory = rss
            .map(|kib| format!("{:>8.1}", kib as f64 / 1024.0))
            .join("");
        if i == 0 {
            lines.push(format!("  {:>6}{:>29}  {memory}", "start", ""));
            continue;
        }
        let window: Vec<Record> = records
            .iter()
            .filter(|r| (from..*at).contains(&(r.started - started)))
            .cloned()
            .collect();
        let label = if i == samples.len() - 1 {
            "end".to_owned()
        } else {
            format!("{:.0} s", at.as_secs_f64())
        };
        lines.push(format!(
            "  {label:>6}{:>9.1}{:>10}{:>10}  {memory}",
            window.len() as f64 / (*at - from).as_secs_f64(),
            format!("{:.1?}", load::latency_percentile(&window, 50)),
            format!("{:.1?}", load::latency_percentile(&window, 99)),
        ));
        from = *at;
    }
    lines.join("\n")
}
