//! Making room: the trace that arrived first goes, and with it whatever only it kept listed
//! (its services' operations, its origins), its log records with it.

use std::sync::Arc;

use super::{Inner, Origin};

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
            self.forget_if_last(&span.origin);
        }
        self.records -= trace.records.len();
        for record in trace.records {
            self.forget_if_last(&record.origin);
        }
    }

    /// Drops the origin from the table when the span or record holding `origin` is the last of
    /// it: the table's reference and that one are all there are.
    fn forget_if_last(&mut self, origin: &Arc<Origin>) {
        if Arc::strong_count(origin) == 2 {
            self.origins.remove(&origin.key);
        }
    }
}
