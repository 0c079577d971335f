//! When to send: an open-loop schedule (a steady rate, whatever the platform's pace) or a closed
//! loop (senders that each send again as soon as they are answered).

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, MissedTickBehavior},
};

/// The scheduler's finest tick: above 1000 requests per second, each tick starts several.
const MIN_TICK: Duration = Duration::from_millis(1);

/// How long a closed-loop sender waits after a failure: one comes back in microseconds while a
/// service is down, and a client would back off a little rather than spin the machine.
const FAILURE_BACKOFF: Duration = Duration::from_millis(10);

/// An open-loop schedule: `rate` requests a second for `duration`, at most `max_in_flight` of
/// them waiting for an answer at once. Send k belongs to a slot of the schedule; one that cannot
/// start in its slot is skipped and counted, never sent late, so the rate does not drift with
/// the platform's pace and a slow platform shows as skipped sends and long latencies.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    pub rate: f64,
    pub duration: Duration,
    pub max_in_flight: usize,
    /// How late the scheduler may wake up for a slot and still start its sends: by default one
    /// tick (at least 2 ms, the timer's resolution). More lets sends a stalled scheduler missed
    /// go out in a burst once it runs again.
    pub late_grace: Option<Duration>,
}

/// Counters a progress line may read while a run goes on.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub skipped: AtomicU64,
}

impl Progress {
    fn show(&self, tally: &Tally) {
        self.sent.store(tally.sent, Ordering::Relaxed);
        let skipped = tally.skipped_busy + tally.skipped_late;
        self.skipped.store(skipped, Ordering::Relaxed);
    }
}

/// What an open-loop run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub sent: u64,
    /// Sends skipped because `max_in_flight` requests were already waiting.
    pub skipped_busy: u64,
    /// Sends skipped because the scheduler itself woke up too late (the machine was too busy).
    pub skipped_late: u64,
    /// From the start to the end of the schedule (or the stop).
    pub elapsed: Duration,
    /// Stopped before the schedule's end, or gave up on requests in flight.
    pub interrupted: bool,
}

impl OpenLoop {
    /// Runs the schedule. `prepare(k)` is called for every send k of the schedule in order,
    /// sent or skipped, and the future it returns is spawned when the send starts (dropped when
    /// it is skipped), so a mix drawn there stays the same for a seed. When `stop` resolves the
    /// schedule ends; the requests in flight are then awaited, unless `give_up` resolves first.
    pub async fn run<F, Fut>(
        &self,
        progress: &Progress,
        stop: impl Future<Output = ()>,
        give_up: impl Future<Output = ()>,
        prepare: F,
    ) -> Tally
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        let mut tally = self.schedule(progress, stop, prepare, &mut tasks).await;
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                () = &mut give_up, if !tasks.is_empty() => {
                    tally.interrupted = true;
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        tally
    }

    /// The schedule proper: the loop over the interval's ticks.
    async fn schedule<F, Fut>(
        &self,
        progress: &Progress,
        stop: impl Future<Output = ()>,
        mut prepare: F,
        tasks: &mut JoinSet<()>,
    ) -> Tally
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tick, per_tick) = ticks(self.rate);
        let grace = self.late_grace.unwrap_or(tick.max(2 * MIN_TICK));
        let planned = (self.duration.as_secs_f64() * self.rate + 1e-9).floor() as u64;
        let sends_until = |slot: u64| sends_until(slot, per_tick).min(planned);
        let start = Instant::now();
        let mut interval = tokio::time::interval_at(start, tick);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let in_flight = Arc::new(Semaphore::new(self.max_in_flight));
        let (mut tally, mut next_slot) = (Tally::default(), 0);
        tokio::pin!(stop);
        loop {
            let at = tokio::select! {
                at = interval.tick() => at,
                () = &mut stop => { tally.interrupted = true; break; }
            };
            let offset = at.saturating_duration_since(start);
            let (first, last) = due_slots(offset, start.elapsed(), tick, grace);
            let first = first.max(next_slot);
            if sends_until(first) >= planned || offset >= self.duration {
                tally.skipped_late += planned - sends_until(next_slot);
                break;
            }
            if last < first {
                continue;
            }
            // The slots between the last one served and the first one still on time were missed.
            for k in sends_until(next_slot)..sends_until(first) {
                drop(prepare(k));
                tally.skipped_late += 1;
            }
            for k in sends_until(first)..sends_until(last + 1) {
                let send = prepare(k);
                match Arc::clone(&in_flight).try_acquire_owned() {
                    Ok(permit) => {
                        tasks.spawn(async move {
                            send.await;
                            drop(permit);
                        });
                        tally.sent += 1;
                    }
                    Err(_) => tally.skipped_busy += 1,
                }
            }
            next_slot = last + 1;
            progress.show(&tally);
            while tasks.try_join_next().is_some() {}
        }
        tally.elapsed = start.elapsed().min(self.duration);
        tally
    }
}

/// The scheduler's tick and how many sends each tick starts on average: one per tick of
/// 1/rate up to 1000 per second, then a 1 ms tick starting rate/1000 (2.5 at 2500/s: 2, 3, 2, ...).
fn ticks(rate: f64) -> (Duration, f64) {
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
/// started more than `grace` ago are missed, and the slots that have started since are due too.
fn due_slots(deadline: Duration, now: Duration, tick: Duration, grace: Duration) -> (u64, u64) {
    let tick_ns = tick.as_nanos().max(1);
    let slot = ((deadline.as_nanos() + tick_ns / 2) / tick_ns) as u64;
    let now = now.as_nanos().max(deadline.as_nanos());
    let first_on_time = now.saturating_sub(grace.as_nanos()).div_ceil(tick_ns) as u64;
    let first = slot.max(first_on_time);
    let last = ((now / tick_ns) as u64).max(first);
    (first, last)
}

/// Closed-loop load: senders that each send their next request as soon as the last one is
/// answered, until [`stop`](Self::stop) or until they have sent as many as they were asked.
pub struct ClosedLoop {
    stop: Arc<AtomicBool>,
    workers: JoinSet<()>,
}

impl ClosedLoop {
    /// Starts `workers` senders that call `send` with the requests' numbers (0, 1, ... across
    /// all senders) until stopped. `send` returns whether the request failed (no answer, or a
    /// 5xx), after which its sender pauses a moment.
    pub fn start<F, Fut>(workers: usize, send: F) -> Self
    where
        F: Fn(u64) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        Self::counted(workers, u64::MAX, send)
    }

    /// [`start`](Self::start) for `count` requests in all; [`finished`](Self::finished) waits
    /// for the last.
    pub fn counted<F, Fut>(workers: usize, count: u64, send: F) -> Self
    where
        F: Fn(u64) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let mut set = JoinSet::new();
        for _ in 0..workers {
            let (send, stop, next) = (send.clone(), stop.clone(), next.clone());
            set.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    if send(n).await {
                        tokio::time::sleep(FAILURE_BACKOFF).await;
                    }
                }
            });
        }
        Self { stop, workers: set }
    }

    /// Stops starting requests and waits for those in flight.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.finished().await;
    }

    /// Waits until the senders have sent all they were asked to.
    pub async fn finished(mut self) {
        while let Some(joined) = self.workers.join_next().await {
            joined.expect("a load sender panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn one_tick(tick: Duration) -> Duration {
        tick.max(2 * MIN_TICK)
    }

    #[test]
    fn a_late_scheduler_skips_slots_instead_of_drifting() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let due = |deadline, now, tick| due_slots(deadline, now, tick, one_tick(tick));
        // 20/s: a tick every 50 ms. On time or a little late, slot 4 alone.
        assert_eq!(due(ms(200), ms(200), ms(50)), (4, 4));
        assert_eq!(due(ms(200), ms(230), ms(50)), (4, 4));
        // 60 ms late: slot 4 is past its grace (one tick) and missed; slot 5 started 10 ms ago.
        assert_eq!(due(ms(200), ms(260), ms(50)), (5, 5));
        // 180 ms late: slots 4 to 6 are missed, 7 is the first on time.
        assert_eq!(due(ms(200), ms(380), ms(50)), (7, 7));
        // 200/s: a tick every 5 ms.
        assert_eq!(due(ms(100), ms(100) + us(900), ms(5)), (20, 20));
        assert_eq!(due(ms(100), ms(112), ms(5)), (22, 22));
        // 2500/s: 1 ms ticks, with 2 ms of grace for the timer's resolution.
        assert_eq!(due(ms(10), ms(10) + us(1200), ms(1)), (10, 11));
        assert_eq!(due(ms(10), ms(15), ms(1)), (13, 15));
        // A clock that reads earlier than the deadline changes nothing.
        assert_eq!(due(ms(200), ms(199), ms(50)), (4, 4));
        // With a second of grace, 180 ms late misses nothing: slots 4 to 7 are all due.
        assert_eq!(due_slots(ms(200), ms(380), ms(50), ms(1000)), (4, 7));
    }

    #[test]
    fn the_schedule_starts_rate_sends_per_second() {
        for rate in [
            0.5, 1.0, 3.0, 20.0, 30.0, 200.0, 999.0, 1000.0, 1500.0, 2500.0, 20_000.0,
        ] {
            let (tick, per_tick) = ticks(rate);
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
        let (tick, per_tick) = ticks(2500.0);
        assert_eq!(tick, Duration::from_millis(1));
        let starts: Vec<u64> = (0..4)
            .map(|k| sends_until(k + 1, per_tick) - sends_until(k, per_tick))
            .collect();
        assert_eq!(starts, [2, 3, 2, 3]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_open_loop_prepares_every_send_in_order_and_skips_when_busy() {
        let prepared = Arc::new(Mutex::new(Vec::new()));
        let plan = OpenLoop {
            rate: 200.0,
            duration: Duration::from_millis(200),
            max_in_flight: 3,
            late_grace: Some(Duration::from_secs(1)),
        };
        let seen = prepared.clone();
        let tally = plan
            .run(
                &Progress::default(),
                std::future::pending(),
                std::future::pending(),
                |k| {
                    seen.lock().unwrap().push(k);
                    // Each send takes longer than the whole run: only the first three can start.
                    tokio::time::sleep(Duration::from_millis(300))
                },
            )
            .await;
        assert_eq!(*prepared.lock().unwrap(), (0..40).collect::<Vec<u64>>());
        assert_eq!(
            (tally.sent, tally.skipped_busy, tally.skipped_late),
            (3, 37, 0)
        );
        assert!(!tally.interrupted);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stop_ends_the_schedule_and_a_give_up_the_wait() {
        let plan = OpenLoop {
            rate: 100.0,
            duration: Duration::from_secs(60),
            max_in_flight: 100,
            late_grace: None,
        };
        let started = std::time::Instant::now();
        let tally = plan
            .run(
                &Progress::default(),
                tokio::time::sleep(Duration::from_millis(100)),
                tokio::time::sleep(Duration::from_millis(100)),
                |_| tokio::time::sleep(Duration::from_secs(60)),
            )
            .await;
        assert!(tally.interrupted && tally.sent > 0, "{tally:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_closed_loop_keeps_its_senders_busy_until_stopped() {
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let load = ClosedLoop::start(4, move |_| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
                false
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        load.stop().await;
        let after_stop = sent.load(Ordering::Relaxed);
        assert!(after_stop >= 40, "{after_stop}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            sent.load(Ordering::Relaxed),
            after_stop,
            "nothing is sent after stop"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_counted_closed_loop_sends_each_number_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        ClosedLoop::counted(3, 50, move |n| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(n);
                false
            }
        })
        .finished()
        .await;
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<u64>>());
    }
}
