//! What the deterministic simulators (`sim_conn`, `sim_producer`, `sim_group`) share: the
//! random numbers every choice of a scenario comes from ([`Rng`]), the queue of events to
//! come ([`Schedule`]), the coverage kinds ([`hits!`](crate::hits)) and their table, and
//! the seed runner ([`run_seeds`]).
//!
//! The runner reads the same environment in every simulator:
//!
//! * `SIM_SEED=<n>`: run that seed only; with `SIM_TRACE` set, print its plan and every
//!   event instead of running it among the others;
//! * `SIM_SEEDS=<n>`: how many seeds (0 to n-1) to run, else the simulator's default;
//! * `SIM_KEEP_GOING`: run every seed and list all that fail, instead of stopping each
//!   thread at its first failure.
//!
//! The default run must finish within the simulator's time limit; a single seed, more
//! seeds than the default or `SIM_KEEP_GOING` lift it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ----- PRNG -------------------------------------------------------------------------------

/// splitmix64: every random choice of a scenario comes from one of these.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of seed `seed`, mixed with `mix`: each simulator has its own `mix`, so
    /// that the same seed number means unrelated scenarios in different simulators.
    pub fn new(seed: u64, mix: u64) -> Rng {
        Rng(seed ^ mix)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`; draws nothing when `p` is 0 or less.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A rate in `lo..hi` with probability `on`, else 0.
    pub fn rate(&mut self, on: f64, lo: f64, hi: f64) -> f64 {
        if self.chance(on) {
            lo + (hi - lo) * self.unit()
        } else {
            0.0
        }
    }

    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

// ----- events -----------------------------------------------------------------------------

/// An event due at simulated time `at`.
pub struct Scheduled<E> {
    pub at: u64,
    seq: u64,
    pub ev: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Scheduled<E> {
    /// Earliest first (BinaryHeap is a max-heap); same time: scheduled first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The events to come: the earliest first, and of those due at the same time the one
/// scheduled first.
pub struct Schedule<E> {
    seq: u64,
    heap: BinaryHeap<Scheduled<E>>,
}

impl<E> Schedule<E> {
    pub fn new() -> Schedule<E> {
        Schedule {
            seq: 0,
            heap: BinaryHeap::new(),
        }
    }

    pub fn push(&mut self, at: u64, ev: E) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            ev,
        });
    }

    pub fn pop(&mut self) -> Option<Scheduled<E>> {
        self.heap.pop()
    }
}

// ----- coverage ---------------------------------------------------------------------------

/// Declares the coverage kinds of a simulator: `enum Hit` with `Hit::ALL`, and `N_HITS`.
#[macro_export]
macro_rules! hits {
    ($($name:ident),* $(,)?) => {
        /// What the run exercised; every kind must be hit at least once in a full run.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Hit { $($name),* }
        impl Hit {
            const ALL: &'static [Hit] = &[$(Hit::$name),*];
        }
        const N_HITS: usize = Hit::ALL.len();
    };
}

/// Adds `from` into `into`, kind by kind (`into` grows to `from`'s length).
fn add_hits(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (t, h) in into.iter_mut().zip(from) {
        *t += h;
    }
}

// ----- running seeds ----------------------------------------------------------------------

/// The number in environment variable `name`, if set.
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// Runs one scenario; a panic inside it counts as a violation.
pub fn catch_panic(run: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panic: {msg}"))
    })
}

/// What every scenario records as it runs.
pub struct Record {
    /// Events handled.
    pub events: u64,
    /// Times each coverage kind was hit, in `Hit::ALL` order.
    pub hits: Vec<u64>,
    /// Every event, when tracing.
    pub trace: Option<String>,
}

impl Record {
    /// A record for `kinds` coverage kinds, with a trace when `trace`.
    pub fn new(kinds: usize, trace: bool) -> Record {
        Record {
            events: 0,
            hits: vec![0; kinds],
            trace: trace.then(String::new),
        }
    }
}

/// A scenario that has run, as the runner reports it.
pub trait Scenario: Sized {
    /// What the simulator adds up over the seeds that pass, besides what every simulator
    /// counts (seeds, events, coverage).
    type Totals: Tally<Sim = Self>;
    /// One line naming the plan's main choices (`plan: ...`), shown with a failure.
    fn describe(&self) -> String;
    /// What `SIM_TRACE` prints before the events.
    fn show_plan(&self) -> String;
    /// What it recorded.
    fn record(&self) -> &Record;

    /// The events recorded (empty when not tracing).
    fn trace(&self) -> &str {
        self.record().trace.as_deref().unwrap_or_default()
    }
}

/// A simulator's own sums over the seeds that pass.
pub trait Tally: Default + Send + 'static {
    /// The simulator's scenario.
    type Sim;
    fn add(&mut self, seed: u64, sim: &Self::Sim);
    fn merge(&mut self, other: Self);
}

/// How a simulator's seeds run.
pub struct Runner {
    default_seeds: u64,
    max_threads: usize,
    run_limit: Duration,
    replay_hint: fn(u64) -> String,
}

impl Runner {
    /// `default_seeds` unless `SIM_SEEDS` says otherwise, on up to `max_threads` threads
    /// (fewer on fewer cores); the default run must finish within `run_limit` (real
    /// time). `replay_hint` gives the line that tells how to replay a failed seed.
    pub fn new(
        default_seeds: u64,
        max_threads: usize,
        run_limit: Duration,
        replay_hint: fn(u64) -> String,
    ) -> Runner {
        Runner {
            default_seeds,
            max_threads,
            run_limit,
            replay_hint,
        }
    }
}

/// A seed that failed, with its report.
pub type Failure = (u64, String);

/// Sums over the seeds that passed.
#[derive(Default)]
pub struct Sums<T> {
    /// Seeds that passed.
    pub seeds: u64,
    pub events: u64,
    /// Times each coverage kind was hit.
    pub hits: Vec<u64>,
    /// The simulator's own.
    pub totals: T,
}

impl<T: Tally> Sums<T> {
    fn add(&mut self, seed: u64, sim: &T::Sim)
    where
        T::Sim: Scenario,
    {
        self.seeds += 1;
        self.events += sim.record().events;
        add_hits(&mut self.hits, &sim.record().hits);
        self.totals.add(seed, sim);
    }

    fn merge(&mut self, o: Sums<T>) {
        self.seeds += o.seeds;
        self.events += o.events;
        add_hits(&mut self.hits, &o.hits);
        self.totals.merge(o.totals);
    }
}

/// What a run of many seeds found.
pub struct Ran<T> {
    pub sums: Sums<T>,
    pub failures: Vec<Failure>,
    /// Seeds asked for.
    pub n: u64,
    /// `SIM_SEED` named the one seed.
    pub single: bool,
    pub threads: usize,
    pub secs: f64,
}

/// Runs the seeds the environment asks for, `run(seed, trace)` each, spread over threads.
/// Returns `None` when `SIM_TRACE` printed one seed instead (it panics if that seed fails).
pub fn run_seeds<S, R>(cfg: &Runner, run: R) -> Option<Ran<S::Totals>>
where
    S: Scenario,
    R: Fn(u64, bool) -> (Result<(), String>, S) + Clone + Send + 'static,
{
    let single = env_u64("SIM_SEED");
    let count = env_u64("SIM_SEEDS").unwrap_or(cfg.default_seeds);
    let keep_going = std::env::var_os("SIM_KEEP_GOING").is_some();
    if let Some(seed) = single {
        if std::env::var_os("SIM_TRACE").is_some() {
            let (res, sim) = run(seed, true);
            println!("{}", sim.show_plan());
            println!("{}", sim.trace());
            if let Err(v) = res {
                panic!("seed {seed}: {v}\n{}", (cfg.replay_hint)(seed));
            }
            return None;
        }
    }
    let seeds: Vec<u64> = match single {
        Some(s) => vec![s],
        None => (0..count).collect(),
    };
    let n = seeds.len() as u64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(cfg.max_threads);
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let mine: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
        let tx = tx.clone();
        let run = run.clone();
        let hint = cfg.replay_hint;
        std::thread::Builder::new()
            .name(format!("sim-{t}"))
            .spawn(move || {
                let _ = tx.send(run_range(mine, &run, hint, keep_going));
            })
            .expect("spawn");
    }
    drop(tx);
    let limit = if single.is_none() && count <= cfg.default_seeds && !keep_going {
        cfg.run_limit
    } else {
        Duration::from_secs(24 * 3600)
    };
    let mut sums = Sums::default();
    let mut failures = Vec::new();
    for _ in 0..threads {
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok((s, f)) => {
                sums.merge(s);
                failures.extend(f);
            }
            Err(_) => panic!("the simulation did not finish within {limit:?}"),
        }
    }
    Some(Ran {
        sums,
        failures,
        n,
        single: single.is_some(),
        threads,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Runs `seeds` in order; a failing seed is run again with a trace for its report, and
/// ends the range unless `keep_going`.
fn run_range<S, R>(
    seeds: Vec<u64>,
    run: &R,
    replay_hint: fn(u64) -> String,
    keep_going: bool,
) -> (Sums<S::Totals>, Vec<Failure>)
where
    S: Scenario,
    R: Fn(u64, bool) -> (Result<(), String>, S),
{
    let mut sums = Sums::default();
    let mut failures = Vec::new();
    for seed in seeds {
        let (res, sim) = run(seed, false);
        if let Err(v) = res {
            let (_, sim) = run(seed, true);
            let tail: Vec<&str> = sim.trace().lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push((
                seed,
                format!(
                    "seed {seed} violated an invariant: {v}\n{}\nlast events:\n{}\n{}",
                    sim.describe(),
                    tail.join("\n"),
                    replay_hint(seed)
                ),
            ));
            if !keep_going {
                break;
            }
            continue;
        }
        sums.add(seed, &sim);
    }
    (sums, failures)
}

impl<T: Tally> Ran<T> {
    /// How every simulator's summary line goes on after its name: `N seeds in S s on T
    /// threads (R seeds/s); E events`.
    pub fn summary(&self) -> String {
        let (seeds, secs) = (self.sums.seeds, self.secs);
        format!(
            "{seeds} seeds in {secs:.2} s on {} threads ({:.0} seeds/s); {} events",
            self.threads,
            seeds as f64 / secs,
            self.sums.events
        )
    }

    /// Prints how often each kind in `all` was hit, names padded to `width`.
    pub fn print_coverage<H: Debug>(&self, all: &[H], width: usize) {
        println!("coverage (times each fault or situation was hit):");
        for (i, h) in all.iter().enumerate() {
            let c = self.sums.hits.get(i).copied().unwrap_or(0);
            println!("  {:<width$} {c}", format!("{h:?}"));
        }
    }

    /// Fails the test if a seed failed (listing them all, the first in full); then, for a
    /// run of 1,000 seeds or more with `check_coverage`, if a kind in `all` was never hit.
    pub fn finish<H: Debug>(mut self, all: &[H], check_coverage: bool) {
        if !self.failures.is_empty() {
            self.failures.sort_by_key(|f| f.0);
            let seeds: Vec<u64> = self.failures.iter().map(|f| f.0).collect();
            for f in &self.failures {
                println!("{}", f.1.lines().next().unwrap_or_default());
            }
            panic!(
                "{} seed(s) failed: {seeds:?}\nfirst:\n{}",
                self.failures.len(),
                self.failures[0].1
            );
        }
        let n = self.n;
        if !self.single && n >= 1000 && check_coverage {
            let missed: Vec<String> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| self.sums.hits.get(*i).copied().unwrap_or(0) == 0)
                .map(|(_, h)| format!("{h:?}"))
                .collect();
            assert!(missed.is_empty(), "never hit over {n} seeds: {missed:?}");
        }
    }
}

/// Runs each of `seeds` twice with a trace and fails unless both runs had the same
/// outcome, events, coverage and trace.
pub fn assert_replays<S, R>(seeds: &[u64], run: R)
where
    S: Scenario,
    R: Fn(u64, bool) -> (Result<(), String>, S),
{
    for &seed in seeds {
        let (a, sa) = run(seed, true);
        let (b, sb) = run(seed, true);
        assert_eq!(a, b);
        assert_eq!(sa.record().events, sb.record().events);
        assert_eq!(sa.record().hits, sb.record().hits);
        assert_eq!(sa.trace(), sb.trace(), "seed {seed} did not replay");
    }
}
