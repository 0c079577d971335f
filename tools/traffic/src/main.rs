//! `traffic`: a traffic generator for the blog platform, so that Jaeger has realistic traces to
//! show. It logs in as the administrator, creates a few users for the run (readers and writers),
//! then sends a weighted mix of requests at a steady rate for a while and prints a summary with
//! links to interesting traces. See README.md, "Traffic and Jaeger".

mod cli;
mod mix;
mod platform;
mod stats;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cli::{Cli, Settings};
use crate::mix::{Rng, next_request};
use crate::platform::Platform;
use crate::stats::{RunInfo, rate, summary};

/// The scheduler's finest tick: above 1000 requests per second, each tick starts several.
const MIN_TICK: Duration = Duration::from_millis(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("traffic: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("traffic: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(settings))
}

/// A run id that differs between runs even with the same seed: user names must be new each time.
fn run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut rng = Rng::new(u64::from(now.subsec_nanos()) ^ (u64::from(std::process::id()) << 32));
    format!("{:x}-{:04x}", now.as_secs(), rng.next_u64() & 0xffff)
}

/// The scheduler's tick and how many sends each tick starts on average: one per tick of
/// 1/rate up to 1000 per second, then a 1 ms tick starting rate/1000 (2.5 at 2500/s: 2, 3, 2, ...).
fn schedule(rate: f64) -> (Duration, f64) {
    let tick = Duration::from_secs_f64(1.0 / rate);
    if tick >= MIN_TICK {
        (tick, 1.0)
    } else {
        (MIN_TICK, rate * MIN_TICK.as_secs_f64())
    }
}

/// How many sends the slots before `slot` own: slot k starts sends_until(k)..sends_until(k + 1).
fn sends_until(slot: u64, per_tick: f64) -> u64 {
    (slot as f64 * per_tick + 1e-9).floor() as u64
}

/// The slots to serve at a tick: `first..=last`. The interval's tick names its slot (`deadline`,
/// an offset from the start); if the scheduler woke up later than that (`now`), slots that
/// started more than a grace period ago (one tick, at least 2 ms: the timer's resolution) are
/// missed, and the slots that have started since are due too.
fn due_slots(deadline: Duration, now: Duration, tick: Duration) -> (u64, u64) {
    let tick_ns = tick.as_nanos().max(1);
    let slot = ((deadline.as_nanos() + tick_ns / 2) / tick_ns) as u64;
    let grace = tick.max(2 * MIN_TICK).as_nanos();
    let now = now.as_nanos().max(deadline.as_nanos());
    let first_on_time = now.saturating_sub(grace).div_ceil(tick_ns) as u64;
    let first = slot.max(first_on_time);
    let last = ((now / tick_ns) as u64).max(first);
    (first, last)
}

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    skipped: AtomicU64,
}

async fn run(settings: Settings) -> ExitCode {
    let seed = settings.seed.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Mixed, so that seeds of runs started close together look unrelated.
        Rng::new(now.as_nanos() as u64).next_u64()
    });
    let run_id = run_id();
    eprintln!(
        "traffic: run {run_id}, seed {seed}: {}/s for {:?} against {}, {}, {}",
        rate(settings.rate),
        settings.duration,
        settings.authen,
        settings.user,
        settings.blog
    );

    // Setup draws from its own stream, so the mix of a seed does not depend on how many blogs
    // setup had to post.
    let mut setup_rng = Rng::new(seed ^ 0x5e70_5e70_5e70_5e70);
    let platform = match Platform::setup(&settings, &run_id, &mut setup_rng).await {
        Ok(platform) => Arc::new(platform),
        Err(message) => {
            eprintln!("traffic: setup failed: {message}");
            return ExitCode::FAILURE;
        }
    };
    let users: Vec<String> = platform
        .readers
        .iter()
        .map(|u| format!("{} (READ)", u.name))
        .chain(
            platform
                .writers
                .iter()
                .map(|u| format!("{} (READ, WRITE)", u.name)),
        )
        .collect();

    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let progress = tokio::spawn(progress(
        Arc::clone(&platform),
        Arc::clone(&counters),
        start,
        settings.concurrency,
    ));

    // The open-loop schedule. Slot k of the interval starts at start + k * tick and owns the
    // sends numbered sends_until(k) .. sends_until(k + 1). A slot the scheduler wakes up for
    // more than a tick late is skipped whole (see due_slots; the interval skips too), and a send
    // that finds --concurrency requests in flight is skipped: both are counted, neither is sent
    // late, so the rate does not drift and a slow platform shows as skipped sends and long
    // latencies.
    let (tick, per_tick) = schedule(settings.rate);
    // The run is rate * duration sends, numbered from 0; the last slot may own fewer.
    let planned = (settings.duration.as_secs_f64() * settings.rate + 1e-9).floor() as u64;
    let sends_until = |slot: u64| sends_until(slot, per_tick).min(planned);
    let mut interval = tokio::time::interval_at(start, tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let in_flight = Arc::new(Semaphore::new(settings.concurrency));
    let mut tasks = JoinSet::new();
    let mut rng = Rng::new(seed);
    let mut next_slot = 0u64;
    let (mut sent, mut skipped_busy, mut skipped_late) = (0u64, 0u64, 0u64);
    let mut interrupted = false;
    let stop = stop_requested();
    tokio::pin!(stop);

    loop {
        let at = tokio::select! {
            at = interval.tick() => at,
            () = &mut stop => {
                interrupted = true;
                break;
            }
        };
        let offset = at.saturating_duration_since(start);
        let (first, last) = due_slots(offset, start.elapsed(), tick);
        let first = first.max(next_slot);
        if sends_until(first) >= planned || offset >= settings.duration {
            skipped_late += planned - sends_until(next_slot);
            break;
        }
        if last < first {
            continue;
        }
        // The slots between the last one served and the first one still on time were missed.
        let late = sends_until(first) - sends_until(next_slot);
        for _ in 0..late {
            rng.next_u64(); // keep the mix of a seed the same, skipped or not
        }
        skipped_late += late;
        for _ in sends_until(first)..sends_until(last + 1) {
            let (kind, request_rng) = next_request(&mut rng);
            match Arc::clone(&in_flight).try_acquire_owned() {
                Ok(permit) => {
                    let platform = Arc::clone(&platform);
                    let n = sent;
                    tasks.spawn(async move {
                        platform.run_one(kind, request_rng, n).await;
                        drop(permit);
                    });
                    sent += 1;
                }
                Err(_) => skipped_busy += 1,
            }
        }
        next_slot = last + 1;
        counters.sent.store(sent, Ordering::Relaxed);
        counters
            .skipped
            .store(skipped_busy + skipped_late, Ordering::Relaxed);
        while tasks.try_join_next().is_some() {}
    }
    let elapsed = start.elapsed().min(settings.duration);

    // Let the requests in flight finish (each is bounded by --timeout); a Ctrl-C or SIGTERM here
    // gives up on them.
    let give_up = stop_requested();
    tokio::pin!(give_up);
    let mut gave_up = false;
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut give_up, if !gave_up => {
                gave_up = true;
                interrupted = true;
                tasks.abort_all();
            }
        }
    }
    progress.abort();
    let _ = progress.await;
    let mut stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = write!(stderr, "\r\x1b[K");
        let _ = stderr.flush();
    }

    let Ok(stats) = platform.stats.lock() else {
        eprintln!("traffic: the statistics were lost (a sender panicked)");
        return ExitCode::FAILURE;
    };
    let info = RunInfo {
        run_id: &run_id,
        seed,
        target_rate: settings.rate,
        elapsed,
        sent,
        skipped_busy,
        skipped_late,
        concurrency: settings.concurrency,
        interrupted,
        users: &users,
        jaeger_ui: &settings.jaeger_ui,
    };
    print!("{}", summary(&stats, &info));
    let _ = std::io::stdout().flush();

    let completed = stats.answered() + stats.transport_errors();
    if completed > 0 && stats.failed() == completed {
        eprintln!(
            "traffic: every request failed ({} without an answer, the rest 5xx): is the platform still running?",
            stats.transport_errors()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Resolves at Ctrl-C (SIGINT) or SIGTERM; never, for a signal that cannot be listened to.
async fn stop_requested() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Once a second: elapsed, sent, achieved rate, in flight, counts by status. On a terminal the
/// line is rewritten in place; otherwise (a log, CI) one line is printed every 5 seconds.
async fn progress(
    platform: Arc<Platform>,
    counters: Arc<Counters>,
    start: Instant,
    concurrency: usize,
) {
    let terminal = std::io::stderr().is_terminal();
    let mut every =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seconds = 0u64;
    loop {
        every.tick().await;
        seconds += 1;
        if !terminal && !seconds.is_multiple_of(5) {
            continue;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let sent = counters.sent.load(Ordering::Relaxed);
        let skipped = counters.skipped.load(Ordering::Relaxed);
        let answers = platform
            .stats
            .lock()
            .map(|s| s.status_counts())
            .unwrap_or_default();
        let done = platform
            .stats
            .lock()
            .map(|s| s.answered() + s.transport_errors())
            .unwrap_or(0);
        let line = format!(
            "{elapsed:5.0}s  sent {sent} ({:.1}/s)  in flight {}/{concurrency}  skipped {skipped}  {answers}",
            sent as f64 / elapsed.max(0.001),
            sent.saturating_sub(done),
        );
        let mut stderr = std::io::stderr();
        if terminal {
            let _ = write!(stderr, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_scheduler_skips_slots_instead_of_drifting() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // 20/s: a tick every 50 ms. On time or a little late, slot 4 alone.
        assert_eq!(due_slots(ms(200), ms(200), ms(50)), (4, 4));
        assert_eq!(due_slots(ms(200), ms(230), ms(50)), (4, 4));
        // 60 ms late: slot 4 is past its grace (one tick) and missed; slot 5 started 10 ms ago.
        assert_eq!(due_slots(ms(200), ms(260), ms(50)), (5, 5));
        // 180 ms late: slots 4 to 6 are missed, 7 is the first on time.
        assert_eq!(due_slots(ms(200), ms(380), ms(50)), (7, 7));
        // 200/s: a tick every 5 ms.
        assert_eq!(due_slots(ms(100), ms(100) + us(900), ms(5)), (20, 20));
        assert_eq!(due_slots(ms(100), ms(112), ms(5)), (22, 22));
        // 2500/s: 1 ms ticks, with 2 ms of grace for the timer's resolution.
        assert_eq!(due_slots(ms(10), ms(10) + us(1200), ms(1)), (10, 11));
        assert_eq!(due_slots(ms(10), ms(15), ms(1)), (13, 15));
        // A clock that reads earlier than the deadline changes nothing.
        assert_eq!(due_slots(ms(200), ms(199), ms(50)), (4, 4));
    }

    #[test]
    fn the_schedule_starts_rate_sends_per_second() {
        for rate in [
            0.5, 1.0, 3.0, 20.0, 30.0, 200.0, 999.0, 1000.0, 1500.0, 2500.0, 20_000.0,
        ] {
            let (tick, per_tick) = schedule(rate);
            assert!(tick >= MIN_TICK, "{rate}");
            // Every slot starts at least one send up to 1000/s (none is empty), and the slots
            // of 100 seconds start 100 * rate sends, give or take one.
            let slots = (100.0 / tick.as_secs_f64()).round() as u64;
            let total = sends_until(slots, per_tick);
            assert!(
                (total as f64 - 100.0 * rate).abs() <= 1.0,
                "{rate}/s: {total} sends in {slots} slots of {tick:?}"
            );
            if rate <= 1000.0 {
                assert_eq!(per_tick, 1.0);
                for slot in 0..10_000 {
                    assert_eq!(
                        sends_until(slot + 1, per_tick) - sends_until(slot, per_tick),
                        1
                    );
                }
            }
        }
        let (tick, per_tick) = schedule(2500.0);
        assert_eq!(tick, Duration::from_millis(1));
        let starts: Vec<u64> = (0..4)
            .map(|k| sends_until(k + 1, per_tick) - sends_until(k, per_tick))
            .collect();
        assert_eq!(starts, [2, 3, 2, 3]);
    }
}
