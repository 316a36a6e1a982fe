//! A fleet: one connection task per user of a world, and the handles to drive them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::conn::{self, Cmd, Shared};
use crate::stats::Sharded;
use crate::targets::Target;
use crate::track::Tracker;
use crate::world::World;

/// Message indices a fleet can track over all its phases.
pub const TRACKER_CAPACITY: usize = 4_000_000;
/// Handshakes in flight at once.
pub const CONNECT_IN_FLIGHT: usize = 1000;

pub struct Fleet {
    pub shared: Arc<Shared>,
    senders: Vec<mpsc::UnboundedSender<Cmd>>,
    tasks: JoinSet<anyhow::Result<()>>,
    /// Where the connection tasks run (and a driver of this fleet's load should too).
    runtime: tokio::runtime::Handle,
    /// Seconds it took for every connection to be ready.
    pub connect_s: f64,
}

impl Fleet {
    /// One connection per user of `world`.
    pub async fn open(
        target: &Arc<dyn Target>,
        world: &World,
        run_tag: &str,
    ) -> anyhow::Result<Self> {
        Self::open_users(target, world, 0..world.idents.len(), run_tag).await
    }

    /// One connection per user of `users` (connection `i` is the `i`-th of them), with a
    /// tracker of its own: the deliveries of two fleets on one server are counted apart.
    pub async fn open_users(
        target: &Arc<dyn Target>,
        world: &World,
        users: std::ops::Range<usize>,
        run_tag: &str,
    ) -> anyhow::Result<Self> {
        Self::open_users_on(
            target,
            world,
            users,
            run_tag,
            &tokio::runtime::Handle::current(),
        )
        .await
    }

    /// As [`Fleet::open_users`], the connection tasks running on `runtime`.
    pub async fn open_users_on(
        target: &Arc<dyn Target>,
        world: &World,
        users: std::ops::Range<usize>,
        run_tag: &str,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            target: target.clone(),
            tracker: Tracker::new(TRACKER_CAPACITY),
            room_names: world.room_names.clone(),
            run_tag: run_tag.to_string(),
            ready: AtomicUsize::new(0),
            replayed: AtomicUsize::new(0),
            reconnect_times: Sharded::default(),
            connect_gate: tokio::sync::Semaphore::new(CONNECT_IN_FLIGHT),
        });
        let mut tasks = JoinSet::new();
        let mut senders = Vec::with_capacity(users.len());
        for (index, ident) in world.idents[users].iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            tasks.spawn_on(conn::run(shared.clone(), ident.clone(), index, rx), runtime);
        }
        let started = Instant::now();
        let mut fleet = Self {
            shared,
            senders,
            tasks,
            runtime: runtime.clone(),
            connect_s: 0.0,
        };
        fleet.wait_ready(Duration::from_secs(180)).await?;
        fleet.connect_s = started.elapsed().as_secs_f64();
        Ok(fleet)
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn tracker(&self) -> &Tracker {
        &self.shared.tracker
    }

    /// Fails if a connection task ended (an unexpected close is a failed run).
    pub fn check(&mut self) -> anyhow::Result<()> {
        if let Some(done) = self.tasks.try_join_next() {
            match done {
                Ok(Ok(())) => bail!("a connection ended early"),
                Ok(Err(err)) => return Err(err),
                Err(err) => bail!("a connection task failed: {err}"),
            }
        }
        Ok(())
    }

    /// Waits until every connection is ready.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.shared.ready.load(Ordering::Acquire) < self.len() {
            self.check()?;
            if Instant::now() > deadline {
                bail!(
                    "only {} of {} connections ready after {timeout:?}",
                    self.shared.ready.load(Ordering::Acquire),
                    self.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    pub fn send(&self, conn: usize, cmd: Cmd) {
        let _ = self.senders[conn].send(cmd);
    }

    /// The connections' command channels, for a driver running apart from this handle.
    pub fn senders(&self) -> Vec<mpsc::UnboundedSender<Cmd>> {
        self.senders.clone()
    }

    /// The runtime the connection tasks run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    pub fn broadcast(&self, cmd: impl Fn() -> Cmd) {
        for tx in &self.senders {
            let _ = tx.send(cmd());
        }
    }

    pub async fn close(mut self) {
        self.senders.clear();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
    }
}

/// A runtime on a thread of its own, for a fleet whose clients must not queue behind another
/// fleet's: the quiet room's devices are not the flooded room's, and on one client process
/// their reads would otherwise wait behind a thousand busy connections' in one run queue.
///
/// The thread also asks the kernel for a higher priority (nice [`LANE_NICER_BY`] lower, where
/// the bench may: root or `CAP_SYS_NICE`), and so does the pacing thread an open-loop run on it
/// starts (a thread inherits its creator's nice value): those devices would have cores of their
/// own, while here the flooded room's client keeps both cores busy. Measured with timestamps at
/// each stage of the quiet room's sends (BENCHMARKS.md, twenty-fifth round): without it a
/// quiet send went out 4-8 ms after its intended time at p99 under the flood, charged to the
/// server. The lane's own work is ten messages a second; it takes nothing from the server.
pub struct Lane {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lane {
    pub fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-lane".into())
            .spawn(move || {
                raise_priority();
                runtime.block_on(async {
                    let _ = stopped.await;
                })
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

/// How much lower a lane thread's nice value is than the bench's.
pub const LANE_NICER_BY: i32 = 15;

/// Lower the calling thread's nice value by [`LANE_NICER_BY`], if the bench is allowed to.
fn raise_priority() {
    // SAFETY: plain system calls on the calling thread (Linux keeps a nice value per thread).
    let raised = unsafe {
        let thread = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, thread);
        libc::setpriority(libc::PRIO_PROCESS, thread, current - LANE_NICER_BY) == 0
    };
    if !raised {
        eprintln!("bench lane: keeps the default priority (no permission to raise it)");
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
