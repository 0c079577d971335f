//! The progress line while a run goes on.

use std::{
    io::{IsTerminal, Write as _},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use loadgen::Progress;
use tokio::{
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

use crate::platform::Client;

/// The line's task; [`finish`](Self::finish) ends it.
pub struct Line(JoinHandle<()>);

/// Once a second: elapsed, sent, achieved rate, in flight, counts by status. On a terminal the
/// line is rewritten in place; otherwise (a log, CI) one line is printed every 5 seconds.
pub fn start(client: Arc<Client>, counters: Arc<Progress>, concurrency: usize) -> Line {
    let start = Instant::now();
    Line(tokio::spawn(async move {
        let terminal = std::io::stderr().is_terminal();
        let mut every =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        for seconds in 1u64.. {
            every.tick().await;
            if terminal || seconds.is_multiple_of(5) {
                show(&line(&client, &counters, start, concurrency), terminal);
            }
        }
    }))
}

impl Line {
    /// Stops the line and clears it from a terminal.
    pub async fn finish(self) {
        self.0.abort();
        let _ = self.0.await;
        let mut stderr = std::io::stderr();
        if stderr.is_terminal() {
            let _ = write!(stderr, "\r\x1b[K");
            let _ = stderr.flush();
        }
    }
}

fn line(client: &Client, counters: &Progress, start: Instant, concurrency: usize) -> String {
    let elapsed = start.elapsed().as_secs_f64();
    let sent = counters.sent.load(Ordering::Relaxed);
    let skipped = counters.skipped.load(Ordering::Relaxed);
    let (answers, done) = client
        .summary
        .lock()
        .map(|s| (s.status_counts(), s.answered() + s.transport_errors()))
        .unwrap_or_default();
    format!(
        "{elapsed:5.0}s  sent {sent} ({:.1}/s)  in flight {}/{concurrency}  skipped {skipped}  {answers}",
        sent as f64 / elapsed.max(0.001),
        sent.saturating_sub(done),
    )
}

fn show(line: &str, terminal: bool) {
    let mut stderr = std::io::stderr();
    if terminal {
        let _ = write!(stderr, "\r\x1b[K{line}");
    } else {
        let _ = writeln!(stderr, "{line}");
    }
    let _ = stderr.flush();
}
