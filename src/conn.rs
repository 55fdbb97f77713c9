//! Connections a cancel can close.
//!
//! A cancelled call returns at once, but its worker may be blocked reading the answer, for up
//! to the read timeout. Were the connection left open, the server would finish the work and
//! charge for it. So every transport the agent makes is wrapped ([`Watched`]), and the call
//! running on a thread (see [`enter`]) claims the connections it uses there; [`cancel`] shuts
//! those down, which wakes the blocked read and tells the server the client is gone.
//!
//! Pooled connections pass from call to call, so a connection belongs to the call that last
//! did I/O on it, and only while that call runs: a late cancel never closes a connection that
//! another call has taken since.

use crate::error::Error;
use crate::multipart::Transfer;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, ShutdownHandle, Transport,
};

/// The most connections one call keeps track of (a batch runs at most 16 requests at once).
const MAX_TRACKED: usize = 64;

/// The connections a call has used, for its cancel to shut down, and the call's identity.
#[derive(Debug)]
pub(crate) struct Conns {
    id: usize,
    list: Mutex<Vec<Weak<Shared>>>,
}

impl Default for Conns {
    fn default() -> Conns {
        // Never 0 (no owner), never reused within a process.
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        Conns {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            list: Mutex::new(Vec::new()),
        }
    }
}

/// What a [`Watched`] transport shares with the calls that use it.
#[derive(Default)]
struct Shared {
    /// The socket under every layer (TLS, CONNECT), registered by ureq's TCP connector.
    socket: Mutex<Option<Weak<dyn ShutdownHandle>>>,
    /// The call using the connection now (`call_id`), 0 for none.
    owner: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("owner", &self.owner.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The call running on this thread, if any.
    static CURRENT: RefCell<Option<Arc<Transfer>>> = const { RefCell::new(None) };
}

fn call_id(t: &Transfer) -> usize {
    t.conns.id
}

/// Marks `transfer` as the call running on this thread until the guard is dropped; the
/// connections it uses meanwhile are the ones [`cancel`] closes.
pub(crate) fn enter(transfer: &Arc<Transfer>) -> CallGuard {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(transfer.clone()));
    CallGuard {
        transfer: transfer.clone(),
        previous,
    }
}

/// See [`enter`].
pub(crate) struct CallGuard {
    transfer: Arc<Transfer>,
    previous: Option<Arc<Transfer>>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // The call is over: its connections (back in the pool, or dropped) are no longer its own.
        let id = call_id(&self.transfer);
        for_each_conn(&self.transfer, |conn| {
            let _ = conn
                .owner
                .compare_exchange(id, 0, Ordering::SeqCst, Ordering::SeqCst);
        });
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Cancels the call `transfer`: flags it, so its readers stop at their next step, and shuts
/// down the connections it is using, so a read blocked on the server's answer ends now.
pub(crate) fn cancel(transfer: &Arc<Transfer>) {
    transfer.cancelled.store(true, Ordering::SeqCst);
    let id = call_id(transfer);
    for_each_conn(transfer, |conn| {
        if conn.owner.load(Ordering::SeqCst) == id {
            if let Some(socket) = conn
                .socket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(Weak::upgrade)
            {
                socket.shutdown();
            }
        }
    });
}

/// Calls `f` with each connection `transfer` has used that still exists.
fn for_each_conn(transfer: &Transfer, mut f: impl FnMut(&Shared)) {
    let list = transfer
        .conns
        .list
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    for conn in list.iter().filter_map(Weak::upgrade) {
        f(&conn);
    }
}

/// `timeout` with its time left rounded up to whole 10 ms. ureq's TCP transport sets the
/// socket's timeout (a system call) whenever the value changes, and a deadline's time left
/// changes by the nanosecond: rounded, it stays the same from request to request, and a
/// timeout ends at most 10 ms late.
fn steady(mut timeout: NextTimeout) -> NextTimeout {
    const STEP: u128 = 10_000_000; // ns
    if let ureq::unversioned::transport::time::Duration::Exact(left) = timeout.after {
        let ns = left.as_nanos();
        if ns > 0 && ns % STEP != 0 {
            let steps = u64::try_from(ns / STEP + 1).unwrap_or(u64::MAX / 100);
            timeout.after = ureq::unversioned::transport::time::Duration::Exact(
                std::time::Duration::from_millis(steps.saturating_mul(10)),
            );
        }
    }
    timeout
}

/// The agent's connector: ureq's default chain, with every transport it makes wrapped in
/// [`Watched`] and its socket remembered.
#[derive(Debug, Default)]
pub(crate) struct CancelConnector(DefaultConnector);

impl Connector<()> for CancelConnector {
    type Out = Watched;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Watched>, ureq::Error> {
        let shared = Arc::new(Shared::default());
        let remember = shared.clone();
        let register = details.register_shutdown.clone();
        let ours = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |handle: Weak<dyn ShutdownHandle>| {
                *remember.socket.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
                register(handle)
            }),
        };
        Ok(self.0.connect(&ours, chained)?.map(|inner| Watched {
            inner,
            shared,
            used: false,
        }))
    }
}

/// A transport whose I/O first claims it for the call running on the thread, and refuses to
/// start once that call is cancelled.
///
/// It also spares the system calls that ureq's TCP transport would make around every request
/// on a kept-alive connection (a third of a small request's CPU): see [`Watched::is_open`] and
/// [`steady`].
#[derive(Debug)]
pub(crate) struct Watched {
    inner: Box<dyn Transport>,
    shared: Arc<Shared>,
    /// I/O happened since the last [`Transport::is_open`].
    used: bool,
}

impl Watched {
    fn claim(&self) -> Result<(), ureq::Error> {
        let Some(call) = CURRENT.with(|c| c.borrow().clone()) else {
            return Ok(());
        };
        // Already this call's: it is in the call's list since the first claim (the usual case,
        // every read of an answer).
        if self.shared.owner.swap(call_id(&call), Ordering::SeqCst) != call_id(&call) {
            let mut list = call.conns.list.lock().unwrap_or_else(|p| p.into_inner());
            if !list
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.shared)))
            {
                list.retain(|w| w.strong_count() > 0);
                if list.len() < MAX_TRACKED {
                    list.push(Arc::downgrade(&self.shared));
                }
            }
        }
        // After registering: a cancel either saw this connection or is seen here.
        if call.cancelled.load(Ordering::SeqCst) {
            return Err(ureq::Error::Io(std::io::Error::other(Error::cancelled())));
        }
        Ok(())
    }
}

impl Transport for Watched {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.claim()?;
        self.used = true;
        self.inner.transmit_output(amount, steady(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.claim()?;
        self.used = true;
        self.inner.await_input(steady(timeout))
    }

    /// The pool asks twice per request: when the answer has been read (is anything left
    /// over?) and before the connection is used again (did the server close it since?). The
    /// TCP probe costs three system calls, and the second probe sees all that the first one
    /// would (stray bytes wait in the socket), so the first is answered without probing.
    fn is_open(&mut self) -> bool {
        if std::mem::take(&mut self.used) {
            return true;
        }
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::steady;
    use std::time::Duration as Std;
    use ureq::unversioned::transport::time::Duration;
    use ureq::unversioned::transport::NextTimeout;

    fn after(left: Duration) -> Duration {
        steady(NextTimeout {
            after: left,
            ..NextTimeout::default()
        })
        .after
    }

    #[test]
    fn time_left_is_rounded_up_to_whole_10_ms() {
        // A deadline read a few microseconds after it was set: the same value each request.
        let a = after(Duration::Exact(Std::from_nanos(119_999_993_417)));
        let b = after(Duration::Exact(Std::from_nanos(119_999_871_002)));
        assert_eq!(a, Duration::Exact(Std::from_secs(120)));
        assert_eq!(a, b);
        assert_eq!(
            after(Duration::Exact(Std::from_micros(3))),
            Duration::Exact(Std::from_millis(10)),
            "never rounded down to nothing"
        );
        for kept in [
            Duration::Exact(Std::ZERO),
            Duration::Exact(Std::from_millis(250)),
            Duration::NotHappening,
        ] {
            assert_eq!(after(kept), kept);
        }
    }
}
