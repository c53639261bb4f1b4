//! Adam with global-norm gradient clipping, written as a burn `ModuleMapper`.
//!
//! Why not burn's `AdamConfig`/`ModuleOptimizer`? Its state can only be exported through
//! `to_record`, which reads tensors back synchronously; a browser cannot do that (no blocking on
//! wasm). Here the moments are plain tensors keyed by parameter, so a checkpoint can read them
//! back with one async read. Clipping uses the norm over *all* gradients (as PyTorch's
//! `clip_grad_norm_`), computed on the device: no readback per step. The update runs over one
//! flat buffer of all parameters (see [`Adam`]): a few GPU kernels per step, not a few per
//! parameter tensor.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

#[derive(Clone, Debug)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Clip the global gradient norm to this value (None: no clipping).
    pub clip_norm: Option<f64>,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, clip_norm: Some(1.0) }
    }
}

/// First and second moments of one parameter, flattened to 1-D.
#[derive(Clone, Debug)]
pub struct Moments {
    pub m: Tensor<1>,
    pub v: Tensor<1>,
}

/// Where each parameter lives in the flat buffers: its segment starts at a multiple of
/// [`SEGMENT_ALIGN`] elements, so slicing it back out is a view (no copy, no GPU dispatch).
///
/// A 4-D weight W[a, b, kh, kw] (a convolution's [out, in, ..] or a transposed one's [in, out, ..])
/// is stored channels-last, as W[a, kh, kw, b], and handed to the module as a permuted view: the
/// layout burn's GPU convolutions read, so they use the weight in place instead of copying it at
/// every forward and backward pass. Every other parameter is stored in its own order.
#[derive(Clone, Debug)]
struct Segment {
    id: ParamId,
    offset: usize,
    shape: Vec<usize>,
}

impl Segment {
    fn n(&self) -> usize {
        self.shape.iter().product()
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.n()
    }

    /// Whether slicing the segment out of the flat buffer is a view: it starts and ends on
    /// [`SEGMENT_ALIGN`] (see [`layout`]; the buffer's length is a multiple of it too).
    fn is_view(&self) -> bool {
        self.offset.is_multiple_of(SEGMENT_ALIGN) && self.n().is_multiple_of(SEGMENT_ALIGN)
    }

    fn channels_last(&self) -> Option<[usize; 4]> {
        <[usize; 4]>::try_from(self.shape.as_slice()).ok()
    }

    /// A tensor of this parameter's shape as its segment's values.
    fn segment_order_of(&self, value: Tensor<1>) -> Tensor<1> {
        match self.channels_last() {
            Some(shape) => segment_order(value.reshape(shape)),
            None => value,
        }
    }

    /// The segment's values in the parameter's own (row-major) order, 1-D.
    fn own_order(&self, flat: &Tensor<1>) -> Tensor<1> {
        let n = self.n();
        match self.channels_last() {
            Some(shape) => self.view(flat, shape).reshape([n]),
            None => flat.clone().slice(self.range()),
        }
    }

    /// The segment as a tensor of the parameter's shape (a view when the offsets allow it).
    fn view<const D: usize>(&self, flat: &Tensor<1>, shape: [usize; D]) -> Tensor<D> {
        self.shaped(flat.clone().slice(self.range()), shape)
    }

    /// The segment's values (1-D, in the segment's order) as a tensor of the parameter's shape.
    fn shaped<const D: usize>(&self, segment: Tensor<1>, shape: [usize; D]) -> Tensor<D> {
        match self.channels_last() {
            Some([a, b, kh, kw]) => segment.reshape([a, kh, kw, b]).permute([0, 3, 1, 2]).reshape(shape),
            None => segment.reshape(shape),
        }
    }
}

/// 64 f32 = 256 bytes: WebGPU's storage-buffer offset alignment (and cubecl's), so a segment of
/// the flat weights can be bound as its own buffer.
const SEGMENT_ALIGN: usize = 64;

/// The optimiser's state over all parameters at once: the weights x, the moments m and v, each
/// one flat 1-D tensor (zero between segments). The module's parameters are views into `x`.
#[derive(Clone, Debug)]
struct Flat {
    segments: Vec<Segment>,
    x: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
}

/// Adam over one flat buffer of every parameter.
///
/// One update is a handful of GPU kernels whatever the number of parameter tensors: the gradients
/// are copied into one flat buffer (one small copy each), the global norm is one reduction, and
/// the moments and weights are updated by one fused element-wise pass. The updated parameters are
/// views into the flat weights, so the next step starts from them without copying.
///
/// An `Adam` belongs to the module it last returned: pass that module (or a clone of it) to the
/// next `step`. A module with other parameters rebuilds the flat state from that module.
#[derive(Clone, Debug)]
pub struct Adam {
    pub config: AdamConfig,
    /// Number of steps taken (for bias correction).
    pub t: u64,
    /// Moments restored from a checkpoint, gathered into the flat state at the next step.
    pending: HashMap<ParamId, Moments>,
    flat: Option<Flat>,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Self {
        Self { config, t: 0, pending: HashMap::new(), flat: None }
    }

    /// Every parameter's moments (1-D), for a checkpoint.
    pub fn moments(&self) -> HashMap<ParamId, Moments> {
        let mut all = self.pending.clone();
        if let Some(f) = &self.flat {
            for s in &f.segments {
                all.insert(s.id, Moments { m: s.own_order(&f.m), v: s.own_order(&f.v) });
            }
        }
        all
    }

    /// Restore one parameter's moments (from a checkpoint), before the first step.
    pub fn insert_moments(&mut self, id: ParamId, moments: Moments) {
        if let Some(flat) = self.flat.take() {
            self.unflatten(flat);
        }
        self.pending.insert(id, moments);
    }

    fn unflatten(&mut self, flat: Flat) {
        let Flat { segments, m, v, .. } = flat;
        for s in segments {
            self.pending.insert(s.id, Moments { m: s.own_order(&m), v: s.own_order(&v) });
        }
    }

    /// One update of every parameter of `module` that has a gradient.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        self.t += 1;
        let mut found = WithGrad { grads, params: Vec::new() };
        module.visit(&mut found);
        let WithGrad { params, .. } = found;
        let Some(device) = params.first().map(|p| p.grad.device()) else {
            return module;
        };
        let same = self.flat.as_ref().is_some_and(|f| {
            f.segments.len() == params.len()
                && f.segments.iter().zip(&params).all(|(s, p)| s.id == p.id && s.shape == p.shape)
        });
        if !same {
            if let Some(flat) = self.flat.take() {
                self.unflatten(flat);
            }
            let (segments, total) = layout(&params);
            let gather = |values: Vec<Tensor<1>>| gather(&segments, total, values, &device);
            let mut values = Values { wanted: params.iter().map(|p| p.id).collect(), values: HashMap::new() };
            module.visit(&mut values);
            let x = gather(
                params.iter().map(|p| values.values.remove(&p.id).expect("a visited parameter")).collect(),
            );
            let mut ms = Vec::new();
            let mut vs = Vec::new();
            for (p, segment) in params.iter().zip(&segments) {
                let n = segment.n();
                let Moments { m, v } = self.pending.remove(&p.id).unwrap_or_else(|| Moments {
                    m: Tensor::zeros([n], &device),
                    v: Tensor::zeros([n], &device),
                });
                ms.push(segment.segment_order_of(m));
                vs.push(segment.segment_order_of(v));
            }
            let (m, v) = (gather(ms), gather(vs));
            self.flat = Some(Flat { segments, x, m, v });
        }
        let Flat { segments, x, m, v } = self.flat.take().expect("flat state");
        let total = x.dims()[0];
        let mut g = gather(&segments, total, params.into_iter().map(|p| p.grad).collect(), &device);
        let c = &self.config;
        if let Some(max_norm) = c.clip_norm {
            // min(1, max_norm / (||g|| + 1e-6)) over all gradients (as PyTorch's
            // `clip_grad_norm_`), kept on the device.
            let norm = g.clone().powi_scalar(2).sum().sqrt();
            let scale = (norm + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
            g = g * scale;
        }
        let (b1, b2) = (c.beta1, c.beta2);
        let m = m * b1 + g.clone() * (1.0 - b1);
        let v = v * b2 + g.powi_scalar(2) * (1.0 - b2);
        // powi takes an i32: saturate (b^t is 0 in f64 long before 2^31 steps) instead of
        // wrapping for an imported step count beyond i32::MAX.
        let t = i32::try_from(self.t).unwrap_or(i32::MAX);
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        let update = (m.clone() / bias1) / ((v.clone() / bias2).sqrt() + c.epsilon);
        let x = x - update * lr;
        let index = segments.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        // The segments a slice cannot view (not on the alignment at both ends, the biases) are
        // copied out together, several per GPU dispatch, instead of one copy each.
        let unaligned: Vec<&Segment> = segments.iter().filter(|s| !s.is_view()).collect();
        let ranges: Vec<_> = unaligned.iter().map(|s| s.range()).collect();
        let copies = unaligned.iter().map(|s| s.id).zip(crate::unpack::unpack(&x, &ranges)).collect();
        let module = module.map(&mut Scatter { x: &x, segments: &segments, index, copies });
        self.flat = Some(Flat { segments, x, m, v });
        module
    }
}

/// Where each parameter goes: first every parameter whose size is a multiple of
/// [`SEGMENT_ALIGN`] (each then starts and ends on the alignment, so the module gets it as a
/// view), then the others packed one after the other (a slice of those is a small copy wherever
/// it starts), then zeros up to a multiple of [`SEGMENT_ALIGN`] values. Returns the segments in
/// the parameters' order and the total length.
fn layout(params: &[ParamWithGrad]) -> (Vec<Segment>, usize) {
    let aligned = |p: &ParamWithGrad| p.shape.iter().product::<usize>().is_multiple_of(SEGMENT_ALIGN);
    let mut offsets = vec![0; params.len()];
    let mut offset = 0;
    for first in [true, false] {
        for (i, p) in params.iter().enumerate() {
            if aligned(p) == first {
                offsets[i] = offset;
                offset += p.shape.iter().product::<usize>();
            }
        }
    }
    let segments = params
        .iter()
        .zip(offsets)
        .map(|(p, offset)| Segment { id: p.id, offset, shape: p.shape.clone() })
        .collect();
    (segments, offset.div_ceil(SEGMENT_ALIGN) * SEGMENT_ALIGN)
}

/// Tensors concatenated at most this many at a time: with kernel fusion a concatenation of a few
/// tensors is one kernel, while one of dozens exceeds a kernel's buffer bindings and becomes one
/// copy per tensor. bench/gpu-count.mjs counted 16 gathering kernels per denoiser step with 4 at
/// a time, 9 with 7. Seven inputs, the output and cubecl's metadata are 9 storage buffers, one
/// more than every WebGPU device allows a kernel (`maxStorageBuffersPerShaderStage`, 8): burn's
/// fusion sizes its kernels by the device's own limit (SwiftShader's is higher), so on a device
/// at the minimum it splits these into more kernels rather than fail.
const CAT_CHUNK: usize = 7;

/// One flat buffer of `total` values with each tensor (1-D, in its segment's order) at its
/// segment, zeros in the gaps.
fn gather(segments: &[Segment], total: usize, values: Vec<Tensor<1>>, device: &Device) -> Tensor<1> {
    let mut placed: Vec<(usize, Tensor<1>)> = segments.iter().map(|s| s.offset).zip(values).collect();
    placed.sort_by_key(|(offset, _)| *offset);
    let mut pieces = Vec::with_capacity(placed.len() + 1);
    let mut end = 0;
    for (offset, value) in placed {
        if offset > end {
            pieces.push(Tensor::zeros([offset - end], device));
        }
        end = offset + value.dims()[0];
        pieces.push(value);
    }
    if total > end {
        pieces.push(Tensor::zeros([total - end], device));
    }
    while pieces.len() > 1 {
        let mut chunks = Vec::with_capacity(pieces.len().div_ceil(CAT_CHUNK));
        let mut rest = pieces.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(CAT_CHUNK).collect();
            chunks.push(if chunk.len() == 1 {
                chunk.into_iter().next().expect("one")
            } else {
                Tensor::cat(chunk, 0)
            });
        }
        pieces = chunks;
    }
    pieces.pop().unwrap_or_else(|| Tensor::zeros([total], device))
}

/// A parameter (or its gradient) as 1-D values in its segment's order (see [`Segment`]): a 4-D
/// tensor channels-last. A gradient that a GPU convolution wrote channels-last needs no copy.
fn segment_order<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.shape().num_elements();
    if D == 4 {
        let axes: [usize; D] = std::array::from_fn(|i| [0, 2, 3, 1][i]);
        t.permute(axes).reshape([n])
    } else {
        t.reshape([n])
    }
}

struct ParamWithGrad {
    id: ParamId,
    shape: Vec<usize>,
    /// The gradient, 1-D in the segment's order.
    grad: Tensor<1>,
}

/// The parameters that have a gradient, in visiting order, flattened to 1-D.
struct WithGrad {
    grads: GradientsParams,
    params: Vec<ParamWithGrad>,
}

impl ModuleVisitor for WithGrad {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let shape = grad.dims().to_vec();
            self.params.push(ParamWithGrad { id: param.id, shape, grad: segment_order(grad.inner()) });
        }
    }
}

/// The values of the `wanted` parameters, 1-D in their segments' order (when the flat state is
/// built from a module).
struct Values {
    wanted: std::collections::HashSet<ParamId>,
    values: HashMap<ParamId, Tensor<1>>,
}

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.wanted.contains(&param.id) {
            self.values.insert(param.id, segment_order(param.val().inner()));
        }
    }
}

/// Puts each updated parameter back into the module as a view of the flat weights, or as its copy
/// out of them when a view is not possible.
struct Scatter<'a> {
    x: &'a Tensor<1>,
    segments: &'a [Segment],
    index: HashMap<ParamId, usize>,
    copies: HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for Scatter<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(&i) = self.index.get(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let shape: [usize; D] = tensor.dims();
        let value = match self.copies.remove(&id) {
            Some(copy) => self.segments[i].shaped(copy, shape),
            None => self.segments[i].view(self.x, shape),
        };
        let mut updated = Tensor::from_inner(value);
        if tensor.is_require_grad() {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// Every float parameter of a module with its record path (the same dotted path burn's
/// `ModuleRecord` uses), its id and its value.
pub struct NamedParams {
    pub entries: Vec<(String, ParamId, Tensor<1>, Vec<usize>)>,
    path: Vec<String>,
}

impl NamedParams {
    pub fn of<M: Module>(module: &M) -> Self {
        let mut v = NamedParams { entries: Vec::new(), path: Vec::new() };
        module.visit(&mut v);
        v
    }
}

impl ModuleVisitor for NamedParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().inner();
        let shape = value.dims().to_vec();
        let n = shape.iter().product::<usize>();
        self.entries.push((self.path.join("."), param.id, value.reshape([n]), shape));
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::{Linear, LinearConfig};

    use super::*;

    #[derive(Module, Debug)]
    struct Small {
        conv: Conv2d,
        linear: Linear,
    }

    impl Small {
        fn loss(&self, x: Tensor<4>) -> Tensor<1> {
            let h = self.conv.forward(x).flatten::<2>(1, 3);
            (self.linear.forward(h) - 0.5).powi_scalar(2).sum()
        }
    }

    fn read(t: Tensor<1>) -> Vec<f64> {
        t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    struct GradsOf<'a> {
        grads: &'a GradientsParams,
        values: HashMap<ParamId, Vec<f64>>,
    }

    impl ModuleVisitor for GradsOf<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let n = g.shape().num_elements();
                self.values.insert(param.id, read(g.reshape([n])));
            }
        }
    }

    /// The flat update against Adam written out per parameter in f64 (PyTorch's formulas, with
    /// the global-norm clip), step by step from the same weights and gradients. The clip is set
    /// low enough to act, and the parameters (a 4-D conv weight, biases of 3 and 5 values, a
    /// matrix) do not fill whole 64-value segments.
    #[test]
    fn flat_adam_matches_a_per_parameter_reference() {
        let device = crate::backend::cpu().autodiff();
        device.seed(3);
        let mut model = Small {
            conv: Conv2dConfig::new([2, 3], [3, 3]).init(&device),
            linear: LinearConfig::new(3 * 4 * 4, 5).init(&device),
        };
        let config = AdamConfig { clip_norm: Some(0.5), ..AdamConfig::default() };
        let mut adam = Adam::new(config.clone());
        let (b1, b2, eps) = (config.beta1, config.beta2, config.epsilon);
        let mut moments: HashMap<ParamId, (Vec<f64>, Vec<f64>)> = HashMap::new();
        let lr = 0.01;
        let mut clipped = 0;
        for t in 1..=5 {
            let x = Tensor::<4>::random([2, 2, 6, 6], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
            let grads = GradientsParams::from_grads(model.loss(x).backward(), &model);
            let before: Vec<_> =
                NamedParams::of(&model).entries.into_iter().map(|(_, id, v, _)| (id, read(v))).collect();
            let mut visitor = GradsOf { grads: &grads, values: HashMap::new() };
            model.visit(&mut visitor);
            let g = visitor.values;
            assert_eq!(g.len(), before.len(), "every parameter has a gradient");
            let norm = g.values().flatten().map(|v| v * v).sum::<f64>().sqrt();
            let scale = (0.5 / (norm + 1e-6)).min(1.0);
            clipped += usize::from(scale < 1.0);
            model = adam.step(lr, model, grads);
            let after: HashMap<ParamId, Vec<f64>> =
                NamedParams::of(&model).entries.into_iter().map(|(_, id, v, _)| (id, read(v))).collect();
            for (id, x0) in &before {
                let (m, v) = moments.entry(*id).or_insert_with(|| (vec![0.0; x0.len()], vec![0.0; x0.len()]));
                for (i, x0) in x0.iter().enumerate() {
                    let gi = g[id][i] * scale;
                    m[i] = b1 * m[i] + (1.0 - b1) * gi;
                    v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                    let update = (m[i] / (1.0 - b1.powi(t))) / ((v[i] / (1.0 - b2.powi(t))).sqrt() + eps);
                    let expected = x0 - lr * update;
                    let got = after[id][i];
                    assert!(
                        (got - expected).abs() <= 1e-5 * (1.0 + expected.abs()),
                        "step {t}: {got} vs {expected}"
                    );
                }
            }
            // The moments the checkpoint saves are the reference's, per parameter.
            let saved = adam.moments();
            for (id, (m, v)) in &moments {
                let (sm, sv) = (read(saved[id].m.clone()), read(saved[id].v.clone()));
                for i in 0..m.len() {
                    assert!(
                        (sm[i] - m[i]).abs() <= 1e-6 && (sv[i] - v[i]).abs() <= 1e-6,
                        "moments of step {t}"
                    );
                }
            }
        }
        assert!(clipped > 0, "the clip acted at least once");
    }
}
