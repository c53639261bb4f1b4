//! Several small pieces of one flat tensor, each as a tensor of its own, in one GPU dispatch.
//!
//! The optimiser keeps every parameter in one flat buffer and hands each back to the model as a
//! slice of it (src/optim.rs). A slice is a view when it starts and ends on the device's 256-byte
//! alignment; the biases (8 to 64 values) do not, so cubecl copies each with a kernel of its own:
//! 23 dispatches per denoiser step. [`unpack`] copies up to [`PIECES`] of them in one kernel: a
//! kernel may bind 8 storage buffers on every WebGPU device: the flat tensor, 6 outputs and the
//! metadata buffer cubecl binds beside a kernel's tensors (with 7 outputs, 9: SwiftShader allows
//! it, a device at WebGPU's minimum would not; tests/browser/train.test.mjs checks every kernel).
//!
//! A burn backend extension: the CPU backend (Flex) slices, the GPU backends run the kernel (in
//! the browser as an opaque operation of burn's fusion stream).

use std::ops::Range;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn_cubecl::CubeBackend;

/// Pieces copied by one dispatch.
pub const PIECES: usize = 6;

/// Six pieces' starts and lengths in the flat tensor (a slot left unused copies one value).
type Pieces = [(usize, usize); PIECES];

type Six<T> = (T, T, T, T, T, T);

#[backend_extension(Flex, Cube, Fusion: cfg(target_arch = "wasm32"))]
pub trait Unpack: Backend {
    /// `flat[start..start + len]` for each (start, len) of `pieces`, as 1-D tensors.
    #[fusion(meta = fusion_meta::specs)]
    #[allow(clippy::type_complexity)]
    fn unpack_pieces(
        flat: FloatTensor<Self>,
        pieces: Pieces,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

#[cfg(target_arch = "wasm32")]
mod fusion_meta {
    use burn::backend::fusion::custom::TensorSpec;

    pub fn specs(flat: &TensorSpec, pieces: &super::Pieces) -> super::Six<TensorSpec> {
        let spec = |k: usize| TensorSpec::new(burn::tensor::Shape::from([pieces[k].1]), flat.dtype);
        (spec(0), spec(1), spec(2), spec(3), spec(4), spec(5))
    }
}

/// `flat[range]` for every range, each a 1-D tensor: one dispatch per [`PIECES`] ranges on a GPU.
pub fn unpack(flat: &Tensor<1>, ranges: &[Range<usize>]) -> Vec<Tensor<1>> {
    let mut out = Vec::with_capacity(ranges.len());
    for group in ranges.chunks(PIECES) {
        let mut pieces: Pieces = [(0, 1); PIECES];
        for (slot, r) in pieces.iter_mut().zip(group) {
            *slot = (r.start, r.len());
        }
        let (a, b, c, d, e, f) = <Dispatch as Unpack>::unpack_pieces(flat.clone().into_dispatch(), pieces);
        out.extend([a, b, c, d, e, f].into_iter().take(group.len()).map(Tensor::from_dispatch));
    }
    out
}

impl Unpack for Flex {
    fn unpack_pieces(flat: FloatTensor<Self>, pieces: Pieces) -> Six<FloatTensor<Self>> {
        let piece = |k: usize| {
            let (start, len) = pieces[k];
            Self::float_slice(flat.clone(), &[burn::tensor::Slice::from(start..start + len)])
        };
        (piece(0), piece(1), piece(2), piece(3), piece(4), piece(5))
    }
}

impl Unpack for CubeBackend {
    fn unpack_pieces(flat: FloatTensor<Self>, pieces: Pieces) -> Six<FloatTensor<Self>> {
        gpu::unpack(flat, pieces)
    }
}

/// The kernel, in cubecl's dialect (its `Tensor` and `Float` are not burn's).
mod gpu {
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    use super::{PIECES, Pieces, Six};

    /// Threads per workgroup.
    const THREADS: u32 = 64;

    /// `CUBE_POS_Y` picks the piece, `ABSOLUTE_POS_X` the value within it.
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    fn unpack_kernel<F: Float>(
        flat: &Tensor<F>,
        o0: &mut Tensor<F>,
        o1: &mut Tensor<F>,
        o2: &mut Tensor<F>,
        o3: &mut Tensor<F>,
        o4: &mut Tensor<F>,
        o5: &mut Tensor<F>,
        starts: Sequence<u32>,
        #[define(F)] _dtype: ElemType,
    ) {
        let k = CUBE_POS_Y as usize;
        let i = ABSOLUTE_POS_X as usize;
        // A sequence is indexed by constants only: one branch per piece.
        if k == 0 {
            if i < o0.len() {
                o0[i] = flat[starts[0] as usize + i];
            }
        } else if k == 1 {
            if i < o1.len() {
                o1[i] = flat[starts[1] as usize + i];
            }
        } else if k == 2 {
            if i < o2.len() {
                o2[i] = flat[starts[2] as usize + i];
            }
        } else if k == 3 {
            if i < o3.len() {
                o3[i] = flat[starts[3] as usize + i];
            }
        } else if k == 4 {
            if i < o4.len() {
                o4[i] = flat[starts[4] as usize + i];
            }
        } else if i < o5.len() {
            o5[i] = flat[starts[5] as usize + i];
        }
    }

    pub(super) fn unpack(flat: CubeTensor, pieces: Pieces) -> Six<CubeTensor> {
        let client = flat.client.clone();
        let dtype = flat.dtype;
        let out: Vec<CubeTensor> = pieces
            .iter()
            .map(|&(_, len)| {
                burn_cubecl::ops::numeric::empty_device_contiguous_dtype(
                    client.clone(),
                    flat.device.clone(),
                    burn::tensor::Shape::from([len]),
                    dtype,
                )
            })
            .collect();
        let longest = pieces.iter().map(|p| p.1).max().unwrap_or(1);
        let mut starts = SequenceArg::new();
        for &(start, _) in &pieces {
            starts.push(start as u32);
        }
        let arg = |k: usize| out[k].clone().into_tensor_arg();
        unpack_kernel::launch(
            &client,
            CubeCount::Static(longest.div_ceil(THREADS as usize) as u32, PIECES as u32, 1),
            CubeDim::new_1d(THREADS),
            flat.into_tensor_arg(),
            arg(0),
            arg(1),
            arg(2),
            arg(3),
            arg(4),
            arg(5),
            starts,
            burn::backend::cubecl::dtype_to_storage_type(dtype),
        );
        let mut out = out.into_iter();
        let mut next = || out.next().expect("six outputs");
        (next(), next(), next(), next(), next(), next())
    }
}
