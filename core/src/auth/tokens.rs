//! etcd's "simple" token provider, member-local.
//!
//! What etcd does, and this module reproduces:
//! - `Authenticate` is a Raft entry carrying the user name and a random 16-letter prefix chosen
//!   by the member that proposed it ([`gen_token_prefix`]). Every member applying the entry at
//!   index `i` records the token `<prefix>.<i>` for that user in memory, so the same token works
//!   on every member; nothing is persisted, and a restarted member knows no tokens.
//! - Each member runs its own TTL (`--auth-token-ttl`, 300 s by default) from the moment it
//!   applied the entry, and restarts it whenever the token is used on that member. A token is
//!   valid until `now > expiry`; etcd sweeps once a second, here the check is exact.
//! - A token is dropped when its user is deleted or changes password, and all tokens are dropped
//!   when auth is disabled. Role grants and revocations keep tokens valid: the permissions are
//!   looked up at each request, and the auth revision in the request's `AuthInfo` catches
//!   changes made while the request was in flight.
//! - A token of the form `<prefix>.<index>` whose index this member has not applied yet makes
//!   etcd wait for that index (a client may authenticate on one member and use the token on a
//!   lagging one): [`TokenLookup::WaitForApplied`].
//!
//! The table is bounded (`tokens_max`); when full, the token closest to expiry is dropped to
//! make room, so a flood of `Authenticate` requests cannot grow memory without end.

use crate::rng::Rng;
use crate::time::Instant;
use crate::LogIndex;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use core::time::Duration;

/// Letters etcd draws token prefixes from.
const LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Length of a token prefix.
pub const TOKEN_PREFIX_LEN: usize = 16;

/// A fresh token prefix: 16 letters drawn from the member's seeded generator. The proposing
/// member puts it into the `Authenticate` entry (`InternalAuthenticateRequest.simple_token`).
#[must_use]
pub fn gen_token_prefix(rng: &mut Rng) -> String {
    (0..TOKEN_PREFIX_LEN)
        .map(|_| char::from(LETTERS[rng.range_u64(0, LETTERS.len() as u64) as usize]))
        .collect()
}

/// The outcome of looking a token up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenLookup<'a> {
    /// A live token of this user; its TTL was restarted.
    Valid(&'a str),
    /// Unknown, expired or malformed: `etcdserver: invalid auth token`.
    Invalid,
    /// Well-formed, naming a log index this member has not applied yet: look it up again once
    /// the applied index reaches it (etcd blocks the request until then, or its deadline).
    WaitForApplied(LogIndex),
}

#[derive(Clone, Debug)]
struct Token {
    username: String,
    expires_at: Instant,
}

/// The tokens this member knows.
#[derive(Clone)]
pub struct SimpleTokens {
    ttl: Duration,
    tokens_max: usize,
    tokens: BTreeMap<String, Token>,
    by_expiry: BTreeSet<(Instant, String)>,
}

impl core::fmt::Debug for SimpleTokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Tokens are credentials: only their number.
        f.debug_struct("SimpleTokens")
            .field("ttl", &self.ttl)
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl SimpleTokens {
    /// etcd's default `--auth-token-ttl`.
    pub const TTL_DEFAULT: Duration = Duration::from_secs(300);

    /// An empty table. A zero `ttl` means the default, as in etcd.
    ///
    /// # Panics
    /// When `tokens_max` is zero (a configuration the caller validates).
    #[must_use]
    pub fn new(ttl: Duration, tokens_max: usize) -> Self {
        assert!(tokens_max > 0, "tokens_max must be at least 1");
        let ttl = if ttl.is_zero() { Self::TTL_DEFAULT } else { ttl };
        SimpleTokens { ttl, tokens_max, tokens: BTreeMap::new(), by_expiry: BTreeSet::new() }
    }

    /// The TTL in force.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Number of live (or not yet swept) tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when no token is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Records the token of an applied `Authenticate` entry and returns it.
    pub fn assign(
        &mut self,
        now: Instant,
        prefix: &str,
        index: LogIndex,
        username: &str,
    ) -> String {
        let token = alloc::format!("{prefix}.{index}");
        self.remove(&token);
        while self.tokens.len() >= self.tokens_max {
            let Some((_, oldest)) = self.by_expiry.iter().next().cloned() else { break };
            self.remove(&oldest);
        }
        let expires_at = now + self.ttl;
        self.by_expiry.insert((expires_at, token.clone()));
        self.tokens.insert(token.clone(), Token { username: String::from(username), expires_at });
        token
    }

    /// Looks `token` up at `now`, this member having applied the log up to `applied`.
    pub fn lookup(&mut self, now: Instant, token: &str, applied: LogIndex) -> TokenLookup<'_> {
        let Some(index) = token_index(token) else { return TokenLookup::Invalid };
        let Some(entry) = self.tokens.get(token) else {
            return if index > applied {
                TokenLookup::WaitForApplied(index)
            } else {
                TokenLookup::Invalid
            };
        };
        if now > entry.expires_at {
            self.remove(token);
            return TokenLookup::Invalid;
        }
        let old = entry.expires_at;
        let expires_at = now + self.ttl;
        self.by_expiry.remove(&(old, String::from(token)));
        self.by_expiry.insert((expires_at, String::from(token)));
        match self.tokens.get_mut(token) {
            Some(entry) => {
                entry.expires_at = expires_at;
                TokenLookup::Valid(&entry.username)
            }
            None => TokenLookup::Invalid,
        }
    }

    /// Drops every token of `username`.
    pub fn invalidate_user(&mut self, username: &str) {
        let doomed: alloc::vec::Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, t)| t.username == username)
            .map(|(k, _)| k.clone())
            .collect();
        for token in doomed {
            self.remove(&token);
        }
    }

    /// Drops every token.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.by_expiry.clear();
    }

    /// Drops the tokens expired at `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, token)) = self.by_expiry.iter().next().cloned() {
            if at >= now {
                break;
            }
            self.remove(&token);
        }
    }

    /// When the next token expires, for the driver's timer.
    #[must_use]
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.iter().next().map(|(at, _)| *at)
    }

    fn remove(&mut self, token: &str) {
        if let Some(t) = self.tokens.remove(token) {
            self.by_expiry.remove(&(t.expires_at, String::from(token)));
        }
    }
}

/// The index of a well-formed simple token: exactly two dot-separated parts, the second a
/// decimal number (no sign), as etcd's `strconv.ParseUint` accepts.
fn token_index(token: &str) -> Option<LogIndex> {
    let (_, index) = token.split_once('.')?;
    if index.contains('.') || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse::<u64>().ok().map(LogIndex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Instant {
        Instant::from_nanos(s * 1_000_000_000)
    }

    #[test]
    fn prefixes_are_sixteen_letters_and_seeded() {
        let a = gen_token_prefix(&mut Rng::from_seed(1));
        let b = gen_token_prefix(&mut Rng::from_seed(1));
        let c = gen_token_prefix(&mut Rng::from_seed(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), TOKEN_PREFIX_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_alphabetic()));
    }

    #[test]
    fn token_cases() {
        let applied = LogIndex(10);
        let mut t = SimpleTokens::new(Duration::from_secs(300), 100);
        let tok = t.assign(secs(0), "abcdefghijklmnop", LogIndex(7), "alice");
        assert_eq!(tok, "abcdefghijklmnop.7");
        // (name, token, at second, expected)
        let cases: &[(&str, &str, u64, TokenLookup<'_>)] = &[
            ("valid", "abcdefghijklmnop.7", 100, TokenLookup::Valid("alice")),
            // The use at 100 s restarted the TTL: valid until 400 s, inclusive.
            ("refreshed by use", "abcdefghijklmnop.7", 400, TokenLookup::Valid("alice")),
            ("unknown", "zzzzzzzzzzzzzzzz.7", 400, TokenLookup::Invalid),
            ("no index", "abcdefghijklmnop", 400, TokenLookup::Invalid),
            ("three parts", "a.b.7", 400, TokenLookup::Invalid),
            ("signed index", "abcdefghijklmnop.+7", 400, TokenLookup::Invalid),
            ("empty index", "abcdefghijklmnop.", 400, TokenLookup::Invalid),
            ("index overflow", "abcdefghijklmnop.99999999999999999999", 400, TokenLookup::Invalid),
            (
                "not applied yet",
                "anotherprefixxxx.11",
                400,
                TokenLookup::WaitForApplied(LogIndex(11)),
            ),
            ("applied but unknown", "anotherprefixxxx.10", 400, TokenLookup::Invalid),
            ("expired", "abcdefghijklmnop.7", 701, TokenLookup::Invalid),
            // Expiry dropped it: it stays invalid.
            ("stays expired", "abcdefghijklmnop.7", 701, TokenLookup::Invalid),
        ];
        for (name, token, at, want) in cases {
            assert_eq!(&t.lookup(secs(*at), token, applied), want, "{name}");
        }
        assert!(t.is_empty());
    }

    #[test]
    fn invalidation_and_sweeping() {
        let applied = LogIndex(100);
        let mut t = SimpleTokens::new(Duration::ZERO, 100);
        assert_eq!(t.ttl(), SimpleTokens::TTL_DEFAULT);
        let a1 = t.assign(secs(0), "aaaaaaaaaaaaaaaa", LogIndex(1), "alice");
        let a2 = t.assign(secs(10), "bbbbbbbbbbbbbbbb", LogIndex(2), "alice");
        let b = t.assign(secs(20), "cccccccccccccccc", LogIndex(3), "bob");
        assert_eq!(t.next_expiry(), Some(secs(300)));
        t.invalidate_user("alice");
        assert_eq!(t.lookup(secs(30), &a1, applied), TokenLookup::Invalid);
        assert_eq!(t.lookup(secs(30), &a2, applied), TokenLookup::Invalid);
        assert_eq!(t.lookup(secs(30), &b, applied), TokenLookup::Valid("bob"));
        assert_eq!(t.next_expiry(), Some(secs(330)));
        t.expire(secs(330));
        assert_eq!(t.len(), 1, "valid through its expiry instant");
        t.expire(secs(331));
        assert!(t.is_empty());
        assert_eq!(t.next_expiry(), None);
        t.assign(secs(0), "dddddddddddddddd", LogIndex(4), "carol");
        t.clear();
        assert!(t.is_empty() && t.next_expiry().is_none());
    }

    #[test]
    fn table_is_bounded_dropping_the_closest_to_expiry() {
        let applied = LogIndex(100);
        let mut t = SimpleTokens::new(Duration::from_secs(300), 2);
        let first = t.assign(secs(0), "aaaaaaaaaaaaaaaa", LogIndex(1), "u1");
        let second = t.assign(secs(5), "bbbbbbbbbbbbbbbb", LogIndex(2), "u2");
        // Using the first token pushes its expiry past the second's.
        assert_eq!(t.lookup(secs(10), &first, applied), TokenLookup::Valid("u1"));
        let third = t.assign(secs(20), "cccccccccccccccc", LogIndex(3), "u3");
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(secs(20), &second, applied), TokenLookup::Invalid);
        assert_eq!(t.lookup(secs(20), &first, applied), TokenLookup::Valid("u1"));
        assert_eq!(t.lookup(secs(20), &third, applied), TokenLookup::Valid("u3"));
        // Re-assigning the same token replaces it instead of growing the table.
        t.assign(secs(30), "cccccccccccccccc", LogIndex(3), "u3");
        assert_eq!(t.len(), 2);
    }
}
