//! The U-Net's 3x3 convolution, with its weight and bias gradients computed by a kernel of our own
//! on the GPU.
//!
//! burn-cubecl computes a convolution's weight gradient on WebGPU by a generic fallback: it copies
//! the input and the output gradient with their batch and channel axes swapped, convolves one by
//! the other, slices the result when the stride is not 1, and the optimiser then copies it into
//! its channels-last order; its bias gradient is another copy and a reduction. Here both are one
//! kernel ([`gpu`], written in cubecl, which compiles it to WGSL in the browser):
//!
//!   dW[o, i, kh, kw] = sum over b, y, x of dOut[b, o, y, x] * In[b, i, y s + kh - p, x s + kw - p],
//!   dBias[o]         = sum over b, y, x of dOut[b, o, y, x],
//!
//! with dW written channels-last (W[o, kh, kw, i]), the order the optimiser's flat buffer keeps a
//! weight in (src/optim.rs), so it is gathered there without a copy.
//!
//! The forward pass and the input gradient stay burn's. The operation is a burn backend
//! extension: the CPU backend (Flex) computes both gradients with burn's own convolution backward,
//! the GPU backends with the kernel (natively on wgpu, in the browser through burn's fusion
//! stream, where it runs as an opaque operation).

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

    /// Input channels per workgroup: a workgroup's threads come in runs of `LANES` neighbouring
    /// input channels that walk the same pixels (the same loop, the same branches, the same output
    /// gradient read by all), as an emulated GPU's SIMD lanes run them.
    const LANES: usize = 4;
    /// Runs per workgroup: each sums every `SPLITS`-th row of the batch's output, and the
    /// workgroup adds the runs' sums in shared memory.
    const SPLITS: usize = 16;
    const THREADS: usize = LANES * SPLITS;

    /// dW[o, i, kh, kw] = sum over b, y, x of dOut[b, o, y, x] In[b, i, y s + kh - p, x s + kw - p]
    /// and dBias[o] = sum over b, y, x of dOut[b, o, y, x], in one dispatch.
    ///
    /// Workgroup (`CUBE_POS_X`, `CUBE_POS_Y`) = (block of `LANES` input channels, o); thread u has
    /// channel `u % LANES` of the block and run `u / LANES`. A thread walks its rows pixel by pixel,
    /// reads the output gradient once per pixel and keeps the k x k window of input values under
    /// the taps in registers, sliding it by the stride (k - s values kept, s read, per kernel row).
    /// dW is written channels-last (dw[o, kh, kw, i]), the optimiser's order.
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn weight_grad_kernel<F: Float>(
        x: &Tensor<F>,
        grad: &Tensor<F>,
        dw: &mut Tensor<F>,
        db: &mut Tensor<F>,
        #[comptime] batch: usize,
        #[comptime] cin: usize,
        #[comptime] h: usize,
        #[comptime] w: usize,
        #[comptime] ho: usize,
        #[comptime] wo: usize,
        #[comptime] kernel: usize,
        #[comptime] stride: usize,
        #[comptime] padding: usize,
        #[comptime] xs: [usize; 4],
        #[comptime] gs: [usize; 4],
        #[define(F)] _dtype: ElemType,
    ) {
        let u = UNIT_POS_X as usize;
        let lane = u % LANES;
        let run = u / LANES;
        let o = CUBE_POS_Y as usize;
        let i = CUBE_POS_X as usize * LANES + lane;
        // A lane past the last channel computes channel 0's sums and does not write them.
        let ic = select(i < cin, i, 0);
        let taps = comptime!(kernel * kernel);
        let keep = comptime!(kernel - stride);

        let mut acc = Array::<F>::new(taps);
        let mut win = Array::<F>::new(taps);
        #[unroll]
        for t in 0..taps {
            acc[t] = F::new(0.0);
            win[t] = F::new(0.0);
        }
        let mut bias = F::new(0.0);

        let mut r = run;
        while r < comptime!(batch * ho) {
            let b = r / ho;
            let y = r % ho;
            let g_row = b * gs[0] + o * gs[1] + y * gs[2];
            let x_img = b * xs[0] + ic * xs[1];
            // Kernel row kh reads input row y s + kh - p: its offset, and whether it is inside.
            let mut row_at = Sequence::<usize>::new();
            let mut row_in = Sequence::<bool>::new();
            #[unroll]
            for kh in 0..kernel {
                let iy = y * stride + kh; // the row plus the padding
                let inside = iy >= padding && iy < h + padding;
                row_in.push(inside);
                row_at.push(x_img + select(inside, iy - padding, 0) * xs[2]);
                // The window before the first pixel: its last k - s columns, -p .. k - s - p.
                #[unroll]
                for c in 0..keep {
                    if comptime!(c >= padding && c < w + padding) {
                        let v = x[*row_at.index(kh) + comptime!(c - padding) * xs[3]];
                        win[kh * kernel + c + stride] = select(inside, v, F::new(0.0));
                    } else {
                        win[kh * kernel + c + stride] = F::new(0.0);
                    }
                }
            }
            for xo in 0..wo {
                let g = grad[g_row + xo * gs[3]];
                bias += g;
                #[unroll]
                for kh in 0..kernel {
                    #[unroll]
                    for c in 0..keep {
                        win[kh * kernel + c] = win[kh * kernel + c + stride];
                    }
                    #[unroll]
                    for c in keep..kernel {
                        let ix = xo * stride + c; // the column plus the padding
                        let ok = *row_in.index(kh) && ix >= padding && ix < w + padding;
                        let v = x[*row_at.index(kh) + select(ok, ix - padding, 0) * xs[3]];
                        win[kh * kernel + c] = select(ok, v, F::new(0.0));
                    }
                    #[unroll]
                    for kw in 0..kernel {
                        acc[kh * kernel + kw] += g * win[kh * kernel + kw];
                    }
                }
            }
            r += SPLITS;
        }

        // The runs' sums added in shared memory: value t of thread u at t THREADS + u.
        let mut partial = Shared::<[F]>::new_slice(comptime!((taps + 1) * THREADS));
        #[unroll]
        for t in 0..taps {
            partial[t * THREADS + u] = acc[t];
        }
        partial[taps * THREADS + u] = bias;
        sum_runs::<F>(&mut partial, comptime!(taps + 1));
        if run == 0 && i < cin {
            #[unroll]
            for t in 0..taps {
                dw[(o * taps + t) * cin + i] = read::<F>(&mut partial, t * THREADS + lane);
            }
            if i == 0 {
                db[o] = read::<F>(&mut partial, taps * THREADS);
            }
        }
    }

    /// Each of `values` per thread summed over the runs, left in run 0's threads: log2(SPLITS)
    /// halvings. Shared memory is read through `#[cube]` functions: cubecl 0.11 rejects some reads
    /// of a local shared array in a kernel's body.
    #[cube]
    fn sum_runs<F: Float>(shared: &mut Shared<[F]>, #[comptime] values: usize) {
        sync_cube();
        let u = UNIT_POS_X as usize;
        let mut active = CUBE_DIM_X as usize / LANES;
        while active > 1 {
            active /= 2;
            if u < active * LANES {
                #[unroll]
                for t in 0..values {
                    let other = shared[t * THREADS + u + active * LANES];
                    shared[t * THREADS + u] += other;
                }
            }
            sync_cube();
        }
    }

    #[cube]
    fn read<F: Float>(shared: &mut Shared<[F]>, at: usize) -> F {
        shared[at]
    }

    /// dW (channels-last in memory, [out, in, k, k] as a view) and dBias, by [`weight_grad_kernel`].
    pub(super) fn gradients(
        x: CubeTensor,
        grad: CubeTensor,
        kernel: usize,
        options: ConvOptions<2>,
    ) -> (CubeTensor, CubeTensor) {
        // The sliding window keeps k - s values from one pixel to the next.
        assert!(
            options.stride[0] == options.stride[1] && options.stride[0] <= kernel,
            "weight_grad_kernel: stride {:?} with a {kernel}x{kernel} kernel",
            options.stride
        );
        let [batch, cin, h, w]: [usize; 4] = x.meta.shape().dims();
        let [_, cout, ho, wo]: [usize; 4] = grad.meta.shape().dims();
        let stride4 = |t: &CubeTensor| -> [usize; 4] {
            let s = t.meta.strides();
            [s[0], s[1], s[2], s[3]]
        };
        let (xs, gs) = (stride4(&x), stride4(&grad));
        let client = grad.client.clone();
        let dtype = grad.dtype;
        let memory = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            client.clone(),
            grad.device.clone(),
            burn::tensor::Shape::from([cout, kernel, kernel, cin]),
            dtype,
        );
        let db = burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            client.clone(),
            grad.device.clone(),
            burn::tensor::Shape::from([cout]),
            dtype,
        );
        // SAFETY: every index the kernel reads or writes is inside its tensor: rows and columns
        // outside the input are clamped to 0 (and their values dropped), channels past the last
        // are read as channel 0 and not written.
        unsafe {
            weight_grad_kernel::launch_unchecked(
                &client,
                CubeCount::Static(cin.div_ceil(LANES) as u32, cout as u32, 1),
                CubeDim::new_1d(THREADS as u32),
                x.into_tensor_arg(),
                grad.into_tensor_arg(),
                memory.clone().into_tensor_arg(),
                db.clone().into_tensor_arg(),
                batch,
                cin,
                h,
                w,
                ho,
                wo,
                kernel,
                options.stride[0],
                options.padding[0].0,
                xs,
                gs,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
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
