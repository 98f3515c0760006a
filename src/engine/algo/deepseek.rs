//! DeepSeek's open-source EPLB policy (also used by vLLM and SGLang),
//! written from its published description: hierarchical (expert groups
//! packed onto nodes, replicas within nodes, physical experts packed onto
//! the node's devices) or global (one group, one node).

/// Balanced packing: items (weights) into `packs` packs of equal item
/// count; heaviest item first, each to the lightest pack with room (lowest
/// index among equals). Returns `(pack, rank in pack)` per item.
fn balanced_packing(weight: &[f64], packs: usize) -> Vec<(usize, usize)> {
    let n = weight.len();
    let packs = packs.max(1);
    let per_pack = n / packs;
    if per_pack <= 1 {
        return (0..n).map(|i| (i % packs, i / packs)).collect();
    }
    let mut order: Vec<usize> = (0..n).collect();
    // Stable by weight from 0..n: ties by index.
    crate::engine::order::desc_by(&mut order, weight);
    let mut pack_w = vec![0.0f64; packs];
    let mut pack_n = vec![0usize; packs];
    let mut out = vec![(0usize, 0usize); n];
    for i in order {
        let mut best: Option<usize> = None;
        for p in 0..packs {
            if pack_n[p] < per_pack && best.is_none_or(|b| pack_w[p] < pack_w[b]) {
                best = Some(p);
            }
        }
        let p = best.unwrap_or(packs - 1);
        out[i] = (p, pack_n[p]);
        pack_w[p] += weight[i];
        pack_n[p] += 1;
    }
    out
}

/// Replicate `weight.len()` logical experts into `physical` slots: each
/// extra slot goes to the expert with the highest load per replica (first
/// among equals). Returns (physical -> logical, replica counts).
fn replicate(weight: &[f64], physical: usize) -> (Vec<usize>, Vec<usize>) {
    let n = weight.len();
    let mut phy2log: Vec<usize> = (0..n).collect();
    let mut cnt = vec![1usize; n];
    for _ in n..physical {
        let mut best = 0usize;
        for e in 1..n {
            if weight[e] / cnt[e] as f64 > weight[best] / cnt[best] as f64 {
                best = e;
            }
        }
        if n == 0 {
            break;
        }
        phy2log.push(best);
        cnt[best] += 1;
    }
    (phy2log, cnt)
}

/// One layer, hierarchical policy: physical slot -> logical expert, in
/// device-major order (device d holds slots `d*S..(d+1)*S`).
/// Requires `E mod groups = 0`, `groups mod nodes = 0`, `devices mod nodes
/// = 0`, `physical mod devices = 0` and `physical >= E` (checked by the caller).
pub fn layer_hierarchical(weight: &[f64], physical: usize, groups: usize, nodes: usize, devices: usize) -> Vec<usize> {
    let e_n = weight.len();
    if e_n == 0 || groups == 0 || nodes == 0 || devices == 0 {
        return Vec::new();
    }
    let group_size = e_n / groups;
    let groups_per_node = groups / nodes;
    let per_device = physical / devices;
    let log_per_node = e_n / nodes;
    let phy_per_node = physical / nodes;
    let dev_per_node = devices / nodes;
    // Step 1: groups onto nodes.
    let group_w: Vec<f64> = (0..groups).map(|g| weight[g * group_size..(g + 1) * group_size].iter().sum()).collect();
    let gpack = balanced_packing(&group_w, nodes);
    // log2mlog: logical -> "node-major logical" position.
    let mut mlog2log = vec![0usize; e_n];
    for g in 0..groups {
        let (node, rank) = gpack[g];
        let base = (node * groups_per_node + rank) * group_size;
        for k in 0..group_size {
            mlog2log[base + k] = g * group_size + k;
        }
    }
    let mut out = vec![0usize; physical];
    for node in 0..nodes {
        // Step 2: replicate within the node.
        let mlogs = &mlog2log[node * log_per_node..(node + 1) * log_per_node];
        let w: Vec<f64> = mlogs.iter().map(|&e| weight[e]).collect();
        let (phy2mlog, cnt) = replicate(&w, phy_per_node);
        // Step 3: physical experts onto the node's devices.
        let tokens: Vec<f64> = phy2mlog.iter().map(|&m| w[m] / cnt[m] as f64).collect();
        let pack = balanced_packing(&tokens, dev_per_node);
        for (p, &(dev, rank)) in pack.iter().enumerate() {
            let pphy = node * phy_per_node + dev * per_device + rank;
            if let Some(slot) = out.get_mut(pphy) {
                *slot = mlogs[phy2mlog[p]];
            }
        }
    }
    out
}

/// The published entry point: `weight[layer][expert]` -> for every layer the
/// physical slot -> logical expert map (hierarchical policy; pass
/// `groups = nodes = 1` for the global policy).
pub fn deepseek_physical_to_logical(
    weight: &[Vec<f64>],
    physical_slots: usize,
    groups: usize,
    nodes: usize,
    devices: usize,
) -> Vec<Vec<usize>> {
    weight.iter().map(|w| layer_hierarchical(w, physical_slots, groups, nodes, devices)).collect()
}

/// Cut a physical order into device lists of `S` slots.
pub fn to_devices(phys: &[usize], devices: usize) -> Vec<Vec<usize>> {
    let per = phys.len() / devices.max(1);
    (0..devices).map(|d| phys[d * per..(d + 1) * per].to_vec()).collect()
}
