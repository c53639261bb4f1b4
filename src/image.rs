//! PNG grids of sample chains for the CLI: one row per sample, one column per level.

use std::io::Write;

use crate::error::{Error, Result};

/// Pixels in [-1, 1] -> grey levels.
fn to_byte(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8
}

/// `chain` is level-major (`columns` blocks of `rows` images of h*w). Writes a grid with a
/// 2-pixel gutter, `scale` times enlarged.
pub fn write_grid<W: Write>(
    out: W,
    chain: &[f32],
    columns: usize,
    rows: usize,
    h: usize,
    w: usize,
    scale: usize,
) -> Result<()> {
    let gutter = 2;
    let cell_w = w * scale + gutter;
    let cell_h = h * scale + gutter;
    let (width, height) = (columns * cell_w + gutter, rows * cell_h + gutter);
    let mut img = vec![40u8; width * height];
    for c in 0..columns {
        for r in 0..rows {
            let src = &chain[(c * rows + r) * h * w..][..h * w];
            for y in 0..h * scale {
                for x in 0..w * scale {
                    let px = src[(y / scale) * w + x / scale];
                    img[(gutter + r * cell_h + y) * width + gutter + c * cell_w + x] = to_byte(px);
                }
            }
        }
    }
    let mut enc = png::Encoder::new(out, width as u32, height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| Error::Backend(format!("png: {e}")))?;
    writer.write_image_data(&img).map_err(|e| Error::Backend(format!("png: {e}")))?;
    Ok(())
}
