//! Level 2's plan: everything about the problem that does not depend on the
//! layer (devices, slots, ids, interval groups, the robust switch), the
//! per-layer loads, and the replica counts by water-filling.

use super::*;

/// Everything about the problem that does not depend on the layer.
pub(super) struct Plan {
    /// Routed devices D.
    pub(super) devices: usize,
    /// Slots per device S.
    pub(super) slots: usize,
    /// Logical ids placed (E, or E+1 with the shared expert mixed in).
    pub(super) ids: usize,
    /// Routed experts E of the data.
    pub(super) experts: usize,
    /// Redundant slots (raised by D-1 when mixed).
    pub(super) redundant: usize,
    /// Shared expert mixed in as id E (time-series input only).
    pub(super) mixed: bool,
    pub(super) top_k: usize,
    /// Kept intervals of the series used for fitting, grouped: each inner
    /// list is summed into one optimisation interval. `None` = summed input.
    pub(super) groups: Option<Vec<Vec<usize>>>,
    /// `Settings::robust` with time-series input: minimise the worst fitted
    /// interval's imbalance (a power mean of the per-interval ratios) instead
    /// of the summed busiest-device load.
    pub(super) robust: bool,
    pub(super) knobs: Knobs,
    pub(super) warnings: Vec<String>,
}

impl Plan {
    pub(super) fn new(data: &PhaseData, settings: &Settings, knobs: &Knobs) -> Result<Plan> {
        let cluster = &settings.cluster;
        let mut warnings = Vec::new();
        let experts = data.experts;
        if experts == 0 {
            return Err(Error::msg("the data has no experts"));
        }
        if data.summed.data.len() != data.layers * experts {
            return Err(Error::internal("summed load matrix does not match layers x experts"));
        }
        if cluster.devices == 0 {
            return Err(Error::param(Param::Npus, "must be at least 1"));
        }
        if cluster.shared_devices >= cluster.devices {
            return Err(Error::param(
                Param::SharedDevices,
                format!(
                    "must be fewer than the {} devices (-nn), got {}",
                    cluster.devices, cluster.shared_devices
                ),
            ));
        }
        let devices = cluster.routed_devices();
        let series = data.series.as_ref().filter(|s| s.intervals > 0);
        if let Some(s) = series {
            if s.layers != data.layers || s.experts != experts || s.data.len() != s.layers * s.experts * s.intervals {
                return Err(Error::internal("time series does not match layers x experts x intervals"));
            }
        }
        let want_mixed = settings.algorithm == Algorithm::SpecMoe2Mixed;
        let mut top_k = 1;
        let mixed = want_mixed && series.is_some();
        if want_mixed && !mixed {
            warnings.push(
                "mixing the shared expert in needs time-series input; this is the plain level-2 table".to_string(),
            );
        }
        if mixed {
            if cluster.shared_devices != 0 {
                return Err(Error::param(
                    Param::SharedDevices,
                    "must be 0 when the shared expert is mixed in among the routed experts",
                ));
            }
            top_k = match data.top_k {
                Some(k) if k > 0 => k,
                _ => {
                    return Err(Error::param(
                        Param::Algorithm,
                        "mixing the shared expert in needs top-k (num_of_selected_experts in model_gen_config.json)",
                    ))
                }
            };
        }
        let ids = experts + usize::from(mixed);
        let redundant = cluster.redundant + if mixed { devices - 1 } else { 0 };
        let total = ids + redundant;
        if total % devices != 0 {
            return Err(Error::param(
                Param::Redundant,
                format!(
                    "experts + redundant slots ({ids} + {redundant} = {total}) must be a multiple of the {devices} routed devices"
                ),
            ));
        }
        if redundant > ids * (devices - 1) {
            return Err(Error::param(
                Param::Redundant,
                format!(
                    "{redundant} redundant slots cannot be filled without putting an expert twice on a device \
                     ({ids} experts x {devices} devices allow at most {} copies)",
                    ids * (devices - 1)
                ),
            ));
        }
        let slots = total / devices;
        let groups = series.map(|s| {
            let fit: Vec<usize> = (0..s.intervals).filter(|t| !settings.holdout || t % 2 == 0).collect();
            let g = knobs.group.max(1);
            fit.chunks(g).map(|c| c.to_vec()).collect::<Vec<_>>()
        });
        if settings.holdout && series.is_none() {
            warnings.push("held-out fitting needs time-series input; fitted on all of the data".to_string());
        }
        let robust = settings.robust && series.is_some();
        if settings.robust && series.is_none() {
            warnings.push(
                "the robust option needs time-series input (with one interval the worst interval is the whole run); this is the plain level-2 table"
                    .to_string(),
            );
        }
        Ok(Plan { devices, slots, ids, experts, redundant, mixed, top_k, groups, robust, knobs: *knobs, warnings })
    }

    pub(super) fn intervals(&self) -> usize {
        self.groups.as_ref().map_or(1, |g| g.len().max(1))
    }

    /// `h[id * T + k]`: the loads of layer `l` the optimiser fits (clean,
    /// non-negative, finite).
    pub(super) fn layer_loads(&self, data: &PhaseData, l: usize) -> Vec<f64> {
        let t_n = self.intervals();
        let mut h = vec![0.0; self.ids * t_n];
        let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
        match (&self.groups, &data.series) {
            (Some(groups), Some(s)) => {
                let block = s.layer(l);
                let ti = s.intervals;
                for e in 0..self.experts {
                    for (k, g) in groups.iter().enumerate() {
                        let mut acc = 0.0;
                        for &t in g {
                            acc += clean(block[e * ti + t]);
                        }
                        h[e * t_n + k] = acc;
                    }
                }
            }
            _ => {
                let row = data.summed.layer(l);
                for e in 0..self.experts {
                    h[e] = clean(row[e]);
                }
            }
        }
        if self.mixed {
            for k in 0..t_n {
                let mut tot = 0.0;
                for e in 0..self.experts {
                    tot += h[e * t_n + k];
                }
                h[self.experts * t_n + k] = tot / self.top_k as f64;
            }
        }
        h
    }
}


/// Water-filling: start at one replica each; `extra` times give one more
/// replica to the expert with the largest `key / count` below `cap` replicas
/// (the lowest id among equals).
pub fn water_fill(key: &[f64], extra: usize, cap: usize) -> Vec<usize> {
    let mut c = vec![1usize; key.len()];
    for _ in 0..extra {
        let mut best: Option<(usize, f64)> = None;
        for (e, &k) in key.iter().enumerate() {
            if c[e] >= cap {
                continue;
            }
            let v = k / c[e] as f64;
            if best.is_none_or(|(_, b)| v.total_cmp(&b).is_gt()) {
                best = Some((e, v));
            }
        }
        match best {
            Some((e, _)) => c[e] += 1,
            None => break,
        }
    }
    c
}

/// Replica-count keys. One interval: the summed load. Several: a power mean
/// over the intervals of the expert's relative load `H[e][t] / mean_e H[.][t]`
/// with exponent `2^p` (`p = 0..3`, computed with square roots only), or its
/// peak (`p >= 4`, the limit).
pub(super) fn count_keys(h: &[f64], ids: usize, t_n: usize, p: u32) -> Vec<f64> {
    if t_n == 1 {
        return h.to_vec();
    }
    let mut mean = vec![0.0; t_n];
    for e in 0..ids {
        for k in 0..t_n {
            mean[k] += h[e * t_n + k];
        }
    }
    let mut key = vec![0.0f64; ids];
    let mut used = 0usize;
    for k in 0..t_n {
        if mean[k] <= 0.0 {
            continue;
        }
        used += 1;
        let inv = ids as f64 / mean[k];
        for e in 0..ids {
            let r = h[e * t_n + k] * inv;
            if p >= 4 {
                if r > key[e] {
                    key[e] = r;
                }
            } else {
                let mut x = r;
                for _ in 0..p {
                    x *= x;
                }
                key[e] += x;
            }
        }
    }
    if used == 0 {
        key.iter_mut().for_each(|x| *x = 1.0);
    } else if p < 4 {
        for x in key.iter_mut() {
            let mut v = *x / used as f64;
            for _ in 0..p {
                v = v.sqrt();
            }
            *x = v;
        }
    }
    key
}
