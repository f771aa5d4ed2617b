//! Hashing of the clients' auth keys with argon2id, off the async runtime and
//! bounded in parallel so a login burst cannot starve the other requests.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// How long a request waits for a hashing slot before answering 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct KeyHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that answer takes as
    /// long as a wrong key.
    dummy_hash: Arc<str>,
}

impl KeyHasher {
    pub fn new(params: Params, parallelism: usize) -> Self {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(b"envv-dummy-auth-key-for-unknown-users", &salt)
            .expect("argon2 accepts a fixed input")
            .to_string();
        KeyHasher {
            argon2,
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            dummy_hash: dummy_hash.into(),
        }
    }

    /// Strong defaults for a key that already came out of the client's
    /// argon2id: OWASP's minimum (19 MiB, 2 passes) suffices for a
    /// high-entropy input and keeps logins cheap for the server.
    pub fn default_params() -> Params {
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters")
    }

    pub async fn hash(&self, key: Zeroizing<Vec<u8>>) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(&key, &salt)
                .map(|h| h.to_string())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing failed: {e}")))
        })
        .await?
    }

    /// Checks `key` against `stored`; with no stored hash, burns the same
    /// time against the dummy and answers false.
    pub async fn verify(
        &self,
        key: Zeroizing<Vec<u8>>,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let argon2 = self.argon2.clone();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || {
                PasswordHash::new(&stored)
                    .map(|hash| argon2.verify_password(&key, &hash).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(|_| ApiError::Unavailable)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyHasher {
        KeyHasher::new(Params::new(1024, 1, 1, None).unwrap(), 2)
    }

    #[tokio::test]
    async fn right_key_verifies_and_wrong_key_does_not() {
        let h = hasher();
        let stored = h.hash(Zeroizing::new(vec![7; 32])).await.unwrap();
        assert!(
            h.verify(Zeroizing::new(vec![7; 32]), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(Zeroizing::new(vec![8; 32]), Some(stored))
                .await
                .unwrap()
        );
    }

    /// However many hashes are asked for at once, at most `parallelism` run;
    /// the others wait for a slot. Each job here blocks until released, so
    /// without the bound all six would be running at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashing_runs_at_most_parallelism_jobs_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, mpsc};

        let h = hasher();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (h, gate) = (h.clone(), gate.clone());
                let (running, most, done) = (running.clone(), most.clone(), done.clone());
                tokio::spawn(async move {
                    h.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        gate.lock().unwrap().recv().unwrap();
                        running.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let settle = |n: usize, counter: Arc<AtomicUsize>| async move {
            while counter.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        settle(2, running.clone()).await;
        for i in 1..=6 {
            release.send(()).unwrap();
            settle(i, done.clone()).await;
        }
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = hasher();
        assert!(!h.verify(Zeroizing::new(vec![7; 32]), None).await.unwrap());
    }
}
