//! The U-Net's 3x3 convolution, with a bias gradient of our own on the GPU.
//!
//! burn computes a convolution's bias gradient by copying the output gradient with its batch and
//! channel axes swapped, then reducing it: two GPU dispatches per convolution. Here it is one
//! kernel ([`gpu`], written in cubecl, which compiles it to WGSL in the browser): a workgroup per
//! output channel sums that channel's gradient over the batch and the pixels,
//!
//!   dBias[o] = sum over b, y, x of dOut[b, o, y, x].
//!
//! The forward pass, the input gradient and the weight gradient stay burn's. A weight gradient of
//! our own was written and measured too (one workgroup per pair of channels summing all k x k
//! taps; within 1e-5 of burn's): a denoiser step was 169 dispatches with it and is 233 without, but
//! the step took 2.2 times as long on SwiftShader as with burn's weight gradient, whose direct convolution
//! reads four channels at a time; docs/performance.md says what it would take.
//!
//! The operation is a burn backend extension: the CPU backend (Flex) computes both gradients with
//! burn's own convolution backward, the GPU backends with burn's weight gradient and the kernel
//! (natively on wgpu, in the browser through burn's fusion stream, where it runs as an opaque
//! operation).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn_cubecl::CubeBackend;

/// A 2-D convolution (one group, no dilation, square stride and padding), differentiable, whose
/// weight and bias gradients are [`ConvGrads::conv_grads`]'s.
#[backend_extension(Autodiff, Flex, Cube, Fusion: cfg(target_arch = "wasm32"))]
pub trait ConvGrads: Backend {
    /// The convolution itself: burn's.
    #[fusion(default)]
    fn conv_with_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options(stride, padding))
    }

    /// dW [out, in, k, k] and dBias [out] from the input `x` [b, in, h, w] and the output's
    /// gradient `grad` [b, out, h', w'] of a k x k convolution.
    #[fusion(meta = fusion_meta::gradient_specs)]
    fn conv_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// What burn's fusion stream needs to queue the gradients before they are computed: their shapes
/// and element type.
#[cfg(target_arch = "wasm32")]
mod fusion_meta {
    use burn::backend::fusion::custom::TensorSpec;

    pub fn gradient_specs(
        x: &TensorSpec,
        grad: &TensorSpec,
        kernel: &usize,
        _: &usize,
        _: &usize,
    ) -> (TensorSpec, TensorSpec) {
        (
            TensorSpec::new(super::weight_shape(&x.shape, &grad.shape, kernel), x.dtype),
            TensorSpec::new(burn::tensor::Shape::from([grad.shape[1]]), x.dtype),
        )
    }
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1)
}

/// [out, in, k, k] from x [b, in, ..] and grad [b, out, ..].
fn weight_shape(x: &burn::tensor::Shape, grad: &burn::tensor::Shape, kernel: &usize) -> burn::tensor::Shape {
    burn::tensor::Shape::from([grad[1], x[1], *kernel, *kernel])
}

/// `conv` applied to `x` through [`ConvGrads`]: the same result as `conv.forward(x)` for the
/// U-Net's convolutions (3x3, symmetric explicit padding, one group, no dilation).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [k, _] = conv.kernel_size;
    let padding = match conv.padding {
        burn::nn::PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && top == bottom && top == right =>
        {
            top
        }
        ref other => panic!("conv::forward: padding {other:?} is not the U-Net's"),
    };
    debug_assert!(conv.stride[0] == conv.stride[1] && conv.groups == 1 && conv.dilation == [1, 1]);
    debug_assert_eq!(conv.kernel_size, [k, k]);
    let bias = conv.bias.as_ref().expect("the U-Net's convolutions have a bias").val();
    Tensor::from_dispatch(<Dispatch as ConvGrads>::conv_with_grads(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        conv.stride[0],
        padding,
    ))
}

/// On the CPU: burn's own convolution backward.
impl ConvGrads for Flex {
    fn conv_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (device, dtype) = (x.device(), x.dtype().into());
        let weight = Self::float_zeros(weight_shape(&x.shape(), &grad.shape(), &kernel), &device, dtype);
        let bias = Self::float_zeros(burn::tensor::Shape::from([grad.shape()[1]]), &device, dtype);
        let db = Self::conv2d_bias_backward(x.clone(), bias, grad.clone());
        (Self::conv2d_weight_backward(x, weight, grad, options(stride, padding)), db)
    }
}

impl ConvGrads for CubeBackend {
    fn conv_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::gradients(x, grad, kernel, options(stride, padding))
    }
}

impl<B: Backend + ConvGrads, C: CheckpointStrategy> ConvGrads for Autodiff<B, C> {
    fn conv_with_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl<B: Backend + ConvGrads> Backward<B, 3> for ConvBackward {
            /// The input and the weight, stride and padding.
            type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, stride, padding) = ops.state;
                let kernel = weight.shape()[2];
                if let Some(node) = node_x {
                    let dx = B::conv2d_x_backward(x.clone(), weight, grad.clone(), options(stride, padding));
                    grads.register::<B>(node.id, dx);
                }
                if node_weight.is_some() || node_bias.is_some() {
                    let (dw, db) = B::conv_grads(x, grad, kernel, stride, padding);
                    if let Some(node) = node_weight {
                        grads.register::<B>(node.id, dw);
                    }
                    if let Some(node) = node_bias {
                        grads.register::<B>(node.id, db);
                    }
                }
            }
        }

        match ConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let out =
                    B::conv_with_grads(x.clone(), weight.clone(), bias.into_primitive(), stride, padding);
                prep.finish((x, weight, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_with_grads(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                stride,
                padding,
            )),
        }
    }

    fn conv_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Not differentiated (a gradient's gradient is never taken here): computed on the inner
        // backend and handed back as constants.
        let (dw, db) = B::conv_grads(x.into_primitive(), grad.into_primitive(), kernel, stride, padding);
        (Self::from_inner(dw), Self::from_inner(db))
    }
}

/// The kernel, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
mod gpu {
    use burn::backend::ops::ConvOptions;
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    /// Threads per workgroup: each sums a strided share of the batch's output pixels, then the
    /// workgroup adds the shares in shared memory.
    const THREADS: usize = 64;

    /// One workgroup per output channel o (`CUBE_POS_Y`): the sum of o's output gradient over the
    /// batch and the pixels, the bias's gradient.
    #[cube(launch)]
    fn bias_grad_kernel<F: Float>(
        grad: &Tensor<F>,
        db: &mut Tensor<F>,
        #[comptime] threads: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let ho = grad.shape(2);
        let wo = grad.shape(3);
        let pixels = ho * wo;
        let n = grad.shape(0) * pixels;
        let o = CUBE_POS_Y as usize;
        let u = UNIT_POS_X as usize;

        let mut acc = F::new(0.0);
        let mut p = u;
        while p < n {
            let b = p / pixels;
            let r = p % pixels;
            acc += grad[b * grad.stride(0)
                + o * grad.stride(1)
                + (r / wo) * grad.stride(2)
                + (r % wo) * grad.stride(3)];
            p += threads;
        }
        let mut partial = Shared::<[F]>::new_slice(threads);
        partial[u] = acc;
        sum_threads::<F>(&mut partial);
        if u == 0 {
            db[o] = read::<F>(&mut partial, 0);
        }
    }

    /// The workgroup's values summed into the first (a power of two of them): log2 halvings.
    /// Shared memory is read through `#[cube]` functions: cubecl 0.11 rejects some reads of a
    /// local shared array in a kernel's body.
    #[cube]
    fn sum_threads<F: Float>(shared: &mut Shared<[F]>) {
        sync_cube();
        let u = UNIT_POS_X as usize;
        let mut active = CUBE_DIM_X as usize;
        while active > 1 {
            active /= 2;
            if u < active {
                let other = shared[u + active];
                shared[u] += other;
            }
            sync_cube();
        }
    }

    #[cube]
    fn read<F: Float>(shared: &mut Shared<[F]>, at: usize) -> F {
        shared[at]
    }

    /// dW by burn-cubecl's convolution backward, dBias by [`bias_grad_kernel`].
    pub(super) fn gradients(
        x: CubeTensor,
        grad: CubeTensor,
        kernel: usize,
        options: ConvOptions<2>,
    ) -> (CubeTensor, CubeTensor) {
        let (cin, cout) = (x.meta.shape()[1], grad.meta.shape()[1]);
        let client = grad.client.clone();
        let dtype = grad.dtype;
        let db = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            client.clone(),
            grad.device.clone(),
            burn::tensor::Shape::from([cout]),
            dtype,
        );
        bias_grad_kernel::launch(
            &client,
            CubeCount::Static(1, cout as u32, 1),
            CubeDim::new_1d(THREADS as u32),
            grad.clone().into_tensor_arg(),
            db.clone().into_tensor_arg(),
            THREADS,
            burn::backend::cubecl::dtype_to_storage_type(dtype),
        );
        let shape = burn::tensor::Shape::from([cout, cin, kernel, kernel]);
        let dw =
            burn_cubecl::kernel::conv::conv_weight_backward::<2>(x, grad, shape, options, Default::default())
                .expect("burn-cubecl's convolution weight gradient");
        (dw, db)
    }
}
