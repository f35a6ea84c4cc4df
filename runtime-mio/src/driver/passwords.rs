//! bcrypt off the event loop: a small pool of threads that hash the passwords of `UserAdd` and
//! `UserChangePassword` before the core sees them, and check passwords for `Authenticate`
//! (`Output::VerifyPassword`). Results come back through a channel and the loop's waker.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use oxcd_core::auth::password::{
    change_password_needs_hash, set_hashed_password_for_add, set_hashed_password_for_change,
    user_add_needs_hash,
};
use oxcd_core::node::{Request, RequestId, RequestMeta, VerifyId, VerifyPassword};
use oxcd_core::ApiError;

/// A finished job.
#[derive(Debug)]
pub enum PasswordDone {
    /// The request with its password hashed (or the error to answer with).
    Hashed {
        /// The client request.
        id: RequestId,
        /// Who asked.
        meta: RequestMeta,
        /// The request to hand to the core.
        request: Result<Request, ApiError>,
    },
    /// A password check finished.
    Verified {
        /// From the `VerifyPassword` output.
        id: VerifyId,
        /// Whether the password matched.
        matches: bool,
    },
}

enum Job {
    Hash { id: RequestId, meta: RequestMeta, request: Request },
    Verify(VerifyPassword),
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The pool. Dropping it stops the threads after the job each is running.
pub struct PasswordPool {
    shared: Arc<Shared>,
    done: Receiver<PasswordDone>,
    threads: Vec<JoinHandle<()>>,
    queue_max: usize,
    cost: u32,
}

/// True when `request` carries a password the runtime must hash before the core sees it.
#[must_use]
pub fn needs_hash(request: &Request) -> bool {
    match request {
        Request::UserAdd(r) => user_add_needs_hash(r),
        Request::UserChangePassword(r) => change_password_needs_hash(r),
        _ => false,
    }
}

fn hash_request(cost: u32, mut request: Request) -> Result<Request, ApiError> {
    let password = match &request {
        Request::UserAdd(r) => r.password.clone(),
        Request::UserChangePassword(r) => r.password.clone(),
        _ => return Ok(request),
    };
    let hash = bcrypt::hash_with_result(password.as_bytes(), cost)
        .map_err(|e| {
            tracing::warn!(error = %e, "failed to hash a password");
            ApiError::AuthFailed
        })?
        // Go's bcrypt writes `$2a$`: keep hashes readable by etcd's tools.
        .format_for_version(bcrypt::Version::TwoA);
    match &mut request {
        Request::UserAdd(r) => set_hashed_password_for_add(r, hash.as_bytes()),
        Request::UserChangePassword(r) => set_hashed_password_for_change(r, hash.as_bytes()),
        _ => {}
    }
    Ok(request)
}

fn verify(v: &VerifyPassword) -> bool {
    let Ok(hash) = std::str::from_utf8(&v.hash) else { return false };
    !hash.is_empty() && bcrypt::verify(v.password.as_bytes(), hash).unwrap_or(false)
}

fn worker(shared: &Shared, cost: u32, done: &Sender<PasswordDone>, waker: &mio::Waker) {
    loop {
        let job = {
            let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.closed {
                    return;
                }
                q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = match job {
            Job::Hash { id, meta, request } => {
                PasswordDone::Hashed { id, meta, request: hash_request(cost, request) }
            }
            Job::Verify(v) => PasswordDone::Verified { id: v.id, matches: verify(&v) },
        };
        if done.send(result).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

impl PasswordPool {
    /// Starts `threads` workers hashing at bcrypt `cost`; at most `queue_max` jobs wait.
    ///
    /// # Panics
    /// If `threads` or `queue_max` is zero, or a thread cannot be spawned.
    #[must_use]
    pub fn new(threads: usize, queue_max: usize, cost: u32, waker: Arc<mio::Waker>) -> Self {
        assert!(threads > 0 && queue_max > 0, "the password pool needs threads and room");
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { jobs: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
        });
        let (tx, done) = mpsc::channel();
        let threads = (0..threads)
            .map(|i| {
                let shared = shared.clone();
                let tx = tx.clone();
                let waker = waker.clone();
                std::thread::Builder::new()
                    .name(format!("oxcd-bcrypt-{i}"))
                    .spawn(move || worker(&shared, cost, &tx, &waker))
                    .expect("spawn a bcrypt thread")
            })
            .collect();
        PasswordPool { shared, done, threads, queue_max, cost }
    }

    /// The bcrypt cost used for new hashes.
    #[must_use]
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Queues `job`; false when the queue is full.
    fn push(&self, job: Job) -> bool {
        let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.jobs.len() >= self.queue_max {
            return false;
        }
        q.jobs.push_back(job);
        self.shared.ready.notify_one();
        true
    }

    /// Queues hashing the password of `request`.
    ///
    /// # Errors
    /// `TooManyRequests` when the queue is full.
    pub fn hash(&self, id: RequestId, meta: RequestMeta, request: Request) -> Result<(), ApiError> {
        if self.push(Job::Hash { id, meta, request }) {
            Ok(())
        } else {
            Err(ApiError::TooManyRequests)
        }
    }

    /// Queues a password check. When the queue is full the check fails at once (returned as
    /// a finished result for the caller to hand to the core).
    pub fn verify(&self, v: VerifyPassword) -> Option<PasswordDone> {
        let id = v.id;
        if self.push(Job::Verify(v)) {
            return None;
        }
        tracing::warn!("password check queue full; refusing an authentication");
        Some(PasswordDone::Verified { id, matches: false })
    }

    /// The next finished job.
    pub fn poll_done(&self) -> Option<PasswordDone> {
        self.done.try_recv().ok()
    }
}

impl Drop for PasswordPool {
    fn drop(&mut self) {
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.closed = true;
            q.jobs.clear();
        }
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::etcdserverpb as pb;
    use std::time::{Duration, Instant};

    fn pool() -> (mio::Poll, PasswordPool) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        (poll, PasswordPool::new(2, 4, 4, waker))
    }

    fn wait(pool: &PasswordPool) -> PasswordDone {
        let start = Instant::now();
        loop {
            if let Some(d) = pool.poll_done() {
                return d;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no result");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn hashes_then_verifies() {
        let (_poll, pool) = pool();
        let add = Request::UserAdd(pb::AuthUserAddRequest {
            name: "alice".into(),
            password: "secret".into(),
            ..Default::default()
        });
        assert!(needs_hash(&add));
        pool.hash(RequestId(7), RequestMeta::default(), add).unwrap();
        let PasswordDone::Hashed { id, request: Ok(Request::UserAdd(r)), .. } = wait(&pool) else {
            panic!("not hashed")
        };
        assert_eq!(id, RequestId(7));
        assert!(r.password.is_empty());
        let hash = oxcd_core::auth::base64::decode(&r.hashed_password).unwrap();
        assert!(hash.starts_with(b"$2a$04$"), "{hash:?}");
        for (password, want) in [("secret", true), ("wrong", false)] {
            let v =
                VerifyPassword { id: VerifyId(1), hash: hash.clone(), password: password.into() };
            assert!(pool.verify(v).is_none());
            let PasswordDone::Verified { matches, .. } = wait(&pool) else { panic!() };
            assert_eq!(matches, want);
        }
        let v = VerifyPassword { id: VerifyId(2), hash: Vec::new(), password: String::new() };
        assert!(pool.verify(v).is_none());
        let PasswordDone::Verified { matches, .. } = wait(&pool) else { panic!() };
        assert!(!matches);
    }

    #[test]
    fn no_password_users_are_not_hashed() {
        let add = Request::UserAdd(pb::AuthUserAddRequest {
            name: "bob".into(),
            options: Some(oxcd_proto::authpb::UserAddOptions { no_password: true }),
            ..Default::default()
        });
        assert!(!needs_hash(&add));
        let change = Request::UserChangePassword(Default::default());
        assert!(!needs_hash(&change));
    }
}
