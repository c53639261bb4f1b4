//! `wasm-bindgen --target web --no-typescript --out-dir OUT INPUT.wasm`, as a small in-repo tool,
//! which then drops the module's `name` section (function names for stack traces: 8.5 of 47 MB,
//! 1.4 of 7.2 MB gzipped; set `DENOISE_LAB_KEEP_NAMES=1` to keep them while debugging).
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
    if let Err(e) = result {
        eprintln!("denoise-lab-bindgen: {e:#}");
        return ExitCode::FAILURE;
    }
    if std::env::var_os("DENOISE_LAB_KEEP_NAMES").is_some() {
        return ExitCode::SUCCESS;
    }
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("module");
    let wasm = out_dir.join(format!("{stem}_bg.wasm"));
    let stripped = std::fs::read(&wasm).map_err(|e| e.to_string()).and_then(|bytes| {
        let out = without_name_section(&bytes)?;
        std::fs::write(&wasm, &out).map_err(|e| e.to_string())?;
        Ok((bytes.len(), out.len()))
    });
    match stripped {
        Ok((before, after)) => {
            println!(
                "denoise-lab-bindgen: {}: {before} -> {after} bytes without the name section",
                wasm.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("denoise-lab-bindgen: {}: {e}", wasm.display());
            ExitCode::FAILURE
        }
    }
}

/// An unsigned LEB128 number at `bytes[at..]`: (value, position after it).
fn leb128(bytes: &[u8], mut at: usize) -> Result<(usize, usize), String> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(at).ok_or("truncated module")?;
        at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
    }
    Err("malformed LEB128 number".into())
}

/// The module with its custom section `name` left out (every other section byte for byte).
fn without_name_section(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        let (size, body) = leb128(bytes, at + 1)?;
        let end = body.checked_add(size).filter(|&e| e <= bytes.len()).ok_or("section past the end")?;
        let is_names = id == 0 && {
            let (len, name) = leb128(bytes, body)?;
            bytes.get(name..name + len) == Some(b"name".as_slice())
        };
        if !is_names {
            out.extend_from_slice(&bytes[start..end]);
        }
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with a type section, a `name` section and another custom section: only `name` goes.
    #[test]
    fn drops_only_the_name_section() {
        let header = b"\0asm\x01\0\0\0".to_vec();
        let types = [1u8, 4, 1, 0x60, 0, 0];
        let names = [0u8, 7, 4, b'n', b'a', b'm', b'e', 1, 0];
        let other = [0u8, 4, 3, b'a', b'b', b'c'];
        let module = [header.as_slice(), &types, &names, &other].concat();
        let out = without_name_section(&module).unwrap();
        assert_eq!(out, [header.as_slice(), &types, &other].concat());
        assert!(without_name_section(b"nope").is_err());
        assert!(without_name_section(&[header.as_slice(), &[1, 9, 1]].concat()).is_err());
    }
}
