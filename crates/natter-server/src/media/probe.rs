//! Duration of a sound or a video, and a video's width and height, read from the container's
//! headers by symphonia's format readers (MP4/MOV/M4A, WebM/Matroska, Ogg/Opus, WAV, FLAC,
//! MP3); and whether an MP4/MOV video is shown turned a quarter (its track header's matrix,
//! which symphonia does not expose, read by Mozilla's `mp4parse`, Firefox's parser). Probing
//! only: no codec is enabled, nothing is decoded, no ffmpeg. A container the readers do not
//! understand is stored anyway, without these facts.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, Track};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// What the headers say; each field only when they say it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probed {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
}

/// Types whose containers are probed (as `infer` names them).
const PROBED: &[&str] = &[
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
];

pub fn is_probed(mime: &str) -> bool {
    PROBED.contains(&mime)
}

/// The facts the container at `path` states, or `None` if no reader understands it.
pub fn probe(path: &Path) -> Option<Probed> {
    let file = File::open(path).ok()?;
    let stream = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let reader = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .ok()?;
    let tracks = reader.tracks();
    let video = tracks.iter().find_map(|track| match &track.codec_params {
        Some(CodecParameters::Video(video)) => Some(video),
        _ => None,
    });
    Some(Probed {
        width: video.and_then(|v| v.width).map(u32::from),
        height: video.and_then(|v| v.height).map(u32::from),
        duration_ms: tracks.iter().filter_map(duration_ms).max(),
    })
}

/// Whether the first video track of the MP4 or MOV at `path` is shown turned by 90° or 270°
/// (a portrait phone video: landscape frames and a rotation in `tkhd`), so its displayed width
/// and height are its coded height and width. `false` when the file does not parse. Reads the
/// whole file (the `moov` box may follow the media data), buffered, never more than a box's
/// header and the `moov` in memory.
pub fn quarter_turned(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(context) = mp4parse::read_mp4(&mut BufReader::new(file)) else {
        return false;
    };
    context
        .tracks
        .iter()
        .filter(|track| track.track_type == mp4parse::TrackType::Video)
        .find_map(|track| track.tkhd.as_ref())
        .is_some_and(|tkhd| is_quarter_turn(&tkhd.matrix))
}

/// A rotation by 90° or 270° (possibly scaled): the diagonal is zero, the anti-diagonal is not.
fn is_quarter_turn(m: &mp4parse::Matrix) -> bool {
    m.a == 0 && m.d == 0 && m.b != 0 && m.c != 0
}

fn duration_ms(track: &Track) -> Option<u64> {
    let time = track.time_base?.calc_duration(track.duration?)?;
    u64::try_from(time.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono 16-bit PCM WAV of `samples` at `rate` Hz.
    fn wav(rate: u32, samples: u32) -> Vec<u8> {
        let data_len = samples * 2;
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.resize(out.len() + data_len as usize, 0);
        out
    }

    #[test]
    fn a_wav_says_how_long_it_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voice");
        std::fs::write(&path, wav(8000, 12_000)).unwrap();
        assert_eq!(crate::media::sniff::mime_of(&wav(8000, 10)), "audio/x-wav");
        let probed = probe(&path).expect("a WAV");
        assert_eq!(probed.duration_ms, Some(1500));
        assert_eq!((probed.width, probed.height), (None, None));
    }

    fn matrix(a: i32, b: i32, c: i32, d: i32) -> mp4parse::Matrix {
        mp4parse::Matrix {
            a,
            b,
            u: 0,
            c,
            d,
            v: 0,
            x: 0,
            y: 0,
            w: 0x4000_0000,
        }
    }

    #[test]
    fn quarter_turns_are_told_apart_from_upright_and_upside_down() {
        const ONE: i32 = 0x1_0000;
        assert!(is_quarter_turn(&matrix(0, ONE, -ONE, 0)), "90°");
        assert!(is_quarter_turn(&matrix(0, -ONE, ONE, 0)), "270°");
        assert!(!is_quarter_turn(&matrix(ONE, 0, 0, ONE)), "identity");
        assert!(
            !is_quarter_turn(&matrix(-ONE, 0, 0, -ONE)),
            "180°: same size"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-mp4");
        std::fs::write(&path, wav(8000, 10)).unwrap();
        assert!(!quarter_turned(&path));
    }

    #[test]
    fn what_no_reader_understands_has_no_facts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noise");
        std::fs::write(&path, b"ID3\x04\0\0\0\0\0\0 and then no MPEG frame at all").unwrap();
        assert!(probe(&path).is_none_or(|p| p.duration_ms.is_none()));
    }
}
