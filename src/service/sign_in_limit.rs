//! Failed sign-ins, limited per (address, client) so a stranger cannot lock
//! a staff member out by failing on purpose from elsewhere, and per client
//! across addresses so one client cannot spray guesses. Memory is bounded:
//! at most `MAX_KEYS` keys, each holding at most its limit of timestamps;
//! when full, expired keys go first, then the oldest eighth.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of one address from one client within the window.
pub const MAX_PER_ADDRESS: usize = 5;
/// Failures from one client, whatever the address, within the window.
pub const MAX_PER_CLIENT: usize = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most (each a few dozen bytes plus its timestamps).
pub const MAX_KEYS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Client(Option<IpAddr>),
}

#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<Key, Vec<Instant>>>,
}

fn recent(list: &mut Vec<Instant>, now: Instant) -> usize {
    list.retain(|t| now.saturating_duration_since(*t) < WINDOW);
    list.len()
}

impl SignInLimiter {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Instant>>> {
        // A panic elsewhere while holding the lock leaves counts, not
        // broken invariants: keep using them.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this client must wait before trying `address` again.
    pub fn blocked(&self, address: &str, client: Option<IpAddr>, now: Instant) -> bool {
        let mut map = self.map();
        let pair = Key::Pair(address.to_string(), client);
        let over = |map: &mut HashMap<Key, Vec<Instant>>, key: &Key, max: usize| {
            map.get_mut(key).is_some_and(|l| recent(l, now) >= max)
        };
        over(&mut map, &pair, MAX_PER_ADDRESS)
            || over(&mut map, &Key::Client(client), MAX_PER_CLIENT)
    }

    pub fn fail(&self, address: &str, client: Option<IpAddr>, now: Instant) {
        let mut map = self.map();
        for (key, max) in [
            (Key::Pair(address.to_string(), client), MAX_PER_ADDRESS),
            (Key::Client(client), MAX_PER_CLIENT),
        ] {
            if !map.contains_key(&key) && map.len() >= MAX_KEYS {
                make_room(&mut map, now);
            }
            let list = map.entry(key).or_default();
            recent(list, now);
            list.push(now);
            // Only the last `max` matter for the decision.
            if list.len() > max {
                let extra = list.len() - max;
                list.drain(..extra);
            }
        }
    }

    /// A successful sign-in forgets this client's failures on the address.
    pub fn clear(&self, address: &str, client: Option<IpAddr>) {
        self.map().remove(&Key::Pair(address.to_string(), client));
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops expired keys; if too few expired, the eighth of the keys whose
/// last failure is oldest, so a flood pays for a sweep once in many inserts.
fn make_room(map: &mut HashMap<Key, Vec<Instant>>, now: Instant) {
    map.retain(|_, l| recent(l, now) > 0);
    if map.len() < MAX_KEYS * 7 / 8 {
        return;
    }
    let mut by_age: Vec<(Option<Instant>, Key)> = map
        .iter()
        .map(|(k, l)| (l.last().copied(), k.clone()))
        .collect();
    let cut = MAX_KEYS / 8;
    by_age.select_nth_unstable_by_key(cut, |(last, _)| *last);
    for (_, k) in by_age.into_iter().take(cut) {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn a_stranger_cannot_lock_out_someone_elsewhere() {
        let l = SignInLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_PER_ADDRESS {
            assert!(!l.blocked("alice@x", ip("192.0.2.1"), now));
            l.fail("alice@x", ip("192.0.2.1"), now);
        }
        assert!(l.blocked("alice@x", ip("192.0.2.1"), now));
        assert!(
            !l.blocked("alice@x", ip("198.51.100.7"), now),
            "alice at her desk"
        );
        assert!(!l.blocked("bob@x", ip("192.0.2.1"), now), "another address");
        assert!(
            !l.blocked("alice@x", ip("192.0.2.1"), now + WINDOW),
            "the window passes"
        );
    }

    #[test]
    fn one_client_cannot_spray_addresses() {
        let l = SignInLimiter::default();
        let now = Instant::now();
        for i in 0..MAX_PER_CLIENT {
            l.fail(&format!("u{i}@x"), ip("192.0.2.1"), now);
        }
        assert!(l.blocked("fresh@x", ip("192.0.2.1"), now));
        assert!(!l.blocked("fresh@x", ip("192.0.2.2"), now));
    }

    #[test]
    fn memory_stays_bounded_under_invented_addresses() {
        let l = SignInLimiter::default();
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 5_000) {
            // many clients, many addresses: every failure a new key
            let client = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            l.fail(&format!("nobody{i}@x"), Some(client), now);
        }
        assert!(l.len() <= MAX_KEYS, "{}", l.len());
    }

    #[test]
    fn success_clears_only_that_pair() {
        let l = SignInLimiter::default();
        let now = Instant::now();
        for _ in 0..MAX_PER_ADDRESS {
            l.fail("alice@x", ip("192.0.2.1"), now);
        }
        l.clear("alice@x", ip("192.0.2.1"));
        assert!(!l.blocked("alice@x", ip("192.0.2.1"), now));
    }
}
