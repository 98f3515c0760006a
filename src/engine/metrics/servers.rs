//! Balance figures in each serving stack's own convention (docs/metrics-servers.md),
//! computed from the same device loads as ours (the load model of
//! [`super`]: an expert's tokens split evenly over its replicas; mixed
//! shared-expert tables and `-nsed` devices as there), so a user can compare
//! the studio with what their server prints.
//!
//! One "pass" below is one interval of a time-series input (a vLLM window,
//! an SGLang forward pass, a TensorRT-LLM iteration, a MindIE dump
//! interval); input without a time series is one pass of loads summed over
//! the run. A pass without any load is left out of every average (no server
//! logs a step that routed no token).
//!
//! * SGLang "balancedness" (`compute_utilization_rate`, logged as
//!   `current_pass_balancedness` / `last_N_average_balancedness`): per pass
//!   and layer `mean_d load / max_d load` (SGLang adds 1e-5 to both; a layer
//!   without load counts 1.0, as it does there), averaged over layers, then
//!   over passes. Higher is better, 1.0 is perfect.
//! * TensorRT-LLM imbalance ratio (`report_load_statistics.py`): per layer
//!   and iteration `max_d load / mean_d load - 1`, averaged over iterations,
//!   then over layers (its "average" row). A (layer, iteration) pair without
//!   load (where TensorRT-LLM would print nan) is left out. 0.0 is perfect.
//! * vLLM "balancedness" (EPLB `log_balancedness`): per step
//!   `sum_l mean_d load / sum_l max_d load` (avg_tokens / max_tokens, both
//!   summed over layers), averaged over passes. 1.0 is perfect.
//! * public EPLB benchmark `balancedness_score_gpu`: `sum_l mean_l / sum_l max_l`
//!   on the loads summed over the whole window (= 1 / `step_imbalance`).

use serde::{Deserialize, Serialize};

use super::{Grid, LoadModel};
use crate::engine::json::json_struct;
use crate::engine::model::{PhaseData, Placement};

/// The other servers' figures of one table on one phase's data (JSON key
/// `servers` of `elb score` and of the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerFigures {
    /// SGLang balancedness: mean over passes of the mean over layers of `mean_d / max_d` (1.0 perfect).
    pub sglang_balancedness: f64,
    /// TensorRT-LLM imbalance ratio: mean over layers of the mean over iterations of `max_d / mean_d - 1` (0.0 perfect).
    pub trtllm_imbalance_ratio: f64,
    /// vLLM balancedness: mean over passes of `sum_l mean_d / sum_l max_d` (1.0 perfect).
    pub vllm_balancedness: f64,
    /// Public EPLB benchmark balancedness: `sum_l mean_l / sum_l max_l` on summed loads (1.0 perfect).
    pub eplb_benchmark_balancedness: f64,
    /// Passes averaged over (intervals with load; 1 for summed input).
    pub passes: usize,
}

json_struct!(write ServerFigures { sglang_balancedness, trtllm_imbalance_ratio, vllm_balancedness, eplb_benchmark_balancedness, passes });

impl Default for ServerFigures {
    fn default() -> Self {
        ServerFigures { sglang_balancedness: 1.0, trtllm_imbalance_ratio: 0.0, vllm_balancedness: 1.0, eplb_benchmark_balancedness: 1.0, passes: 0 }
    }
}

/// One figure: its JSON key, the label the page and the report show, and
/// a one-line definition (the page's hover text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FigureDef {
    pub key: &'static str,
    pub label: &'static str,
    pub definition: &'static str,
}

/// The definitions, in the order the page and the report list them.
pub const DEFINITIONS: [FigureDef; 4] = [
    FigureDef {
        key: "sglang_balancedness",
        label: "SGLang balancedness (1.0 = perfect)",
        definition: "SGLang's [Expert Balancedness] log: per pass and layer mean/max device load, averaged over layers, then over passes (intervals); higher is better",
    },
    FigureDef {
        key: "trtllm_imbalance_ratio",
        label: "TensorRT-LLM imbalance ratio (0 = perfect)",
        definition: "TensorRT-LLM's report_load_statistics: per layer and iteration (max - mean)/mean device load, averaged over iterations (intervals), then over layers; lower is better",
    },
    FigureDef {
        key: "vllm_balancedness",
        label: "vLLM balancedness (1.0 = perfect)",
        definition: "vLLM's EPLB log: per step avg_tokens/max_tokens, both summed over layers (sum of layer means / sum of layer maxima), averaged over steps (intervals); higher is better",
    },
    FigureDef {
        key: "eplb_benchmark_balancedness",
        label: "EPLB benchmark balancedness (1.0 = perfect)",
        definition: "The public EPLB benchmark's balancedness_score_gpu: sum of layer means / sum of layer maxima of device loads summed over the window (1 / step imbalance); higher is better",
    },
];

impl ServerFigures {
    /// The value of the figure with JSON key `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        Some(match key {
            "sglang_balancedness" => self.sglang_balancedness,
            "trtllm_imbalance_ratio" => self.trtllm_imbalance_ratio,
            "vllm_balancedness" => self.vllm_balancedness,
            "eplb_benchmark_balancedness" => self.eplb_benchmark_balancedness,
            _ => return None,
        })
    }
}

/// The four figures of `placement` on `data` (see the module documentation).
pub fn server_figures(data: &PhaseData, placement: &Placement) -> ServerFigures {
    let model = LoadModel::new(data, placement);
    server_figures_of(data, placement, &model, &Grid::of(data, placement, &model))
}

/// [`server_figures`] from the grid [`super::score`] has made already.
pub(super) fn server_figures_of(data: &PhaseData, placement: &Placement, model: &LoadModel, g: &Grid) -> ServerFigures {
    let (l_n, t_n) = (g.layers, g.passes);
    let at = |l: usize, t: usize| (g.max[l * t_n + t], g.mean[l * t_n + t]);

    // SGLang and vLLM: per pass, then averaged over passes with load.
    let (mut sg, mut vl, mut active) = (0.0, 0.0, 0usize);
    for t in 0..t_n {
        let (mut max_sum, mut mean_sum, mut ratio_sum) = (0.0, 0.0, 0.0);
        for l in 0..l_n {
            let (mx, mn) = at(l, t);
            max_sum += mx;
            mean_sum += mn;
            ratio_sum += if mx > 0.0 { mn / mx } else { 1.0 };
        }
        if mean_sum > 0.0 && l_n > 0 {
            sg += ratio_sum / l_n as f64;
            vl += mean_sum / max_sum;
            active += 1;
        }
    }
    // TensorRT-LLM: per layer over iterations with load, then over layers.
    let (mut trt, mut trt_layers) = (0.0, 0usize);
    for l in 0..l_n {
        let (mut acc, mut n) = (0.0, 0usize);
        for t in 0..t_n {
            let (mx, mn) = at(l, t);
            if mn > 0.0 {
                acc += mx / mn - 1.0;
                n += 1;
            }
        }
        if n > 0 {
            trt += acc / n as f64;
            trt_layers += 1;
        }
    }
    // The benchmark: on the loads summed over the window (the grid itself
    // when it is of summed loads).
    let summed;
    let s = if g.series {
        summed = Grid::summed(data, placement, model);
        &summed
    } else {
        g
    };
    let (max_sum, mean_sum): (f64, f64) = (s.max.iter().sum(), s.mean.iter().sum());
    ServerFigures {
        sglang_balancedness: if active > 0 { sg / active as f64 } else { 1.0 },
        trtllm_imbalance_ratio: if trt_layers > 0 { trt / trt_layers as f64 } else { 0.0 },
        vllm_balancedness: if active > 0 { vl / active as f64 } else { 1.0 },
        eplb_benchmark_balancedness: if max_sum > 0.0 { mean_sum / max_sum } else { 1.0 },
        passes: active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{LoadMatrix, Phase, Series, SourceFormat};

    fn phase(layers: usize, experts: usize, rows: &[f64]) -> PhaseData {
        PhaseData::from_summed(Phase::Decode, SourceFormat::Matrix, LoadMatrix { layers, experts, data: rows.to_vec() })
    }

    /// 2 layers, 4 experts on 2 devices ([0,1] and [2,3]), summed loads:
    /// layer 0 devices 30 / 10 (mean 20, max 30); layer 1 devices 20 / 20.
    #[test]
    fn summed_loads_by_hand() {
        let d = phase(2, 4, &[10.0, 20.0, 5.0, 5.0, 10.0, 10.0, 10.0, 10.0]);
        let p = Placement { layers: vec![vec![vec![0, 1], vec![2, 3]]; 2] };
        let f = server_figures(&d, &p);
        // SGLang: (20/30 + 20/20) / 2
        assert!((f.sglang_balancedness - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        // TensorRT-LLM: ((30-20)/20 + 0) / 2
        assert!((f.trtllm_imbalance_ratio - 0.25).abs() < 1e-12);
        // vLLM and the benchmark: (20 + 20) / (30 + 20)
        assert!((f.vllm_balancedness - 0.8).abs() < 1e-12);
        assert!((f.eplb_benchmark_balancedness - 0.8).abs() < 1e-12);
        assert_eq!(f.passes, 1);
    }

    /// 1 layer, 2 experts on 2 devices, 3 intervals: (3, 1), (0, 0) idle, (2, 2).
    #[test]
    fn per_interval_by_hand() {
        let mut s = Series::new(1, 2, 3);
        for (t, (a, b)) in [(3.0, 1.0), (0.0, 0.0), (2.0, 2.0)].into_iter().enumerate() {
            s.data[t] = a;
            s.data[3 + t] = b;
        }
        let mut d = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
        d.series = Some(s);
        let p = Placement { layers: vec![vec![vec![0], vec![1]]] };
        let f = server_figures(&d, &p);
        // passes 0 and 2 (pass 1 routed nothing): mean/max = 2/3 and 1
        assert_eq!(f.passes, 2);
        assert!((f.sglang_balancedness - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((f.vllm_balancedness - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        // (3/2 - 1 + 0) / 2
        assert!((f.trtllm_imbalance_ratio - 0.25).abs() < 1e-12);
        // summed: 5 and 3, mean 4, max 5
        assert!((f.eplb_benchmark_balancedness - 0.8).abs() < 1e-12);
    }

    /// A replica halves an expert's load on each of its devices; an idle
    /// layer counts 1.0 for SGLang and is left out by TensorRT-LLM.
    #[test]
    fn replicas_and_idle_layers() {
        // layer 0: expert 0 = 8 on devices 0 and 1 (4 each), expert 1 = 4 on device 1 -> 4 / 8; layer 1 idle.
        let d = phase(2, 2, &[8.0, 4.0, 0.0, 0.0]);
        let p = Placement { layers: vec![vec![vec![0], vec![0, 1]], vec![vec![0], vec![1]]] };
        let f = server_figures(&d, &p);
        // layer 0: mean 6, max 8
        assert!((f.sglang_balancedness - (6.0 / 8.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((f.trtllm_imbalance_ratio - (8.0 / 6.0 - 1.0)).abs() < 1e-12);
        assert!((f.vllm_balancedness - 0.75).abs() < 1e-12);
    }

    #[test]
    fn definitions_name_every_key() {
        let f = ServerFigures::default();
        for d in DEFINITIONS {
            assert!(f.get(d.key).is_some(), "{}", d.key);
            assert!(!d.definition.contains('\n'));
        }
        let json = crate::engine::json::Value::of(&f);
        for d in DEFINITIONS {
            assert!(json.get(d.key).is_some(), "{}", d.key);
        }
    }
}
