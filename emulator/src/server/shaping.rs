//! Network shaping: token buckets that cap a connection's and an origin's bytes per second, and
//! the stream wrapper that applies them as the server reads and writes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::lock;

/// At most this many bytes move in one read or write, so that a shared bucket is shared fairly
/// and the rate holds at a fine grain (less for slow rates: a hundredth of a second's worth).
const MAX_STEP: usize = 16 * 1024;
const MIN_STEP: usize = 512;

/// A token bucket in bytes. A transfer of up to one step may start whenever the balance is
/// positive and is charged after the fact, so the balance may go negative; the next transfer
/// then waits until it is positive again. Steps stay large enough to keep the work per byte
/// low, and the long-run rate is exact (time slept past a deadline is credited).
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    step: usize,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// `rate` bytes per second, with a burst of 20 ms worth (at least one step).
    pub fn new(rate: u64) -> Arc<Bucket> {
        let rate = rate.max(1) as f64;
        let burst = (rate / 50.0).max(MAX_STEP as f64);
        Arc::new(Bucket {
            rate,
            burst,
            step: ((rate / 100.0) as usize).clamp(MIN_STEP, MAX_STEP),
            state: Mutex::new((burst, Instant::now())),
        })
    }

    /// The current balance, refilled up to now.
    fn balance(&self, now: Instant) -> f64 {
        let mut s = lock(&self.state);
        let dt = now.saturating_duration_since(s.1).as_secs_f64();
        s.0 = (s.0 + dt * self.rate).min(self.burst);
        s.1 = now;
        s.0
    }

    fn take(&self, n: usize) {
        lock(&self.state).0 -= n as f64;
    }

    /// How long until the balance is positive.
    fn wait(&self, balance: f64) -> Duration {
        Duration::from_secs_f64((-balance).max(0.0) / self.rate + 0.000_5)
    }
}

/// How many bytes the buckets allow now (`Ok`, at most `want`), or how long to wait (`Err`).
fn grant(buckets: &[Arc<Bucket>], want: usize) -> Result<usize, Duration> {
    let now = Instant::now();
    let mut allow = want.min(MAX_STEP);
    let mut wait = Duration::ZERO;
    for b in buckets {
        let bal = b.balance(now);
        if bal <= 0.0 {
            wait = wait.max(b.wait(bal));
        } else {
            allow = allow.min(b.step);
        }
    }
    if wait > Duration::ZERO {
        Err(wait)
    } else {
        Ok(allow.max(1))
    }
}

fn charge(buckets: &[Arc<Bucket>], n: usize) {
    for b in buckets {
        b.take(n);
    }
}

/// A stream whose reads (the client's upload) and writes (the client's download) pass through
/// token buckets: the connection's own and its origin's.
pub(crate) struct Shaped<S> {
    inner: S,
    up: Vec<Arc<Bucket>>,
    down: Vec<Arc<Bucket>>,
    read_wait: Option<Pin<Box<Sleep>>>,
    write_wait: Option<Pin<Box<Sleep>>>,
}

impl<S> Shaped<S> {
    pub fn new(inner: S, up: Vec<Arc<Bucket>>, down: Vec<Arc<Bucket>>) -> Shaped<S> {
        Shaped {
            inner,
            up,
            down,
            read_wait: None,
            write_wait: None,
        }
    }
}

/// Waits out a pending pause; `Pending` while it lasts.
fn pause(slot: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(s) = slot {
        if s.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        *slot = None;
    }
    Poll::Ready(())
}

/// Asks the buckets; on a refusal arms the pause and polls it once (to register the waker).
fn ask(
    buckets: &[Arc<Bucket>],
    want: usize,
    slot: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> Poll<usize> {
    if buckets.is_empty() {
        return Poll::Ready(want);
    }
    // Bounded: a fresh pause always ends the wait for the balance it was computed from.
    for _ in 0..4 {
        match grant(buckets, want) {
            Ok(n) => return Poll::Ready(n),
            Err(d) => {
                *slot = Some(Box::pin(tokio::time::sleep(d)));
                if pause(slot, cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
    }
    Poll::Ready(1)
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if pause(&mut this.read_wait, cx).is_pending() {
            return Poll::Pending;
        }
        let allow = match ask(&this.up, buf.remaining(), &mut this.read_wait, cx) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        if allow >= buf.remaining() {
            let before = buf.filled().len();
            let r = Pin::new(&mut this.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = r {
                charge(&this.up, buf.filled().len() - before);
            }
            return r;
        }
        let mut small = ReadBuf::new(buf.initialize_unfilled_to(allow));
        let r = Pin::new(&mut this.inner).poll_read(cx, &mut small);
        let n = small.filled().len();
        if let Poll::Ready(Ok(())) = r {
            buf.advance(n);
            charge(&this.up, n);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if pause(&mut this.write_wait, cx).is_pending() {
            return Poll::Pending;
        }
        let allow = match ask(&this.down, data.len(), &mut this.write_wait, cx) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        let r = Pin::new(&mut this.inner).poll_write(cx, &data[..allow.min(data.len())]);
        if let Poll::Ready(Ok(n)) = r {
            charge(&this.down, n);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.down.is_empty() {
            // Unshaped: keep the vectored writes hyper relies on to avoid copying bodies.
            return Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_grants_its_burst_then_makes_you_wait_in_proportion() {
        let b = Bucket::new(1_000_000); // burst 20,000 bytes
        let buckets = [b.clone()];
        let n = grant(&buckets, 1 << 20).unwrap();
        assert_eq!(n, 10_000, "a hundredth of a second per step");
        charge(&buckets, 100_000); // 80,000 in debt
        let wait = grant(&buckets, 10).unwrap_err();
        assert!(
            (Duration::from_millis(75)..Duration::from_millis(81)).contains(&wait),
            "{wait:?}"
        );
    }

    #[test]
    fn the_tightest_bucket_wins() {
        let wide = Bucket::new(100_000_000);
        let narrow = Bucket::new(1_000);
        // narrow's burst is one step; after spending it, only the narrow one holds things up.
        charge(std::slice::from_ref(&narrow), MAX_STEP + 500);
        let wait = grant(&[wide, narrow], 1).unwrap_err();
        assert!(
            (Duration::from_millis(490)..Duration::from_millis(510)).contains(&wait),
            "{wait:?}"
        );
    }
}
