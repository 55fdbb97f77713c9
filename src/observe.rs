//! Progress and cancellation: a call with a callback runs on a worker thread while the calling
//! thread watches, so the caller's callback always runs on the caller's own thread and a cancel
//! takes effect within one tick, even while the server is still thinking. A call watched only
//! by a cancel token runs on the caller's thread; the token stops it by closing its connections.

use crate::error::{Error, Result};
use crate::multipart::Transfer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the watching thread checks for a cancel and for new progress: the callback is
/// called at most once per tick (20 times a second), and only when a figure changed.
pub const TICK: Duration = Duration::from_millis(50);

/// A flag that stops a call from any thread. Clones share the flag.
///
/// The token knows the calls running under it (each registers while it runs), so that
/// [`CancelToken::cancel`] stops them itself: it flags each one and shuts its connections. A
/// call watched only by a token therefore runs on the caller's own thread, with no worker to
/// hand it to.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<TokenState>);

#[derive(Debug, Default)]
struct TokenState {
    cancelled: AtomicBool,
    /// The calls running under this token now.
    live: Mutex<Vec<Arc<Transfer>>>,
}

impl CancelToken {
    /// A token that has not been triggered.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every call watching this token to stop; they end with `Cancelled`, and their
    /// connections are closed so that the server stops the work. A call still opening a
    /// connection ends when the connect does (at most the connect timeout). Irreversible.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        for transfer in self.0.live.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            crate::conn::cancel(transfer);
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Lists `transfer` as running under this token until the guard is dropped.
    fn attach(&self, transfer: &Arc<Transfer>) -> Attached<'_> {
        self.0
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(transfer.clone());
        // After listing it: a cancel either saw the transfer or is seen here.
        if self.is_cancelled() {
            crate::conn::cancel(transfer);
        }
        Attached {
            token: self,
            transfer: transfer.clone(),
        }
    }
}

/// See [`CancelToken::attach`].
struct Attached<'a> {
    token: &'a CancelToken,
    transfer: Arc<Transfer>,
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        let mut live = self.token.0.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = live.iter().position(|t| Arc::ptr_eq(t, &self.transfer)) {
            live.swap_remove(i);
        }
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
                let total = if total > 0 {
                    total + transfer.more.load(Ordering::Relaxed)
                } else {
                    0
                };
                let done = transfer.done.load(Ordering::Relaxed);
                // A retry restarts the count; never report more than the total when it is known.
                let now = Progress {
                    done: if total > 0 { done.min(total) } else { done },
                    total,
                };
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

/// Runs `job`, watched by `obs`. Without a callback the job runs inline: unwatched, or listed
/// with its cancel token, whose `cancel` flags the transfer and shuts its connections (a read
/// blocked on the server's answer then ends at once). With a callback it runs on a worker
/// thread and this thread ticks until it ends or the caller cancels; then the transfer is
/// flagged so the worker stops at its next read, and `Cancelled` is returned at once.
pub(crate) fn run<T: Send + 'static>(
    obs: &mut Observer,
    transfer: &Arc<Transfer>,
    total: u64,
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if obs.progress.is_none() && obs.tick.is_none() {
        let Some(token) = &obs.cancel else {
            return job();
        };
        let _listed = token.attach(transfer);
        if transfer.cancelled.load(Ordering::SeqCst) {
            return Err(Error::cancelled());
        }
        let out = job();
        // Whatever the job made of its shut connections (a network error, a batch of failed
        // items), a cancelled call reports the cancel.
        if transfer.cancelled.load(Ordering::SeqCst) {
            return Err(Error::cancelled());
        }
        return out;
    }
    if !obs.tick(transfer, total) {
        return Err(Error::cancelled());
    }
    let (tx, rx) = mpsc::sync_channel(1);
    workers::run(Box::new(move || {
        let _quiet = crate::quiet::enter();
        let out =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or_else(|payload| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(Error::new(
                    crate::ErrorKind::Internal,
                    format!("a worker thread panicked (please report): {what}"),
                ))
            });
        let _ = tx.send(out);
    }))
    .map_err(|e| {
        Error::new(
            crate::ErrorKind::Internal,
            format!("cannot start a worker thread: {e}"),
        )
    })?;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(out) => {
                if out.is_ok() {
                    obs.tick(transfer, total);
                }
                return out;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::new(
                    crate::ErrorKind::Internal,
                    "the worker thread ended without an answer",
                ))
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

/// Runs `job(k)` for every `k` in `0..n` on at most `threads` scoped threads, each taking the
/// next `k` when it finishes one (on the calling thread alone when one is enough). The threads
/// are quiet (see `quiet`); `job` keeps its own results.
pub(crate) fn each_on_threads(n: usize, threads: usize, job: impl Fn(usize) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let _quiet = crate::quiet::enter();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= n {
                return;
            }
            job(k);
        }
    };
    match threads.min(n) {
        0 | 1 => work(),
        t => std::thread::scope(|s| {
            for _ in 0..t {
                s.spawn(work);
            }
        }),
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
        let pid = crate::process::id();
        if idle.0 != pid {
            // Forked: the parent's workers do not exist here. Their inboxes are kept, unused,
            // rather than dropped, so nothing of the parent's is torn down in the child.
            PARENT_IDLE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&mut idle.1);
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
        std::thread::Builder::new()
            .name("fluximage-call".into())
            .spawn(move || worker(job))
            .map(|_| ())
    }

    fn worker(first: Job) {
        let mut job = first;
        loop {
            job();
            let (tx, rx) = mpsc::channel();
            {
                let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
                if idle.0 != crate::process::id() || idle.1.len() >= MAX_IDLE {
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
        assert_eq!(
            seen,
            [
                Progress {
                    done: 0,
                    total: 100
                },
                Progress {
                    done: 40,
                    total: 100
                },
                Progress {
                    done: 100,
                    total: 100
                }
            ]
        );
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
    fn a_call_watched_only_by_a_token_runs_inline_and_the_token_stops_it() {
        let transfer = Arc::new(Transfer::default());
        let token = CancelToken::new();
        let remote = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(TICK);
            remote.cancel();
        });
        let caller = std::thread::current().id();
        let t = transfer.clone();
        let mut obs = Observer::none().with_cancel(token.clone());
        let e = run(&mut obs, &transfer, 0, move || {
            assert_eq!(std::thread::current().id(), caller, "ran on another thread");
            for _ in 0..500 {
                if t.cancelled.load(Ordering::SeqCst) {
                    return Ok(true); // what a job makes of its shut connections does not matter
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(false)
        })
        .unwrap_err();
        canceller.join().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Cancelled);
        assert!(
            token.0.live.lock().unwrap().is_empty(),
            "the call is still listed after it ended"
        );

        // A call started under a triggered token does not run at all.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let e = run(&mut obs, &Arc::new(Transfer::default()), 0, move || {
            r.store(true, Ordering::SeqCst);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Cancelled);
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_worker_panic_keeps_its_message() {
        let transfer = Arc::new(Transfer::default());
        let mut obs = Observer::none().with_tick(|| true); // a callback: the job runs on a worker
        let e = run(&mut obs, &transfer, 0, || -> Result<()> {
            panic!("the disk is made of cheese")
        })
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Internal);
        assert!(
            e.message().contains("the disk is made of cheese"),
            "{}",
            e.message()
        );
    }
}
