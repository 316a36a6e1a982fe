//! What every service operation is given: the settings, a small async runtime for the client
//! crates the probes use, and the once-per-run state of package installation.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use crate::settings::Settings;

pub struct Ctx {
    pub settings: Settings,
    runtime: tokio::runtime::Runtime,
    /// `apt-get update` runs at most once per run, before the first `apt-get install`.
    pub apt_updated: Cell<bool>,
}

impl Ctx {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            settings,
            runtime,
            apt_updated: Cell::new(false),
        })
    }

    /// Runs `future` to completion, or gives `None` after `limit`: every probe is bounded.
    pub fn block_on<T>(&self, limit: Duration, future: impl Future<Output = T>) -> Option<T> {
        self.runtime
            .block_on(async { tokio::time::timeout(limit, future).await.ok() })
    }
}
