//! denoise-lab: train diffusion denoisers and progressive conditional VAEs on MNIST-scale images,
//! natively (CLI, tests) or in the browser on WebGPU. One core for both: tensors are burn's
//! device-dispatched `Tensor<D>`, and the `Device` picks Flex (CPU), wgpu (native GPU / lavapipe)
//! or WebGPU at run time.

pub mod backend;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod ideal;
pub mod lesson;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod page;
pub mod rng;
pub mod sampler;
pub mod scenario;
pub mod schedule;
pub mod session;
pub mod train;
pub mod unpack;

#[cfg(not(target_arch = "wasm32"))]
pub mod export;
#[cfg(not(target_arch = "wasm32"))]
pub mod image;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::Error;
pub use schedule::Schedule;
