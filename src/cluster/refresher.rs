//! Background metadata refresh: every `topic.metadata.refresh.interval.ms`, the metadata
//! of every topic the client knows is asked for again, so leadership changes are seen
//! before a request runs into them. One thread per client (`kc-meta`); it holds the
//! cluster only while it refreshes.

use super::Cluster;
use parking_lot::{Condvar, Mutex};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Refresher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Starts the thread; `None` when `interval` is zero (refresh disabled) or the thread
    /// cannot be started (refreshes then happen on demand only).
    pub fn start(cluster: Weak<Cluster>, interval: Duration) -> Option<Refresher> {
        if interval.is_zero() {
            return None;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("kc-meta".into())
            .spawn(move || run(cluster, interval, stop2))
            .ok()?;
        Some(Refresher {
            stop,
            handle: Some(handle),
        })
    }

    /// Asks the thread to stop (it stops before its next refresh).
    pub fn signal_stop(&self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.signal_stop();
        if let Some(h) = self.handle.take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(cluster: Weak<Cluster>, interval: Duration, stop: Arc<(Mutex<bool>, Condvar)>) {
    loop {
        {
            let mut stopped = stop.0.lock();
            let until = Instant::now() + interval;
            while !*stopped {
                if stop.1.wait_until(&mut stopped, until).timed_out() {
                    break;
                }
            }
            if *stopped {
                return;
            }
        }
        let Some(c) = cluster.upgrade() else {
            return;
        };
        let topics = c.snapshot().names();
        if !topics.is_empty() {
            let deadline = Cluster::deadline(c.settings.socket_timeout);
            // A failure is not fatal: the next request refreshes on demand.
            let _ = c.fetch_metadata(Some(&topics), deadline);
        }
    }
}
