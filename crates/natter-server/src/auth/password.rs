//! Password hashing with argon2id, off the async runtime. Each hash uses ~19 MiB and tens of
//! milliseconds of CPU, so hashing runs in `spawn_blocking` behind a semaphore that bounds how
//! many run at once (a flood of logins cannot exhaust memory or starve the runtime), and at most
//! `queue` more wait for a slot: past that a request is refused at once with `Unavailable` (503
//! with `Retry-After`) instead of waiting behind the flood, so a real user's login stays fast.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use natter_domain::DomainError;
use natter_domain::values::Password;
use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    /// Hashes running.
    permits: Arc<Semaphore>,
    /// Hashes running or waiting: `concurrency + queue`.
    admitted: Arc<Semaphore>,
    /// Computed on the first login for an unknown user, then reused: only its verification
    /// needs to cost what a real one does.
    decoy: Arc<tokio::sync::OnceCell<String>>,
}

impl PasswordHashing {
    /// `memory_kib` and `iterations` are argon2id's cost; `concurrency` bounds parallel hashes,
    /// `queue` those waiting for one.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        concurrency: usize,
        queue: usize,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            admitted: Arc::new(Semaphore::new(concurrency.max(1).saturating_add(queue))),
            decoy: Arc::default(),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// A slot to hash in, waiting in the bounded queue; `Unavailable` when the queue is full.
    async fn slot(&self) -> Result<[SemaphorePermit<'_>; 2], DomainError> {
        let admitted = self
            .admitted
            .try_acquire()
            .map_err(|_| DomainError::Unavailable)?;
        let running = self
            .permits
            .acquire()
            .await
            .map_err(|_| DomainError::Unavailable)?;
        Ok([admitted, running])
    }

    pub async fn hash(&self, password: &Password) -> Result<String, DomainError> {
        let _slot = self.slot().await?;
        let params = self.params.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            Self::argon2(params)
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| {
                    tracing::error!(%err, "password hashing failed");
                    DomainError::Internal
                })
        })
        .await
        .map_err(|_| DomainError::Internal)?
    }

    /// True when `password` matches the PHC `hash`. Parameters come from the hash itself, so
    /// old hashes keep verifying after the cost is raised.
    pub async fn verify(&self, password: &str, hash: String) -> Result<bool, DomainError> {
        let _slot = self.slot().await?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(|_| DomainError::Internal)
    }

    /// A hash to verify against when the username does not exist, so that a login for an
    /// unknown user costs the same time as one with a wrong password.
    pub async fn decoy_hash(&self) -> Result<String, DomainError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let password = Password::parse("decoy-password-never-matches")
                    .map_err(|_| DomainError::Internal)?;
                self.hash(&password).await
            })
            .await?;
        Ok(decoy.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_decoy_is_hashed_once_and_never_matches() {
        let hashing = PasswordHashing::new(1024, 1, 2, 8).unwrap();
        let decoy = hashing.decoy_hash().await.unwrap();
        assert_eq!(
            hashing.decoy_hash().await.unwrap(),
            decoy,
            "reused, not recomputed"
        );
        assert!(!hashing.verify("password123", decoy).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hashing = PasswordHashing::new(1024, 1, 2, 8).unwrap();
        let hash = hashing
            .hash(&Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hashing.verify("correct horse", hash.clone()).await.unwrap());
        assert!(!hashing.verify("wrong horse!", hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hashing = PasswordHashing::new(1024, 1, 1, 1).unwrap();
        let running = hashing.slot().await.unwrap();
        let waiting = hashing.admitted.try_acquire().unwrap();
        assert!(matches!(
            hashing.verify("password123", String::new()).await,
            Err(DomainError::Unavailable)
        ));
        drop((running, waiting));
        assert!(!hashing.verify("password123", String::new()).await.unwrap());
    }
}
