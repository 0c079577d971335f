//! What the scenario flags do to blog-service's MongoDB operations, each in a span that names what
//! waited and records the flag:
//! - `blogDatabaseBottleneck`: one operation at a time, in order of arrival. Each waits in a
//!   `mongodb.queue` span whose events say, as HotROD's mutex does, how many operations were ahead
//!   of it when it arrived, and how long it waited and how many were behind when its turn came.
//! - `blogDatabaseLatencyMs`: each operation first waits that long in a `mongodb.delay` span (its
//!   turn held, when there is a queue: a slow database holds up everything behind it).
//!
//! With both flags off an operation runs as it is, after one atomic load.

use std::{
    future::IntoFuture,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use opentelemetry::KeyValue;
use platform::flags::{Active, ScenarioFlags};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The events of a `mongodb.queue` span.
pub const QUEUE_ENTERED: &str = "queue.entered";
pub const QUEUE_LEFT: &str = "queue.left";

#[derive(Clone)]
pub struct DatabaseScenarios(Arc<Inner>);

struct Inner {
    flags: ScenarioFlags,
    /// The one turn the bottleneck gives out, in order of arrival (tokio's semaphore is fair).
    turn: Arc<Semaphore>,
    /// Operations holding or waiting for the turn.
    in_line: AtomicI64,
}

impl DatabaseScenarios {
    pub fn new(flags: ScenarioFlags) -> Self {
        Self(Arc::new(Inner {
            flags,
            turn: Arc::new(Semaphore::new(1)),
            in_line: AtomicI64::new(0),
        }))
    }

    /// Runs `work`, the MongoDB operation `operation` on `collection`, as the flags in force say.
    pub async fn run<T>(
        &self,
        operation: &'static str,
        collection: &'static str,
        work: impl IntoFuture<Output = T>,
    ) -> T {
        let in_force = self.0.flags.current();
        let _turn = match &in_force.blog_database_bottleneck {
            Some(bottleneck) => Some(self.wait_for_turn(bottleneck, operation, collection).await),
            None => None,
        };
        if let Some(latency) = &in_force.blog_database_latency {
            let span = tracing::info_span!(
                "mongodb.delay",
                otel.kind = "internal",
                db.operation.name = operation,
                db.collection.name = collection,
            );
            latency.wait_in(span).await;
        }
        work.await
    }

    async fn wait_for_turn(
        &self,
        bottleneck: &Active<bool>,
        operation: &'static str,
        collection: &'static str,
    ) -> Turn {
        let span = tracing::info_span!(
            "mongodb.queue",
            otel.kind = "internal",
            db.operation.name = operation,
            db.collection.name = collection,
        );
        bottleneck.record_on(&span);
        let arrived = Instant::now();
        let ahead = self.0.in_line.fetch_add(1, Ordering::AcqRel);
        let in_line = InLine(self.0.clone());
        span.add_event(
            QUEUE_ENTERED,
            vec![KeyValue::new("queue.operations_ahead", ahead)],
        );
        let permit = self
            .0
            .turn
            .clone()
            .acquire_owned()
            .instrument(span.clone())
            .await
            .expect("the semaphore is never closed");
        let behind = self.0.in_line.load(Ordering::Acquire) - 1;
        span.add_event(
            QUEUE_LEFT,
            vec![
                KeyValue::new("queue.wait_ms", arrived.elapsed().as_secs_f64() * 1000.0),
                KeyValue::new("queue.operations_behind", behind),
            ],
        );
        Turn {
            _permit: permit,
            _in_line: in_line,
        }
    }
}

/// The turn, held until the operation is done; dropping it hands the turn on and leaves the line.
struct Turn {
    _permit: OwnedSemaphorePermit,
    _in_line: InLine,
}

/// A place in the line, left when dropped: when the operation is done, or if it is abandoned
/// while it waits.
struct InLine(Arc<Inner>);

impl Drop for InLine {
    fn drop(&mut self) {
        self.0.in_line.fetch_sub(1, Ordering::AcqRel);
    }
}
