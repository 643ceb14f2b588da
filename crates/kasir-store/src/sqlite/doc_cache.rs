//! Recently written and read payins, as their stored JSON, for `GET /v3/payin/{id}`.
//!
//! Merchants poll a payin while its customer approves the push; each poll would otherwise be a SQLite
//! read (a shared lock on the file, a WAL-index check and a B-tree lookup). Only a process that owns
//! its SQLite file keeps this cache (PostgreSQL is shared by processes, so it has none), and it stays
//! exact because every change to a payin goes through this process's writer:
//!
//! - The writer publishes every payin document it wrote, after the commit and before any caller
//!   hears the commit's outcome, so a read that starts after a write was acknowledged sees it.
//! - A read that missed may offer what it read from the database, but it is taken only if nothing was
//!   published since the read began (`epoch`): a read that began before a commit might hold the older
//!   document, and must not put it back over the newer one.
//!
//! The cache holds at most [`MAX_BYTES`] of documents and forgets the oldest entry first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use kasir_domain::Mode;

use crate::Scope;

/// The documents' bytes the cache holds at most (entries of about a kilobyte: some 16,000 payins).
pub const MAX_BYTES: usize = 16 << 20;

/// A payin document the writer stored; `scope` is known when it was inserted, not when updated.
pub(crate) struct WrittenDoc {
    pub id: String,
    pub scope: Option<(String, Mode)>,
    pub data: String,
}

struct Entry {
    account_id: String,
    mode: Mode,
    data: Arc<str>,
    /// Matches the entry's place in `order`; an id evicted and cached again has a newer one.
    serial: u64,
}

#[derive(Default)]
struct Map {
    docs: HashMap<String, Entry>,
    order: VecDeque<(String, u64)>,
    bytes: usize,
    serial: u64,
    /// Counts publications: a miss offers its read only if none happened since the read began.
    epoch: u64,
}

/// What a lookup found: the document, or the epoch to hand back with [`DocCache::offer`].
pub(crate) enum Lookup {
    Hit(Arc<str>),
    Miss(u64),
}

pub(crate) struct DocCache {
    map: RwLock<Map>,
    max_bytes: usize,
}

impl DocCache {
    pub fn new(max_bytes: usize) -> Self {
        DocCache { map: RwLock::new(Map::default()), max_bytes }
    }

    pub fn get(&self, scope: &Scope, id: &str) -> Lookup {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        match map.docs.get(id) {
            Some(e) if e.account_id == scope.account_id && e.mode == scope.mode => Lookup::Hit(e.data.clone()),
            _ => Lookup::Miss(map.epoch),
        }
    }

    /// Caches what a read found in the database, unless a write was published since the lookup that
    /// returned `epoch` (the read may predate it).
    pub fn offer(&self, epoch: u64, scope: &Scope, id: &str, data: Arc<str>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.epoch == epoch && !map.docs.contains_key(id) {
            map.put(id.to_string(), scope.account_id.clone(), scope.mode, data, self.max_bytes);
        }
    }

    /// Makes committed documents visible. Called by the writer after the commit, before it answers.
    pub fn publish(&self, docs: Vec<WrittenDoc>) {
        if docs.is_empty() {
            return;
        }
        // Copied into shared strings before the lock is taken, so readers wait only for the map.
        let docs: Vec<_> = docs.into_iter().map(|d| (d.id, d.scope, Arc::<str>::from(d.data))).collect();
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.epoch += 1;
        for (id, scope, data) in docs {
            match (map.docs.get_mut(&id), scope) {
                (Some(e), _) => {
                    let grown = data.len() as isize - e.data.len() as isize;
                    e.data = data;
                    map.bytes = map.bytes.saturating_add_signed(grown);
                }
                (None, Some((account_id, mode))) => map.put(id, account_id, mode, data, self.max_bytes),
                // An update of a payin that is not cached: the next read fetches it.
                (None, None) => {}
            }
        }
        map.evict(self.max_bytes);
    }
}

impl Map {
    fn put(&mut self, id: String, account_id: String, mode: Mode, data: Arc<str>, max_bytes: usize) {
        self.serial += 1;
        self.bytes += data.len();
        self.order.push_back((id.clone(), self.serial));
        self.docs.insert(id, Entry { account_id, mode, data, serial: self.serial });
        self.evict(max_bytes);
    }

    fn evict(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes {
            let Some((id, serial)) = self.order.pop_front() else { break };
            if self.docs.get(&id).is_some_and(|e| e.serial == serial) {
                if let Some(e) = self.docs.remove(&id) {
                    self.bytes -= e.data.len();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(account: &str) -> Scope {
        Scope { account_id: account.into(), mode: Mode::Test }
    }

    fn written(id: &str, scope: Option<&Scope>, data: &str) -> WrittenDoc {
        WrittenDoc { id: id.into(), scope: scope.map(|s| (s.account_id.clone(), s.mode)), data: data.into() }
    }

    fn hit(c: &DocCache, s: &Scope, id: &str) -> Option<String> {
        match c.get(s, id) {
            Lookup::Hit(d) => Some(d.to_string()),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn another_accounts_or_modes_lookup_misses() {
        let c = DocCache::new(1 << 20);
        let a = scope("acc_a");
        c.publish(vec![written("pay_1", Some(&a), "{1}")]);
        assert_eq!(hit(&c, &a, "pay_1").as_deref(), Some("{1}"));
        assert_eq!(hit(&c, &scope("acc_b"), "pay_1"), None);
        assert_eq!(hit(&c, &Scope { account_id: "acc_a".into(), mode: Mode::Live }, "pay_1"), None);
    }

    #[test]
    fn a_read_that_began_before_a_publication_is_not_cached() {
        let c = DocCache::new(1 << 20);
        let a = scope("acc_a");
        let Lookup::Miss(before) = c.get(&a, "pay_1") else { panic!("empty cache hit") };
        // The writer commits and publishes version 2 while the read (of version 1) is under way.
        c.publish(vec![written("pay_1", None, "{v2}")]);
        c.offer(before, &a, "pay_1", "{v1}".into());
        assert_eq!(hit(&c, &a, "pay_1"), None, "the stale read must not be cached");
        // A read that began afterwards is.
        let Lookup::Miss(after) = c.get(&a, "pay_1") else { panic!("hit") };
        c.offer(after, &a, "pay_1", "{v2}".into());
        assert_eq!(hit(&c, &a, "pay_1").as_deref(), Some("{v2}"));
        // And an update replaces it.
        c.publish(vec![written("pay_1", None, "{v3}")]);
        assert_eq!(hit(&c, &a, "pay_1").as_deref(), Some("{v3}"));
    }

    #[test]
    fn the_oldest_entries_go_first_and_the_bound_holds() {
        let c = DocCache::new(100);
        let a = scope("acc_a");
        for i in 0..30 {
            c.publish(vec![written(&format!("pay_{i}"), Some(&a), "0123456789")]);
        }
        assert_eq!(hit(&c, &a, "pay_29").as_deref(), Some("0123456789"));
        assert_eq!(hit(&c, &a, "pay_20").as_deref(), Some("0123456789"));
        assert_eq!(hit(&c, &a, "pay_19"), None);
        let map = c.map.read().unwrap();
        assert!(map.bytes <= 100 && map.docs.len() == 10, "{} bytes in {} docs", map.bytes, map.docs.len());
        // Growing a cached document counts against the bound too.
        drop(map);
        c.publish(vec![written("pay_29", None, &"x".repeat(60))]);
        let map = c.map.read().unwrap();
        assert!(map.bytes <= 100, "{} bytes", map.bytes);
        assert!(map.docs.contains_key("pay_29"));
    }
}
