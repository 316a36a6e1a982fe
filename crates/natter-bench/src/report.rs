//! Results: figures per scenario, case and metric, each with the value for every target and
//! the server's CPU seconds and RSS beside it; the JSON file and the table in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::stats::ratio;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub value: f64,
    /// Server CPU (user + system) over the measured phase.
    pub server_cpu_s: f64,
    /// Server RSS at the end of the measured phase.
    pub server_rss_mib: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub scenario: String,
    pub case: String,
    pub metric: String,
    pub unit: String,
    pub higher_is_better: bool,
    /// By target: natter, bun, centrifugo.
    pub values: BTreeMap<String, Measured>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub versions: BTreeMap<String, String>,
    pub natter_flags: Vec<String>,
    pub figures: Vec<Figure>,
    /// Scenarios or targets that failed, with why.
    pub failures: Vec<String>,
    /// Later runs merged into these results (`--merge`): date, command, natter version.
    #[serde(default)]
    pub merged: Vec<String>,
}

impl Results {
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        scenario: &str,
        case: &str,
        metric: &str,
        unit: &str,
        higher_is_better: bool,
        target: &str,
        m: Measured,
    ) {
        let pos = self
            .figures
            .iter()
            .position(|f| f.scenario == scenario && f.case == case && f.metric == metric);
        let figure = match pos {
            Some(i) => &mut self.figures[i],
            None => {
                // Beside the figures of the same scenario (merged runs add cases later).
                let at = self
                    .figures
                    .iter()
                    .rposition(|f| f.scenario == scenario)
                    .map(|i| i + 1)
                    .unwrap_or(self.figures.len());
                self.figures.insert(
                    at,
                    Figure {
                        scenario: scenario.into(),
                        case: case.into(),
                        metric: metric.into(),
                        unit: unit.into(),
                        higher_is_better,
                        values: BTreeMap::new(),
                    },
                );
                &mut self.figures[at]
            }
        };
        figure.values.insert(target.into(), m);
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Self> {
        Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
    }

    /// Takes every figure of `later` (replacing the same target's figure for the same case and
    /// metric), keeps all others, records the later run and its versions of what it measured.
    pub fn merge(&mut self, later: &Results) {
        let mut targets = std::collections::BTreeSet::new();
        for f in &later.figures {
            for (target, m) in &f.values {
                targets.insert(target.clone());
                self.add(
                    &f.scenario,
                    &f.case,
                    &f.metric,
                    &f.unit,
                    f.higher_is_better,
                    target,
                    m.clone(),
                );
            }
        }
        if targets.contains("synapse")
            && let Some(v) = later.versions.get("synapse")
        {
            self.versions.insert("synapse".into(), v.clone());
        }
        let natter = later
            .versions
            .get("natter")
            .filter(|_| targets.contains("natter"));
        self.merged.push(format!(
            "{}: `{}` ({}{})",
            later.date,
            later.command,
            targets.into_iter().collect::<Vec<_>>().join(", "),
            natter.map(|v| format!("; {v}")).unwrap_or_default()
        ));
        for failure in &later.failures {
            self.failures
                .push(format!("{} (run of {})", failure, later.date));
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }
}

const PEERS: [&str; 3] = ["bun", "centrifugo", "synapse"];
/// The scaled-out natter (`--targets natter-cluster`), a column of its own when measured.
const CLUSTER: &str = "natter-cluster";

/// The newest results file (names are dates).
pub fn latest_json(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no results in {} to merge into", dir.display()))
}

/// Scenarios Matrix's protocol has no counterpart for.
fn synapse_not_applicable(scenario: &str) -> bool {
    ["1.", "2.", "4.", "6."]
        .iter()
        .any(|p| scenario.starts_with(p))
}

const SYNAPSE_NA: &str = "Synapse is not run in this scenario: a Matrix client holds no push connection (it \
     receives by repeated `/sync` HTTP long-polls), so there are no idle connections to count, no \
     subscriber fan-out to saturate and no connections to drop and resume.";
pub const BEGIN: &str =
    "<!-- natter-bench results: begin (generated by `natter-bench all`; do not edit) -->";
pub const END: &str = "<!-- natter-bench results: end -->";

fn fmt_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", &s));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Two decimals, or three significant digits below 0.1 (natter / Synapse latency is 0.0002).
fn fmt_ratio(x: f64) -> String {
    if x == 0.0 || x.abs() >= 0.1 {
        format!("{x:.2}")
    } else {
        let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    }
}

fn cell(m: Option<&Measured>) -> String {
    match m {
        Some(m) => format!(
            "{} <sub>cpu {:.1} s, rss {:.0} MiB</sub>",
            fmt_value(m.value),
            m.server_cpu_s,
            m.server_rss_mib
        ),
        None => "-".into(),
    }
}

/// The generated part of BENCHMARKS.md.
pub fn render_markdown(r: &Results) -> String {
    let mut out = String::new();
    out.push_str(&format!("Measured {} on {}.\n\n", r.date, r.machine));
    out.push_str(&format!("Command: `{}`\n\n", r.command));
    out.push_str("| software | version |\n|---|---|\n");
    for (name, version) in &r.versions {
        out.push_str(&format!("| {name} | {version} |\n"));
    }
    out.push_str(&format!(
        "\nnatter flags: `{}`\n\n",
        r.natter_flags.join(" ")
    ));
    out.push_str(
        "Each cell: the figure, then the server's CPU seconds over the measured phase and its RSS at \
         its end. Ratios are natter / peer; ↑ means higher is better, ↓ lower is better.\n\n",
    );
    // The cluster's column and its ratio to the embedded node, only when it was measured.
    let cluster = r.figures.iter().any(|f| f.values.contains_key(CLUSTER));
    let mut scenario = "";
    for f in &r.figures {
        if f.scenario != scenario {
            scenario = &f.scenario;
            let (col, ratio_col, rule) = if cluster {
                (" natter-cluster |", " natter-cluster/natter |", "---|---|")
            } else {
                ("", "", "")
            };
            out.push_str(&format!(
                "\n### {scenario}\n\n{}| case | metric | natter |{col} bun relay | centrifugo | synapse | natter/bun | natter/centrifugo | natter/synapse |{ratio_col}\n|---|---|---|---|---|---|---|---|---|{rule}\n",
                if synapse_not_applicable(scenario) { format!("{SYNAPSE_NA}\n\n") } else { String::new() }
            ));
        }
        let natter = f.values.get("natter").map(|m| m.value);
        let ratios: Vec<String> = PEERS
            .iter()
            .map(|p| {
                ratio(natter, f.values.get(*p).map(|m| m.value))
                    .map(fmt_ratio)
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        let (cluster_cell, cluster_ratio) = if cluster {
            let value = f.values.get(CLUSTER).map(|m| m.value);
            (
                format!(" {} |", cell(f.values.get(CLUSTER))),
                format!(
                    " {} |",
                    ratio(value, natter)
                        .map(fmt_ratio)
                        .unwrap_or_else(|| "-".into())
                ),
            )
        } else {
            (String::new(), String::new())
        };
        out.push_str(&format!(
            "| {} | {} ({}) {} | {} |{cluster_cell} {} | {} | {} | {} | {} | {} |{cluster_ratio}\n",
            f.case,
            f.metric,
            f.unit,
            if f.higher_is_better { "↑" } else { "↓" },
            cell(f.values.get("natter")),
            cell(f.values.get("bun")),
            cell(f.values.get("centrifugo")),
            if synapse_not_applicable(&f.scenario) {
                "n/a".to_string()
            } else {
                cell(f.values.get("synapse"))
            },
            ratios[0],
            ratios[1],
            ratios[2],
        ));
    }
    if !r.merged.is_empty() {
        out.push_str("\nFigures from later runs merged into this table (each replaces only what it measured):\n\n");
        for m in &r.merged {
            out.push_str(&format!("- {m}\n"));
        }
    }
    if !r.failures.is_empty() {
        out.push_str("\nDid not complete:\n\n");
        for failure in &r.failures {
            out.push_str(&format!("- {failure}\n"));
        }
    }
    out
}

/// Replaces the generated section of `markdown` (between the markers), or appends one.
pub fn splice(markdown: &str, generated: &str) -> String {
    let block = format!("{BEGIN}\n{generated}{END}");
    match (markdown.find(BEGIN), markdown.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &markdown[..b], block, &markdown[e + END.len()..])
        }
        _ => format!("{markdown}\n{block}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(value: f64) -> Measured {
        Measured {
            value,
            server_cpu_s: 1.0,
            server_rss_mib: 10.0,
        }
    }

    #[test]
    fn figures_merge_by_key_and_render_ratios() {
        let mut r = Results::default();
        r.add(
            "fan-out",
            "room 100",
            "deliveries/s",
            "1/s",
            true,
            "natter",
            m(2000.0),
        );
        r.add(
            "fan-out",
            "room 100",
            "deliveries/s",
            "1/s",
            true,
            "bun",
            m(4000.0),
        );
        assert_eq!(r.figures.len(), 1);
        let md = render_markdown(&r);
        assert!(
            md.contains("| room 100 | deliveries/s (1/s) ↑ | 2,000 <sub>"),
            "{md}"
        );
        assert!(md.contains("| 0.50 | - | - |"), "{md}");
    }

    #[test]
    fn the_cluster_has_a_column_only_when_measured() {
        let mut r = Results::default();
        r.add("3. latency", "c", "p99", "ms", false, "natter", m(2.0));
        r.add("3. latency", "c", "p99", "ms", false, "bun", m(1.0));
        let without = render_markdown(&r);
        assert!(!without.contains("natter-cluster"), "{without}");
        r.add(
            "3. latency",
            "c",
            "p99",
            "ms",
            false,
            "natter-cluster",
            m(3.0),
        );
        let with = render_markdown(&r);
        assert!(
            with.contains("| natter | natter-cluster | bun relay |")
                && with.contains("| natter/synapse | natter-cluster/natter |\n|---|---|---|---|---|---|---|---|---|---|---|\n"),
            "{with}"
        );
        assert!(with.contains("| 2.00 | - | - | 1.50 |\n"), "{with}");
    }

    #[test]
    fn merge_keeps_other_targets_and_groups_by_scenario() {
        let mut base = Results::default();
        base.add("1. idle", "c", "rss", "KiB", false, "bun", m(2.0));
        base.add("3. latency", "fast", "p99", "ms", false, "natter", m(1.0));
        base.add("5. history", "h", "p99", "ms", false, "natter", m(3.0));
        let mut later = Results {
            date: "d".into(),
            command: "natter-bench latency".into(),
            ..Results::default()
        };
        later.add("3. latency", "slow", "p99", "ms", false, "synapse", m(40.0));
        later.add("3. latency", "slow", "p99", "ms", false, "natter", m(4.0));
        base.merge(&later);
        let order: Vec<&str> = base.figures.iter().map(|f| f.case.as_str()).collect();
        assert_eq!(order, vec!["c", "fast", "slow", "h"]);
        assert_eq!(base.figures[0].values.len(), 1);
        let md = render_markdown(&base);
        assert!(md.contains("| - | - | 0.10 |"), "{md}");
        assert!(
            md.contains("- d: `natter-bench latency` (natter, synapse)"),
            "{md}"
        );
        assert!(md.contains("| n/a |"), "{md}");
    }

    #[test]
    fn splice_replaces_only_the_generated_block() {
        let doc = format!("# B\n\nintro\n{BEGIN}\nold\n{END}\n\nanalysis\n");
        let new = splice(&doc, "new\n");
        assert!(
            new.contains("intro")
                && new.contains("analysis")
                && new.contains("new\n")
                && !new.contains("old")
        );
        assert!(splice("# B\n", "x\n").ends_with(&format!("{END}\n")));
    }

    #[test]
    fn synapse_is_marked_not_applicable_where_matrix_has_no_counterpart() {
        for scenario in [
            "1. idle connections",
            "2. fan-out",
            "4. reconnect storm",
            "6. isolation",
        ] {
            assert!(synapse_not_applicable(scenario), "{scenario}");
        }
        assert!(!synapse_not_applicable("3. end-to-end latency"));
        assert!(!synapse_not_applicable("5. history"));
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(fmt_value(1234567.8), "1,234,568");
        assert_eq!(fmt_value(12.345), "12.3");
        assert_eq!(fmt_value(0.1234), "0.123");
        assert_eq!(fmt_ratio(0.5), "0.50");
        assert_eq!(fmt_ratio(0.000_190_4), "0.000190");
        assert_eq!(fmt_ratio(0.0652), "0.0652");
    }
}
