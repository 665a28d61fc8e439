//! The consumer's fetcher (a sans-I/O state machine) driven against Apache Kafka 4.3 (three
//! KRaft nodes on loopback) by a small driver in this test: requests go out on the
//! client's fetch connections and their answers come back on a completion queue.
//!
//! 10,000 records produced to a 3-partition topic (one leader per node) are consumed with
//! a 256 KiB budget, far less than the data: the fetcher must wait for the application to
//! release chunks. Every record arrives once, in order per partition, and the budget's
//! usage never exceeds its limit (the bound the fetcher documents).

mod common;

use common::client::create_topic;
use common::kafka;
use common::with_timeout;
use kafkac::cluster::Purpose;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::fetcher::{
    Budget, Chunk, FetchAction, FetchEvent, FetchRequestKind, FetchResponseKind, FetchSettings,
    Fetcher, OffsetReset,
};
use kafkac::net::events::CompletionQueue;
use kafkac::net::Connection;
use kafkac::protocol::messages::{FetchRequest, ListOffsetsRequest};
use kafkac::record::{Compression, RecordIn};
use kafkac::Client;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(240);
/// Consuming everything must take less than this.
const CONSUME: Duration = Duration::from_secs(90);
/// Longest the application holds back before taking the first chunk.
const HOLD: Duration = Duration::from_secs(5);
const RECORDS: usize = 10_000;
const PARTITIONS: i32 = 3;
const BUDGET: usize = 256 << 10;

fn value(p: i32, i: usize) -> Vec<u8> {
    format!("p{p}-r{i:06}-{}", "x".repeat(80)).into_bytes()
}

/// Produces RECORDS records round the partitions, 250 to a batch; returns how many each
/// partition got.
fn produce(c: &Client, topic: &str) -> Vec<usize> {
    let mut counts = vec![0usize; PARTITIONS as usize];
    for (i, n) in counts.iter_mut().enumerate() {
        *n = RECORDS / PARTITIONS as usize + usize::from(i < RECORDS % PARTITIONS as usize);
    }
    for p in 0..PARTITIONS {
        let n = counts[p as usize];
        let values: Vec<Vec<u8>> = (0..n).map(|i| value(p, i)).collect();
        for chunk in values.chunks(250) {
            let recs: Vec<RecordIn<'_>> = chunk
                .iter()
                .map(|v| RecordIn {
                    key: None,
                    value: Some(v),
                    headers: &[],
                    timestamp: None,
                })
                .collect();
            c.produce(topic, p, &recs, -1, Compression::None, T)
                .unwrap_or_else(|e| panic!("produce to {topic}/{p}: {e}"));
        }
    }
    counts
}

struct Driver {
    c: Client,
    q: Arc<CompletionQueue>,
    /// Request id → its connection, version and whether it is a Fetch.
    sent: HashMap<u64, (Arc<Connection>, i16, bool)>,
}

impl Driver {
    fn send(&mut self, f: &mut Fetcher, id: u64, broker: i32, req: FetchRequestKind) {
        let deadline = Instant::now() + T;
        let conn = self
            .c
            .cluster()
            .broker_for(broker, Purpose::Fetch, deadline)
            .unwrap_or_else(|e| panic!("connection to broker {broker}: {e}"));
        let r = match &req {
            FetchRequestKind::Fetch(r) => {
                let v = conn.version_of::<FetchRequest>().unwrap();
                conn.send_to_queue(r, v, &self.q, id).map(|_| (v, true))
            }
            FetchRequestKind::ListOffsets(r) => {
                let v = conn.version_of::<ListOffsetsRequest>().unwrap();
                conn.send_to_queue(r, v, &self.q, id).map(|_| (v, false))
            }
        };
        match r {
            Ok((v, fetch)) => {
                self.sent.insert(id, (conn, v, fetch));
            }
            Err(e) => f.on_response(id, Err(e), 0, Instant::now()),
        }
    }

    /// Hands the answers that arrive until `deadline` (at least one, if any comes) to the
    /// fetcher.
    fn receive(&mut self, f: &mut Fetcher, deadline: Instant) {
        let mut until = deadline;
        while let Some((id, body)) = self.q.pop(until) {
            let Some((conn, v, fetch)) = self.sent.remove(&id) else {
                continue;
            };
            let r = body.and_then(|b| {
                if fetch {
                    conn.decode_body::<FetchRequest>(&b, v)
                        .map(FetchResponseKind::Fetch)
                } else {
                    conn.decode_body::<ListOffsetsRequest>(&b, v)
                        .map(FetchResponseKind::ListOffsets)
                }
            });
            f.on_response(id, r, v, Instant::now());
            until = Instant::now();
        }
    }

    fn leaders(&self, f: &mut Fetcher, topics: &[String]) {
        self.c
            .cluster()
            .refresh_topics(topics, Instant::now(), Instant::now() + T)
            .unwrap();
        f.set_leaders(&self.c.cluster().snapshot());
    }
}

#[test]
fn the_fetcher_consumes_every_record_once_in_order_within_its_budget() {
    with_timeout(LIMIT, || {
        let k = kafka::shared3();
        let c = common::client::client(&k.bootstrap);
        let topic = "fetcher-budget";
        create_topic(&c, topic, PARTITIONS, 1, &[], T);
        common::wait_until(T, "leaders", || {
            c.metadata(Some(&[topic.to_string()]), T)
                .map(|md| {
                    md.topics[0].error_code == 0
                        && md.topics[0].partitions.len() == PARTITIONS as usize
                        && md.topics[0].partitions.iter().all(|p| p.leader >= 0)
                })
                .unwrap_or(false)
        });
        let counts = produce(&c, topic);

        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let budget = Arc::new(Budget::new(
            BUDGET,
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        ));
        let settings = FetchSettings {
            max_wait: Duration::from_millis(200),
            budget_bytes: BUDGET,
            reset: OffsetReset::Earliest,
            check_crcs: true,
            partition_eof: true,
            retry_backoff: Duration::from_millis(50),
            ..FetchSettings::default()
        };
        let mut f = Fetcher::new(settings, budget.clone());
        let tps: Vec<TopicPartition> = (0..PARTITIONS)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        f.assign(&tps);
        let mut d = Driver {
            c,
            q: Arc::new(CompletionQueue::new()),
            sent: HashMap::new(),
        };
        d.leaders(&mut f, &[topic.to_string()]);
        // No committed offset: auto.offset.reset=earliest finds offset 0 (ListOffsets).
        for tp in &tps {
            f.set_position(tp, -1, -1);
        }

        let mut queue: VecDeque<Chunk> = VecDeque::new();
        let mut next = vec![0usize; PARTITIONS as usize];
        let mut resets = 0;
        let mut eofs = 0;
        let mut waited_full = 0;
        let mut max_used = 0;
        let mut most_queued = 0;
        let start = Instant::now();
        while next != counts {
            assert!(
                start.elapsed() < CONSUME,
                "consumed {next:?} of {counts:?} in {CONSUME:?}"
            );
            let actions = f.poll(Instant::now());
            let sent_any = actions
                .iter()
                .any(|a| matches!(a, FetchAction::Send { .. }));
            for a in actions {
                match a {
                    FetchAction::Send { id, broker, req } => d.send(&mut f, id, broker, req),
                    FetchAction::NeedMetadata(topics) => d.leaders(&mut f, &topics),
                    FetchAction::Deliver(chunk) => queue.push_back(chunk),
                    FetchAction::Event(FetchEvent::Reset { tp, offset }) => {
                        assert_eq!(offset, 0, "{tp:?}");
                        resets += 1;
                    }
                    FetchAction::Event(FetchEvent::Eof { tp, offset }) => {
                        assert_eq!(offset as usize, counts[tp.partition as usize], "{tp:?}");
                        eofs += 1;
                    }
                    FetchAction::Event(FetchEvent::Error { tp, error }) => {
                        panic!("{tp:?}: {error}")
                    }
                }
            }
            let used = budget.used();
            max_used = max_used.max(used);
            assert!(used <= budget.limit(), "{used} > {}", budget.limit());
            most_queued = most_queued.max(queue.len());
            if !sent_any && d.sent.len() < PARTITIONS as usize && !queue.is_empty() {
                // A broker without a request in flight, and nothing sent: memory is short.
                waited_full += 1;
            }
            // The application takes nothing until the fetcher has run out of memory once
            // (or a few seconds passed), so that the budget fills whatever the brokers'
            // speed: taking chunks as they came, a run on a busy machine never filled it.
            let holding = waited_full == 0 && start.elapsed() < HOLD;
            // A slow application: one chunk per round, checked record by record.
            let taken = if holding { None } else { queue.pop_front() };
            if let Some(chunk) = taken {
                let p = chunk.tp.partition as usize;
                for r in chunk.records.iter() {
                    assert_eq!(r.offset as usize, next[p], "partition {p}");
                    assert_eq!(
                        r.value,
                        Some(&value(p as i32, next[p])[..]),
                        "partition {p} offset {}",
                        r.offset
                    );
                    next[p] += 1;
                }
                drop(chunk);
                // Slower than the broker, so that the budget fills.
                std::thread::sleep(Duration::from_millis(3));
                d.receive(&mut f, Instant::now());
            } else {
                let wait = f
                    .next_timer()
                    .unwrap_or_else(|| Instant::now() + Duration::from_millis(100))
                    .min(Instant::now() + Duration::from_millis(100));
                d.receive(&mut f, wait);
            }
        }
        assert_eq!(resets, PARTITIONS, "one reset per partition");
        assert!(eofs >= 1, "the end of at least one partition was reported");
        assert!(budget.peak() <= BUDGET, "peak {} > {BUDGET}", budget.peak());
        // The application's release woke the fetcher: it had been waiting for memory.
        assert!(
            wakes.load(Ordering::SeqCst) > 0,
            "the budget never filled (peak {}, {waited_full} rounds with nothing sent)",
            budget.peak()
        );
        println!(
            "consumed {RECORDS} records in {:?}; budget peak {} of {BUDGET}, {} wakes, \
             {waited_full} rounds waiting for memory, at most {most_queued} chunks queued",
            start.elapsed(),
            budget.peak(),
            wakes.load(Ordering::SeqCst)
        );
        // Releasing everything leaves nothing charged.
        drop(queue);
        assert!(max_used > 0);
        d.receive(&mut f, Instant::now() + Duration::from_millis(500));
        drop(f);
        assert_eq!(budget.used(), 0);
    });
}
