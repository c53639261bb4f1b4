//! The U-Net's 3x3 convolutions: blocks that run as one kernel of ours each on the GPU, and weight
//! and bias gradients computed by another.
//!
//! **Blocks.** Fusion does not fuse element-wise work into a convolution, so a convolution and
//! the SiLU, the residual add, the conditioning shift or the upsampling and concatenation around
//! it were a kernel each. A block is the convolution with its neighbours ([`ConvGrads::conv_block`]
//! and the four after it); its trait body is the definition, which the CPU backend runs, and a GPU
//! runs one kernel ([`gpu`]). A block returns its output after the SiLU (with the output before it
//! where a residual block adds it back), since whatever uses a block's output in the U-Net takes
//! its SiLU. In training each block has a backward of its own (the SiLU's derivative from the
//! pre-activation the kernel also writes, then the convolution's gradients below). The way up's
//! input, cat(upsample(x), skip), is never built: its kernels read x and the skip in place.
//!
//! **Gradients.** burn-cubecl computes a convolution's weight gradient on WebGPU by a generic
//! fallback: it copies the input and the output gradient with their batch and channel axes
//! swapped, convolves one by the other, slices the result when the stride is not 1, and the
//! optimiser then copies it into its channels-last order; its bias gradient is another copy and a
//! reduction. Here both are one kernel:
//!
//!   dW[o, i, kh, kw] = sum over b, y, x of dOut[b, o, y, x] * In[b, i, y s + kh - p, x s + kw - p],
//!   dBias[o]         = sum over b, y, x of dOut[b, o, y, x],
//!
//! with dW written channels-last (W[o, kh, kw, i]), the order the optimiser's flat buffer keeps a
//! weight in (src/optim.rs), so it is gathered there without a copy (for the way up, In is the
//! upsampled x's channels, then the skip's). The input gradient stays burn's (its transposed
//! convolution).
//!
//! The operations are a burn backend extension: the CPU backend (Flex) runs the definitions and
//! burn's own convolution backward, the GPU backends the kernels (natively on wgpu, in the browser
//! through burn's fusion stream, where each runs as an opaque operation). The kernels are written
//! in cubecl, which compiles them to WGSL in the browser.

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

    /// y = conv(x, weight) + bias, returned with silu(y): a convolution whose output feeds a
    /// residual block (which adds y back and convolves silu(y)).
    ///
    /// This body and those of the blocks below (see [`block_definition`]) are what the CPU
    /// backend and training (autodiff) run; a GPU runs each block as one kernel of ours ([`gpu`]).
    #[fusion(meta = fusion_meta::block_specs)]
    fn conv_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let y = block_definition::<Self>(x, None, weight, bias, stride, padding);
        (y.clone(), silu_of::<Self>(y))
    }

    /// conv(x, weight) + bias alone: the U-Net's last convolution.
    #[fusion(meta = fusion_meta::out_block_spec)]
    fn conv_out_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        block_definition::<Self>(x, None, weight, bias, stride, padding)
    }

    /// y = conv(cat(upsample(x), skip), weight) + bias, with silu(y): the way up of the U-Net.
    /// Channels of `x` come first; `x` is upsampled (nearest) to the skip's size.
    #[fusion(meta = fusion_meta::up_block_specs)]
    fn conv_up_block(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let y = block_definition::<Self>(x, Some(skip), weight, bias, stride, padding);
        (y.clone(), silu_of::<Self>(y))
    }

    /// silu(conv(x, weight) + bias + shift), shift = (silu(cond) cond_weight + cond_bias)[b, out,
    /// 1, 1]: a residual block's first convolution, conditioned on `cond` [b, d] (the conditioning
    /// vector, whose SiLU each block takes as it reads it) through a Linear (`cond_weight` [d, out],
    /// `cond_bias` [out]).
    #[allow(clippy::too_many_arguments)]
    #[fusion(meta = fusion_meta::cond_block_spec)]
    fn conv_cond_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        cond_bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let y = block_definition::<Self>(x, None, weight, bias, stride, padding);
        silu_of::<Self>(Self::float_add(y, shift_definition::<Self>(cond, cond_weight, cond_bias)))
    }

    /// (z, silu(z)) with z = conv(x, weight) + bias + shift: [`ConvGrads::conv_cond_block`] as
    /// training runs it, keeping z for the SiLU's derivative.
    #[allow(clippy::too_many_arguments)]
    #[fusion(meta = fusion_meta::cond_add_block_specs)]
    fn conv_cond_add_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        cond_bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let shift = shift_definition::<Self>(cond, cond_weight, cond_bias);
        Self::conv_add_block(x, shift, weight, bias, stride, padding)
    }

    /// silu(residual + conv(x, weight) + bias): a residual block's second convolution.
    #[fusion(meta = fusion_meta::res_block_spec)]
    fn conv_res_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let y = block_definition::<Self>(x, None, weight, bias, stride, padding);
        silu_of::<Self>(Self::float_add(residual, y))
    }

    /// (z, silu(z)) with z = conv(x, weight) + bias + add, `add` broadcast to z's shape ([b, out,
    /// 1, 1] or z's own): what training runs of the residual and conditioned blocks, keeping z for
    /// the SiLU's derivative.
    #[fusion(meta = fusion_meta::add_block_specs)]
    fn conv_add_block(
        x: FloatTensor<Self>,
        add: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let z = Self::float_add(block_definition::<Self>(x, None, weight, bias, stride, padding), add);
        (z.clone(), silu_of::<Self>(z))
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

    /// [`ConvGrads::conv_grads`] of an up block ([`ConvGrads::conv_up_block`]): the input is
    /// cat(upsample(x), skip), which a GPU reads in place instead of building it.
    #[fusion(meta = fusion_meta::up_gradient_specs)]
    fn conv_up_grads(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        Self::conv_grads(up_input::<Self>(x, skip), grad, kernel, stride, padding)
    }

    /// The conditioning Linear's gradients in a conditioned block, from z's gradient `dz` [b, c,
    /// h, w]: with the shift's gradient s[b, c] = dz summed over the pixels, the weight's
    /// silu(cond)^T s [d, c] and the conditioning vector's (s cond_weight^T) silu'(cond) [b, d].
    #[fusion(meta = fusion_meta::cond_gradient_specs)]
    fn cond_grads(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [b, c] = [cond.shape()[0], cond_weight.shape()[1]];
        let d_shift = burn::backend::autodiff::ops::broadcast_shape::<Self>(
            dz,
            &burn::tensor::Shape::from([b, c, 1, 1]),
        );
        let d_shift = Self::float_reshape(d_shift, burn::tensor::Shape::from([b, c]));
        let d_input = Self::float_matmul(d_shift.clone(), Self::float_transpose(cond_weight));
        (
            Self::float_matmul(Self::float_transpose(silu_of::<Self>(cond.clone())), d_shift),
            silu_backward::<Self>(cond, d_input),
        )
    }

    /// [`ConvGrads::cond_grads`] with `acc` added to the conditioning vector's gradient: what
    /// the blocks before this one in the backward pass gave it (five blocks take it), summed
    /// as it is written instead of by a kernel of its own.
    #[fusion(meta = fusion_meta::cond_gradient_into_specs)]
    fn cond_grads_into(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        acc: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (d_cond_weight, d_cond) = Self::cond_grads(dz, cond, cond_weight);
        (d_cond_weight, Self::float_add(d_cond, acc))
    }
}

/// What burn's fusion stream needs to queue the gradients before they are computed: their shapes
/// and element type.
#[cfg(target_arch = "wasm32")]
mod fusion_meta {
    use burn::backend::fusion::custom::TensorSpec;

    /// y and silu(y), [b, out, h', w'], of a block whose input is `x`.
    pub fn block_specs(
        x: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> (TensorSpec, TensorSpec) {
        let spec = output(x, x, weight, *stride, *padding);
        (spec.clone(), spec)
    }

    pub fn out_block_spec(
        x: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> TensorSpec {
        output(x, x, weight, *stride, *padding)
    }

    pub fn add_block_specs(
        x: &TensorSpec,
        _: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> (TensorSpec, TensorSpec) {
        let spec = output(x, x, weight, *stride, *padding);
        (spec.clone(), spec)
    }

    /// Of the skip's size.
    pub fn up_block_specs(
        x: &TensorSpec,
        skip: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> (TensorSpec, TensorSpec) {
        let spec = output(x, skip, weight, *stride, *padding);
        (spec.clone(), spec)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn cond_block_spec(
        x: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> TensorSpec {
        output(x, x, weight, *stride, *padding)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn cond_add_block_specs(
        x: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> (TensorSpec, TensorSpec) {
        let spec = output(x, x, weight, *stride, *padding);
        (spec.clone(), spec)
    }

    pub fn res_block_spec(
        x: &TensorSpec,
        weight: &TensorSpec,
        _: &TensorSpec,
        _: &TensorSpec,
        stride: &usize,
        padding: &usize,
    ) -> TensorSpec {
        output(x, x, weight, *stride, *padding)
    }

    /// [b, out, h', w'] in `x`'s element type: a convolution by `weight` [out, in, k, k] of an
    /// input of `size`'s shape [b, .., h, w].
    fn output(
        x: &TensorSpec,
        size: &TensorSpec,
        weight: &TensorSpec,
        stride: usize,
        padding: usize,
    ) -> TensorSpec {
        let (input, k) = (&size.shape, weight.shape[2]);
        let shape = burn::tensor::Shape::from([
            input[0],
            weight.shape[0],
            super::out_size(input[2], k, stride, padding),
            super::out_size(input[3], k, stride, padding),
        ]);
        TensorSpec::new(shape, x.dtype)
    }

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

    /// The conditioning Linear's weight's [d, c] and its input's [b, d].
    pub fn cond_gradient_specs(
        _: &TensorSpec,
        cond: &TensorSpec,
        cond_weight: &TensorSpec,
    ) -> (TensorSpec, TensorSpec) {
        (
            TensorSpec::new(cond_weight.shape.clone(), cond.dtype),
            TensorSpec::new(cond.shape.clone(), cond.dtype),
        )
    }

    pub fn cond_gradient_into_specs(
        dz: &TensorSpec,
        cond: &TensorSpec,
        cond_weight: &TensorSpec,
        _: &TensorSpec,
    ) -> (TensorSpec, TensorSpec) {
        cond_gradient_specs(dz, cond, cond_weight)
    }

    /// As [`gradient_specs`], the input's channels being x's and the skip's.
    pub fn up_gradient_specs(
        x: &TensorSpec,
        skip: &TensorSpec,
        grad: &TensorSpec,
        kernel: &usize,
        _: &usize,
        _: &usize,
    ) -> (TensorSpec, TensorSpec) {
        let [out, k] = [grad.shape[1], *kernel];
        (
            TensorSpec::new(burn::tensor::Shape::from([out, x.shape[1] + skip.shape[1], k, k]), x.dtype),
            TensorSpec::new(burn::tensor::Shape::from([out]), x.dtype),
        )
    }
}

/// The convolution of the blocks: conv(a, weight) + bias, with a = x, or cat(upsample(x), skip)
/// on channels when there is a skip.
fn block_definition<B: ConvGrads>(
    x: FloatTensor<B>,
    skip: Option<FloatTensor<B>>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let a = match skip {
        Some(skip) => up_input::<B>(x, skip),
        None => x,
    };
    B::conv_with_grads(a, weight, bias, stride, padding)
}

/// An up block's convolution input: cat(upsample(x), skip) on channels, x upsampled (nearest) to
/// the skip's size.
fn up_input<B: Backend>(x: FloatTensor<B>, skip: FloatTensor<B>) -> FloatTensor<B> {
    let [_, _, h, w] = skip.shape().dims();
    let up = B::interpolate(x, [h, w], nearest());
    B::float_cat(vec![up, skip], 1)
}

/// A conditioned block's shift, (silu(cond) cond_weight + cond_bias) as [b, out, 1, 1].
fn shift_definition<B: Backend>(
    cond: FloatTensor<B>,
    cond_weight: FloatTensor<B>,
    cond_bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let [b, c] = [cond.shape()[0], cond_weight.shape()[1]];
    let projected = B::float_matmul(silu_of::<B>(cond), cond_weight);
    B::float_add(
        B::float_reshape(projected, burn::tensor::Shape::from([b, c, 1, 1])),
        B::float_reshape(cond_bias, burn::tensor::Shape::from([1, c, 1, 1])),
    )
}

/// silu(x) = x sigmoid(x), as burn's `activation::silu` writes it.
pub(super) fn silu_of<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(x.clone(), B::sigmoid(x))
}

fn nearest() -> burn::backend::ops::InterpolateOptions {
    burn::backend::ops::InterpolateOptions::new(burn::backend::ops::InterpolateMode::Nearest)
}

/// A convolution's output size along one axis.
fn out_size(size: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (size + 2 * padding - kernel) / stride + 1
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1)
}

/// [out, in, k, k] from x [b, in, ..] and grad [b, out, ..].
fn weight_shape(x: &burn::tensor::Shape, grad: &burn::tensor::Shape, kernel: &usize) -> burn::tensor::Shape {
    burn::tensor::Shape::from([grad[1], x[1], *kernel, *kernel])
}

/// A U-Net convolution's stride and padding (3x3, symmetric explicit padding, one group, no
/// dilation), its weight and its bias, as the operations take them.
fn parts(conv: &Conv2d) -> (usize, usize, FloatTensor<Dispatch>, FloatTensor<Dispatch>) {
    let [k, _] = conv.kernel_size;
    let padding = match conv.padding {
        burn::nn::PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && top == bottom && top == right =>
        {
            top
        }
        ref other => panic!("conv: padding {other:?} is not the U-Net's"),
    };
    debug_assert!(conv.stride[0] == conv.stride[1] && conv.groups == 1 && conv.dilation == [1, 1]);
    debug_assert_eq!(conv.kernel_size, [k, k]);
    let bias = conv.bias.as_ref().expect("the U-Net's convolutions have a bias").val();
    (conv.stride[0], padding, conv.weight.val().into_dispatch(), bias.into_dispatch())
}

/// `conv` applied to `x` through [`ConvGrads`]: the same result as `conv.forward(x)` for the
/// U-Net's convolutions.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (stride, padding, weight, bias) = parts(conv);
    Tensor::from_dispatch(<Dispatch as ConvGrads>::conv_with_grads(
        x.into_dispatch(),
        weight,
        bias,
        stride,
        padding,
    ))
}

/// (y, silu(y)) with y = conv(x) ([`ConvGrads::conv_block`]).
pub fn block(conv: &Conv2d, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let (stride, padding, weight, bias) = parts(conv);
    let (y, a) = <Dispatch as ConvGrads>::conv_block(x.into_dispatch(), weight, bias, stride, padding);
    (Tensor::from_dispatch(y), Tensor::from_dispatch(a))
}

/// (y, silu(y)) with y = conv(cat(upsample(x), skip)), x upsampled (nearest) to the skip's size
/// ([`ConvGrads::conv_up_block`]).
pub fn up_block(conv: &Conv2d, x: Tensor<4>, skip: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let (stride, padding, weight, bias) = parts(conv);
    let (y, a) = <Dispatch as ConvGrads>::conv_up_block(
        x.into_dispatch(),
        skip.into_dispatch(),
        weight,
        bias,
        stride,
        padding,
    );
    (Tensor::from_dispatch(y), Tensor::from_dispatch(a))
}

/// conv(x) alone ([`ConvGrads::conv_out_block`]).
pub fn out_block(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (stride, padding, weight, bias) = parts(conv);
    Tensor::from_dispatch(<Dispatch as ConvGrads>::conv_out_block(
        x.into_dispatch(),
        weight,
        bias,
        stride,
        padding,
    ))
}

/// silu(residual + conv(x)) ([`ConvGrads::conv_res_block`]).
pub fn res_block(conv: &Conv2d, x: Tensor<4>, residual: Tensor<4>) -> Tensor<4> {
    let (stride, padding, weight, bias) = parts(conv);
    Tensor::from_dispatch(<Dispatch as ConvGrads>::conv_res_block(
        x.into_dispatch(),
        weight,
        bias,
        residual.into_dispatch(),
        stride,
        padding,
    ))
}

/// silu(conv(x) + layer(silu(cond)) as a per-channel shift) ([`ConvGrads::conv_cond_block`]);
/// `cond` is the conditioning vector.
pub fn cond_block(conv: &Conv2d, x: Tensor<4>, layer: &burn::nn::Linear, cond: Tensor<2>) -> Tensor<4> {
    let (stride, padding, weight, bias) = parts(conv);
    let cond_bias = layer.bias.as_ref().expect("the conditioning Linear has a bias").val();
    Tensor::from_dispatch(<Dispatch as ConvGrads>::conv_cond_block(
        x.into_dispatch(),
        weight,
        bias,
        cond.into_dispatch(),
        layer.weight.val().into_dispatch(),
        cond_bias.into_dispatch(),
        stride,
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
    fn conv_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [y, a] = gpu::block(x, None, weight, bias, None, stride, padding, [true, true]);
        (y.expect("y"), a.expect("silu(y)"))
    }

    fn conv_out_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let [y, _] = gpu::block(x, None, weight, bias, None, stride, padding, [true, false]);
        y.expect("y")
    }

    fn conv_add_block(
        x: FloatTensor<Self>,
        add: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [z, a] = gpu::block(x, None, weight, bias, Some(add), stride, padding, [true, true]);
        (z.expect("z"), a.expect("silu(z)"))
    }

    fn conv_up_block(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [y, a] = gpu::block(x, Some(skip), weight, bias, None, stride, padding, [true, true]);
        (y.expect("y"), a.expect("silu(y)"))
    }

    fn conv_cond_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        cond_bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let [a, _] = gpu::cond_block(x, weight, bias, cond, cond_weight, cond_bias, stride, padding, false);
        a
    }

    fn conv_cond_add_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        cond_bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [z, a] = gpu::cond_block(x, weight, bias, cond, cond_weight, cond_bias, stride, padding, true);
        (z, a)
    }

    fn conv_res_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let [_, a] = gpu::block(x, None, weight, bias, Some(residual), stride, padding, [false, true]);
        a.expect("silu(residual + y)")
    }

    fn conv_grads(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::gradients(x, None, grad, kernel, options(stride, padding))
    }

    fn conv_up_grads(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::gradients(x, Some(skip), grad, kernel, options(stride, padding))
    }

    fn cond_grads(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::cond_gradients(dz, cond, cond_weight, None)
    }

    fn cond_grads_into(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        acc: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gpu::cond_gradients(dz, cond, cond_weight, Some(acc))
    }
}

/// The gradients of a convolution y = conv(x, weight) + bias from y's gradient `grad`: the input's
/// by burn's transposed convolution, the weight's and the bias's by [`ConvGrads::conv_grads`]. The
/// bias's gradient goes to every node of `bias_nodes` (a conditioned block's Linear's bias adds to
/// the same sum).
#[allow(clippy::too_many_arguments)]
fn conv_backward<B: ConvGrads>(
    [node_x, node_weight]: [Option<burn::backend::autodiff::NodeId>; 2],
    bias_nodes: &[Option<burn::backend::autodiff::NodeId>],
    grads: &mut Gradients,
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    stride: usize,
    padding: usize,
) {
    let kernel = weight.shape()[2];
    if let Some(node) = node_x {
        let dx = B::conv2d_x_backward(x.clone(), weight, grad.clone(), options(stride, padding));
        grads.register::<B>(node, dx);
    }
    if node_weight.is_some() || bias_nodes.iter().any(Option::is_some) {
        let (dw, db) = B::conv_grads(x, grad, kernel, stride, padding);
        if let Some(node) = node_weight {
            grads.register::<B>(node, dw);
        }
        for &node in bias_nodes.iter().flatten() {
            grads.register::<B>(node, db.clone());
        }
    }
}

/// grad silu'(z), silu'(z) = s (1 + z (1 - s)) with s = sigmoid(z).
pub(super) fn silu_backward<B: Backend>(z: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(z.clone());
    let one_minus_s = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let slope = B::float_add_scalar(B::float_mul(z, one_minus_s), 1.0.into());
    B::float_mul(grad, B::float_mul(s, slope))
}

#[derive(Debug)]
struct ConvBackward;

impl<B: ConvGrads> Backward<B, 3> for ConvBackward {
    /// The input and the weight, stride and padding.
    type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, stride, padding) = ops.state;
        let [node_x, node_weight, node_bias] = ops.parents.map(|p| p.map(|n| n.id));
        conv_backward::<B>([node_x, node_weight], &[node_bias], grads, x, weight, grad, stride, padding);
    }
}

/// silu(z), given z: its state.
#[derive(Debug)]
struct SiluBackward;

impl<B: Backend> Backward<B, 1> for SiluBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, silu_backward::<B>(ops.state, grad));
        }
    }
}

/// `a` = silu(z), computed beside z by a block's kernel, as a node of the graph ([`SiluBackward`]).
fn tracked_silu<B: Backend, C: CheckpointStrategy>(
    z: &FloatTensor<Autodiff<B, C>>,
    a: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match SiluBackward.prepare::<C>([z.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(z.primitive().clone(), a),
        OpsKind::UnTracked(prep) => prep.finish(a),
    }
}

/// silu(z), z = conv(x, weight) + bias + add ([`ConvGrads::conv_add_block`]).
#[derive(Debug)]
struct AddBlockBackward;

impl<B: ConvGrads> Backward<B, 4> for AddBlockBackward {
    /// The input, the weight, z, the shape of `add`, stride and padding.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, burn::tensor::Shape, usize, usize);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias, node_add] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, z, add_shape, stride, padding) = ops.state;
        let dz = silu_backward::<B>(z, grad);
        if let Some(node) = node_add {
            let d_add = burn::backend::autodiff::ops::broadcast_shape::<B>(dz.clone(), &add_shape);
            grads.register::<B>(node.id, d_add);
        }
        let [node_x, node_weight, node_bias] = [node_x, node_weight, node_bias].map(|p| p.map(|n| n.id));
        conv_backward::<B>([node_x, node_weight], &[node_bias], grads, x, weight, dz, stride, padding);
    }
}

/// Training's block: silu(conv(x) + bias + add), one kernel forward on a GPU, z kept for backward.
fn add_block<B: ConvGrads, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    add: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    stride: usize,
    padding: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let parents = [x.node(), weight.node(), bias.node(), add.node()];
    match AddBlockBackward.prepare::<C>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
            let add_shape = add.primitive().shape();
            let (z, a) = B::conv_add_block(
                x.clone(),
                add.into_primitive(),
                weight.clone(),
                bias.into_primitive(),
                stride,
                padding,
            );
            prep.finish((x, weight, z, add_shape, stride, padding), a)
        }
        OpsKind::UnTracked(prep) => {
            let (_, a) = B::conv_add_block(
                x.into_primitive(),
                add.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                stride,
                padding,
            );
            prep.finish(a)
        }
    }
}

/// silu(z), z = conv(x, weight) + bias + (silu(cond) cond_weight + cond_bias)[b, out, 1, 1]
/// ([`ConvGrads::conv_cond_block`] in training).
///
/// One node for the block and its conditioning Linear: the Linear's bias gradient is the sum of
/// z's gradient over the batch and the pixels, which is the convolution bias's gradient (our
/// weight-gradient kernel computes it), so it costs no reduction of its own.
#[derive(Debug)]
struct CondBlockBackward;

impl<B: ConvGrads> Backward<B, 6> for CondBlockBackward {
    /// The input, the weight, z, the conditioning input (as the graph's tensor, to find the
    /// gradient it has so far) and its Linear's weight, stride and padding.
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<Autodiff<B>>,
        FloatTensor<B>,
        usize,
        usize,
    );

    fn backward(self, ops: Ops<Self::State, 6>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias, node_cond, node_cond_weight, node_cond_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, z, tracked_cond, cond_weight, stride, padding) = ops.state;
        let dz = silu_backward::<B>(z, grad);
        if node_cond.is_some() || node_cond_weight.is_some() {
            let cond = tracked_cond.primitive().clone();
            // The conditioning vector's gradient so far is taken out and handed to the kernel,
            // which adds it (registering onto it would add by a kernel of its own).
            let so_far = node_cond.as_ref().and_then(|_| grads.remove::<B>(&tracked_cond));
            let (d_cond_weight, d_cond) = match so_far {
                Some(acc) => B::cond_grads_into(dz.clone(), cond, cond_weight, acc),
                None => B::cond_grads(dz.clone(), cond, cond_weight),
            };
            if let Some(node) = node_cond_weight {
                grads.register::<B>(node.id, d_cond_weight);
            }
            if let Some(node) = node_cond {
                grads.register::<B>(node.id, d_cond);
            }
        }
        let ids = [node_x, node_weight, node_bias, node_cond_bias].map(|p| p.map(|n| n.id));
        conv_backward::<B>([ids[0], ids[1]], &ids[2..], grads, x, weight, dz, stride, padding);
    }
}

/// Training's conditioned block: one kernel forward on a GPU (the Linear's shift computed in it),
/// z kept for backward.
#[allow(clippy::too_many_arguments)]
fn tracked_cond_block<B: ConvGrads, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    cond: FloatTensor<Autodiff<B, C>>,
    cond_weight: FloatTensor<Autodiff<B, C>>,
    cond_bias: FloatTensor<Autodiff<B, C>>,
    stride: usize,
    padding: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let parents = [x.node(), weight.node(), bias.node(), cond.node(), cond_weight.node(), cond_bias.node()];
    let tracked_cond = cond.clone();
    let [x, weight, bias, cond, cond_weight, cond_bias] =
        [x, weight, bias, cond, cond_weight, cond_bias].map(|t| t.into_primitive());
    match CondBlockBackward.prepare::<C>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (z, a) = B::conv_cond_add_block(
                x.clone(),
                weight.clone(),
                bias,
                cond.clone(),
                cond_weight.clone(),
                cond_bias,
                stride,
                padding,
            );
            prep.finish((x, weight, z, tracked_cond, cond_weight, stride, padding), a)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(B::conv_cond_block(x, weight, bias, cond, cond_weight, cond_bias, stride, padding))
        }
    }
}

/// y = conv(cat(upsample(x), skip), weight) + bias ([`ConvGrads::conv_up_block`] in training).
///
/// Its input is never built: the forward kernel and [`ConvGrads::conv_up_grads`] read x and the
/// skip in place. The input's gradient is burn's transposed convolution, split between the skip
/// and x, whose part goes back through the upsampling.
#[derive(Debug)]
struct UpBlockBackward;

impl<B: ConvGrads> Backward<B, 4> for UpBlockBackward {
    /// x, the skip, the weight, stride and padding.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, usize, usize);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        use burn::tensor::Slice;
        let [node_x, node_skip, node_weight, node_bias] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let (x, skip, weight, stride, padding) = ops.state;
        if node_x.is_some() || node_skip.is_some() {
            let cx = x.shape()[1];
            let [_, cs, h, w] = skip.shape().dims();
            let d_input = input_grad::<B>([h, w], weight.clone(), grad.clone(), stride, padding);
            let channels = |c: std::ops::Range<usize>| {
                [Slice::from(..), Slice::from(c), Slice::from(..), Slice::from(..)]
            };
            if let Some(node) = node_skip {
                grads.register::<B>(node, B::float_slice(d_input.clone(), &channels(cx..cx + cs)));
            }
            if let Some(node) = node_x {
                let d_up = B::float_slice(d_input, &channels(0..cx));
                grads.register::<B>(node, B::interpolate_backward(x.clone(), d_up, [h, w], nearest()));
            }
        }
        if node_weight.is_some() || node_bias.is_some() {
            let kernel = weight.shape()[2];
            let (dw, db) = B::conv_up_grads(x, skip, grad, kernel, stride, padding);
            if let Some(node) = node_weight {
                grads.register::<B>(node, dw);
            }
            if let Some(node) = node_bias {
                grads.register::<B>(node, db);
            }
        }
    }
}

/// The gradient of a convolution's input of size [h, w] from its output's: burn's transposed
/// convolution, as burn's `conv2d_x_backward` runs it (which wants the input only for its size).
fn input_grad<B: Backend>(
    [h, w]: [usize; 2],
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let [_, _, ho, wo] = grad.shape().dims();
    let kernel = weight.shape()[2];
    // The input's rows and columns past the last the convolution reached (stride > 1).
    let extra = |size: usize, out: usize| (size + 2 * padding).saturating_sub((out - 1) * stride + kernel);
    let options = burn::backend::ops::ConvTransposeOptions::new(
        [stride, stride],
        [padding, padding],
        [extra(h, ho), extra(w, wo)],
        [1, 1],
        1,
    );
    B::conv_transpose2d(grad, weight, None, options)
}

/// A convolution node of the autodiff graph ([`ConvBackward`]): `forward` computes y (and
/// whatever else it returns beside it) on the inner backend from x, the weight and the bias.
#[allow(clippy::type_complexity)]
fn tracked_conv<B: ConvGrads, C: CheckpointStrategy, T>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    stride: usize,
    padding: usize,
    forward: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> (FloatTensor<B>, T),
) -> (FloatTensor<Autodiff<B, C>>, T) {
    match ConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
            let (y, rest) = forward(x.clone(), weight.clone(), bias.into_primitive());
            (prep.finish((x, weight, stride, padding), y), rest)
        }
        OpsKind::UnTracked(prep) => {
            let (y, rest) = forward(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
            (prep.finish(y), rest)
        }
    }
}

/// Training (autodiff): each block runs its kernel forward on a GPU (the definition on the CPU
/// backend) and has a backward of its own.
impl<B: Backend + ConvGrads, C: CheckpointStrategy> ConvGrads for Autodiff<B, C> {
    fn conv_with_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked_conv::<B, C, _>(x, weight, bias, stride, padding, |x, w, b| {
            (B::conv_with_grads(x, w, b, stride, padding), ())
        })
        .0
    }

    fn conv_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (y, a) = tracked_conv::<B, C, _>(x, weight, bias, stride, padding, |x, w, b| {
            B::conv_block(x, w, b, stride, padding)
        });
        let a = tracked_silu::<B, C>(&y, a);
        (y, a)
    }

    fn conv_up_block(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let parents = [x.node(), skip.node(), weight.node(), bias.node()];
        let [x, skip, weight, bias] = [x, skip, weight, bias].map(|t| t.into_primitive());
        let (y, a) = match UpBlockBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (y, a) = B::conv_up_block(x.clone(), skip.clone(), weight.clone(), bias, stride, padding);
                (prep.finish((x, skip, weight, stride, padding), y), a)
            }
            OpsKind::UnTracked(prep) => {
                let (y, a) = B::conv_up_block(x, skip, weight, bias, stride, padding);
                (prep.finish(y), a)
            }
        };
        (y.clone(), tracked_silu::<B, C>(&y, a))
    }

    fn conv_out_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked_conv::<B, C, _>(x, weight, bias, stride, padding, |x, w, b| {
            (B::conv_out_block(x, w, b, stride, padding), ())
        })
        .0
    }

    fn conv_res_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        add_block::<B, C>(x, residual, weight, bias, stride, padding)
    }

    /// The conditioning's shift is computed by burn's operations, then added in the block's
    /// kernel; [`CondBlockBackward`] differentiates the whole block.
    fn conv_cond_block(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        cond_bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked_cond_block::<B, C>(x, weight, bias, cond, cond_weight, cond_bias, stride, padding)
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

    fn cond_grads(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [dz, cond, cond_weight] = [dz, cond, cond_weight].map(|t| t.into_primitive());
        let (d_cond_weight, d_cond) = B::cond_grads(dz, cond, cond_weight);
        (Self::from_inner(d_cond_weight), Self::from_inner(d_cond))
    }

    fn cond_grads_into(
        dz: FloatTensor<Self>,
        cond: FloatTensor<Self>,
        cond_weight: FloatTensor<Self>,
        acc: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [dz, cond, cond_weight, acc] = [dz, cond, cond_weight, acc].map(|t| t.into_primitive());
        let (d_cond_weight, d_cond) = B::cond_grads_into(dz, cond, cond_weight, acc);
        (Self::from_inner(d_cond_weight), Self::from_inner(d_cond))
    }

    fn conv_up_grads(
        x: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [x, skip, grad] = [x, skip, grad].map(|t| t.into_primitive());
        let (dw, db) = B::conv_up_grads(x, skip, grad, kernel, stride, padding);
        (Self::from_inner(dw), Self::from_inner(db))
    }
}

/// The kernel, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
pub(super) mod gpu {
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
        skip: &Tensor<F>,
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
        #[comptime] up: Up,
        #[define(F)] _dtype: ElemType,
    ) {
        let u = UNIT_POS_X as usize;
        let lane = u % LANES;
        let run = u / LANES;
        let o = CUBE_POS_Y as usize;
        let i = CUBE_POS_X as usize * LANES + lane;
        // A lane past the last channel computes channel 0's sums and does not write them.
        let ic = select(i < cin, i, 0);
        // An up block's channel: of x (upsampled) before `up.cx`, of the skip after.
        let from_x = ic < up.cx;
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
            let x_img = b * xs[0] + select(from_x, ic, 0) * xs[1];
            let s_img = b * up.ss[0] + (select(from_x, up.cx, ic) - up.cx) * up.ss[1];
            // Kernel row kh reads input row y s + kh - p: its offset, and whether it is inside.
            let mut row_at = Sequence::<usize>::new();
            let mut row_in = Sequence::<bool>::new();
            #[unroll]
            for kh in 0..kernel {
                let iy = y * stride + kh; // the row plus the padding
                let inside = iy >= padding && iy < h + padding;
                row_in.push(inside);
                row_at.push(row_start(x_img, s_img, from_x, select(inside, iy - padding, 0), h, xs[2], up));
                // The window before the first pixel: its last k - s columns, -p .. k - s - p.
                #[unroll]
                for c in 0..keep {
                    if comptime!(c >= padding && c < w + padding) {
                        let v = input_at::<F>(
                            x,
                            skip,
                            from_x,
                            *row_at.index(kh),
                            comptime!(c - padding),
                            w,
                            xs[3],
                            up,
                        );
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
                        let v = input_at::<F>(
                            x,
                            skip,
                            from_x,
                            *row_at.index(kh),
                            select(ok, ix - padding, 0),
                            w,
                            xs[3],
                            up,
                        );
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

    /// Where the weight-gradient kernel's input comes from: `x` alone, or an up block's
    /// cat(upsample(x), skip) read in place (`skip`: x's `cx` channels of size `hx` x `wx`
    /// upsampled, nearest, to the skip's size, then the skip's, whose strides are `ss`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub(super) struct Up {
        skip: bool,
        cx: usize,
        hx: usize,
        wx: usize,
        ss: [usize; 4],
    }

    /// Where row `sy` of the input's channel starts: `x_img` or `s_img` is the channel's start in
    /// x or in the skip, `h` the input's height, `xs2` x's row stride.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn row_start(
        x_img: usize,
        s_img: usize,
        from_x: bool,
        sy: usize,
        #[comptime] h: usize,
        #[comptime] xs2: usize,
        #[comptime] up: Up,
    ) -> usize {
        let mut at = x_img + sy * xs2;
        if comptime!(up.skip) {
            at = select(from_x, x_img + (sy * up.hx / h) * xs2, s_img + sy * up.ss[2]);
        }
        at
    }

    /// The input's value at column `sx` of the row starting at `row` ([`row_start`]); `w` is the
    /// input's width, `xs3` x's column stride.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn input_at<F: Float>(
        x: &Tensor<F>,
        skip: &Tensor<F>,
        from_x: bool,
        row: usize,
        sx: usize,
        #[comptime] w: usize,
        #[comptime] xs3: usize,
        #[comptime] up: Up,
    ) -> F {
        if comptime!(up.skip) {
            if from_x { x[row + (sx * up.wx / w) * xs3] } else { skip[row + sx * up.ss[3]] }
        } else {
            x[row + sx * xs3]
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
    pub(crate) fn read<F: Float>(shared: &mut Shared<[F]>, at: usize) -> F {
        shared[at]
    }

    /// Output pixels per workgroup of the forward kernels: one thread each.
    const PIXELS: usize = 64;

    /// The sizes of a forward convolution, fixed when its kernel is compiled.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub(super) struct Shape {
        /// Channels of `x`, and of the skip (0 without one).
        cx: usize,
        cs: usize,
        /// `x`'s size, and the convolution's input size (the skip's, `x` upsampled to it).
        hx: usize,
        wx: usize,
        h: usize,
        w: usize,
        ho: usize,
        wo: usize,
        /// Output channels per thread.
        ob: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        xs: [usize; 4],
        ss: [usize; 4],
        ws: [usize; 4],
    }

    /// x / (1 + e^-x).
    #[cube]
    pub(crate) fn silu<F: Float>(v: F) -> F {
        v / (F::new(1.0) + F::exp(-v))
    }

    /// silu'(v) = s (1 + v (1 - s)), s = sigmoid(v).
    #[cube]
    pub(crate) fn silu_slope<F: Float>(v: F) -> F {
        let s = F::new(1.0) / (F::new(1.0) + F::exp(-v));
        s * (F::new(1.0) + v * (F::new(1.0) - s))
    }

    /// The convolution's sums at this thread's pixel for its `ob` output channels, into `acc`:
    /// sum over i, kh, kw of W[o, i, kh, kw] a[b, i, y s + kh - p, x s + kw - p], a being
    /// cat(upsample(x), skip) (channels of `x` first) or `x`. Padding reads nothing.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn conv_sums<F: Float>(
        x: &Tensor<F>,
        skip: &Tensor<F>,
        weight: &Tensor<F>,
        acc: &mut Array<F>,
        b: usize,
        yo: usize,
        xo: usize,
        o0: usize,
        #[comptime] s: Shape,
    ) {
        #[unroll]
        for j in 0..s.ob {
            acc[j] = F::new(0.0);
        }
        #[unroll]
        for kh in 0..s.kernel {
            let iy = yo * s.stride + kh; // the row plus the padding
            let row_in = iy >= s.padding && iy < s.h + s.padding;
            #[unroll]
            for kw in 0..s.kernel {
                let ix = xo * s.stride + kw;
                if row_in && ix >= s.padding && ix < s.w + s.padding {
                    let (sy, sx) = (iy - s.padding, ix - s.padding);
                    let w_tap = kh * s.ws[2] + kw * s.ws[3];
                    // x, nearest-upsampled to (h, w) when there is a skip: row floor(y hx / h).
                    let x_at = if comptime!(s.cs > 0) {
                        b * s.xs[0] + (sy * s.hx / s.h) * s.xs[2] + (sx * s.wx / s.w) * s.xs[3]
                    } else {
                        b * s.xs[0] + sy * s.xs[2] + sx * s.xs[3]
                    };
                    // The channel counts are read at run time: as constants, a shader compiler
                    // may unroll these loops whole (lavapipe took about 15 s per kernel).
                    for i in 0..x.shape(1) {
                        let v = x[x_at + i * s.xs[1]];
                        let w_at = o0 * s.ws[0] + i * s.ws[1] + w_tap;
                        #[unroll]
                        for j in 0..s.ob {
                            acc[j] += v * weight[w_at + j * s.ws[0]];
                        }
                    }
                    if comptime!(s.cs > 0) {
                        let s_at = b * s.ss[0] + sy * s.ss[2] + sx * s.ss[3];
                        for i in 0..skip.shape(1) {
                            let v = skip[s_at + i * s.ss[1]];
                            let w_at = o0 * s.ws[0] + (x.shape(1) + i) * s.ws[1] + w_tap;
                            #[unroll]
                            for j in 0..s.ob {
                                acc[j] += v * weight[w_at + j * s.ws[0]];
                            }
                        }
                    }
                }
            }
        }
    }

    /// y[b, o, y, x] = conv + bias[o] (+ residual[b, o, y, x], broadcast along its axes of size
    /// 1), written to `out` when `raw`, and silu(y) to `out_act` when `act`. Workgroup (pixel block, block of `ob` output
    /// channels, b), a thread per output pixel. `skip` and `residual` are read only when
    /// `s.cs > 0` and `has_residual`.
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn block_kernel<F: Float>(
        x: &Tensor<F>,
        skip: &Tensor<F>,
        weight: &Tensor<F>,
        bias: &Tensor<F>,
        residual: &Tensor<F>,
        out: &mut Tensor<F>,
        out_act: &mut Tensor<F>,
        #[comptime] s: Shape,
        #[comptime] has_residual: bool,
        #[comptime] rs: [usize; 4],
        #[comptime] raw: bool,
        #[comptime] act: bool,
        #[comptime] cout: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let p = CUBE_POS_X as usize * PIXELS + UNIT_POS_X as usize;
        let b = CUBE_POS_Z as usize;
        let o0 = CUBE_POS_Y as usize * s.ob;
        if p < comptime!(s.ho * s.wo) {
            let (yo, xo) = (p / s.wo, p % s.wo);
            let mut acc = Array::<F>::new(s.ob);
            conv_sums::<F>(x, skip, weight, &mut acc, b, yo, xo, o0, s);
            #[unroll]
            for j in 0..s.ob {
                let o = o0 + j;
                let at = ((b * s.ho + yo) * s.wo + xo) * cout + o; // channels-last
                let mut y = acc[j] + bias[o];
                if comptime!(has_residual) {
                    y += residual[b * rs[0] + o * rs[1] + yo * rs[2] + xo * rs[3]];
                }
                if comptime!(raw) {
                    out[at] = y;
                }
                if comptime!(act) {
                    out_act[at] = silu::<F>(y);
                }
            }
        }
    }

    /// out[b, o, y, x] = silu(z), z = conv(x) + bias[o] + cond_bias[o] + sum over j of silu(cond[b, j])
    /// cond_weight[j, o]; with `pre_activation_at` = Some(n), z is written there and silu(z) n
    /// values further (training's two outputs in one buffer: a kernel may bind 8 storage buffers
    /// on every WebGPU device, and cubecl binds its metadata as one more). The workgroup's `ob`
    /// shifts (one image, `ob` channels) are computed first, one per thread, into shared memory.
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn cond_block_kernel<F: Float>(
        x: &Tensor<F>,
        weight: &Tensor<F>,
        bias: &Tensor<F>,
        cond: &Tensor<F>,
        cond_weight: &Tensor<F>,
        cond_bias: &Tensor<F>,
        out: &mut Tensor<F>,
        #[comptime] s: Shape,
        #[comptime] d: usize,
        #[comptime] cs: [usize; 2],
        #[comptime] cws: [usize; 2],
        #[comptime] cout: usize,
        #[comptime] pre_activation_at: Option<usize>,
        #[define(F)] _dtype: ElemType,
    ) {
        let u = UNIT_POS_X as usize;
        let p = CUBE_POS_X as usize * PIXELS + u;
        let b = CUBE_POS_Z as usize;
        let o0 = CUBE_POS_Y as usize * s.ob;
        let mut shift = Shared::<[F]>::new_slice(s.ob);
        if u < s.ob {
            let mut sum = cond_bias[o0 + u];
            for j in 0..d {
                sum += silu::<F>(cond[b * cs[0] + j * cs[1]]) * cond_weight[j * cws[0] + (o0 + u) * cws[1]];
            }
            shift[u] = sum;
        }
        sync_cube();
        if p < comptime!(s.ho * s.wo) {
            let (yo, xo) = (p / s.wo, p % s.wo);
            let mut acc = Array::<F>::new(s.ob);
            conv_sums::<F>(x, x, weight, &mut acc, b, yo, xo, o0, s);
            #[unroll]
            for j in 0..s.ob {
                let o = o0 + j;
                let y = acc[j] + bias[o] + read::<F>(&mut shift, j);
                let at = ((b * s.ho + yo) * s.wo + xo) * cout + o; // channels-last
                match pre_activation_at {
                    Some(second) => {
                        out[at] = y;
                        out[second + at] = silu::<F>(y);
                    }
                    None => out[at] = silu::<F>(y),
                }
            }
        }
    }

    fn strides<const N: usize>(t: &CubeTensor) -> [usize; N] {
        let s = t.meta.strides();
        std::array::from_fn(|i| s[i])
    }

    /// The shape of a forward kernel for input `x` (and `skip`) and `weight`, and the output
    /// tensor's [b, out, h', w'].
    fn forward_shape(
        x: &CubeTensor,
        skip: Option<&CubeTensor>,
        weight: &CubeTensor,
        stride: usize,
        padding: usize,
    ) -> (Shape, [usize; 4]) {
        let [batch, cx, hx, wx]: [usize; 4] = x.meta.shape().dims();
        let [cout, _, kernel, _]: [usize; 4] = weight.meta.shape().dims();
        let (cs, h, w, ss) = match skip {
            Some(t) => {
                let [_, cs, h, w]: [usize; 4] = t.meta.shape().dims();
                (cs, h, w, strides(t))
            }
            None => (0, hx, wx, [0; 4]),
        };
        let (ho, wo) =
            (super::out_size(h, kernel, stride, padding), super::out_size(w, kernel, stride, padding));
        let ob = [8, 4, 2, 1].into_iter().find(|n| cout.is_multiple_of(*n)).unwrap_or(1);
        let shape = Shape {
            cx,
            cs,
            hx,
            wx,
            h,
            w,
            ho,
            wo,
            ob,
            kernel,
            stride,
            padding,
            xs: strides(x),
            ss,
            ws: strides(weight),
        };
        (shape, [batch, cout, ho, wo])
    }

    fn empty(like: &CubeTensor, shape: [usize; 4]) -> CubeTensor {
        burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
            like.client.clone(),
            like.device.clone(),
            burn::tensor::Shape::from(shape),
            like.dtype,
        )
    }

    /// A tensor of shape [b, c, h, w] stored channels-last (b, h, w, c), as burn's GPU
    /// convolutions write theirs: the layout its transposed convolution (the input gradient)
    /// reads, so that gradients flowing back through the blocks are not copied into it.
    fn empty_channels_last(like: &CubeTensor, dims: [usize; 4]) -> CubeTensor {
        let [b, c, h, w] = dims;
        let memory = empty(like, [b, h, w, c]);
        channels_last(&memory, memory.handle.clone(), dims)
    }

    /// A tensor of shape [b, c, h, w] stored channels-last in `handle`, on `memory`'s device.
    ///
    /// With one channel that memory is the row-major one, and the strides say so: burn's fused
    /// element-wise kernels in the browser read a [b, 1, h, w] tensor with the channel stride 1
    /// wrongly beside row-major tensors broadcast from [b, 1, 1, 1] (the CVAE's decoder mean,
    /// yhat coef_y + z_l coef_z, came out wrong and not the same from run to run:
    /// bench/backends-agree.mjs).
    fn channels_last(
        memory: &CubeTensor,
        handle: cubecl::server::Handle,
        [b, c, h, w]: [usize; 4],
    ) -> CubeTensor {
        let strides = if c == 1 { [h * w, h * w, w, 1] } else { [h * w * c, 1, w * c, c] };
        CubeTensor::new(
            memory.client.clone(),
            handle,
            burn_std::Metadata::new(burn::tensor::Shape::from([b, c, h, w]), strides),
            memory.device.clone(),
            memory.dtype,
        )
    }

    fn cube_count(s: &Shape, out: [usize; 4]) -> CubeCount {
        let [batch, cout, ho, wo] = out;
        CubeCount::Static((ho * wo).div_ceil(PIXELS) as u32, (cout / s.ob) as u32, batch as u32)
    }

    /// [`block_kernel`]: `[y, silu(y)]`, each when asked for by `[raw, act]`, with y = conv(x or
    /// cat(upsample(x), skip)) + bias (+ residual, broadcast).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn block(
        x: CubeTensor,
        skip: Option<CubeTensor>,
        weight: CubeTensor,
        bias: CubeTensor,
        residual: Option<CubeTensor>,
        stride: usize,
        padding: usize,
        [raw, act]: [bool; 2],
    ) -> [Option<CubeTensor>; 2] {
        let (shape, dims) = forward_shape(&x, skip.as_ref(), &weight, stride, padding);
        // A binding the kernel has but does not use (no skip, no residual, an output not asked
        // for): one value each, so that no buffer is bound twice where one binding is written.
        let unused = || empty(&x, [1, 1, 1, 1]);
        let out = if raw { empty_channels_last(&x, dims) } else { unused() };
        let out_act = if act { empty_channels_last(&x, dims) } else { unused() };
        // A residual of size 1 along an axis is broadcast along it (stride 0).
        let broadcast = |t: &CubeTensor| -> [usize; 4] {
            let (dims, s): ([usize; 4], [usize; 4]) = (t.meta.shape().dims(), strides(t));
            std::array::from_fn(|i| if dims[i] == 1 { 0 } else { s[i] })
        };
        let (rs, has_residual) = (residual.as_ref().map_or([0; 4], broadcast), residual.is_some());
        let skip = skip.unwrap_or_else(unused);
        let residual = residual.unwrap_or_else(unused);
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: the kernel reads x, skip and the weight at in-bounds pixels (taps in the
        // padding read nothing), and writes only pixels and channels of its output shape.
        unsafe {
            block_kernel::launch_unchecked(
                &client,
                cube_count(&shape, dims),
                CubeDim::new_1d(PIXELS as u32),
                x.into_tensor_arg(),
                skip.into_tensor_arg(),
                weight.into_tensor_arg(),
                bias.into_tensor_arg(),
                residual.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                out_act.clone().into_tensor_arg(),
                shape,
                has_residual,
                rs,
                raw,
                act,
                dims[1],
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        [raw.then_some(out), act.then_some(out_act)]
    }

    /// [`cond_block_kernel`]: `[silu(z), _]`, or `[z, silu(z)]` when `pre_activation` (training),
    /// z = conv(x) + bias + the conditioning Linear's shift.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cond_block(
        x: CubeTensor,
        weight: CubeTensor,
        bias: CubeTensor,
        cond: CubeTensor,
        cond_weight: CubeTensor,
        cond_bias: CubeTensor,
        stride: usize,
        padding: usize,
        pre_activation: bool,
    ) -> [CubeTensor; 2] {
        let (shape, dims) = forward_shape(&x, None, &weight, stride, padding);
        assert!(shape.ob <= PIXELS, "one shift per thread");
        // In training, z and then silu(z) in one buffer, silu(z) from the first offset past z that
        // a tensor may start at (the device's alignment).
        let n: usize = dims.iter().product();
        let align = (x.client.properties().memory.alignment as usize / x.dtype.size()).max(1);
        let second = n.div_ceil(align) * align;
        let memory = if pre_activation { empty(&x, [2, second, 1, 1]) } else { empty(&x, [1, n, 1, 1]) };
        let d = cond.meta.shape()[1];
        let (cs, cws) = (strides::<2>(&cond), strides::<2>(&cond_weight));
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: as `block`; the shifts read cond [b, d], cond_weight [d, out] and cond_bias
        // [out] inside their shapes; the output is written below n, and below second + n in
        // training.
        unsafe {
            cond_block_kernel::launch_unchecked(
                &client,
                cube_count(&shape, dims),
                CubeDim::new_1d(PIXELS as u32),
                x.into_tensor_arg(),
                weight.into_tensor_arg(),
                bias.into_tensor_arg(),
                cond.into_tensor_arg(),
                cond_weight.into_tensor_arg(),
                cond_bias.into_tensor_arg(),
                memory.clone().into_tensor_arg(),
                shape,
                d,
                cs,
                cws,
                dims[1],
                pre_activation.then_some(second),
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        let bytes = (second * dtype.size()) as u64;
        let handles = if pre_activation {
            [memory.handle.clone().offset_end(bytes), memory.handle.clone().offset_start(bytes)]
        } else {
            [memory.handle.clone(), memory.handle.clone()]
        };
        handles.map(|handle| channels_last(&memory, handle, dims))
    }

    /// dW (channels-last in memory, [out, in, k, k] as a view) and dBias, by [`weight_grad_kernel`],
    /// of a convolution of `x`, or of cat(upsample(x), skip) when there is a skip.
    pub(super) fn gradients(
        x: CubeTensor,
        skip: Option<CubeTensor>,
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
        let [batch, cx, hx, wx]: [usize; 4] = x.meta.shape().dims();
        let [_, cout, ho, wo]: [usize; 4] = grad.meta.shape().dims();
        let (xs, gs) = (strides::<4>(&x), strides::<4>(&grad));
        let (cin, h, w, up) = match &skip {
            Some(t) => {
                let [_, cs, h, w]: [usize; 4] = t.meta.shape().dims();
                (cx + cs, h, w, Up { skip: true, cx, hx, wx, ss: strides(t) })
            }
            None => (cx, hx, wx, Up { skip: false, cx, hx, wx, ss: [0; 4] }),
        };
        // Without a skip the kernel's skip binding is one unused value.
        let skip = skip.unwrap_or_else(|| empty(&x, [1, 1, 1, 1]));
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
                skip.into_tensor_arg(),
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
                up,
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

    /// Threads of [`cond_grads_kernel`]'s one workgroup.
    const COND_THREADS: usize = 256;

    /// A conditioned block's Linear's gradients from z's gradient dz [b, c, h, w], in one
    /// workgroup: first the shift's gradient s[b, c] = sum over the pixels of dz[b, c, ..] into
    /// `s` (a scratch tensor [b, c]), then dW[j, c] = sum over b of silu(cond[b, j]) s[b, c] and
    /// dcond[b, j] = silu'(cond[b, j]) sum over c of s[b, c] W[j, c] (+ acc[b, j] when
    /// `has_acc`). Threads take the values in turn.
    #[cube(launch_unchecked)]
    #[allow(clippy::too_many_arguments)]
    fn cond_grads_kernel<F: Float>(
        dz: &Tensor<F>,
        cond: &Tensor<F>,
        cond_weight: &Tensor<F>,
        s: &mut Tensor<F>,
        d_weight: &mut Tensor<F>,
        d_cond: &mut Tensor<F>,
        acc: &Tensor<F>,
        #[comptime] has_acc: bool,
        #[define(F)] _dtype: ElemType,
    ) {
        // The loops' lengths are read at run time: as constants, a shader compiler may unroll
        // them whole.
        let u = UNIT_POS_X as usize;
        let (batch, c, h, w, d) = (dz.shape(0), dz.shape(1), dz.shape(2), dz.shape(3), cond.shape(1));
        let mut k = u;
        while k < batch * c {
            let (b, o) = (k / c, k % c);
            let mut sum = F::new(0.0);
            for y in 0..h {
                let row = b * dz.stride(0) + o * dz.stride(1) + y * dz.stride(2);
                for x in 0..w {
                    sum += dz[row + x * dz.stride(3)];
                }
            }
            s[k] = sum;
            k += COND_THREADS;
        }
        sync_storage();
        sync_cube();
        let mut k = u;
        while k < d * c {
            let (j, o) = (k / c, k % c);
            let mut sum = F::new(0.0);
            for b in 0..batch {
                sum += silu::<F>(cond[b * cond.stride(0) + j * cond.stride(1)]) * s[b * c + o];
            }
            d_weight[k] = sum;
            k += COND_THREADS;
        }
        let mut k = u;
        while k < batch * d {
            let (b, j) = (k / d, k % d);
            let mut sum = F::new(0.0);
            for o in 0..c {
                sum += s[b * c + o] * cond_weight[j * cond_weight.stride(0) + o * cond_weight.stride(1)];
            }
            let mut g = sum * silu_slope::<F>(cond[b * cond.stride(0) + j * cond.stride(1)]);
            if comptime!(has_acc) {
                g += acc[b * acc.stride(0) + j * acc.stride(1)];
            }
            d_cond[k] = g;
            k += COND_THREADS;
        }
    }

    /// [`cond_grads_kernel`]: the conditioning Linear's weight's gradient [d, c] and its input's
    /// [b, d].
    pub(super) fn cond_gradients(
        dz: CubeTensor,
        cond: CubeTensor,
        cond_weight: CubeTensor,
        acc: Option<CubeTensor>,
    ) -> (CubeTensor, CubeTensor) {
        let dims: [usize; 4] = dz.meta.shape().dims();
        let [b, c, ..] = dims;
        let d = cond.meta.shape()[1];
        let scratch = empty(&dz, [b, c, 1, 1]);
        let plain = |shape: [usize; 2]| {
            burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
                dz.client.clone(),
                dz.device.clone(),
                burn::tensor::Shape::from(shape),
                dz.dtype,
            )
        };
        let (d_weight, d_cond) = (plain([d, c]), plain([b, d]));
        // Without a sum so far the kernel's `acc` binding is one unused value.
        let has_acc = acc.is_some();
        let acc = acc.unwrap_or_else(|| plain([1, 1]));
        let (client, dtype) = (dz.client.clone(), dz.dtype);
        // SAFETY: every read is inside dz [b, c, h, w], cond [b, d] and cond_weight [d, c]; the
        // writes are below b c, d c and b d.
        unsafe {
            cond_grads_kernel::launch_unchecked(
                &client,
                CubeCount::Static(1, 1, 1),
                CubeDim::new_1d(COND_THREADS as u32),
                dz.into_tensor_arg(),
                cond.into_tensor_arg(),
                cond_weight.into_tensor_arg(),
                scratch.into_tensor_arg(),
                d_weight.clone().into_tensor_arg(),
                d_cond.clone().into_tensor_arg(),
                acc.into_tensor_arg(),
                has_acc,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        (d_weight, d_cond)
    }
}
