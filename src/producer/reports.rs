//! The delivery reports waiting for the application. An acknowledged (or failed) batch
//! becomes one run: its topic, partition, first offset and outcome, and the batch's own
//! list of per-message records (opaque and timestamp), moved, not copied message by
//! message. The application's thread turns runs into one [`Report`] per message only as
//! it serves them, a slice at a time, and the emptied lists go back to new batches. So
//! the sender's work per acknowledged batch does not grow with its messages, and
//! reports waiting take 16 bytes per message instead of a whole report.

use super::state::MsgMeta;
use super::{Persisted, Report, TopicName};
use crate::error::Error;
use std::collections::VecDeque;
use std::sync::Arc;

/// How the messages of a run ended.
pub(crate) struct Ended {
    /// The first message's offset (the next ones follow it), or -1: none.
    base_offset: i64,
    /// The broker's LogAppendTime for every message, or -1: each message's own time.
    append_time: i64,
    error: Option<Arc<Error>>,
    status: Persisted,
}

impl Ended {
    /// Sent without an error: written from `base_offset` on, with the broker's
    /// `append_time` (a negative one of either: none).
    pub fn sent(base_offset: i64, append_time: i64, status: Persisted) -> Ended {
        Ended {
            base_offset: base_offset.max(-1),
            append_time: append_time.max(-1),
            error: None,
            status,
        }
    }

    /// Failed with `error`.
    pub fn failed(error: Arc<Error>, status: Persisted) -> Ended {
        Ended {
            base_offset: -1,
            append_time: -1,
            error: Some(error),
            status,
        }
    }
}

/// Reports of consecutive messages of one partition that ended alike.
struct Run {
    topic: Arc<TopicName>,
    partition: i32,
    ended: Ended,
    msgs: Vec<MsgMeta>,
}

impl Run {
    /// Whether the report of one more message, which ended as `e` (at `e.base_offset`),
    /// continues this run.
    fn continued_by(&self, topic: &Arc<TopicName>, partition: i32, e: &Ended) -> bool {
        let r = &self.ended;
        let offsets = if e.base_offset < 0 {
            r.base_offset < 0
        } else {
            r.base_offset >= 0 && r.base_offset + self.msgs.len() as i64 == e.base_offset
        };
        offsets
            && same_error(&r.error, &e.error)
            && self.partition == partition
            && r.status == e.status
            && r.append_time < 0
            && e.append_time < 0
            && Arc::ptr_eq(&self.topic, topic)
    }
}

/// Whether `a` and `b` are the same error value (or both none).
fn same_error(a: &Option<Arc<Error>>, b: &Option<Arc<Error>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// How many emptied message lists are kept for new batches.
const SPARE_LISTS: usize = 32;
/// The room of the lists kept, in all (entries): 4 MiB.
const SPARE_ENTRIES: usize = 256 * 1024;

/// The queue of delivery reports, in the order they are served.
pub(crate) struct Reports {
    runs: VecDeque<Run>,
    /// Messages of the first run already served.
    served: usize,
    /// Reports waiting.
    len: usize,
    /// Emptied message lists, for new batches, and their room in all.
    spare: Vec<Vec<MsgMeta>>,
    spare_entries: usize,
}

impl Reports {
    pub fn new() -> Reports {
        Reports {
            runs: VecDeque::new(),
            served: 0,
            len: 0,
            spare: Vec::new(),
            spare_entries: 0,
        }
    }

    /// Reports waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every report waiting.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.served = 0;
        self.len = 0;
    }

    /// The reports of a batch's messages, `msgs`, all ended as `ended`.
    pub fn push_batch(
        &mut self,
        topic: &Arc<TopicName>,
        partition: i32,
        ended: Ended,
        msgs: Vec<MsgMeta>,
    ) {
        if msgs.is_empty() {
            self.keep_list(msgs);
            return;
        }
        self.len += msgs.len();
        self.runs.push_back(Run {
            topic: topic.clone(),
            partition,
            ended,
            msgs,
        });
    }

    /// The report of one message, ended as `ended` (its offset `ended`'s first): it
    /// continues the last run when that ended alike, so failing many messages one by one
    /// makes few runs.
    pub fn push_one(&mut self, topic: &Arc<TopicName>, partition: i32, ended: Ended, m: MsgMeta) {
        if let Some(last) = self.runs.back_mut() {
            if last.continued_by(topic, partition, &ended) {
                last.msgs.push(m);
                self.len += 1;
                return;
            }
        }
        let mut msgs = self.list(1);
        msgs.push(m);
        self.push_batch(topic, partition, ended, msgs);
    }

    /// Puts up to `max` reports, oldest first, in `out` in place of what it held.
    ///
    /// `out` is the buffer of the reports served last: its entries are written over,
    /// and an entry that names the same topic (and error) as its new report keeps its
    /// references, so that a report costs no reference count changes: two atomic
    /// operations per message, once a good share of serving a report.
    pub fn take_into(&mut self, max: usize, out: &mut Vec<Report>) {
        let mut left = max.min(self.len);
        let mut at = 0;
        while left > 0 {
            let Some(run) = self.runs.front() else { break };
            let n = (run.msgs.len() - self.served).min(left);
            let from = self.served;
            let e = &run.ended;
            for (i, m) in run.msgs[from..from + n].iter().enumerate() {
                let offset = if e.base_offset >= 0 {
                    e.base_offset + (from + i) as i64
                } else {
                    -1
                };
                let timestamp = if e.append_time >= 0 {
                    e.append_time
                } else {
                    m.timestamp
                };
                match out.get_mut(at) {
                    Some(r) => {
                        if !Arc::ptr_eq(&r.topic, &run.topic) {
                            r.topic = run.topic.clone();
                        }
                        if !same_error(&r.error, &e.error) {
                            r.error = e.error.clone();
                        }
                        r.partition = run.partition;
                        r.offset = offset;
                        r.timestamp = timestamp;
                        r.status = e.status;
                        r.opaque = m.opaque;
                    }
                    None => out.push(Report {
                        topic: run.topic.clone(),
                        partition: run.partition,
                        offset,
                        timestamp,
                        error: e.error.clone(),
                        status: e.status,
                        opaque: m.opaque,
                    }),
                }
                at += 1;
            }
            left -= n;
            self.len -= n;
            self.served += n;
            if self.served == run.msgs.len() {
                let run = self.runs.pop_front().expect("front");
                self.served = 0;
                self.keep_list(run.msgs);
            }
        }
        out.truncate(at);
    }

    /// An empty message list with room for `n`: a kept one when there is one.
    pub fn list(&mut self, n: usize) -> Vec<MsgMeta> {
        match self.spare.pop() {
            Some(mut v) => {
                self.spare_entries -= v.capacity();
                v.reserve(n);
                v
            }
            None => Vec::with_capacity(n),
        }
    }

    fn keep_list(&mut self, mut msgs: Vec<MsgMeta>) {
        if self.spare.len() < SPARE_LISTS && self.spare_entries + msgs.capacity() <= SPARE_ENTRIES {
            msgs.clear();
            self.spare_entries += msgs.capacity();
            self.spare.push(msgs);
        }
    }

    /// Lets the kept lists go.
    pub fn clear_spare(&mut self) {
        self.spare = Vec::new();
        self.spare_entries = 0;
    }

    /// How many emptied lists are kept.
    #[cfg(test)]
    pub fn spare_lists(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(i: usize) -> MsgMeta {
        MsgMeta {
            opaque: i,
            timestamp: 1000 + i as i64,
        }
    }

    /// Runs become one report per message, in order, with offsets from the run's first
    /// and the broker's append time when it gave one; taken in slices of any size.
    #[test]
    fn runs_become_reports_in_order_across_slices() {
        let t = TopicName::new("t");
        let u = TopicName::new("u");
        let mut r = Reports::new();
        let batch = |from: usize, to: usize| (from..to).map(meta).collect::<Vec<_>>();
        let sent = |base, append| Ended::sent(base, append, Persisted::Persisted);
        r.push_batch(&t, 0, sent(100, -1), batch(0, 5));
        r.push_batch(&u, 3, sent(7, 55), batch(5, 8));
        let e = Arc::new(Error::new(1, "failed"));
        r.push_batch(&t, 1, Ended::failed(e, Persisted::Possibly), batch(8, 10));
        assert_eq!(r.len(), 10);
        let mut got = Vec::new();
        for max in [2, 4, 1, 100] {
            let mut out = Vec::new();
            r.take_into(max, &mut out);
            got.extend(out);
        }
        assert!(r.is_empty());
        let summary: Vec<(&str, i32, i64, i64, usize, bool, Persisted)> = got
            .iter()
            .map(|x| {
                (
                    x.topic.name.as_str(),
                    x.partition,
                    x.offset,
                    x.timestamp,
                    x.opaque,
                    x.error.is_some(),
                    x.status,
                )
            })
            .collect();
        let p = Persisted::Persisted;
        let q = Persisted::Possibly;
        assert_eq!(
            summary,
            vec![
                ("t", 0, 100, 1000, 0, false, p),
                ("t", 0, 101, 1001, 1, false, p),
                ("t", 0, 102, 1002, 2, false, p),
                ("t", 0, 103, 1003, 3, false, p),
                ("t", 0, 104, 1004, 4, false, p),
                ("u", 3, 7, 55, 5, false, p),
                ("u", 3, 8, 55, 6, false, p),
                ("u", 3, 9, 55, 7, false, p),
                ("t", 1, -1, 1008, 8, true, q),
                ("t", 1, -1, 1009, 9, true, q),
            ]
        );
        // The three emptied lists wait for new batches.
        assert_eq!(r.spare_lists(), 3);
        assert!(r.list(10).capacity() >= 10);
        assert_eq!(r.spare_lists(), 2);
        r.clear_spare();
        assert_eq!(r.spare_lists(), 0);
        // What is kept stays within its bound.
        for _ in 0..4 {
            let big = Vec::with_capacity(SPARE_ENTRIES / 3);
            r.push_batch(&t, 0, Ended::sent(-1, -1, Persisted::Persisted), big);
        }
        assert_eq!(r.spare_lists(), 3);
        assert!(r.spare_entries <= SPARE_ENTRIES);
    }

    /// A buffer of served reports is written over: every field of the new reports, the
    /// topic and error references replaced only where they differ, the rest cut off.
    #[test]
    fn a_served_buffer_is_written_over_and_keeps_equal_references() {
        let t = TopicName::new("t");
        let u = TopicName::new("u");
        let e = Arc::new(Error::new(1, "failed"));
        let mut r = Reports::new();
        let batch = |from: usize, to: usize| (from..to).map(meta).collect::<Vec<_>>();
        let failed = |e: &Arc<Error>| Ended::failed(e.clone(), Persisted::Not);
        r.push_batch(&t, 2, failed(&e), batch(0, 6));
        let mut out = Vec::new();
        r.take_into(100, &mut out);
        assert_eq!(out.len(), 6);
        let t_refs = Arc::strong_count(&t);
        let e_refs = Arc::strong_count(&e);
        // The same topic and error again: no reference changes.
        r.push_batch(&t, 3, failed(&e), batch(10, 14));
        r.take_into(100, &mut out);
        assert_eq!(
            Arc::strong_count(&t),
            t_refs - 2,
            "two stale entries cut off"
        );
        assert_eq!(Arc::strong_count(&e), e_refs - 2);
        let got: Vec<(i32, i64, i64, usize)> = out
            .iter()
            .map(|x| (x.partition, x.offset, x.timestamp, x.opaque))
            .collect();
        assert_eq!(
            got,
            (10..14)
                .map(|i| (3, -1, 1000 + i as i64, i))
                .collect::<Vec<_>>()
        );
        // Another topic, delivered: the references are replaced, and more entries added.
        r.push_batch(
            &u,
            0,
            Ended::sent(40, -1, Persisted::Persisted),
            batch(20, 23),
        );
        r.push_batch(&t, 1, failed(&e), batch(23, 26));
        r.take_into(100, &mut out);
        let got: Vec<(&str, i32, i64, usize, bool, Persisted)> = out
            .iter()
            .map(|x| {
                let name = x.topic.name.as_str();
                (
                    name,
                    x.partition,
                    x.offset,
                    x.opaque,
                    x.error.is_some(),
                    x.status,
                )
            })
            .collect();
        let (p, n) = (Persisted::Persisted, Persisted::Not);
        assert_eq!(
            got,
            vec![
                ("u", 0, 40, 20, false, p),
                ("u", 0, 41, 21, false, p),
                ("u", 0, 42, 22, false, p),
                ("t", 1, -1, 23, true, n),
                ("t", 1, -1, 24, true, n),
                ("t", 1, -1, 25, true, n),
            ]
        );
        assert!(Arc::ptr_eq(out[3].error.as_ref().expect("error"), &e));
        // Nothing waiting: the buffer comes back empty.
        r.take_into(100, &mut out);
        assert!(out.is_empty());
        assert_eq!(Arc::strong_count(&e), 1);
    }

    /// Single reports continue the last run only when they ended alike (the same error
    /// value, status, partition, and following offsets).
    #[test]
    fn single_reports_join_the_last_run_only_when_alike() {
        let t = TopicName::new("t");
        let mut r = Reports::new();
        let e = Arc::new(Error::new(1, "failed"));
        let not = Persisted::Not;
        let failed = |e: &Arc<Error>| Ended::failed(e.clone(), not);
        let at = |offset| Ended::sent(offset, -1, Persisted::Persisted);
        for i in 0..3 {
            r.push_one(&t, 0, failed(&e), meta(i));
        }
        assert_eq!(r.runs.len(), 1);
        // Another error value, another partition, offsets: new runs.
        r.push_one(&t, 0, failed(&Arc::new(Error::new(1, "x"))), meta(3));
        r.push_one(&t, 1, failed(&e), meta(4));
        r.push_one(&t, 1, at(10), meta(5));
        r.push_one(&t, 1, at(11), meta(6));
        r.push_one(&t, 1, at(13), meta(7));
        assert_eq!(r.runs.len(), 5);
        let mut out = Vec::new();
        r.take_into(usize::MAX, &mut out);
        let offsets: Vec<i64> = out.iter().map(|x| x.offset).collect();
        assert_eq!(offsets, vec![-1, -1, -1, -1, -1, 10, 11, 13]);
        let opaques: Vec<usize> = out.iter().map(|x| x.opaque).collect();
        assert_eq!(opaques, (0..8).collect::<Vec<_>>());
        assert_eq!(r.len(), 0);
        r.push_one(&t, 0, Ended::sent(-1, -1, not), meta(8));
        r.clear();
        assert!(r.is_empty());
        out.clear();
        r.take_into(10, &mut out);
        assert!(out.is_empty());
    }
}
