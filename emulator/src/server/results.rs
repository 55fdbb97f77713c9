//! Stored results: bounded in bytes, expired in insertion order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

pub(crate) struct Stored {
    pub bytes: Bytes,
    pub content_type: &'static str,
    /// Unix time (seconds) at which the result expires and is deleted.
    pub exp: u64,
}

/// At most this many bytes of results are kept; past it the oldest are deleted early (their
/// URLs then answer 404), so that long benchmarks do not grow without bound.
pub const MAX_STORED_BYTES: usize = 1024 * 1024 * 1024;

/// Stored results, with their insertion order (which is also expiry order: the TTL is fixed).
pub(crate) struct ResultStore {
    pub map: HashMap<String, Arc<Stored>>,
    order: VecDeque<String>,
    bytes: usize,
    cap: usize,
}

impl Default for ResultStore {
    fn default() -> Self {
        ResultStore::with_cap(MAX_STORED_BYTES)
    }
}

impl ResultStore {
    fn with_cap(cap: usize) -> ResultStore {
        ResultStore {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    pub fn insert(&mut self, id: String, stored: Stored) {
        self.bytes += stored.bytes.len();
        self.order.push_back(id.clone());
        self.map.insert(id, Arc::new(stored));
        while self.bytes > self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.remove(&old);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(s) = self.map.remove(id) {
            self.bytes -= s.bytes.len();
        }
    }

    pub fn expire(&mut self, now: f64) {
        while let Some(front) = self.order.front() {
            match self.map.get(front) {
                Some(s) if (s.exp as f64) > now => break,
                _ => {
                    let id = self.order.pop_front().expect("front exists");
                    self.remove(&id);
                }
            }
        }
    }

    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        *self = ResultStore::with_cap(self.cap);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(len: usize, exp: u64) -> Stored {
        Stored {
            bytes: Bytes::from(vec![0u8; len]),
            content_type: "image/png",
            exp,
        }
    }

    #[test]
    fn result_store_caps_bytes_and_expires_in_order() {
        let mut r = ResultStore::with_cap(100);
        r.insert("a".into(), stored(40, 10));
        r.insert("b".into(), stored(40, 11));
        r.insert("c".into(), stored(40, 12));
        // Over the cap: the oldest went.
        assert!(!r.map.contains_key("a"));
        assert_eq!(r.bytes, 80);
        r.remove("b");
        assert_eq!(r.bytes, 40);
        r.insert("d".into(), stored(10, 13));
        r.expire(12.0);
        assert!(!r.map.contains_key("c"));
        assert!(r.map.contains_key("d"));
        assert_eq!(r.bytes, 10);
        assert_eq!(r.order.len(), 1);
        assert_eq!(r.clear(), 1);
        assert_eq!((r.bytes, r.cap), (0, 100));
    }
}
