//! What the two Java servers share: launching the JVM detached with its output appended to the
//! log, and the pid file written with the JVM's own pid.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::process::detach;
use crate::wait::start_marker;

/// Runs `command` detached from `dir` (own session, no stdin, our descriptors closed), its
/// output appended to `log`; `pid_file` gets its pid.
pub fn spawn_jvm(
    name: &str,
    command: &mut Command,
    dir: &Path,
    log: &Path,
    pid_file: &Path,
) -> anyhow::Result<()> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open {}", log.display()))?;
    let err = out.try_clone()?;
    let child = detach(
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err),
    )
    .spawn()
    .with_context(|| format!("start {name} (java)"))?;
    fs::write(pid_file, format!("{}\n", child.id()))
        .with_context(|| format!("write {}", pid_file.display()))
}

/// Appends the start marker to `log`: what a failed start shows comes after it.
pub fn append_marker(name: &str, log: &Path) -> anyhow::Result<()> {
    let mut out = OpenOptions::new().create(true).append(true).open(log)?;
    Ok(out.write_all(start_marker(name).as_bytes())?)
}
