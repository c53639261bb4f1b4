//! The denoiser's per-sample loss, ||y - yhat||² / (H W) for each sample (quiz eq. (1)), as one GPU
//! kernel forward.
//!
//! Written with burn's operations (the difference, its square, a mean over each sample's pixels)
//! it was 5 kernels forward and 4 backward (bench/gpu-count.mjs). Here the forward is one
//! workgroup per sample summing its squared differences in shared memory, and the backward, with
//! g the per-sample losses' gradient,
//!
//!   d yhat[b, ..] = g[b] 2 (yhat[b, ..] - y[b, ..]) / (H W),   d y = -d yhat,
//!
//! is another kernel of ours. Written with burn's element-wise operations it trained wrongly in
//! the browser, most likely by the misread of yhat's one-channel strides that `channels_last` in
//! src/model/conv.rs now avoids (found later the same day); the kernel also writes the gradient
//! where the transposed convolution reads it without a copy.
//!
//! A burn backend extension: the CPU backend (Flex) runs the definition (the trait's body), the
//! GPU backends the kernel (in the browser as an opaque operation of burn's fusion stream), and
//! in training (autodiff) [`SquaredErrorBackward`] is the node of the graph.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn_cubecl::CubeBackend;

#[backend_extension(Autodiff, Flex, Cube, Fusion: cfg(target_arch = "wasm32"))]
pub trait SquaredError: Backend {
    /// [b]: the mean over each sample's values of (y - yhat)², for y and yhat [b, c, h, w].
    #[fusion(meta = fusion_meta::spec)]
    fn mean_squared_error(y: FloatTensor<Self>, yhat: FloatTensor<Self>) -> FloatTensor<Self> {
        let [b, c, h, w] = y.shape().dims();
        let d = Self::float_sub(y, yhat);
        let sq =
            Self::float_reshape(Self::float_mul(d.clone(), d), burn::tensor::Shape::from([b, c * h * w]));
        Self::float_reshape(Self::float_mean_dim(sq, 1), burn::tensor::Shape::from([b]))
    }

    /// yhat's gradient, g[b] 2 (yhat - y) / (C H W), from the per-sample losses' gradient `g`
    /// [b] (y's is its negative).
    #[fusion(meta = fusion_meta::grad_spec)]
    fn mean_squared_error_grad(
        y: FloatTensor<Self>,
        yhat: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [b, c, h, w] = y.shape().dims();
        let scale = 2.0 / (c * h * w) as f64;
        let g = Self::float_reshape(
            Self::float_mul_scalar(g, scale.into()),
            burn::tensor::Shape::from([b, 1, 1, 1]),
        );
        Self::float_mul(Self::float_sub(yhat, y), g)
    }
}

#[cfg(target_arch = "wasm32")]
mod fusion_meta {
    use burn::backend::fusion::custom::TensorSpec;

    pub fn spec(y: &TensorSpec, _: &TensorSpec) -> TensorSpec {
        TensorSpec::new(burn::tensor::Shape::from([y.shape[0]]), y.dtype)
    }

    pub fn grad_spec(y: &TensorSpec, _: &TensorSpec, _: &TensorSpec) -> TensorSpec {
        y.clone()
    }
}

/// ||y - yhat||² / (C H W) per sample, [b] ([`SquaredError::mean_squared_error`]).
pub fn per_sample(y: Tensor<4>, yhat: Tensor<4>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SquaredError>::mean_squared_error(
        y.into_dispatch(),
        yhat.into_dispatch(),
    ))
}

impl SquaredError for Flex {}

impl SquaredError for CubeBackend {
    fn mean_squared_error(y: FloatTensor<Self>, yhat: FloatTensor<Self>) -> FloatTensor<Self> {
        gpu::mean_squared_error(y, yhat)
    }

    fn mean_squared_error_grad(
        y: FloatTensor<Self>,
        yhat: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        gpu::mean_squared_error_grad(y, yhat, g)
    }
}

/// The per-sample losses' node in training: the parents are y and yhat.
#[derive(Debug)]
struct SquaredErrorBackward;

impl<B: SquaredError> Backward<B, 2> for SquaredErrorBackward {
    /// y and yhat.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_y, node_yhat] = ops.parents.map(|p| p.map(|n| n.id));
        let g = grads.consume::<B>(&ops.node);
        let (y, yhat) = ops.state;
        let d_yhat = B::mean_squared_error_grad(y, yhat, g);
        if let Some(node) = node_y {
            grads.register::<B>(node, B::float_neg(d_yhat.clone()));
        }
        if let Some(node) = node_yhat {
            grads.register::<B>(node, d_yhat);
        }
    }
}

impl<B: Backend + SquaredError, C: CheckpointStrategy> SquaredError for Autodiff<B, C> {
    fn mean_squared_error(y: FloatTensor<Self>, yhat: FloatTensor<Self>) -> FloatTensor<Self> {
        let parents = [y.node(), yhat.node()];
        let [y, yhat] = [y, yhat].map(|t| t.into_primitive());
        match SquaredErrorBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let loss = B::mean_squared_error(y.clone(), yhat.clone());
                prep.finish((y, yhat), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::mean_squared_error(y, yhat)),
        }
    }

    fn mean_squared_error_grad(
        y: FloatTensor<Self>,
        yhat: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // Not differentiated (a gradient's gradient is never taken here).
        let [y, yhat, g] = [y, yhat, g].map(|t| t.into_primitive());
        Self::from_inner(B::mean_squared_error_grad(y, yhat, g))
    }
}

/// The kernel, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
mod gpu {
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    use crate::model::conv::gpu::read;

    /// Threads per workgroup (a power of two: the sums are halved in shared memory).
    const THREADS: usize = 64;

    /// Workgroup b: out[b] = the mean over sample b's values of (y - yhat)². Thread u sums the
    /// values u, u + THREADS, ...; the threads' sums are then halved in shared memory.
    #[cube(launch_unchecked)]
    fn mse_kernel<F: Float>(
        y: &Tensor<F>,
        yhat: &Tensor<F>,
        out: &mut Tensor<F>,
        #[comptime] c: usize,
        #[comptime] h: usize,
        #[comptime] w: usize,
        #[comptime] ys: [usize; 4],
        #[comptime] hs: [usize; 4],
        #[define(F)] _dtype: ElemType,
    ) {
        let b = CUBE_POS_X as usize;
        let u = UNIT_POS_X as usize;
        let mut sum = F::new(0.0);
        let mut i = u;
        while i < comptime!(c * h * w) {
            let (ch, p) = (i / comptime!(h * w), i % comptime!(h * w));
            let (py, px) = (p / w, p % w);
            let d = y[b * ys[0] + ch * ys[1] + py * ys[2] + px * ys[3]]
                - yhat[b * hs[0] + ch * hs[1] + py * hs[2] + px * hs[3]];
            sum += d * d;
            i += THREADS;
        }
        let mut partial = Shared::<[F]>::new_slice(THREADS);
        partial[u] = sum;
        sync_cube();
        let mut active = CUBE_DIM_X as usize / 2;
        while active > 0 {
            if u < active {
                let other = read::<F>(&mut partial, u + active);
                partial[u] += other;
            }
            sync_cube();
            active /= 2;
        }
        if u == 0 {
            out[b] = read::<F>(&mut partial, 0) / F::cast_from(comptime!((c * h * w) as u32));
        }
    }

    /// out[b, ..] = g[b] 2 (yhat[b, ..] - y[b, ..]) / (c h w), written channels-last (as the
    /// U-Net's blocks write theirs, the layout burn's transposed convolution reads without a
    /// copy); a thread per value. g is read through its stride (the gradient of a mean is a
    /// broadcast, stride 0).
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn mse_grad_kernel<F: Float>(
        y: &Tensor<F>,
        yhat: &Tensor<F>,
        g: &Tensor<F>,
        out: &mut Tensor<F>,
        #[comptime] c: usize,
        #[comptime] h: usize,
        #[comptime] w: usize,
        #[comptime] ys: [usize; 4],
        #[comptime] hs: [usize; 4],
        #[define(F)] _dtype: ElemType,
    ) {
        let i = ABSOLUTE_POS_X as usize;
        if i < out.len() {
            let b = i / comptime!(c * h * w);
            let r = i % comptime!(c * h * w);
            let (p, ch) = (r / c, r % c);
            let (py, px) = (p / w, p % w);
            let d = yhat[b * hs[0] + ch * hs[1] + py * hs[2] + px * hs[3]]
                - y[b * ys[0] + ch * ys[1] + py * ys[2] + px * ys[3]];
            out[i] = g[b * g.stride(0)] * d * F::new(2.0) / F::cast_from(comptime!((c * h * w) as u32));
        }
    }

    pub(super) fn mean_squared_error_grad(y: CubeTensor, yhat: CubeTensor, g: CubeTensor) -> CubeTensor {
        let [b, c, h, w]: [usize; 4] = y.meta.shape().dims();
        let memory = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            y.client.clone(),
            y.device.clone(),
            burn::tensor::Shape::from([b, h, w, c]),
            y.dtype,
        );
        let out = CubeTensor::new(
            memory.client.clone(),
            memory.handle.clone(),
            burn_std::Metadata::new(burn::tensor::Shape::from([b, c, h, w]), [h * w * c, 1, w * c, c]),
            memory.device.clone(),
            memory.dtype,
        );
        let (ys, hs) = (strides(&y), strides(&yhat));
        let (client, dtype) = (y.client.clone(), y.dtype);
        // SAFETY: thread i < b c h w reads value i of y and yhat (through their strides) and g[b],
        // and writes out[i].
        unsafe {
            mse_grad_kernel::launch_unchecked(
                &client,
                CubeCount::Static((b * c * h * w).div_ceil(THREADS) as u32, 1, 1),
                CubeDim::new_1d(THREADS as u32),
                y.into_tensor_arg(),
                yhat.into_tensor_arg(),
                g.into_tensor_arg(),
                memory.into_tensor_arg(),
                c,
                h,
                w,
                ys,
                hs,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        out
    }

    fn strides(t: &CubeTensor) -> [usize; 4] {
        let s = t.meta.strides();
        [s[0], s[1], s[2], s[3]]
    }

    pub(super) fn mean_squared_error(y: CubeTensor, yhat: CubeTensor) -> CubeTensor {
        let [b, c, h, w]: [usize; 4] = y.meta.shape().dims();
        let out = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            y.client.clone(),
            y.device.clone(),
            burn::tensor::Shape::from([b]),
            y.dtype,
        );
        let (ys, hs) = (strides(&y), strides(&yhat));
        let (client, dtype) = (y.client.clone(), y.dtype);
        // SAFETY: workgroup b reads sample b of y and yhat inside their shapes and writes out[b].
        unsafe {
            mse_kernel::launch_unchecked(
                &client,
                CubeCount::Static(b as u32, 1, 1),
                CubeDim::new_1d(THREADS as u32),
                y.into_tensor_arg(),
                yhat.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                c,
                h,
                w,
                ys,
                hs,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        out
    }
}
