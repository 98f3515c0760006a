//! Outputs: the deployment table JSON (byte-compatible with msit's
//! `json.dump(indent=4)`), and reports of the figures.
//!
//! The table is written by hand rather than through serde so that its bytes
//! match the reference tool's exactly: 4-space indentation, one list element
//! per line, `": "` between key and value, `[]` for an empty list and no
//! trailing newline. With `-nsed K` the K shared-expert devices come first in
//! every layer, each holding `[0]`, and the routed devices follow with
//! `device_id` shifted by K; `device_count` counts them all (as msit writes).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::json::{self, ToJson, Value, Writer};
use super::metrics::servers::DEFINITIONS as SERVER_FIGURES;
use super::metrics::Score;
use super::model::{Phase, Placement};
use super::model_preset::ModelLayout;
use super::params::{Cluster, Settings};
use super::validate;

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("    ");
    }
}

/// Python's `json.dump(list_of_ints, indent=4)` at nesting `level`.
fn int_list(out: &mut String, ids: &[usize], level: usize) {
    if ids.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push_str("[\n");
    for (i, id) in ids.iter().enumerate() {
        indent(out, level + 1);
        let _ = write!(out, "{id}");
        if i + 1 < ids.len() {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, level);
    out.push(']');
}

/// The deployment table of `placement` (routed devices) as msit writes it,
/// with `cluster.shared_devices` shared-expert devices in front.
pub fn table_json(placement: &Placement, cluster: &Cluster) -> String {
    let k = cluster.shared_devices;
    let shared: [usize; 1] = [0];
    let mut out = String::with_capacity(placement.layers.len() * 64 * 80);
    out.push_str("{\n");
    let _ = writeln!(out, "    \"moe_layer_count\": {},", placement.layers.len());
    out.push_str("    \"layer_list\": ");
    if placement.layers.is_empty() {
        out.push_str("[]\n}");
        return out;
    }
    out.push_str("[\n");
    for (l, layer) in placement.layers.iter().enumerate() {
        out.push_str("        {\n");
        let _ = writeln!(out, "            \"layer_id\": {l},");
        let _ = writeln!(out, "            \"device_count\": {},", layer.len() + k);
        out.push_str("            \"device_list\": ");
        let n = layer.len() + k;
        if n == 0 {
            out.push_str("[]");
        } else {
            out.push_str("[\n");
            for d in 0..n {
                let experts: &[usize] = if d < k { &shared } else { &layer[d - k] };
                out.push_str("                {\n");
                let _ = writeln!(out, "                    \"device_id\": {d},");
                out.push_str("                    \"device_expert\": ");
                int_list(&mut out, experts, 5);
                out.push_str("\n                }");
                if d + 1 < n {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str("            ]");
        }
        out.push_str("\n        }");
        if l + 1 < placement.layers.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("    ]\n}");
    out
}

/// The table of `placement`, only if it is valid (every rule of formats.md
/// §3 for `experts` routed experts, the shared expert as id `E` allowed when
/// the table holds it). Every table offered for download goes through here.
pub fn export_checked(placement: &Placement, cluster: &Cluster, experts: usize) -> Result<String> {
    let mixed = validate::is_mixed(placement, experts);
    let v = validate::validate_placement_offset(placement, experts, mixed, cluster.shared_devices);
    if !v.is_empty() {
        return Err(invalid_table_error(&v));
    }
    let json = table_json(placement, cluster);
    // Belt and braces: the bytes written must read back as a valid table.
    let back: super::table::DeploymentTable =
        json::from_slice(json.as_bytes()).map_err(|e| Error::msg(format!("internal error: the table written does not parse back: {e}")))?;
    let v = validate::validate_table(&back, experts, cluster.shared_devices, mixed);
    if !v.is_empty() {
        return Err(invalid_table_error(&v));
    }
    Ok(json)
}

/// The table of `placement` even when invalid (the reference-identical mode
/// reproduces msit's invalid tables), with the violations found.
pub fn export_compat(placement: &Placement, cluster: &Cluster, experts: usize) -> (String, Vec<String>) {
    let mixed = validate::is_mixed(placement, experts);
    let v = validate::validate_placement_offset(placement, experts, mixed, cluster.shared_devices);
    (table_json(placement, cluster), v)
}

fn invalid_table_error(v: &[String]) -> Error {
    const SHOWN: usize = 5;
    let mut msg = format!("the table is invalid ({} violation(s)): {}", v.len(), v[..v.len().min(SHOWN)].join("; "));
    if v.len() > SHOWN {
        let _ = write!(msg, "; and {} more", v.len() - SHOWN);
    }
    Error::msg(msg)
}

/// The figures of `elb score` for one table, with exactly the CLI's keys:
/// a score's JSON without its per-layer figures, `internode_nodes_per_token`
/// only when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreSummary<'a>(pub &'a Score);

impl<'a> From<&'a Score> for ScoreSummary<'a> {
    fn from(s: &'a Score) -> Self {
        ScoreSummary(s)
    }
}

impl ToJson for ScoreSummary<'_> {
    fn write_json(&self, w: &mut Writer) {
        let s = self.0;
        w.object(|w| {
            s.write_figures(w);
            w.field("valid", &s.valid);
            w.field("violations", &s.violations);
            if let Some(x) = s.internode_nodes_per_token {
                w.field("internode_nodes_per_token", &x);
            }
            w.field("servers", &s.servers);
        });
    }
}

/// `{"prefill": {...}, "decode": {...}}`: one [`ScoreSummary`] per phase, in
/// the order given (pretty-printed JSON). Non-finite figures become `null`.
pub fn score_json(scores: &[(Phase, &Score)]) -> String {
    let mut out = String::from("{");
    for (i, (phase, s)) in scores.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let body = json::to_string_pretty(&ScoreSummary::from(*s));
        let body = body.replace('\n', "\n  ");
        let _ = write!(out, "\n  \"{}\": {}", phase.name(), body);
    }
    out.push_str(if scores.is_empty() { "}" } else { "\n}" });
    out
}

/// [`score_json`]'s form for a table read alone ([`super::before::TableAlone`],
/// `elb score` on a folder holding only a table): its shape and every rule
/// it breaks; the balance figures need loads, so they are null.
pub fn table_alone_json(phase: Phase, t: &super::before::TableAlone) -> String {
    let mut v: Vec<(String, Value)> = [("layers", t.layers), ("experts", t.experts), ("devices", t.devices), ("slots_per_device", t.slots_per_device)]
        .into_iter()
        .map(|(k, n)| (k.to_string(), Value::from(n)))
        .collect();
    for k in ["step_imbalance", "mean_layer_imbalance", "max_layer_imbalance", "time_resolved_step_imbalance", "lower_bound", "gap", "servers"] {
        v.push((k.to_string(), Value::Null));
    }
    v.push(("valid".to_string(), t.violations.is_empty().into()));
    v.push(("violations".to_string(), t.violations.clone().into()));
    json::to_string_pretty(&Value::Object(vec![(phase.name().to_string(), Value::sorted_object(v))]))
}

/// One phase of the "Download all" report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    pub phase: Phase,
    /// Settings of the solve (`None`: only the before placement was scored).
    pub settings: Option<Settings>,
    /// Where the "before" came from ("default layout" or a file name).
    pub before_source: String,
    pub before: Score,
    pub after: Option<Score>,
    /// Slots whose expert changed from before to after.
    pub slots_moved: Option<usize>,
    /// Redundant replicas added, summed over layers.
    pub replicas_added: Option<i64>,
    /// Solve time in seconds, when measured.
    pub seconds: Option<f64>,
    pub warnings: Vec<String>,
}

json::json_struct!(write PhaseReport { phase, settings, before_source, before, after, slots_moved, replicas_added, seconds, warnings });

/// The report as JSON (pretty-printed; `per_layer` figures included).
pub fn report_json(phases: &[PhaseReport]) -> String {
    let mut w = Writer::new(true);
    w.object(|w| {
        w.field("tool", "ELB Studio");
        w.field("version", env!("CARGO_PKG_VERSION"));
        w.field("phases", phases);
    });
    w.finish()
}

/// Renders one figure of a score for the Markdown report.
type FigureFn = fn(&Score) -> String;

fn fmt_f(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "-".to_string()
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), fmt_f)
}

/// The report as Markdown: per phase, the settings, a before/after table of
/// the figures, the violations and the per-layer figures.
pub fn report_markdown(phases: &[PhaseReport]) -> String {
    let mut out = String::from("# ELB Studio report\n");
    for p in phases {
        let _ = write!(out, "\n## {}\n\n", p.phase.name());
        if let Some(s) = &p.settings {
            let c = &s.cluster;
            let _ = writeln!(out, "- algorithm: {}", s.algorithm.label());
            let _ = writeln!(
                out,
                "- cluster: {} NPUs (-nn), {} nodes (-nd), {} redundant experts (-nre), {} shared-expert devices (-nsed), device type {}",
                c.devices,
                c.nodes,
                c.redundant,
                c.shared_devices,
                c.device_type.name()
            );
            let _ = writeln!(out, "- seed: {}, msit-compatible: {}, hold-out: {}", s.seed, s.msit_compat, s.holdout);
        }
        let _ = writeln!(out, "- before: {}", p.before_source);
        if let Some(t) = p.seconds {
            let _ = writeln!(out, "- solve time: {t:.2} s");
        }
        if let Some(m) = p.slots_moved {
            let _ = writeln!(out, "- slots moved: {m}");
        }
        if let Some(r) = p.replicas_added {
            let _ = writeln!(out, "- replicas added (all layers): {r}");
        }
        out.push('\n');
        let after = p.after.as_ref();
        out.push_str("| figure | before | after |\n| --- | ---: | ---: |\n");
        let rows: [(&str, FigureFn); 10] = [
            ("layers x experts", |s| format!("{} x {}", s.layers, s.experts)),
            ("devices x slots", |s| format!("{} x {}", s.devices, s.slots_per_device)),
            ("step imbalance", |s| fmt_f(s.step_imbalance)),
            ("time-resolved step imbalance", |s| fmt_opt(s.time_resolved_step_imbalance)),
            ("mean layer imbalance", |s| fmt_f(s.mean_layer_imbalance)),
            ("max layer imbalance", |s| fmt_f(s.max_layer_imbalance)),
            ("lower bound", |s| fmt_f(s.lower_bound)),
            ("gap to the lower bound", |s| fmt_f(s.gap)),
            ("nodes per token", |s| fmt_opt(s.internode_nodes_per_token)),
            ("valid", |s| if s.valid { "yes".into() } else { format!("no ({} violations)", s.violations.len()) }),
        ];
        for (name, f) in rows {
            let _ = writeln!(out, "| {name} | {} | {} |", f(&p.before), after.map_or_else(|| "-".to_string(), f));
        }
        // The same balance as other servers log it (definitions below the table).
        for d in SERVER_FIGURES {
            let f = |s: &Score| fmt_opt(s.servers.get(d.key));
            let _ = writeln!(out, "| {} | {} | {} |", d.label, f(&p.before), after.map_or_else(|| "-".to_string(), f));
        }
        out.push_str("\nOther servers' figures, computed from the same device loads:\n\n");
        for d in SERVER_FIGURES {
            let _ = writeln!(out, "- {}: {}.", d.label, d.definition);
        }
        for (label, s) in [("before", Some(&p.before)), ("after", after)] {
            let Some(s) = s else { continue };
            if !s.violations.is_empty() {
                let _ = write!(out, "\nViolations ({label}):\n\n");
                for v in &s.violations {
                    let _ = writeln!(out, "- {v}");
                }
            }
        }
        if !p.warnings.is_empty() {
            out.push_str("\nWarnings:\n\n");
            for w in &p.warnings {
                let _ = writeln!(out, "- {w}");
            }
        }
        let layers = p.before.per_layer.len().max(after.map_or(0, |a| a.per_layer.len()));
        if layers > 0 {
            out.push_str("\n| layer | imbalance before | imbalance after | lower bound |\n| ---: | ---: | ---: | ---: |\n");
            for l in 0..layers {
                let b = p.before.per_layer.get(l);
                let a = after.and_then(|a| a.per_layer.get(l));
                let _ = writeln!(
                    out,
                    "| {l} | {} | {} | {} |",
                    fmt_opt(b.map(|x| x.imbalance)),
                    fmt_opt(a.map(|x| x.imbalance)),
                    fmt_opt(a.or(b).map(|x| x.lower_bound))
                );
            }
        }
    }
    out
}

/// The name of the "Download all" archive.
pub const BUNDLE_FILE: &str = "elb_results.zip";
/// The report files inside it.
pub const REPORT_JSON_FILE: &str = "elb_report.json";
pub const REPORT_MD_FILE: &str = "elb_report.md";

/// The "Download all" archive (a stored ZIP, see [`super::zip`]): every
/// `(file name, table JSON)` given, in order, then the report as JSON and as
/// Markdown. The tables are taken as given: the caller offers only tables
/// that passed [`export_checked`] (or msit-compatible ones, flagged in the
/// report's warnings).
pub fn bundle_zip(tables: &[(String, String)], reports: &[PhaseReport]) -> Result<Vec<u8>> {
    let json = report_json(reports);
    let md = report_markdown(reports);
    let mut files: Vec<(&str, &[u8])> = tables.iter().map(|(n, t)| (n.as_str(), t.as_bytes())).collect();
    files.push((REPORT_JSON_FILE, json.as_bytes()));
    files.push((REPORT_MD_FILE, md.as_bytes()));
    super::zip::store(&files)
}

/// The file formats a table is exported in, each for its consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// msit / MindIE / vLLM-Ascend deployment table JSON.
    Msit,
    /// SGLang `--init-expert-location` `physical_to_logical_map` JSON.
    Sglang,
    /// TensorRT-LLM `moe_load_balancer` YAML.
    Trtllm,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Msit, ExportFormat::Sglang, ExportFormat::Trtllm];

    /// The name on the command line (`--export-format`) and in the page.
    pub fn key(self) -> &'static str {
        match self {
            ExportFormat::Msit => "msit",
            ExportFormat::Sglang => "sglang",
            ExportFormat::Trtllm => "trtllm",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Msit => "MindIE / vLLM-Ascend deployment table (msit JSON)",
            ExportFormat::Sglang => "SGLang --init-expert-location map (JSON)",
            ExportFormat::Trtllm => "TensorRT-LLM moe_load_balancer (YAML)",
        }
    }
    /// The file written for `phase`.
    pub fn file_name(self, phase: Phase) -> String {
        match self {
            ExportFormat::Msit => phase.table_file_name(),
            ExportFormat::Sglang => format!("{}_physical_to_logical.json", phase.name()),
            ExportFormat::Trtllm => format!("{}_moe_load_balancer.yaml", phase.name()),
        }
    }
    pub fn mime(self) -> &'static str {
        match self {
            ExportFormat::Trtllm => "application/yaml",
            _ => "application/json",
        }
    }
    /// A comma-separated list (`msit,sglang`, `all`); aliases `mindie`,
    /// `vllm-ascend`, `tensorrt-llm`. Plain `vllm` is refused with the
    /// reason: upstream vLLM loads no placement file.
    pub fn parse_list(v: &str) -> Result<Vec<ExportFormat>> {
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: &[ExportFormat] = match part.to_ascii_lowercase().as_str() {
                "msit" | "mindie" | "vllm-ascend" => &[ExportFormat::Msit],
                "sglang" => &[ExportFormat::Sglang],
                "vllm" => {
                    return Err(Error::param(
                        super::error::Param::ExportFormat,
                        "upstream vLLM has no option that loads a placement file; vLLM-Ascend reads the msit JSON (msit, alias vllm-ascend)",
                    ));
                }
                "trtllm" | "tensorrt-llm" => &[ExportFormat::Trtllm],
                "all" => &ExportFormat::ALL,
                other => {
                    return Err(Error::param(
                        super::error::Param::ExportFormat,
                        format!("must be msit, sglang, trtllm or all (comma-separated), got '{other}'"),
                    ));
                }
            };
            for f in add {
                if !out.contains(f) {
                    out.push(*f);
                }
            }
        }
        if out.is_empty() {
            return Err(Error::param(super::error::Param::ExportFormat, "needs at least one of msit, sglang, trtllm, all"));
        }
        Ok(out)
    }
}

/// The msit / vLLM-Ascend JSON of `placement`: validated (every rule of
/// [`validate::validate_table`]), or with `msit_compat` exactly what the
/// reference tool writes, with the rules it breaks (the page's table card,
/// [`render`]'s msit format).
pub fn msit_table(placement: &Placement, cluster: &Cluster, experts: usize, msit_compat: bool) -> Result<(String, Vec<String>)> {
    if msit_compat {
        Ok(export_compat(placement, cluster, experts))
    } else {
        export_checked(placement, cluster, experts).map(|t| (t, Vec::new()))
    }
}

/// The checks of [`msit_table`] that come before writing it (the page
/// shows them with its results; the file itself is made, and checked again
/// as it is written, in a web worker): `Err` when the table is invalid,
/// else the rules an msit-compatible table breaks (none otherwise).
pub fn msit_table_check(placement: &Placement, cluster: &Cluster, experts: usize, msit_compat: bool) -> Result<Vec<String>> {
    let mixed = validate::is_mixed(placement, experts);
    let v = validate::validate_placement_offset(placement, experts, mixed, cluster.shared_devices);
    if msit_compat || v.is_empty() {
        Ok(v)
    } else {
        Err(invalid_table_error(&v))
    }
}

/// What an export needs besides the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExportOptions {
    /// The model (decoder-layer indexing of the SGLang rows and the
    /// TensorRT-LLM keys; [`super::model_preset::resolve`]). Required by
    /// those two formats, checked against the table whenever given.
    pub model: Option<ModelLayout>,
    /// Add the MTP layer's entry to the TensorRT-LLM YAML (key = hidden
    /// layers; TensorRT-LLM's default table, see
    /// [`super::ecosystem::trtllm_config::default_layer`]).
    pub mtp: bool,
    /// The table is the reference tool's (`--msit-compat`), possibly invalid:
    /// only the msit format carries it.
    pub msit_compat: bool,
}

/// One file of an export: its format, text, and remarks for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFile {
    pub format: ExportFormat,
    pub text: String,
    pub warnings: Vec<String>,
}

/// The model a file of `format` is written for: the SGLang map and the
/// TensorRT-LLM YAML index their rows / keys by the model's decoder layer,
/// so they refuse to be written without one; the msit JSON needs none.
fn model_for(format: ExportFormat, opts: &ExportOptions) -> Result<Option<ModelLayout>> {
    match (format, opts.model) {
        (ExportFormat::Msit, m) => Ok(m),
        (_, Some(m)) => Ok(Some(m)),
        (_, None) => Err(Error::param(
            super::error::Param::Model,
            format!(
                "the {} is indexed by the model's decoder layer, dense layers included: choose the model ({}; 'other' with its first MoE layer and hidden layers). The msit JSON needs no model",
                format.label(),
                super::model_preset::keys()
            ),
        )),
    }
}

/// The options fit the formats asked for (a model for the SGLang and
/// TensorRT-LLM files, the MTP entry only with the TensorRT-LLM file):
/// checked before a solve, so that a long run does not end in a refusal.
pub fn check_options(formats: &[ExportFormat], opts: &ExportOptions) -> Result<()> {
    for &f in formats {
        model_for(f, opts)?;
    }
    if opts.mtp {
        if !formats.contains(&ExportFormat::Trtllm) {
            return Err(Error::param(super::error::Param::Mtp, "adds the MTP layer's entry to the TensorRT-LLM YAML: export trtllm too (--export-format trtllm or all)"));
        }
        if let Some(m) = &opts.model {
            m.check_mtp()?;
        }
    }
    Ok(())
}

/// The table of `placement` in `format`, checked against the rules of the
/// consumer that reads it — every table written or downloaded, by the CLI or
/// the page, goes through here:
/// - msit JSON: every rule of [`validate::validate_table`] (with
///   `msit_compat`, the reference's table as it is, its violations as warnings);
/// - SGLang map and TensorRT-LLM YAML: a model (their rows / keys are its
///   decoder layers), a valid table (no expert twice on an NPU, every expert
///   placed, equal slots), routed experts only (a mixed shared-expert table
///   has id `E`, which neither server knows), one SGLang row per decoder
///   layer, YAML keys for every MoE layer (and the MTP layer with
///   `opts.mtp`), and the text read back by the engine's own reader gives
///   the same placement;
/// - every format: a model given must fit the table (its MoE layers and,
///   for a preset, its routed experts).
pub fn render(format: ExportFormat, placement: &Placement, experts: usize, cluster: &Cluster, opts: &ExportOptions) -> Result<ExportFile> {
    use super::ecosystem::{physical_map, trtllm_config};
    use super::error::Param;
    if let Some(m) = &opts.model {
        m.check(placement.num_layers(), experts)?;
    }
    let what = format.label();
    if format == ExportFormat::Msit {
        if opts.msit_compat {
            let (text, v) = msit_table(placement, cluster, experts, true)?;
            let warnings = if v.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "--msit-compat reproduces the reference tool's table, which is invalid ({} violation(s), first: {})",
                    v.len(),
                    v[0]
                )]
            };
            return Ok(ExportFile { format, text, warnings });
        }
        return Ok(ExportFile { format, text: msit_table(placement, cluster, experts, false)?.0, warnings: Vec::new() });
    }
    let model = model_for(format, opts)?.ok_or_else(|| Error::internal("no model for a format that needs one"))?;
    let mixed = validate::is_mixed(placement, experts);
    let v = validate::validate_placement(placement, experts, mixed);
    if let Some(first) = v.first() {
        let why = if opts.msit_compat {
            "the --msit-compat table is the reference tool's, which breaks the table rules; only the msit format carries it"
        } else {
            "only valid tables are exported"
        };
        return Err(Error::msg(format!("{what}: the table breaks {} rule(s) (first: {first}); {why}", v.len())));
    }
    if mixed {
        return Err(Error::msg(format!(
            "{what}: the table mixes the shared expert in as id {experts}; the server knows the routed experts 0..{} only, so a mixed shared-expert table (-al 4 / -al 5) cannot be written in this format",
            experts.saturating_sub(1)
        )));
    }
    let d = placement.num_devices();
    let first = model.first_moe_layer;
    let (text, back, want) = match format {
        ExportFormat::Sglang => {
            let text = physical_map::export_sglang(placement, experts, first).map_err(|e| e.context(what))?;
            let rows = json::parse(text.as_bytes()).ok().and_then(|v| v.get("physical_to_logical_map").and_then(Value::as_array).map(Vec::len));
            if rows != Some(model.hidden_layers) {
                return Err(Error::internal(format!("{what}: {rows:?} rows written, not one per decoder layer ({})", model.hidden_layers)));
            }
            let back = physical_map::import("export", &text, d.max(1), first).map_err(|e| Error::internal(format!("{what} does not read back: {e}")))?;
            (text, back, placement.clone())
        }
        ExportFormat::Trtllm => {
            // The MTP layer's entry is one more layer after the last MoE
            // layer: its key is then the hidden layers, as TensorRT-LLM numbers it.
            let mut full = placement.clone();
            if opts.mtp {
                model.check_mtp()?;
                let layer = trtllm_config::default_layer(experts, d, placement.slots_per_device());
                let one = Placement { layers: vec![layer] };
                if let Some(v) = validate::validate_placement(&one, experts, false).first() {
                    return Err(Error::param(Param::Mtp, format!("TensorRT-LLM's default table for the MTP layer is invalid on this cluster ({v})")));
                }
                full.layers.extend(one.layers);
            }
            let text = trtllm_config::export(&full, first, 0).map_err(|e| e.context(what))?;
            let (back, keys) = trtllm_config::import("export", &text, d.max(1)).map_err(|e| Error::internal(format!("{what} does not read back: {e}")))?;
            let want_keys: Vec<usize> = (first..first + full.num_layers()).collect();
            if keys != want_keys {
                return Err(Error::internal(format!("{what}: layer keys {keys:?} are not the model's MoE layers {want_keys:?}")));
            }
            (text, back, full)
        }
        ExportFormat::Msit => return Err(Error::internal("the msit format is written above")),
    };
    if back != want {
        return Err(Error::internal(format!("{what}: the file written does not read back as the same table")));
    }
    Ok(ExportFile { format, text, warnings: Vec::new() })
}

/// Every format of `formats`, all checked before any is returned: either
/// all files or an error (the CLI writes nothing then).
pub fn render_all(formats: &[ExportFormat], placement: &Placement, experts: usize, cluster: &Cluster, opts: &ExportOptions) -> Result<Vec<ExportFile>> {
    check_options(formats, opts)?;
    formats.iter().map(|&f| render(f, placement, experts, cluster, opts)).collect()
}

impl ExportFormat {
    /// The server settings a file of this format needs beside it, for a
    /// table of `placement` (routed NPUs only) with `experts` routed experts,
    /// `cluster`'s shared-expert NPUs and the export's `opts` (the model):
    /// what to tell the server so that it loads the file as it is.
    pub fn server_settings(self, placement: &Placement, experts: usize, cluster: &Cluster, opts: &ExportOptions) -> String {
        let d = placement.num_devices();
        let slots = d * placement.slots_per_device();
        let redundant = slots.saturating_sub(experts);
        let model = opts.model.as_ref();
        match self {
            ExportFormat::Msit => format!(
                "MindIE: point the expert map setting (eplb_expert_map_file / the deployment table path) at it; vLLM-Ascend: --additional-config '{{\"eplb_config\": {{\"expert_map_path\": \"<file>\", \"num_redundant_experts\": {redundant}}}}}' ({} NPUs{})",
                d + cluster.shared_devices,
                if cluster.shared_devices > 0 { format!(", the first {} for the shared expert", cluster.shared_devices) } else { String::new() }
            ),
            ExportFormat::Sglang => format!(
                "SGLang: --init-expert-location <file> --ep-num-redundant-experts {redundant} --ep-size {d} (with expert parallelism over the {d} routed NPUs{})",
                model.map_or(String::new(), |m| format!("; {} rows, one per decoder layer of {}", m.hidden_layers, m.name))
            ),
            ExportFormat::Trtllm => format!(
                "TensorRT-LLM: moe_config.load_balancer: <file> in the --extra_llm_api_options YAML, moe_expert_parallel_size {d} (num_slots {slots}: {} slots on each of the {d} EP ranks{})",
                placement.slots_per_device(),
                model.map_or(String::new(), |m| {
                    let last = m.hidden_layers - 1;
                    if opts.mtp {
                        format!("; keys {}..{last} for the MoE layers of {} and {} for its MTP layer", m.first_moe_layer, m.name, m.mtp_layer())
                    } else {
                        format!("; keys {}..{last}, the MoE layers of {}", m.first_moe_layer, m.name)
                    }
                })
            ),
        }
    }
}
