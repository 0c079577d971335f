//! Making room: the trace that arrived first goes, and with it whatever only it kept listed
//! (its services' operations, its origins).

use std::sync::Arc;

use super::Inner;

impl Inner {
    pub(super) fn evict_oldest(&mut self) {
        let Some(trace_id) = self.arrival.pop_front() else {
            return;
        };
        let Some(trace) = self.traces.remove(&trace_id) else {
            return;
        };
        self.spans -= trace.spans.len();
        for span in trace.spans {
            if let Some(operations) = self.services.get_mut(&span.origin.service) {
                if let Some(counts) = operations.get_mut(&span.name) {
                    counts[usize::from(span.fields.kind)] -= 1;
                    if counts.iter().all(|count| *count == 0) {
                        operations.remove(&span.name);
                    }
                }
                if operations.is_empty() {
                    self.services.remove(&span.origin.service);
                }
            }
            // The table's reference and this span's: the last span of that origin is going.
            if Arc::strong_count(&span.origin) == 2 {
                self.origins.remove(&span.origin.key);
            }
        }
    }
}
