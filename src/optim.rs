//! Adam with global-norm gradient clipping, written as a burn `ModuleMapper`.
//!
//! Why not burn's `AdamConfig`/`ModuleOptimizer`? Its state can only be exported through
//! `to_record`, which reads tensors back synchronously; a browser cannot do that (no blocking on
//! wasm). Here the moments are plain tensors keyed by parameter, so a checkpoint can read them
//! back with one async read. Clipping uses the norm over *all* gradients (as PyTorch's
//! `clip_grad_norm_`), computed on the device: no readback per step.

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

#[derive(Clone, Debug)]
pub struct Adam {
    pub config: AdamConfig,
    /// Number of steps taken (for bias correction).
    pub t: u64,
    pub moments: HashMap<ParamId, Moments>,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Self {
        Self { config, t: 0, moments: HashMap::new() }
    }

    /// One update of every parameter of `module` that has a gradient.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        self.t += 1;
        let scale = self.config.clip_norm.map(|max_norm| {
            let mut norm = GradNormSq { grads: &grads, sum: None };
            module.visit(&mut norm);
            let total = norm.sum.expect("a model with parameters");
            // min(1, max_norm / (||g|| + 1e-6)), kept on the device.
            (total.sqrt() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0)
        });
        let mut mapper = AdamMapper { adam: self, grads: &mut grads, lr, scale };
        module.map(&mut mapper)
    }
}

struct GradNormSq<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for GradNormSq<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let sq = g.powi_scalar(2).sum();
            self.sum = Some(match self.sum.take() {
                Some(s) => s + sq,
                None => sq,
            });
        }
    }
}

struct AdamMapper<'a> {
    adam: &'a mut Adam,
    grads: &'a mut GradientsParams,
    lr: f64,
    scale: Option<Tensor<1>>,
}

impl ModuleMapper for AdamMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let x: Tensor<1> = tensor.inner().reshape([n]);
        let mut g: Tensor<1> = grad.inner().reshape([n]);
        if let Some(scale) = &self.scale {
            g = g * scale.clone();
        }
        let c = &self.adam.config;
        let (b1, b2) = (c.beta1, c.beta2);
        let (m, v) = match self.adam.moments.remove(&id) {
            Some(Moments { m, v }) => {
                (m * b1 + g.clone() * (1.0 - b1), v * b2 + g.powi_scalar(2) * (1.0 - b2))
            }
            None => (g.clone() * (1.0 - b1), g.powi_scalar(2) * (1.0 - b2)),
        };
        // powi takes an i32: saturate (b^t is 0 in f64 long before 2^31 steps) instead of
        // wrapping for an imported step count beyond i32::MAX.
        let t = i32::try_from(self.adam.t).unwrap_or(i32::MAX);
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        let update = (m.clone() / bias1) / ((v.clone() / bias2).sqrt() + c.epsilon);
        let x = x - update * self.lr;
        self.adam.moments.insert(id, Moments { m, v });
        let mut updated = Tensor::from_inner(x.reshape(shape));
        if require_grad {
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
