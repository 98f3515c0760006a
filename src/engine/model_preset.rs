//! The models an export is written for: one table of presets (the decoder
//! layer of the first MoE layer, the hidden layers, the MTP layers and the
//! routed experts of each model's published config) and the "other" choice
//! where the user gives the layers. The SGLang map and the TensorRT-LLM YAML
//! index their rows / keys by the model's decoder layer, so they need one of
//! these; the msit JSON does not (docs/exports.md).
//!
//! The numbers are the models' Hugging Face `config.json` keys:
//! `first_k_dense_replace` (dense decoder layers before the first MoE layer;
//! Qwen3-MoE has none: `decoder_sparse_step` 1, no `mlp_only_layers`),
//! `num_hidden_layers`, `num_nextn_predict_layers` (MTP) and
//! `n_routed_experts` / `num_experts`.

use super::error::{Error, Param, Result};
use super::params::MAX_FIRST_MOE_LAYER;

/// One model of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPreset {
    /// The name on the command line (`--model`) and in the page's select.
    pub key: &'static str,
    /// Other names `--model` takes.
    pub aliases: &'static [&'static str],
    /// The name shown.
    pub label: &'static str,
    /// Decoder layer index of the first MoE layer (`first_k_dense_replace`).
    pub first_moe_layer: usize,
    /// Decoder layers (`num_hidden_layers`), dense ones included.
    pub hidden_layers: usize,
    /// MTP (next-token prediction) layers (`num_nextn_predict_layers`).
    pub mtp_layers: usize,
    /// Routed experts per MoE layer.
    pub routed_experts: usize,
}

/// Every model preset, in the order the page lists them.
pub const PRESETS: [ModelPreset; 4] = [
    ModelPreset {
        key: "deepseek-v3",
        aliases: &["deepseek-r1", "dsv3", "deepseek-v3/r1"],
        label: "DeepSeek-V3 / R1",
        first_moe_layer: 3,
        hidden_layers: 61,
        mtp_layers: 1,
        routed_experts: 256,
    },
    ModelPreset { key: "kimi-k2", aliases: &["kimi"], label: "Kimi K2", first_moe_layer: 1, hidden_layers: 61, mtp_layers: 0, routed_experts: 384 },
    ModelPreset {
        key: "qwen3-235b-a22b",
        aliases: &["qwen3-235b"],
        label: "Qwen3-MoE 235B-A22B",
        first_moe_layer: 0,
        hidden_layers: 94,
        mtp_layers: 0,
        routed_experts: 128,
    },
    ModelPreset {
        key: "qwen3-30b-a3b",
        aliases: &["qwen3-30b"],
        label: "Qwen3-MoE 30B-A3B",
        first_moe_layer: 0,
        hidden_layers: 48,
        mtp_layers: 0,
        routed_experts: 128,
    },
];

/// The key of the "other" choice (the user gives the layers).
pub const OTHER: &str = "other";

/// The keys `--model` takes, for messages: `deepseek-v3, kimi-k2, ..., other`.
pub fn keys() -> String {
    let mut k: Vec<&str> = PRESETS.iter().map(|p| p.key).collect();
    k.push(OTHER);
    k.join(", ")
}

/// The preset named `name` (its key or an alias, any case).
pub fn find(name: &str) -> Option<&'static ModelPreset> {
    let n = name.trim().to_ascii_lowercase();
    PRESETS.iter().find(|p| p.key == n || p.aliases.contains(&n.as_str()))
}

/// The key of the choice named `name`: a preset's key (given by key or
/// alias, any case) or [`OTHER`]; anything else is a [`Param::Model`] error
/// listing the keys.
pub fn parse_key(name: &str) -> Result<&'static str> {
    match find(name) {
        Some(p) => Ok(p.key),
        None if name.trim().eq_ignore_ascii_case(OTHER) => Ok(OTHER),
        None => Err(Error::param(Param::Model, format!("must be one of {}, got '{}'", keys(), name.trim()))),
    }
}

/// The name of a model given by its layers ("other").
pub const OTHER_NAME: &str = "the model given (other)";

/// A [`ModelLayout`] as the page sends it to its web workers: its name is
/// read back as one of the names this build gives.
#[derive(serde::Deserialize)]
struct LayoutWire {
    name: String,
    first_moe_layer: usize,
    hidden_layers: usize,
    mtp_layers: Option<usize>,
    experts: Option<usize>,
}

impl<'de> serde::Deserialize<'de> for ModelLayout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let w = LayoutWire::deserialize(d)?;
        let name = PRESETS
            .iter()
            .map(|p| p.label)
            .chain([OTHER_NAME])
            .find(|n| *n == w.name)
            .ok_or_else(|| <D::Error as serde::de::Error>::custom(format!("unknown model '{}'", w.name)))?;
        Ok(ModelLayout { name, first_moe_layer: w.first_moe_layer, hidden_layers: w.hidden_layers, mtp_layers: w.mtp_layers, experts: w.experts })
    }
}

/// What an export needs to know of the model: where its MoE layers sit
/// among its decoder layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelLayout {
    /// The preset's label, or [`OTHER_NAME`].
    pub name: &'static str,
    /// Decoder layer index of the first MoE layer.
    pub first_moe_layer: usize,
    /// Decoder layers of the model, dense ones included.
    pub hidden_layers: usize,
    /// MTP layers the model has (`None`: not known, "other").
    pub mtp_layers: Option<usize>,
    /// Routed experts (`None`: not known, "other").
    pub experts: Option<usize>,
}

impl ModelPreset {
    pub fn layout(&self) -> ModelLayout {
        ModelLayout {
            name: self.label,
            first_moe_layer: self.first_moe_layer,
            hidden_layers: self.hidden_layers,
            mtp_layers: Some(self.mtp_layers),
            experts: Some(self.routed_experts),
        }
    }
}

impl ModelLayout {
    /// MoE layers: the decoder layers from the first MoE layer on.
    pub fn moe_layers(&self) -> usize {
        self.hidden_layers - self.first_moe_layer
    }
    /// The decoder layer index of the MTP layer (TensorRT-LLM numbers it
    /// after the hidden layers).
    pub fn mtp_layer(&self) -> usize {
        self.hidden_layers
    }
    /// The data's shape (`layers` MoE layers of `experts` routed experts)
    /// fits the model, else a [`Param::Model`] error naming both.
    pub fn check(&self, layers: usize, experts: usize) -> Result<()> {
        if layers != self.moe_layers() {
            return Err(Error::param(
                Param::Model,
                format!(
                    "{} has {} MoE layers (decoder layers {}..{} of {}), but the data has {layers}: choose the model the dump was taken from{}",
                    self.name,
                    self.moe_layers(),
                    self.first_moe_layer,
                    self.hidden_layers.saturating_sub(1),
                    self.hidden_layers,
                    if self.experts.is_none() { " or correct the first MoE layer / hidden layers" } else { "" }
                ),
            ));
        }
        if let Some(e) = self.experts.filter(|&e| e != experts) {
            return Err(Error::param(
                Param::Model,
                format!("{} has {e} routed experts, but the data has {experts}: choose the model the dump was taken from", self.name),
            ));
        }
        Ok(())
    }
    /// Whether an MTP entry may be written: refused for a preset without
    /// an MTP layer.
    pub fn check_mtp(&self) -> Result<()> {
        match self.mtp_layers {
            Some(0) => Err(Error::param(
                Param::Mtp,
                format!("{} has no MTP layer (num_nextn_predict_layers is 0): leave the MTP entry off", self.name),
            )),
            _ => Ok(()),
        }
    }
}

/// The user's choice of model, as the CLI flags and the page's fields give
/// it, made into a layout for data of `layers` MoE layers and `experts`
/// routed experts, checked against the data:
/// - `model` a preset key: its numbers (`first` and `hidden` must be unset);
/// - `model` "other", or unset with `first` set: the first MoE layer given,
///   the hidden layers given or else `first + layers` (no layer after the
///   MoE layers);
/// - nothing chosen: `None` (the msit JSON needs no model; the SGLang and
///   TensorRT-LLM exports refuse it, [`super::export::render`]).
pub fn resolve(model: Option<&str>, first: Option<usize>, hidden: Option<usize>, layers: usize, experts: usize) -> Result<Option<ModelLayout>> {
    let model = model.map(str::trim).filter(|m| !m.is_empty());
    for (v, p) in [(first, Param::FirstMoeLayer), (hidden, Param::HiddenLayers)] {
        if let Some(v) = v.filter(|&v| v > MAX_FIRST_MOE_LAYER) {
            return Err(Error::param(p, format!("{v} is more layers than any model has: at most {MAX_FIRST_MOE_LAYER}")));
        }
    }
    let model = model.map(parse_key).transpose()?;
    let layout = match model.and_then(find) {
        Some(p) => {
            if first.is_some() || hidden.is_some() {
                return Err(Error::param(
                    Param::Model,
                    format!("{} gives the first MoE layer ({}) and the hidden layers ({}) itself: set them only with the model 'other'", p.label, p.first_moe_layer, p.hidden_layers),
                ));
            }
            p.layout()
        }
        None => {
            let Some(first) = first else {
                if model.is_some() {
                    return Err(Error::param(Param::FirstMoeLayer, "the model 'other' needs its first MoE layer (the decoder layer index of the first MoE layer)"));
                }
                if hidden.is_some() {
                    return Err(Error::param(Param::HiddenLayers, "needs the first MoE layer too (--first-moe-layer), or a model preset (--model)"));
                }
                return Ok(None);
            };
            let hidden = hidden.unwrap_or(first + layers);
            if hidden <= first {
                return Err(Error::param(
                    Param::HiddenLayers,
                    format!("{hidden} hidden layers leave no MoE layer after the first MoE layer {first}: the hidden layers count every decoder layer, dense ones included"),
                ));
            }
            ModelLayout { name: OTHER_NAME, first_moe_layer: first, hidden_layers: hidden, mtp_layers: None, experts: None }
        }
    };
    layout.check(layers, experts)?;
    Ok(Some(layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_aliases_are_unique() {
        let mut all: Vec<&str> = PRESETS.iter().flat_map(|p| std::iter::once(p.key).chain(p.aliases.iter().copied())).collect();
        all.push(OTHER);
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
