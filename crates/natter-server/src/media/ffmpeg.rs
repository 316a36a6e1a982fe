//! ffmpeg as an optional, sandboxed tool: the only way natter decodes a video (for its poster)
//! or rewrites a sound's or a video's container (to drop its metadata). No well-kept Rust crate
//! decodes H.264/HEVC/VP9/AV1 or remuxes MP4, Matroska, Ogg, MP3, WAV and FLAC; ffmpeg does all
//! of them, and Debian ships it. It is optional: `files.ffmpeg = ""` or a machine without it
//! stores sounds and videos as they are (docs/media.md).
//!
//! ffmpeg parses untrusted bytes with a large C code base, so every run is boxed in:
//! - the input demuxer is named from the type natter sniffed (`-f mov`, `-f matroska`, ...), so
//!   ffmpeg never guesses a playlist format (HLS, concat) that would open other files;
//! - `-protocol_whitelist file,pipe`: no network, whatever the file asks for;
//! - limits set in the child before `exec` (`setrlimit`): address space, CPU seconds, and the
//!   size of any file it writes (0 for a poster: it writes to a pipe only);
//! - a wall-clock timeout (`files.ffmpeg_timeout_s`) after which it is killed, and on Linux
//!   `PR_SET_PDEATHSIG`: it dies with natter (a `kill -9` of natter leaves no ffmpeg writing);
//! - stdout and stderr are read to the end but only a bounded prefix is kept;
//! - `-nostdin -threads 1`: no terminal, one core; runs are bounded by
//!   `files.processing_concurrency` like image processing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::FilesConfig;

/// Address space of one ffmpeg run: its libraries map ~150 MiB, decoding one 4K frame with one
/// thread needs a few hundred more.
const ADDRESS_SPACE_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest poster ffmpeg may hand back (a 1280x1280 RGB PNG is at most ~5 MiB).
const POSTER_MAX_BYTES: usize = 16 * 1024 * 1024;
/// stderr kept for the log.
const STDERR_MAX_BYTES: usize = 4 * 1024;
/// Room a remuxed file may take beyond the original's size (indexes written anew).
const REMUX_SLACK_BYTES: u64 = 4 * 1024 * 1024;

/// A usable ffmpeg.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    program: PathBuf,
    timeout: Duration,
}

/// How natter reads and writes one type of sound or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container {
    /// ffmpeg's demuxer for the input (`-f` before `-i`).
    demuxer: &'static str,
    /// ffmpeg's muxer for the stripped copy: the same container.
    muxer: &'static str,
    /// Only sound is kept (a cover picture is a video stream: dropped).
    pub audio_only: bool,
}

impl Container {
    /// An MP4, MOV or M4A: its track headers carry a display matrix (a rotation).
    pub fn has_matrix(self) -> bool {
        self.demuxer == "mov"
    }
}

/// The container of a sniffed type natter remuxes (the types `probe.rs` reads), if any.
pub fn container_of(mime: &str) -> Option<Container> {
    let (demuxer, muxer, audio_only) = match mime {
        "video/mp4" => ("mov", "mp4", false),
        "video/quicktime" => ("mov", "mov", false),
        "audio/m4a" => ("mov", "ipod", true),
        "video/webm" => ("matroska", "webm", false),
        "video/x-matroska" => ("matroska", "matroska", false),
        "audio/mpeg" => ("mp3", "mp3", true),
        "audio/ogg" | "audio/opus" => ("ogg", "ogg", true),
        "audio/x-wav" => ("wav", "wav", true),
        "audio/x-flac" => ("flac", "flac", true),
        _ => return None,
    };
    Some(Container {
        demuxer,
        muxer,
        audio_only,
    })
}

/// Why a run gave nothing usable.
#[derive(Debug)]
pub enum Failed {
    Spawn(std::io::Error),
    TimedOut,
    /// It ended with an error; the start of what it said.
    Exit(ExitStatus, String),
    /// It wrote more to stdout than allowed.
    TooMuchOutput,
    /// It ended well without a frame.
    NoFrame,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn(err) => write!(f, "ffmpeg did not start: {err}"),
            Self::TimedOut => f.write_str("ffmpeg ran past files.ffmpeg_timeout_s and was killed"),
            Self::Exit(status, stderr) => write!(f, "ffmpeg failed ({status}): {}", stderr.trim()),
            Self::TooMuchOutput => f.write_str("ffmpeg wrote more than a poster"),
            Self::NoFrame => f.write_str("ffmpeg decoded no frame"),
        }
    }
}

/// Resource limits set in the child before it runs ffmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    address_space_bytes: u64,
    cpu_s: u64,
    file_size_bytes: u64,
}

impl Limits {
    /// In the forked child: only async-signal-safe calls.
    fn apply(self) -> std::io::Result<()> {
        let set = |resource, value: u64| {
            let limit = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            // SAFETY: setrlimit with a valid pointer to a stack value.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        };
        set(libc::RLIMIT_AS, self.address_space_bytes)?;
        set(libc::RLIMIT_CPU, self.cpu_s)?;
        set(libc::RLIMIT_FSIZE, self.file_size_bytes)?;
        #[cfg(target_os = "linux")]
        // SAFETY: prctl with an integer argument; async-signal-safe.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Ffmpeg {
    /// The ffmpeg `files.ffmpeg` names, if it is set and found; says once (at start) when
    /// video posters and sound and video stripping are off.
    pub fn find(config: &FilesConfig) -> Option<Self> {
        let timeout = Duration::from_secs(config.ffmpeg_timeout_s);
        if config.ffmpeg.is_empty() {
            tracing::info!(
                "files.ffmpeg is empty: videos get no poster, sounds and videos are stored with their metadata"
            );
            return None;
        }
        match resolve(&config.ffmpeg, std::env::var_os("PATH")) {
            Some(program) => {
                tracing::info!(ffmpeg = %program.display(), "video posters and sound and video stripping on");
                Some(Self { program, timeout })
            }
            None => {
                tracing::warn!(
                    ffmpeg = %config.ffmpeg,
                    "ffmpeg not found: videos get no poster, sounds and videos are stored with their metadata"
                );
                None
            }
        }
    }

    fn limits(&self, file_size_bytes: u64) -> Limits {
        Limits {
            address_space_bytes: ADDRESS_SPACE_BYTES,
            cpu_s: self.timeout.as_secs().max(1),
            file_size_bytes,
        }
    }

    /// One frame of the video at `input`, `at_ms` in, turned as displayed and scaled down to
    /// fit in `max_side` x `max_side`, as an RGB PNG.
    pub async fn poster(
        &self,
        input: &Path,
        container: Container,
        at_ms: u64,
        max_side: u32,
    ) -> Result<Vec<u8>, Failed> {
        let args = poster_args(input, container, at_ms, max_side);
        let out = run(
            &self.program,
            &args,
            self.limits(0),
            self.timeout,
            POSTER_MAX_BYTES,
        )
        .await?;
        if out.is_empty() {
            return Err(Failed::NoFrame);
        }
        Ok(out)
    }

    /// The sound or video at `input` (of `input_len` bytes) copied to `output` in the same
    /// container, without its metadata.
    pub async fn strip(
        &self,
        input: &Path,
        output: &Path,
        container: Container,
        input_len: u64,
    ) -> Result<(), Failed> {
        let args = strip_args(input, output, container);
        let limit = input_len
            .saturating_add(input_len / 8)
            .saturating_add(REMUX_SLACK_BYTES);
        run(&self.program, &args, self.limits(limit), self.timeout, 0).await?;
        Ok(())
    }
}

/// `name` as a path if it has a `/`, else the first executable file of that name on `path`.
fn resolve(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    let executable = |candidate: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let candidate = PathBuf::from(name);
        return executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(&path?)
        .map(|dir| dir.join(name))
        .find(|candidate| executable(candidate))
}

/// What every run starts with: quiet, no stdin, one thread, the input's demuxer, files only.
fn input_args(input: &Path, container: Container, seek: Option<String>) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-threads",
        "1",
        "-protocol_whitelist",
        "file,pipe",
        "-f",
        container.demuxer,
    ]
    .map(OsString::from)
    .to_vec();
    if let Some(seek) = seek {
        args.extend(["-ss".into(), seek.into()]);
    }
    args.extend(["-i".into(), input.as_os_str().to_owned()]);
    args
}

fn poster_args(input: &Path, container: Container, at_ms: u64, max_side: u32) -> Vec<OsString> {
    let seek = (at_ms > 0).then(|| format!("{}.{:03}", at_ms / 1000, at_ms % 1000));
    let mut args = input_args(input, container, seek);
    let scale = format!(
        "scale=w='min({max_side},iw)':h='min({max_side},ih)':force_original_aspect_ratio=decrease"
    );
    args.extend(
        [
            "-map",
            "0:V:0",
            "-frames:v",
            "1",
            "-vf",
            &scale,
            "-pix_fmt",
            "rgb24",
            "-f",
            "image2pipe",
            "-vcodec",
            "png",
            "pipe:1",
        ]
        .map(OsString::from),
    );
    args
}

fn strip_args(input: &Path, output: &Path, container: Container) -> Vec<OsString> {
    let mut args = input_args(input, container, None);
    let maps: &[&str] = if container.audio_only {
        &["-map", "0:a"]
    } else {
        &["-map", "0:V?", "-map", "0:a?"]
    };
    args.extend(maps.iter().map(OsString::from));
    args.extend(
        [
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-c",
            "copy",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
        ]
        .map(OsString::from),
    );
    match container.muxer {
        "mp4" | "mov" | "ipod" => args.extend(["-movflags", "+faststart"].map(OsString::from)),
        "mp3" => args.extend(["-id3v2_version", "0"].map(OsString::from)),
        _ => {}
    }
    args.extend(["-f".into(), container.muxer.into(), "-y".into()]);
    args.push(output.as_os_str().to_owned());
    args
}

/// Runs `program` with `args` under `limits`; its stdout (at most `stdout_max` bytes).
async fn run(
    program: &Path,
    args: &[OsString],
    limits: Limits,
    timeout: Duration,
    stdout_max: usize,
) -> Result<Vec<u8>, Failed> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: `Limits::apply` only calls setrlimit and prctl, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || limits.apply());
    }
    let mut child = command.spawn().map_err(Failed::Spawn)?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let work = async {
        let (out, err) = tokio::join!(kept(stdout, stdout_max), kept(stderr, STDERR_MAX_BYTES));
        let status = child.wait().await.map_err(Failed::Spawn)?;
        Ok::<_, Failed>((status, out?, err?))
    };
    let (status, (out, overflow), (err, _)) = match tokio::time::timeout(timeout, work).await {
        Ok(done) => done?,
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(Failed::TimedOut);
        }
    };
    if !status.success() {
        return Err(Failed::Exit(
            status,
            String::from_utf8_lossy(&err).into_owned(),
        ));
    }
    if overflow {
        return Err(Failed::TooMuchOutput);
    }
    Ok(out)
}

/// Reads `stream` to its end (so the child never blocks on a full pipe), keeping the first
/// `max` bytes; whether there was more.
async fn kept(mut stream: impl AsyncRead + Unpin, max: usize) -> Result<(Vec<u8>, bool), Failed> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut overflow = false;
    loop {
        let n = stream.read(&mut buffer).await.map_err(Failed::Spawn)?;
        if n == 0 {
            return Ok((out, overflow));
        }
        let room = max - out.len();
        out.extend_from_slice(&buffer[..n.min(room)]);
        overflow |= n > room;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn position(args: &[String], wanted: &str) -> usize {
        args.iter()
            .position(|a| a == wanted)
            .unwrap_or_else(|| panic!("no {wanted}: {args:?}"))
    }

    #[test]
    fn the_input_is_read_with_its_own_demuxer_and_files_only() {
        let mp4 = container_of("video/mp4").unwrap();
        let args = strings(&poster_args(Path::new("/staged/x"), mp4, 1000, 1280));
        let input = position(&args, "-i");
        assert_eq!(args[input + 1], "/staged/x");
        assert_eq!(
            args[position(&args, "-f") + 1],
            "mov",
            "demuxer named, not guessed"
        );
        assert!(position(&args, "-f") < input);
        assert_eq!(
            args[position(&args, "-protocol_whitelist") + 1],
            "file,pipe"
        );
        assert!(position(&args, "-protocol_whitelist") < input);
        assert_eq!(args[position(&args, "-ss") + 1], "1.000");
        assert!(position(&args, "-ss") < input, "input seeking");
        assert_eq!(args[position(&args, "-threads") + 1], "1");
        assert!(args.contains(&"-nostdin".into()));
        assert_eq!(args[position(&args, "-frames:v") + 1], "1");
        assert!(args[position(&args, "-vf") + 1].contains("min(1280,iw)"));
        assert_eq!(args.last().unwrap(), "pipe:1");
        let first = strings(&poster_args(Path::new("/x"), mp4, 0, 320));
        assert!(!first.contains(&"-ss".into()), "the first frame: no seek");
    }

    #[test]
    fn stripping_drops_metadata_and_keeps_the_container() {
        let mp4 = container_of("video/mp4").unwrap();
        let args = strings(&strip_args(Path::new("/in"), Path::new("/out.tmp"), mp4));
        assert_eq!(args[position(&args, "-map_metadata") + 1], "-1");
        assert_eq!(args[position(&args, "-map_chapters") + 1], "-1");
        assert_eq!(args[position(&args, "-c") + 1], "copy");
        assert_eq!(args[position(&args, "-movflags") + 1], "+faststart");
        let maps: Vec<_> = args
            .iter()
            .enumerate()
            .filter(|(_, a)| *a == "-map")
            .map(|(i, _)| args[i + 1].as_str())
            .collect();
        assert_eq!(
            maps,
            ["0:V?", "0:a?"],
            "no data, subtitle or attachment streams"
        );
        assert_eq!(&args[args.len() - 4..], ["-f", "mp4", "-y", "/out.tmp"]);

        let mp3 = strings(&strip_args(
            Path::new("/in"),
            Path::new("/out"),
            container_of("audio/mpeg").unwrap(),
        ));
        assert_eq!(
            mp3[position(&mp3, "-map") + 1],
            "0:a",
            "a cover picture goes"
        );
        assert_eq!(mp3[position(&mp3, "-id3v2_version") + 1], "0");
        assert!(!mp3.contains(&"-movflags".into()));
        assert_eq!(container_of("audio/m4a").unwrap().muxer, "ipod");
        assert_eq!(container_of("video/webm").unwrap().muxer, "webm");
        assert!(container_of("application/pdf").is_none());
    }

    #[test]
    fn every_probed_type_has_a_container() {
        for mime in [
            "video/mp4",
            "video/quicktime",
            "video/webm",
            "video/x-matroska",
            "audio/mpeg",
            "audio/ogg",
            "audio/opus",
            "audio/x-wav",
            "audio/x-flac",
            "audio/m4a",
        ] {
            assert!(super::super::probe::is_probed(mime), "{mime}");
            assert!(container_of(mime).is_some(), "{mime}");
        }
    }

    #[test]
    fn a_program_is_found_on_the_path_or_by_its_path() {
        let sh = resolve("sh", Some("/nonexistent:/bin:/usr/bin".into())).expect("sh");
        assert!(sh.ends_with("sh"));
        assert_eq!(resolve("/bin/sh", None), Some(PathBuf::from("/bin/sh")));
        assert_eq!(
            resolve("no-such-ffmpeg", Some("/bin:/usr/bin".into())),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("ffmpeg");
        std::fs::write(&plain, b"#!/bin/sh").unwrap();
        let plain_name = plain.display().to_string();
        assert_eq!(resolve(&plain_name, None), None, "not executable");
        let config = FilesConfig {
            ffmpeg: "/nonexistent/ffmpeg".into(),
            ..FilesConfig::default()
        };
        assert!(Ffmpeg::find(&config).is_none());
        let off = FilesConfig {
            ffmpeg: String::new(),
            ..FilesConfig::default()
        };
        assert!(Ffmpeg::find(&off).is_none());
    }

    /// A `/proc/self/limits` line's soft value.
    fn limit(limits: &str, name: &str) -> String {
        let line = limits.lines().find(|l| l.starts_with(name)).expect(name);
        line[name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn the_child_runs_under_the_limits() {
        let limits = Limits {
            address_space_bytes: 512 * 1024 * 1024,
            cpu_s: 7,
            file_size_bytes: 4096,
        };
        let args = ["/proc/self/limits"].map(OsString::from);
        let out = run(
            Path::new("/bin/cat"),
            &args,
            limits,
            Duration::from_secs(30),
            65536,
        )
        .await
        .expect("cat runs");
        let out = String::from_utf8(out).unwrap();
        assert_eq!(limit(&out, "Max address space"), "536870912");
        assert_eq!(limit(&out, "Max cpu time"), "7");
        assert_eq!(limit(&out, "Max file size"), "4096");
    }

    #[tokio::test]
    async fn a_file_larger_than_allowed_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big");
        let limits = Limits {
            address_space_bytes: ADDRESS_SPACE_BYTES,
            cpu_s: 10,
            file_size_bytes: 1000,
        };
        let script = format!("head -c 5000 /dev/zero > {}", target.display());
        let args = ["-c", &script].map(OsString::from);
        let result = run(
            Path::new("/bin/sh"),
            &args,
            limits,
            Duration::from_secs(30),
            0,
        )
        .await;
        assert!(matches!(result, Err(Failed::Exit(..))), "{result:?}");
        assert!(std::fs::metadata(&target).unwrap().len() <= 1000);
    }

    #[tokio::test]
    async fn a_run_past_its_timeout_is_killed() {
        let limits = Limits {
            address_space_bytes: ADDRESS_SPACE_BYTES,
            cpu_s: 10,
            file_size_bytes: 0,
        };
        let args = ["60"].map(OsString::from);
        let result = run(
            Path::new("/bin/sleep"),
            &args,
            limits,
            Duration::from_millis(100),
            0,
        )
        .await;
        assert!(matches!(result, Err(Failed::TimedOut)), "{result:?}");
    }

    #[tokio::test]
    async fn output_is_bounded_and_errors_say_why() {
        let limits = Limits {
            address_space_bytes: ADDRESS_SPACE_BYTES,
            cpu_s: 10,
            file_size_bytes: 0,
        };
        let args = ["-c", "head -c 100000 /dev/zero"].map(OsString::from);
        let result = run(
            Path::new("/bin/sh"),
            &args,
            limits,
            Duration::from_secs(30),
            1000,
        )
        .await;
        assert!(matches!(result, Err(Failed::TooMuchOutput)), "{result:?}");
        let args = ["-c", "echo broken input >&2; exit 3"].map(OsString::from);
        match run(
            Path::new("/bin/sh"),
            &args,
            limits,
            Duration::from_secs(30),
            1000,
        )
        .await
        {
            Err(failed @ Failed::Exit(..)) => assert!(failed.to_string().contains("broken input")),
            other => panic!("{other:?}"),
        }
    }
}
