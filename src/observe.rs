//! Progress and cancellation: long calls run on a worker thread while the calling thread
//! watches, so the caller's callback always runs on the caller's own thread and a cancel takes
//! effect within one tick, even while the server is still thinking.

use crate::error::{Error, Result};
use crate::multipart::Transfer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the watching thread checks for a cancel and for new progress: the callback is
/// called at most once per tick (20 times a second), and only when a figure changed.
pub const TICK: Duration = Duration::from_millis(50);

/// A flag that stops a call from any thread. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that has not been triggered.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every call watching this token to stop; they end with `Cancelled`. Irreversible.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Bytes moved so far and the expected total (0 when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes uploaded (compress) or downloaded (fetch, save) so far.
    pub done: u64,
    /// The total expected, or 0 when unknown.
    pub total: u64,
}

/// What a caller watches a call with: a progress callback and a cancel token, both optional.
#[derive(Default)]
pub struct Observer<'a> {
    progress: Option<Box<dyn FnMut(Progress) -> bool + 'a>>,
    tick: Option<Box<dyn FnMut() -> bool + 'a>>,
    cancel: Option<CancelToken>,
    /// The figures last reported, so that unchanged ones are not reported again.
    last: Option<Progress>,
}

impl<'a> Observer<'a> {
    /// No progress, no cancel: the call runs directly on the calling thread.
    pub fn none() -> Observer<'a> {
        Observer::default()
    }

    /// Calls `f` on the calling thread when the figures change, at most every 50 ms (and once
    /// at the start); returning `false` cancels the call. While nothing moves (the server is
    /// still working) `f` is not called: stop such a call with a [`CancelToken`].
    pub fn with_progress(mut self, f: impl FnMut(Progress) -> bool + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Calls `f` on the calling thread about every 50 ms while the call runs, whether or not
    /// anything moved: for a host that keeps an event loop or a busy indicator alive during a
    /// call (an editor's Cancel button); returning `false` cancels the call.
    pub fn with_tick(mut self, f: impl FnMut() -> bool + 'a) -> Self {
        self.tick = Some(Box::new(f));
        self
    }

    /// Stops the call when `token` is triggered.
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// For calls that watch their own workers (folder sync): reports `done` of `total` bytes
    /// and checks the cancel token; `false` when the caller wants to stop.
    pub(crate) fn poll(&mut self, done: u64, total: u64) -> bool {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return false;
        }
        match &mut self.progress {
            Some(f) => f(Progress { done, total }),
            None => true,
        }
    }

    fn is_passive(&self) -> bool {
        self.progress.is_none() && self.cancel.is_none() && self.tick.is_none()
    }

    /// Calls the tick callback and reports progress; `false` when the caller wants to stop.
    fn tick(&mut self, transfer: &Transfer, total: u64) -> bool {
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return false;
        }
        if let Some(f) = &mut self.tick {
            if !f() {
                return false;
            }
        }
        match &mut self.progress {
            Some(f) => {
                let total = if total > 0 { total + transfer.more.load(Ordering::Relaxed) } else { 0 };
                let done = transfer.done.load(Ordering::Relaxed);
                // A retry restarts the count; never report more than the total when it is known.
                let now = Progress { done: if total > 0 { done.min(total) } else { done }, total };
                if self.last == Some(now) {
                    return true;
                }
                self.last = Some(now);
                f(now)
            }
            None => true,
        }
    }
}

/// Runs `job`, watched by `obs`. Without a callback or token the job runs inline. Otherwise it
/// runs on a worker thread and this thread ticks until it ends or the caller cancels; then the
/// transfer is flagged so the worker stops at its next read, and `Cancelled` is returned at once.
pub(crate) fn run<T: Send + 'static>(
    obs: &mut Observer,
    transfer: &Arc<Transfer>,
    total: u64,
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if obs.is_passive() {
        return job();
    }
    if !obs.tick(transfer, total) {
        return Err(Error::cancelled());
    }
    let (tx, rx) = mpsc::sync_channel(1);
    workers::run(Box::new(move || {
        let _quiet = crate::quiet::enter();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::new(crate::ErrorKind::Internal, format!("a worker thread panicked (please report): {what}")))
        });
        let _ = tx.send(out);
    }))
    .map_err(|e| Error::new(crate::ErrorKind::Internal, format!("cannot start a worker thread: {e}")))?;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(out) => {
                if out.is_ok() {
                    obs.tick(transfer, total);
                }
                return out;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::new(crate::ErrorKind::Internal, "the worker thread ended without an answer"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !obs.tick(transfer, total) {
                    // Closes the connection too: the server must not finish (and charge) the work.
                    crate::conn::cancel(transfer);
                    return Err(Error::cancelled());
                }
            }
        }
    }
}

/// Sleeps for a retry's backoff, waking early with `Cancelled` when the transfer is cancelled.
pub(crate) fn sleep(wait: Duration, transfer: &Transfer) -> Result<()> {
    let end = Instant::now() + wait;
    loop {
        if transfer.cancelled.load(Ordering::Relaxed) {
            return Err(Error::cancelled());
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// Worker threads for watched calls, kept after a call for the next one: starting a thread
/// costs more than a whole request on a keep-alive connection. An idle worker waits
/// `IDLE_EXIT` for work, then ends; at most `MAX_IDLE` wait at once.
mod workers {
    use std::sync::mpsc::{self, RecvTimeoutError, Sender};
    use std::sync::Mutex;
    use std::time::Duration;

    pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

    const IDLE_EXIT: Duration = Duration::from_secs(10);
    const MAX_IDLE: usize = 16;

    /// Idle workers' inboxes, with the process they belong to (a forked child has none).
    static IDLE: Mutex<(u32, Vec<Sender<Job>>)> = Mutex::new((0, Vec::new()));
    /// Inboxes inherited from a parent process, whose workers do not exist in this one.
    static PARENT_IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

    fn take_idle() -> Option<Sender<Job>> {
        let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        if idle.0 != pid {
            // Forked: the parent's workers do not exist here. Their inboxes are kept, unused,
            // rather than dropped, so nothing of the parent's is torn down in the child.
            PARENT_IDLE.lock().unwrap_or_else(|p| p.into_inner()).append(&mut idle.1);
            idle.0 = pid;
        }
        idle.1.pop()
    }

    /// Runs `job` on an idle worker, or on a new one.
    pub(super) fn run(mut job: Job) -> std::io::Result<()> {
        while let Some(inbox) = take_idle() {
            match inbox.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(back)) => job = back, // that worker just timed out
            }
        }
        std::thread::Builder::new().name("fluximage-call".into()).spawn(move || worker(job)).map(|_| ())
    }

    fn worker(first: Job) {
        let mut job = first;
        loop {
            job();
            let (tx, rx) = mpsc::channel();
            {
                let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
                if idle.0 != std::process::id() || idle.1.len() >= MAX_IDLE {
                    return;
                }
                idle.1.push(tx);
            }
            match rx.recv_timeout(IDLE_EXIT) {
                Ok(next) => job = next,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_reported_only_when_it_changes() {
        let transfer = Arc::new(Transfer::default());
        let mut seen = Vec::new();
        let t = transfer.clone();
        let out = {
            let mut obs = Observer::none().with_progress(|p| {
                seen.push(p);
                true
            });
            run(&mut obs, &transfer, 100, move || {
                std::thread::sleep(TICK * 6); // several ticks with nothing moving
                t.done.store(40, Ordering::Relaxed);
                std::thread::sleep(TICK * 4);
                t.done.store(100, Ordering::Relaxed);
                Ok(7)
            })
        };
        assert_eq!(out.unwrap(), 7);
        assert_eq!(seen, [Progress { done: 0, total: 100 }, Progress { done: 40, total: 100 }, Progress { done: 100, total: 100 }]);
    }

    #[test]
    fn the_tick_runs_while_nothing_moves_and_can_stop_the_call() {
        let transfer = Arc::new(Transfer::default());
        let mut ticks = 0;
        let e = {
            let mut obs = Observer::none().with_tick(|| {
                ticks += 1;
                ticks < 4
            });
            run(&mut obs, &transfer, 0, || {
                std::thread::sleep(TICK * 40);
                Ok(())
            })
            .unwrap_err()
        };
        assert_eq!(e.kind(), crate::ErrorKind::Cancelled);
        assert_eq!(ticks, 4);
    }

    #[test]
    fn a_worker_panic_keeps_its_message() {
        let transfer = Arc::new(Transfer::default());
        let mut obs = Observer::none().with_cancel(CancelToken::new());
        let e = run(&mut obs, &transfer, 0, || -> Result<()> { panic!("the disk is made of cheese") }).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Internal);
        assert!(e.message().contains("the disk is made of cheese"), "{}", e.message());
    }
}
