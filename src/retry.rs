//! When a failed request is tried again, and after how long.

use crate::error::{Error, ErrorKind};
use std::time::Duration;

/// The retry policy. Defaults: 2 retries, backoff from 250 ms doubling up to 8 s with full
/// jitter, `Retry-After` honoured up to 60 s, and no retry of a compress whose upload went out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff step; each retry doubles it.
    pub base_delay: Duration,
    /// The largest backoff step.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits for; a longer one ends the call with the
    /// server's answer (and its `retry_after`) instead.
    pub max_retry_after: Duration,
    /// Also retry a compress request whose upload was fully sent before the connection failed
    /// or timed out. The server may already have processed it, so a retry can charge credits
    /// twice: off by default.
    pub retry_after_upload: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            retry_after_upload: false,
        }
    }
}

/// What is known about the attempt that failed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt {
    /// 0 for the first attempt.
    pub number: u32,
    /// Whether repeating the request cannot have effects twice (GETs, downloads).
    pub idempotent: bool,
    /// Whether the whole request body was handed to the connection.
    pub body_sent: bool,
}

impl RetryPolicy {
    /// How long to wait before trying again, or `None` to give up with `err`.
    pub(crate) fn delay(&self, err: &Error, at: Attempt) -> Option<Duration> {
        if at.number >= self.max_retries {
            return None;
        }
        // A server that answered 429/502/503/504 did not (or says it did not) do the work.
        let answered_transient = match err.kind() {
            ErrorKind::RateLimited => true,
            ErrorKind::Server => matches!(err.http_status(), Some(502..=504)),
            _ => false,
        };
        let lost_in_transit = matches!(err.kind(), ErrorKind::Network | ErrorKind::Timeout);
        let safe_to_repeat = at.idempotent || !at.body_sent || self.retry_after_upload;
        if !(answered_transient || (lost_in_transit && safe_to_repeat)) {
            return None;
        }
        if let Some(wait) = err.retry_after() {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let step = self
            .base_delay
            .saturating_mul(1u32 << at.number.min(16))
            .min(self.max_delay);
        // Full jitter: spreads out clients that failed together.
        let frac = (crate::random_u128() % 1000) as u32;
        Some(
            step.mul_f64(f64::from(frac) / 1000.0)
                .max(Duration::from_millis(10)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Error {
        Error::from_http(crate::error::Target::Api, status, None, b"", None)
    }
    const FIRST_POST: Attempt = Attempt {
        number: 0,
        idempotent: false,
        body_sent: true,
    };

    #[test]
    fn retries_transient_answers() {
        let p = RetryPolicy::default();
        for s in [429, 502, 503, 504] {
            let d = p
                .delay(&http(s), FIRST_POST)
                .unwrap_or_else(|| panic!("{s} retried"));
            assert!(d <= p.base_delay, "{s}: {d:?}");
        }
        for s in [400, 401, 402, 403, 413, 500] {
            assert!(p.delay(&http(s), FIRST_POST).is_none(), "{s} not retried");
        }
    }

    #[test]
    fn honours_retry_after_up_to_the_cap() {
        let p = RetryPolicy::default();
        let e = http(429).with_retry_after(Some(Duration::from_secs(3)));
        assert_eq!(p.delay(&e, FIRST_POST), Some(Duration::from_secs(3)));
        let e = http(429).with_retry_after(Some(Duration::from_secs(3600)));
        assert_eq!(p.delay(&e, FIRST_POST), None);
    }

    #[test]
    fn uploaded_compress_is_not_repeated_unless_allowed() {
        let net = Error::new(ErrorKind::Network, "reset");
        let p = RetryPolicy::default();
        assert!(p.delay(&net, FIRST_POST).is_none());
        assert!(p
            .delay(
                &net,
                Attempt {
                    body_sent: false,
                    ..FIRST_POST
                }
            )
            .is_some());
        assert!(p
            .delay(
                &net,
                Attempt {
                    idempotent: true,
                    ..FIRST_POST
                }
            )
            .is_some());
        let brave = RetryPolicy {
            retry_after_upload: true,
            ..Default::default()
        };
        assert!(brave.delay(&net, FIRST_POST).is_some());
    }

    #[test]
    fn stops_after_max_retries_and_backs_off() {
        let p = RetryPolicy {
            max_retries: 3,
            ..Default::default()
        };
        let e = http(503);
        assert!(p
            .delay(
                &e,
                Attempt {
                    number: 3,
                    ..FIRST_POST
                }
            )
            .is_none());
        for n in 0..3 {
            let d = p
                .delay(
                    &e,
                    Attempt {
                        number: n,
                        ..FIRST_POST
                    },
                )
                .unwrap();
            assert!(d <= p.base_delay * (1 << n), "attempt {n}: {d:?}");
        }
    }
}
