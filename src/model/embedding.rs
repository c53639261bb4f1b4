//! The level embedding, e = W2 silu(W1 f + b1) + b2 (two Linears with a SiLU between), as one GPU
//! kernel forward and two backward.
//!
//! Written with burn's operations it was 5 kernels forward (two matmuls, the bias adds and the
//! SiLU) and 7 backward (three matmuls, two reductions, the SiLU's derivative) for a few thousand
//! multiply-adds: each kernel's launch costs more than its arithmetic. Here, with f [b, n] (the
//! level's features, a constant: no gradient flows to it), W1 [n, d], W2 [d, d] (burn's `Linear`
//! keeps its weight as [in, out]) and a = f W1 + b1:
//!
//!   forward:  a, then e = silu(a) W2 + b2, one workgroup per sample (silu(a) kept in shared memory);
//!   backward: da = (de W2ᵀ) silu'(a), dW2 = silu(a)ᵀ de, db2 = sum over b of de (one kernel),
//!             dW1 = fᵀ da, db1 = sum over b of da (another, as it needs da).
//!
//! A burn backend extension: the CPU backend (Flex) runs the definitions (the trait's bodies), the
//! GPU backends the kernels (in the browser as opaque operations of burn's fusion stream), and in
//! training (autodiff) [`EmbedBackward`] is the node of the graph.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;
use burn_cubecl::CubeBackend;

use super::conv::{silu_backward, silu_of};

#[backend_extension(Autodiff, Flex, Cube, Fusion: cfg(target_arch = "wasm32"))]
pub trait Embed: Backend {
    /// (a, e) with a = f W1 + b1 and e = silu(a) W2 + b2, for f [b, n], W1 [n, d], b1 [d],
    /// W2 [d, d], b2 [d]: the definition, which the CPU backend runs.
    #[fusion(meta = fusion_meta::forward_specs)]
    fn embed(
        f: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let a = linear::<Self>(f, w1, b1);
        let e = linear::<Self>(silu_of::<Self>(a.clone()), w2, b2);
        (a, e)
    }

    /// (dW1, db1, dW2, db2) from e's gradient `de` [b, d], f, W2 and a: the definition.
    #[fusion(meta = fusion_meta::gradient_specs)]
    fn embed_grads(
        f: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        a: FloatTensor<Self>,
        de: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let h = silu_of::<Self>(a.clone());
        let dw2 = Self::float_matmul(Self::float_transpose(h), de.clone());
        let db2 = column_sums::<Self>(de.clone());
        let dh = Self::float_matmul(de, Self::float_transpose(w2));
        let da = silu_backward::<Self>(a, dh);
        let dw1 = Self::float_matmul(Self::float_transpose(f), da.clone());
        (dw1, column_sums::<Self>(da), dw2, db2)
    }
}

/// x W + b, x [b, n], W [n, d], b [d].
fn linear<B: Backend>(x: FloatTensor<B>, w: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let d = b.shape()[0];
    B::float_add(B::float_matmul(x, w), B::float_reshape(b, burn::tensor::Shape::from([1, d])))
}

/// [b, d] summed over b, as [d].
fn column_sums<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let d = x.shape()[1];
    B::float_reshape(B::float_sum_dim(x, 0), burn::tensor::Shape::from([d]))
}

#[cfg(target_arch = "wasm32")]
mod fusion_meta {
    use burn::backend::fusion::custom::TensorSpec;

    /// a and e, [b, d].
    pub fn forward_specs(
        f: &TensorSpec,
        _: &TensorSpec,
        b1: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
    ) -> (TensorSpec, TensorSpec) {
        let spec = TensorSpec::new(burn::tensor::Shape::from([f.shape[0], b1.shape[0]]), f.dtype);
        (spec.clone(), spec)
    }

    /// The parameters' shapes: W1 [n, d], b1 [d], W2 [d, d], b2 [d].
    pub fn gradient_specs(
        f: &TensorSpec,
        _: &TensorSpec,
        a: &TensorSpec,
        _: &TensorSpec,
    ) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
        let [n, d] = [f.shape[1], a.shape[1]];
        let spec = |dims: Vec<usize>| TensorSpec::new(burn::tensor::Shape::from(dims), f.dtype);
        (spec(vec![n, d]), spec(vec![d]), spec(vec![d, d]), spec(vec![d]))
    }
}

/// e = fc2(silu(fc1(f))) for the level features `f` [b, n] (a constant: no gradient flows to it).
pub fn forward(fc1: &Linear, fc2: &Linear, f: Tensor<2>) -> Tensor<2> {
    let bias =
        |l: &Linear| l.bias.as_ref().expect("the embedding's Linears have a bias").val().into_dispatch();
    let (_, e) = <Dispatch as Embed>::embed(
        f.into_dispatch(),
        fc1.weight.val().into_dispatch(),
        bias(fc1),
        fc2.weight.val().into_dispatch(),
        bias(fc2),
    );
    Tensor::from_dispatch(e)
}

impl Embed for Flex {}

impl Embed for CubeBackend {
    fn embed(
        f: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::forward(f, w1, b1, w2, b2)
    }

    fn embed_grads(
        f: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        a: FloatTensor<Self>,
        de: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        gpu::gradients(f, w2, a, de)
    }
}

/// e's node in training: the parents are W1, b1, W2 and b2.
#[derive(Debug)]
struct EmbedBackward;

impl<B: Embed> Backward<B, 4> for EmbedBackward {
    /// f, W2 and a.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let de = grads.consume::<B>(&ops.node);
        let (f, w2, a) = ops.state;
        let (dw1, db1, dw2, db2) = B::embed_grads(f, w2, a, de);
        for (parent, grad) in ops.parents.into_iter().zip([dw1, db1, dw2, db2]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + Embed, C: CheckpointStrategy> Embed for Autodiff<B, C> {
    fn embed(
        f: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let parents = [w1.node(), b1.node(), w2.node(), b2.node()];
        let [f, w1, b1, w2, b2] = [f, w1, b1, w2, b2].map(|t| t.into_primitive());
        // a is handed back as a constant: it is e's node's state, not differentiated further.
        match EmbedBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (a, e) = B::embed(f.clone(), w1, b1, w2.clone(), b2);
                (Self::from_inner(a.clone()), prep.finish((f, w2, a), e))
            }
            OpsKind::UnTracked(prep) => {
                let (a, e) = B::embed(f, w1, b1, w2, b2);
                (Self::from_inner(a), prep.finish(e))
            }
        }
    }

    fn embed_grads(
        f: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        a: FloatTensor<Self>,
        de: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // Not differentiated (a gradient's gradient is never taken here).
        let [f, w2, a, de] = [f, w2, a, de].map(|t| t.into_primitive());
        let (dw1, db1, dw2, db2) = B::embed_grads(f, w2, a, de);
        (Self::from_inner(dw1), Self::from_inner(db1), Self::from_inner(dw2), Self::from_inner(db2))
    }
}

/// The kernels, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
mod gpu {
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    use crate::model::conv::gpu::{read, silu, silu_slope};

    /// Threads per workgroup.
    const THREADS: usize = 64;

    /// Workgroup b: a[b, k] = b1[k] + sum over i of f[b, i] W1[i, k] for every k (threads take k
    /// in turn), silu(a[b]) into shared memory, then e[b, j] = b2[j] + sum over k of silu(a[b, k])
    /// W2[k, j]. a and e are written contiguous [b, d]. The loops' lengths are read at run time
    /// (as constants a shader compiler may unroll them whole).
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn forward_kernel<F: Float>(
        f: &Tensor<F>,
        w1: &Tensor<F>,
        b1: &Tensor<F>,
        w2: &Tensor<F>,
        b2: &Tensor<F>,
        a: &mut Tensor<F>,
        e: &mut Tensor<F>,
        #[comptime] d: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let b = CUBE_POS_X as usize;
        let u = UNIT_POS_X as usize;
        let mut h = Shared::<[F]>::new_slice(d);
        let mut k = u;
        while k < d {
            let mut sum = b1[k * b1.stride(0)];
            for i in 0..f.shape(1) {
                sum += f[b * f.stride(0) + i * f.stride(1)] * w1[i * w1.stride(0) + k * w1.stride(1)];
            }
            a[b * d + k] = sum;
            h[k] = silu::<F>(sum);
            k += THREADS;
        }
        sync_cube();
        let mut j = u;
        while j < d {
            let mut sum = b2[j * b2.stride(0)];
            for k in 0..w2.shape(0) {
                sum += read::<F>(&mut h, k) * w2[k * w2.stride(0) + j * w2.stride(1)];
            }
            e[b * d + j] = sum;
            j += THREADS;
        }
    }

    /// Thread p of `batch * d + d * d + d`: below `batch * d`, da[b, k] = silu'(a[b, k]) sum over j
    /// of de[b, j] W2[k, j]; then dW2[k, j] = sum over b of silu(a[b, k]) de[b, j]; then db2[j] =
    /// sum over b of de[b, j]. a is contiguous [b, d], da, dW2 and db2 are written contiguous.
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn backward_kernel<F: Float>(
        de: &Tensor<F>,
        w2: &Tensor<F>,
        a: &Tensor<F>,
        da: &mut Tensor<F>,
        dw2: &mut Tensor<F>,
        db2: &mut Tensor<F>,
        #[comptime] d: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let p = ABSOLUTE_POS_X as usize;
        let batch = a.shape(0);
        let (ds0, ds1) = (de.stride(0), de.stride(1));
        if p < batch * d {
            let (b, k) = (p / d, p % d);
            let mut sum = F::new(0.0);
            for j in 0..w2.shape(1) {
                sum += de[b * ds0 + j * ds1] * w2[k * w2.stride(0) + j * w2.stride(1)];
            }
            da[p] = sum * silu_slope::<F>(a[p]);
        } else if p < batch * d + d * d {
            let q = p - batch * d;
            let (k, j) = (q / d, q % d);
            let mut sum = F::new(0.0);
            for b in 0..batch {
                sum += silu::<F>(a[b * d + k]) * de[b * ds0 + j * ds1];
            }
            dw2[q] = sum;
        } else if p < batch * d + d * d + d {
            let j = p - batch * d - d * d;
            let mut sum = F::new(0.0);
            for b in 0..batch {
                sum += de[b * ds0 + j * ds1];
            }
            db2[j] = sum;
        }
    }

    /// Thread p of `n * d + d`: below `n * d`, dW1[i, k] = sum over b of f[b, i] da[b, k]; then
    /// db1[k] = sum over b of da[b, k]. da is contiguous [b, d]; dW1 and db1 are written so.
    #[cube(launch_unchecked)]
    fn weight1_kernel<F: Float>(
        f: &Tensor<F>,
        da: &Tensor<F>,
        dw1: &mut Tensor<F>,
        db1: &mut Tensor<F>,
        #[comptime] d: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let p = ABSOLUTE_POS_X as usize;
        let (batch, n) = (f.shape(0), f.shape(1));
        if p < n * d {
            let (i, k) = (p / d, p % d);
            let mut sum = F::new(0.0);
            for b in 0..batch {
                sum += f[b * f.stride(0) + i * f.stride(1)] * da[b * d + k];
            }
            dw1[p] = sum;
        } else if p < n * d + d {
            let k = p - n * d;
            let mut sum = F::new(0.0);
            for b in 0..batch {
                sum += da[b * d + k];
            }
            db1[k] = sum;
        }
    }

    fn empty(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
        burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            like.client.clone(),
            like.device.clone(),
            burn::tensor::Shape::from(shape),
            like.dtype,
        )
    }

    fn groups(threads: usize) -> CubeCount {
        CubeCount::Static(threads.div_ceil(THREADS) as u32, 1, 1)
    }

    pub(super) fn forward(
        f: CubeTensor,
        w1: CubeTensor,
        b1: CubeTensor,
        w2: CubeTensor,
        b2: CubeTensor,
    ) -> (CubeTensor, CubeTensor) {
        let (batch, d) = (f.meta.shape()[0], b1.meta.shape()[0]);
        let (a, e) = (empty(&f, vec![batch, d]), empty(&f, vec![batch, d]));
        let (client, dtype) = (f.client.clone(), f.dtype);
        // SAFETY: workgroup b reads row b of f, the weights and biases inside their shapes, and
        // writes row b of a and e.
        unsafe {
            forward_kernel::launch_unchecked(
                &client,
                CubeCount::Static(batch as u32, 1, 1),
                CubeDim::new_1d(THREADS as u32),
                f.into_tensor_arg(),
                w1.into_tensor_arg(),
                b1.into_tensor_arg(),
                w2.into_tensor_arg(),
                b2.into_tensor_arg(),
                a.clone().into_tensor_arg(),
                e.clone().into_tensor_arg(),
                d,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        (a, e)
    }

    pub(super) fn gradients(
        f: CubeTensor,
        w2: CubeTensor,
        a: CubeTensor,
        de: CubeTensor,
    ) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
        let [batch, n, d] = [f.meta.shape()[0], f.meta.shape()[1], a.meta.shape()[1]];
        let da = empty(&f, vec![batch, d]);
        let (dw1, db1, dw2, db2) =
            (empty(&f, vec![n, d]), empty(&f, vec![d]), empty(&f, vec![d, d]), empty(&f, vec![d]));
        let (client, dtype) = (f.client.clone(), burn::backend::cubecl::dtype_to_storage_type(f.dtype));
        // SAFETY: each thread reads inside the shapes of its inputs (a and da contiguous [b, d])
        // and writes one value of one output, inside its shape.
        unsafe {
            backward_kernel::launch_unchecked(
                &client,
                groups(batch * d + d * d + d),
                CubeDim::new_1d(THREADS as u32),
                de.into_tensor_arg(),
                w2.into_tensor_arg(),
                a.into_tensor_arg(),
                da.clone().into_tensor_arg(),
                dw2.clone().into_tensor_arg(),
                db2.clone().into_tensor_arg(),
                d,
                dtype,
            );
            weight1_kernel::launch_unchecked(
                &client,
                groups(n * d + d),
                CubeDim::new_1d(THREADS as u32),
                f.into_tensor_arg(),
                da.into_tensor_arg(),
                dw1.clone().into_tensor_arg(),
                db1.clone().into_tensor_arg(),
                d,
                dtype,
            );
        }
        (dw1, db1, dw2, db2)
    }
}
