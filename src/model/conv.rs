//! The U-Net's 3x3 convolution, with a weight and bias gradient of our own on the GPU.
//!
//! burn-cubecl computes a convolution's weight gradient on WebGPU by a generic fallback: it copies
//! the input and the output gradient with their batch and channel axes swapped, convolves one by
//! the other and slices the result, several GPU dispatches per convolution. Here the weight
//! gradient is one kernel ([`weight_grad_kernel`], written in cubecl, which compiles it to WGSL in
//! the browser): one workgroup per weight, its threads summing over the batch and the output
//! pixels,
//!
//!   dW[o, i, kh, kw] = sum over b, y, x of  dOut[b, o, y, x] * In[b, i, y s + kh - p, x s + kw - p],
//!
//! written channels-last (W[o, kh, kw, i]), the order the optimiser's flat buffer keeps a weight in
//! (src/optim.rs), so the gradient is gathered there without a copy. One more workgroup per output
//! channel sums its output gradient, the bias's gradient (burn's copies the gradient with its axes
//! swapped, then reduces it: two dispatches).
//!
//! The forward pass and the input gradient stay burn's. The operation is a burn
//! backend extension: the CPU backend (Flex) computes the weight gradient with burn's own
//! convolution backward, the GPU backends with the kernel (natively on wgpu, in the browser
//! through burn's fusion stream, where it runs as an opaque operation).

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
/// weight gradient is [`ConvWeightGrad::conv_weight_grad`].
#[backend_extension(Autodiff, Flex, Cube, Fusion: cfg(target_arch = "wasm32"))]
pub trait ConvWeightGrad: Backend {
    /// The convolution itself: burn's.
    #[fusion(default)]
    fn conv_own_grad(
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
    fn conv_weight_grad(
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

/// `conv` applied to `x` through [`ConvWeightGrad`]: the same result as `conv.forward(x)` for the
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
    Tensor::from_dispatch(<Dispatch as ConvWeightGrad>::conv_own_grad(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        conv.stride[0],
        padding,
    ))
}

/// On the CPU: burn's own convolution backward.
impl ConvWeightGrad for Flex {
    fn conv_weight_grad(
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

impl ConvWeightGrad for CubeBackend {
    fn conv_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::weight_grad(x, grad, kernel, stride, padding)
    }
}

impl<B: Backend + ConvWeightGrad, C: CheckpointStrategy> ConvWeightGrad for Autodiff<B, C> {
    fn conv_own_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl<B: Backend + ConvWeightGrad> Backward<B, 3> for ConvBackward {
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
                    let (dw, db) = B::conv_weight_grad(x, grad, kernel, stride, padding);
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
                let out = B::conv_own_grad(x.clone(), weight.clone(), bias.into_primitive(), stride, padding);
                prep.finish((x, weight, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_own_grad(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                stride,
                padding,
            )),
        }
    }

    fn conv_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Not differentiated (a gradient's gradient is never taken here): computed on the inner
        // backend and handed back as constants.
        let (dw, db) =
            B::conv_weight_grad(x.into_primitive(), grad.into_primitive(), kernel, stride, padding);
        (Self::from_inner(dw), Self::from_inner(db))
    }
}

/// The kernel, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
mod gpu {
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    /// Threads per workgroup: each sums a strided share of the batch's output pixels for one weight,
    /// then the workgroup adds the shares in shared memory.
    const THREADS: usize = 64;

    /// One workgroup per (o, i) pair of channels, `CUBE_POS_Y` = o and `CUBE_POS_X` = i; the last
    /// `CUBE_POS_X` (= in) sums o's output gradient, the bias's gradient. Each thread walks a
    /// contiguous run of the batch's output pixels (no division per pixel) and keeps the k x k
    /// taps' sums in registers, reading each output gradient once for all of them.
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    fn weight_grad_kernel<F: Float>(
        x: &Tensor<F>,
        grad: &Tensor<F>,
        dw: &mut Tensor<F>,
        db: &mut Tensor<F>,
        stride: u32,
        padding: u32,
        #[comptime] kernel: usize,
        #[comptime] taps: usize,
        #[comptime] threads: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let cin = x.shape(1);
        let h = x.shape(2);
        let w = x.shape(3);
        let ho = grad.shape(2);
        let wo = grad.shape(3);
        let pixels = ho * wo;
        let n = grad.shape(0) * pixels;
        let i = CUBE_POS_X as usize;
        let o = CUBE_POS_Y as usize;
        let bias = i == cin;
        let stride = stride as usize;
        let padding = padding as usize;

        // Thread u's sum for tap t lives at t threads + u of the workgroup's shared memory (read
        // and written through `#[cube]` helpers: cubecl 0.11 rejects reading a local shared
        // array in the kernel's body).
        let u = UNIT_POS_X as usize;
        let mut acc = Array::<F>::new(taps);
        #[unroll]
        for t in 0..taps {
            acc[t] = F::new(0.0);
        }

        let chunk = n.div_ceil(threads);
        let start = UNIT_POS_X as usize * chunk;
        let mut end = start + chunk;
        if end > n {
            end = n;
        }
        if start < end {
            let mut b = start / pixels;
            let r = start % pixels;
            let mut y = r / wo;
            let mut xo = r % wo;
            let mut p = start;
            while p < end {
                let g =
                    grad[b * grad.stride(0) + o * grad.stride(1) + y * grad.stride(2) + xo * grad.stride(3)];
                if bias {
                    acc[0] += g;
                } else {
                    let row = b * x.stride(0) + i * x.stride(1);
                    #[unroll]
                    for kh in 0..kernel {
                        // The input pixel under tap (kh, kw), shifted by the padding (unsigned:
                        // in range when y s + kh >= p and y s + kh - p < h).
                        let iy = y * stride + kh;
                        #[unroll]
                        for kw in 0..kernel {
                            let ix = xo * stride + kw;
                            if iy >= padding && ix >= padding && iy - padding < h && ix - padding < w {
                                let v = x[row + (iy - padding) * x.stride(2) + (ix - padding) * x.stride(3)];
                                acc[kh * kernel + kw] += g * v;
                            }
                        }
                    }
                }
                p += 1;
                xo += 1;
                if xo == wo {
                    xo = 0;
                    y += 1;
                    if y == ho {
                        y = 0;
                        b += 1;
                    }
                }
            }
        }

        let mut partial = Shared::<[F]>::new_slice(comptime!(threads * taps));
        #[unroll]
        for t in 0..taps {
            partial[t * threads + u] = acc[t];
        }
        sum_threads::<F>(&mut partial, threads, taps);
        if u == 0 {
            if bias {
                db[o] = read::<F>(&mut partial, 0);
            } else {
                // dW is contiguous [out, k, k, in]: tap t = kh k + kw.
                #[unroll]
                for t in 0..taps {
                    dw[(o * taps + t) * cin + i] = read::<F>(&mut partial, t * threads);
                }
            }
        }
    }

    #[cube]
    fn read<F: Float>(shared: &mut Shared<[F]>, at: usize) -> F {
        shared[at]
    }

    /// Every tap's sum over the workgroup's threads, left at t threads: log2(threads) halvings.
    #[cube]
    fn sum_threads<F: Float>(shared: &mut Shared<[F]>, #[comptime] threads: usize, #[comptime] taps: usize) {
        sync_cube();
        let u = UNIT_POS_X as usize;
        let mut active = CUBE_DIM_X as usize;
        while active > 1 {
            active /= 2;
            if u < active {
                #[unroll]
                for t in 0..taps {
                    let other = shared[t * threads + u + active];
                    shared[t * threads + u] += other;
                }
            }
            sync_cube();
        }
    }

    /// The kernel's launch: dW written channels-last ([out, k, k, in] in memory), returned with the
    /// logical shape [out, in, k, k] as a view of that memory, and dBias.
    pub(super) fn weight_grad(
        x: CubeTensor,
        grad: CubeTensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (CubeTensor, CubeTensor) {
        let (cin, cout) = (x.meta.shape()[1], grad.meta.shape()[1]);
        let client = x.client.clone();
        let dtype = x.dtype;
        let memory = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            client.clone(),
            x.device.clone(),
            burn::tensor::Shape::from([cout, kernel, kernel, cin]),
            dtype,
        );
        let db = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            client.clone(),
            x.device.clone(),
            burn::tensor::Shape::from([cout]),
            dtype,
        );
        let cube_count = CubeCount::Static((cin + 1) as u32, cout as u32, 1);
        weight_grad_kernel::launch(
            &client,
            cube_count,
            CubeDim::new_1d(THREADS as u32),
            x.into_tensor_arg(),
            grad.into_tensor_arg(),
            memory.clone().into_tensor_arg(),
            db.clone().into_tensor_arg(),
            stride as u32,
            padding as u32,
            kernel,
            kernel * kernel,
            THREADS,
            burn::backend::cubecl::dtype_to_storage_type(dtype),
        );
        let strides = [kernel * kernel * cin, 1, kernel * cin, cin];
        let dw = CubeTensor::new(
            client,
            memory.handle,
            burn_std::Metadata::new(burn::tensor::Shape::from([cout, cin, kernel, kernel]), strides),
            memory.device,
            dtype,
        );
        (dw, db)
    }
}
