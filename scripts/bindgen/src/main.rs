//! `wasm-bindgen --target web --no-typescript --out-dir OUT INPUT.wasm`, as a small in-repo tool.
//!
//! The generator's version must equal the `wasm-bindgen` crate compiled into the wasm module; both
//! come from `[workspace.dependencies]` in the root Cargo.toml, so they cannot drift apart (and
//! the generator refuses a module built with another version, naming both).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, out_dir) = match args.as_slice() {
        [input, out_dir] => (PathBuf::from(input), PathBuf::from(out_dir)),
        _ => {
            eprintln!("usage: denoise-lab-bindgen INPUT.wasm OUT_DIR");
            return ExitCode::from(2);
        }
    };
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    // The options of `wasm-bindgen --target web --no-typescript`. The library's defaults differ
    // from the CLI's in one place: it omits the glue's default path to the .wasm, which the
    // worker's `init()` (no argument) relies on.
    let result = bindgen
        .web(true)
        .map(|b| b.input_path(&input).typescript(false).omit_default_module_path(false))
        .and_then(|b| b.generate(&out_dir));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("denoise-lab-bindgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
