//! Synapse (Matrix, PyPI `matrix-synapse`) on PostgreSQL 15, for the two scenarios its
//! protocol shares with natter: end-to-end latency (send by `PUT .../send/m.room.message/{txn}`,
//! delivery seen by each member's `/sync` long-poll) and history (`/messages?dir=b&limit=50`).
//!
//! Matrix clients hold no push connection: a member is "connected" while one of its `/sync`
//! requests is waiting. Idle connections, WebSocket fan-out and reconnect storms therefore have
//! no counterpart and are not run (the table says so).
//!
//! Each run starts a fresh PostgreSQL cluster (initdb in a temporary directory, its own port,
//! 127.0.0.1 only) and a fresh Synapse on it. Both are direct children of the bench, started
//! through `setpriv --pdeathsig` so that they die with it even if it is killed; `stop` (and
//! `Drop`) kill them with bounded waits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::procfs::{self, ProcSample};
use crate::track::{Marker, Tracker};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const SHARED_SECRET: &str = "natter-bench-synapse-shared-secret";
const SETUP_CONCURRENCY: usize = 8;
/// Long-poll timeout of `/sync` (ms).
const SYNC_TIMEOUT_MS: u64 = 30_000;
/// Events per room per sync response: far above what arrives between two polls at the rates
/// run here; a `limited` timeline (events skipped) is counted as an error.
const SYNC_TIMELINE_LIMIT: u32 = 200;

pub struct SynapseServer {
    pub base: String,
    pub synapse_pid: u32,
    pub pg_pid: u32,
    synapse: Option<Child>,
    postgres: Option<Child>,
    _dir: tempfile::TempDir,
}

/// `python` of the venv scripts/bench installs Synapse into.
pub fn python(peers: &Path) -> PathBuf {
    peers.join("synapse/bin/python")
}

pub fn version(peers: &Path) -> String {
    let py = python(peers);
    if !py.exists() {
        return "not installed".into();
    }
    let out = |cmd: &mut std::process::Command| {
        cmd.output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let synapse = out(std::process::Command::new(&py).args(["-c", "import sys, importlib.metadata as m; print(m.version('matrix-synapse'), 'on Python', sys.version.split()[0])"]));
    let pg = out(std::process::Command::new(format!("{PG_BIN}/postgres")).arg("--version"));
    format!(
        "matrix-synapse {synapse}, {pg} (server and PostgreSQL CPU summed; RSS is Synapse's process)"
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<(Stdio, Stdio)> {
    let f = std::fs::File::create(dir.join(name))?;
    Ok((f.try_clone()?.into(), f.into()))
}

async fn run_ok(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.stdin(Stdio::null()).output())
        .await
        .with_context(|| format!("{what}: timed out"))??;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl SynapseServer {
    pub async fn start(peers: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("natter-bench-synapse-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        run_ok(Command::new("chmod").arg("755").arg(&d), "chmod").await?;
        let pgdata = d.join("pg");
        std::fs::create_dir(&pgdata)?;
        run_ok(
            Command::new("chown").arg("postgres:postgres").arg(&pgdata),
            "chown",
        )
        .await?;
        run_ok(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(&pgdata)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]),
            "initdb",
        )
        .await?;
        let pg_port = free_port()?;
        let (out, err) = log_file(&d, "postgres.log")?;
        let postgres = Command::new("setpriv")
            .args([
                "--reuid",
                "postgres",
                "--regid",
                "postgres",
                "--init-groups",
                "--pdeathsig",
                "KILL",
                "--",
            ])
            .arg(format!("{PG_BIN}/postgres"))
            .arg("-D")
            .arg(&pgdata)
            .args(["-p", &pg_port.to_string(), "-k"])
            .arg(&pgdata)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("starting postgres")?;
        let pg_pid = postgres.id().context("postgres exited at once")?;
        let mut me = Self {
            base: String::new(),
            synapse_pid: 0,
            pg_pid,
            synapse: None,
            postgres: Some(postgres),
            _dir: dir,
        };
        let psql = |sql: &str| {
            let mut cmd = Command::new("runuser");
            cmd.args([
                "-u",
                "postgres",
                "--",
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                &pg_port.to_string(),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]);
            cmd
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if run_ok(&mut psql("SELECT 1"), "psql").await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not start; log in {}",
                    d.join("postgres.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        run_ok(&mut psql("CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0"), "create database").await?;

        let port = free_port()?;
        let config = d.join("homeserver.yaml");
        std::fs::write(&config, homeserver_yaml(&d, port, pg_port))?;
        std::fs::write(d.join("log.yaml"), LOG_YAML)?;
        let py = python(peers);
        run_ok(
            Command::new(&py)
                .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
                .arg(&config),
            "synapse --generate-keys",
        )
        .await?;
        let (out, err) = log_file(&d, "synapse.log")?;
        let synapse = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&py)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .current_dir(&d)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("starting synapse")?;
        me.synapse_pid = synapse.id().context("synapse exited at once")?;
        me.synapse = Some(synapse);
        me.base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = http
                .get(format!("{}/_matrix/client/versions", me.base))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            if let Some(child) = me.synapse.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "synapse exited ({status}):\n{}",
                    std::fs::read_to_string(d.join("synapse.log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "synapse did not answer within 90 s; log in {}",
                    d.join("synapse.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(me)
    }

    /// CPU of Synapse and of every PostgreSQL process (the postmaster and its backends, which
    /// do the storage work natter does in-process); RSS of Synapse's own process.
    pub fn sample(&self) -> ProcSample {
        let mut cpu = procfs::sample(self.synapse_pid).cpu_s;
        for pid in std::iter::once(self.pg_pid).chain(children_of(self.pg_pid)) {
            cpu += procfs::cpu_s(pid).unwrap_or(0.0);
        }
        ProcSample {
            cpu_s: cpu,
            rss_kib: procfs::rss_kib(self.synapse_pid).unwrap_or(0),
        }
    }

    pub async fn stop(mut self) {
        self.kill_all();
        for child in [self.synapse.take(), self.postgres.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    fn kill_all(&mut self) {
        if let Some(s) = self.synapse.as_mut() {
            let _ = s.start_kill();
        }
        if let Some(p) = self.postgres.as_mut() {
            // SIGKILL to the postmaster leaves its backends; they exit on their own when they
            // notice it is gone, but kill them too so nothing outlives the bench.
            let kids = children_of(self.pg_pid);
            let _ = p.start_kill();
            for pid in kids {
                let _ = std::process::Command::new("kill")
                    .arg("-9")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}

impl Drop for SynapseServer {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn children_of(ppid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s[s.rfind(')')? + 1..]
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(ppid)
        })
        .collect()
}

const LOG_YAML: &str = "version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
root:
  level: WARNING
  handlers: [console]
disable_existing_loggers: false
";

/// A minimal homeserver: client API only on 127.0.0.1, PostgreSQL, registration closed except
/// by shared secret, presence off, every rate limit opened up, cheap password hashing (the
/// same allowances natter gets, see `targets::natter_flags`).
fn homeserver_yaml(dir: &Path, port: u16, pg_port: u16) -> String {
    let d = dir.display();
    let open = "{per_second: 1000000, burst_count: 1000000}";
    format!(
        "server_name: localhost
pid_file: {d}/homeserver.pid
signing_key_path: {d}/signing.key
media_store_path: {d}/media
log_config: {d}/log.yaml
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: psycopg2
  args:
    user: postgres
    database: synapse
    host: 127.0.0.1
    port: {pg_port}
    cp_min: 5
    cp_max: 10
registration_shared_secret: {SHARED_SECRET}
enable_registration: false
bcrypt_rounds: 4
report_stats: false
suppress_key_server_warning: true
trusted_key_servers: []
enable_metrics: false
presence:
  enabled: false
rc_message: {open}
rc_registration: {open}
rc_login:
  address: {open}
  account: {open}
  failed_attempts: {open}
rc_joins:
  local: {open}
  remote: {open}
rc_joins_per_room: {open}
rc_invites:
  per_room: {open}
  per_user: {open}
  per_issuer: {open}
rc_room_creation: {open}
rc_admin_redaction: {open}
rc_presence:
  per_user: {open}
rc_delayed_event_mgmt: {open}
"
    )
}

// ---------------------------------------------------------------------------------------------
// Users, rooms, sync loops

#[derive(Clone)]
pub struct User {
    pub token: String,
    pub user_id: String,
}

fn mac(nonce: &str, user: &str, password: &str) -> String {
    let mut m =
        Hmac::<sha1::Sha1>::new_from_slice(SHARED_SECRET.as_bytes()).expect("any key length");
    for (i, part) in [nonce, user, password, "notadmin"].iter().enumerate() {
        if i > 0 {
            m.update(b"\0");
        }
        m.update(part.as_bytes());
    }
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn json_ok(r: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let resp = r.send().await.with_context(|| what.to_string())?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("{what}: {status} {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// Registers `n` users by the shared-secret admin API (nonce, HMAC-SHA1).
pub async fn register(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<User>> {
    let url = format!("{base}/_synapse/admin/v1/register");
    stream::iter(0..n)
        .map(|u| {
            let url = url.clone();
            async move {
                let nonce = json_ok(http.get(&url), "register nonce").await?["nonce"].as_str().context("nonce")?.to_string();
                let name = format!("bench{u:06}");
                let body = json!({"nonce": nonce, "username": name, "password": crate::world::PASSWORD, "admin": false,
                    "mac": mac(&nonce, &name, crate::world::PASSWORD)});
                let v = json_ok(http.post(&url).json(&body), "register").await?;
                anyhow::Ok(User {
                    token: v["access_token"].as_str().context("access_token")?.into(),
                    user_id: v["user_id"].as_str().context("user_id")?.into(),
                })
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Creates each room (private, members invited, `is_direct` for pairs) and joins the invitees.
pub async fn create_rooms(
    http: &reqwest::Client,
    base: &str,
    users: &[User],
    rooms: &[crate::world::RoomSpec],
) -> anyhow::Result<Vec<String>> {
    stream::iter(rooms.iter().enumerate())
        .map(|(r, room)| async move {
            let owner = &users[room.members[0]];
            let invite: Vec<&str> = room.members[1..].iter().map(|u| users[*u].user_id.as_str()).collect();
            let body = json!({"preset": "private_chat", "name": format!("room {r}"), "invite": invite, "is_direct": room.direct});
            let v = json_ok(http.post(format!("{base}/_matrix/client/v3/createRoom")).bearer_auth(&owner.token).json(&body), "createRoom").await?;
            let id = v["room_id"].as_str().context("room_id")?.to_string();
            for u in &room.members[1..] {
                json_ok(http.post(format!("{base}/_matrix/client/v3/join/{}", enc(&id))).bearer_auth(&users[*u].token).json(&json!({})), "join").await?;
            }
            anyhow::Ok(id)
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The sync filter: room messages only, nothing else a client would also get.
fn sync_filter() -> String {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"limit": SYNC_TIMELINE_LIMIT, "types": ["m.room.message"]},
            "state": {"types": [], "lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []}
        }
    })
    .to_string()
}

/// Every marker in a response body (a sync may carry many messages).
fn markers(text: &str) -> Vec<Marker> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("@@B") {
        if let Some(m) = crate::track::find_marker(&rest[i..]) {
            out.push(m);
        }
        rest = &rest[i + 3..];
        if let Some(j) = rest.find("@@") {
            rest = &rest[j + 2..];
        }
    }
    out
}

/// One `/sync` long-poll loop per user, from the position after setup; each message marker
/// found is a delivery to that member's device.
pub struct Syncers {
    stop: Arc<AtomicBool>,
    pub errors: Arc<AtomicU64>,
    pub limited: Arc<AtomicU64>,
    tasks: tokio::task::JoinSet<()>,
}

impl Syncers {
    pub async fn start(
        http: &reqwest::Client,
        base: &str,
        users: &[User],
        tracker: Arc<Tracker>,
    ) -> anyhow::Result<Self> {
        let filter = sync_filter();
        let url = format!("{base}/_matrix/client/v3/sync");
        // Initial syncs (the position after setup), a few at a time.
        let since: Vec<String> = stream::iter(users)
            .map(|u| {
                let q = [("filter", filter.clone()), ("timeout", "0".to_string())];
                let req = http.get(&url).bearer_auth(&u.token).query(&q);
                async move {
                    anyhow::Ok(
                        json_ok(req, "initial sync").await?["next_batch"]
                            .as_str()
                            .context("next_batch")?
                            .to_string(),
                    )
                }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let limited = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for (shard, (u, mut since)) in users.iter().zip(since).enumerate() {
            let (http, url, filter, token) =
                (http.clone(), url.clone(), filter.clone(), u.token.clone());
            let (stop, errors, limited, tracker) = (
                stop.clone(),
                errors.clone(),
                limited.clone(),
                tracker.clone(),
            );
            tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let q = [
                        ("filter", filter.as_str()),
                        ("timeout", &SYNC_TIMEOUT_MS.to_string()),
                        ("since", &since),
                    ];
                    let body = match http.get(&url).bearer_auth(&token).query(&q).send().await {
                        Ok(r) if r.status().is_success() => r.text().await.ok(),
                        _ => None,
                    };
                    let Some(body) = body else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    for m in markers(&body) {
                        tracker.on_marker(shard, m);
                    }
                    if body.contains("\"limited\":true") {
                        limited.fetch_add(1, Ordering::Relaxed);
                    }
                    match serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["next_batch"].as_str().map(String::from))
                    {
                        Some(next) => since = next,
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        Ok(Self {
            stop,
            errors,
            limited,
            tasks,
        })
    }

    pub async fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// `PUT /rooms/{room}/send/m.room.message/{txn}` with `text` as the body.
pub fn send(
    http: &reqwest::Client,
    base: &str,
    user: &User,
    room_id: &str,
    txn: &str,
    text: &str,
) -> reqwest::RequestBuilder {
    http.put(format!(
        "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        enc(room_id),
        enc(txn)
    ))
    .bearer_auth(&user.token)
    .json(&json!({"msgtype": "m.text", "body": text}))
}

/// Walks a room's history back from the end, returning the `from` token of every page of 50
/// (the history scenario pages from random ones).
pub async fn page_tokens(
    http: &reqwest::Client,
    base: &str,
    user: &User,
    room_id: &str,
) -> anyhow::Result<Vec<String>> {
    let url = format!("{base}/_matrix/client/v3/rooms/{}/messages", enc(room_id));
    let mut tokens = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut q = vec![("dir", "b".to_string()), ("limit", "50".to_string())];
        if let Some(f) = &from {
            q.push(("from", f.clone()));
        }
        let v = json_ok(
            http.get(&url).bearer_auth(&user.token).query(&q),
            "messages",
        )
        .await?;
        let full = v["chunk"].as_array().map(|c| c.len()).unwrap_or(0) == 50;
        match v["end"].as_str() {
            Some(end) if full => {
                tokens.push(end.to_string());
                from = Some(end.to_string());
            }
            _ => break,
        }
    }
    // The last full page's end may have fewer than 50 events behind it.
    tokens.pop();
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_markers_of_a_sync_body() {
        let body = format!(
            r#"{{"a":"{}","b":"x @@ y","c":"{}"}}"#,
            crate::track::payload(1, 2, 3),
            crate::track::payload(4, 5, 6)
        );
        let found: Vec<u64> = markers(&body).iter().map(|m| m.g).collect();
        assert_eq!(found, vec![1, 4]);
    }

    #[test]
    fn shared_secret_mac_matches_synapse() {
        // hmac.new(b"k", b"n\x00u\x00p\x00notadmin", hashlib.sha1).hexdigest() with key = SHARED_SECRET
        assert_eq!(
            mac("n", "u", "p"),
            "74befac1b70316852ee5ba9b5d5c6a57de15af47"
        );
    }
}
