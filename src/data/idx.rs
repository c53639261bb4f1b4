//! Parsing of IDX files (the format of the MNIST distribution), raw or gzipped.
//!
//! Only the two shapes the app needs are accepted:
//!
//! * images: magic `0x00000803` (unsigned bytes, 3 dimensions), then `n`, `h`,
//!   `w` as big-endian `u32`, then `n * h * w` pixel bytes, row-major;
//! * labels: magic `0x00000801` (unsigned bytes, 1 dimension), then `n`, then
//!   `n` label bytes, each a digit 0..=9.
//!
//! Input comes from users (files dropped on the web page), so every problem is
//! reported as a [`DataError`] whose `Display` is a sentence meant for a human,
//! and nothing in here panics on malformed input. Sizes are capped
//! ([`MAX_SIDE`], [`MAX_IMAGES`], [`MAX_TOTAL_PIXELS`]) and gzip input is never
//! decompressed past what the header announces plus one byte, so a small
//! "gzip bomb" cannot make us allocate gigabytes.

use std::fmt;
use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Largest accepted image side, in pixels (both height and width).
pub const MAX_SIDE: usize = 64;
/// Largest accepted number of images (or labels) in one file.
pub const MAX_IMAGES: usize = 1_000_000;
/// Largest accepted `n * h * w` for an image file (64 Mi pixels: full MNIST
/// training set is 47 M, 60,000 images of 32×32 are 61 M). Once scaled to
/// `f32` this is 256 MiB, already a lot for a browser tab.
pub const MAX_TOTAL_PIXELS: usize = 64 << 20;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

const DESC_IMAGES: &str = "an IDX image file (magic 0x00000803)";
const DESC_LABELS: &str = "an IDX label file (magic 0x00000801)";

/// Everything that can go wrong while reading a dataset. The `Display` text is
/// shown to the user in the web page as is (lower-case start, no final period,
/// so that it reads well after a prefix such as "bad data file: ").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// The input ends before the header or the data is complete.
    /// `what` is e.g. "image file header" or "label data".
    Truncated { what: &'static str, expected: usize, got: usize },
    /// There is more data after the `expected` bytes the header announces.
    /// `extra` is the exact excess for raw input; `None` for gzipped input
    /// (decompression stops at the first excess byte).
    TrailingBytes { what: &'static str, expected: usize, extra: Option<usize> },
    /// The first four bytes are not an IDX magic number at all.
    BadMagic { found: u32 },
    /// A valid IDX file, but not the kind expected (e.g. a label file given
    /// where images are expected, or an IDX file of floats).
    WrongKind { expected: &'static str, found: &'static str },
    /// An image side is larger than [`MAX_SIDE`].
    TooLarge { h: usize, w: usize },
    /// An image side is zero.
    ZeroSide { h: usize, w: usize },
    /// The header announces zero images (`what` = "images") or labels.
    Empty { what: &'static str },
    /// The header announces more items than supported (`max` depends on the
    /// image size, see [`MAX_IMAGES`] and [`MAX_TOTAL_PIXELS`]).
    TooMany { what: &'static str, n: usize, max: usize },
    /// The image and label files hold different numbers of items.
    CountMismatch { images: usize, labels: usize },
    /// A label is not a digit 0..=9.
    BadLabel { index: usize, value: u8 },
    /// The input looks gzipped but cannot be decompressed.
    Gzip(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Truncated { what, expected, got } => {
                if *got == 0 && what.ends_with("header") {
                    write!(f, "the file is empty (an IDX file starts with a {expected}-byte header)")
                } else {
                    write!(
                        f,
                        "the {what} is cut short: expected {} but the file ends after {}; \
                         the file may be incomplete (interrupted download?)",
                        items(*expected, "byte", "bytes"),
                        count(*got)
                    )
                }
            }
            DataError::TrailingBytes { what, expected, extra } => {
                let extra = match extra {
                    Some(k) => format!(" for {}", items(*k, "byte", "bytes")),
                    None => String::new(),
                };
                write!(
                    f,
                    "the file continues{extra} after the {} of {what} its header announces; \
                     the header does not match the data",
                    items(*expected, "byte", "bytes")
                )
            }
            DataError::BadMagic { found } => write!(
                f,
                "this is not an IDX file (it starts with 0x{found:08x}); expected MNIST-style \
                 files such as train-images-idx3-ubyte (magic 0x{IMAGES_MAGIC:08x}) and \
                 train-labels-idx1-ubyte (magic 0x{LABELS_MAGIC:08x}), optionally gzipped"
            ),
            DataError::WrongKind { expected, found } => {
                write!(f, "expected {expected}, but this is {found}")?;
                let swapped = (*expected == DESC_IMAGES && *found == DESC_LABELS)
                    || (*expected == DESC_LABELS && *found == DESC_IMAGES);
                if swapped {
                    write!(f, "; were the image and label files swapped?")?;
                }
                Ok(())
            }
            DataError::TooLarge { h, w } => {
                write!(f, "the images are {h}×{w} pixels; at most {MAX_SIDE}×{MAX_SIDE} is supported")
            }
            DataError::ZeroSide { h, w } => {
                write!(f, "the header says the images are {h}×{w} pixels; both sides must be at least 1")
            }
            DataError::Empty { what } => write!(f, "the file contains no {what} (its count is 0)"),
            DataError::TooMany { what, n, max } => write!(
                f,
                "the file holds {} {what}; at most {} are supported{}",
                count(*n),
                count(*max),
                if *what == "images" { " at this image size" } else { "" }
            ),
            DataError::CountMismatch { images, labels } => write!(
                f,
                "the image file holds {} but the label file holds {}; \
                 they must match one to one",
                items(*images, "image", "images"),
                items(*labels, "label", "labels")
            ),
            DataError::BadLabel { index, value } => {
                write!(f, "label #{} is {value}; labels must be digits 0 to 9", count(*index))
            }
            DataError::Gzip(msg) => {
                write!(f, "the file looks gzipped but is corrupt or incomplete ({msg})")
            }
        }
    }
}

impl std::error::Error for DataError {}

/// `(2352, "byte", "bytes")` -> `"2,352 bytes"`, for messages.
fn items(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// `12345678` -> `"12,345,678"`, for messages.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parsed IDX image set. Pixels as raw bytes 0..=255, row-major, `n * h * w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub pixels: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }
    fn header_len(self) -> usize {
        match self {
            Kind::Images => 16,
            Kind::Labels => 8,
        }
    }
    fn header_what(self) -> &'static str {
        match self {
            Kind::Images => "image file header",
            Kind::Labels => "label file header",
        }
    }
    fn data_what(self) -> &'static str {
        match self {
            Kind::Images => "image data",
            Kind::Labels => "label data",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Images => "images",
            Kind::Labels => "labels",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Kind::Images => DESC_IMAGES,
            Kind::Labels => DESC_LABELS,
        }
    }
}

/// What an IDX magic number other than the expected one means, or `BadMagic`
/// if it is not an IDX magic number at all.
fn classify_magic(magic: u32, expected: Kind) -> DataError {
    let [zero0, zero1, dtype, dims] = magic.to_be_bytes();
    if zero0 != 0 || zero1 != 0 || dims == 0 {
        return DataError::BadMagic { found: magic };
    }
    let found = match (dtype, dims) {
        (0x08, 1) => DESC_LABELS,
        (0x08, 3) => DESC_IMAGES,
        (0x08, 2) => "a 2-D IDX file of bytes",
        (0x08, 4) => "a 4-D IDX file of bytes (colour images?)",
        (0x08, _) => "an IDX file of bytes with an unsupported number of dimensions",
        (0x09, _) => "an IDX file of signed bytes (only unsigned bytes are supported)",
        (0x0B, _) => "an IDX file of 16-bit integers (only unsigned bytes are supported)",
        (0x0C, _) => "an IDX file of 32-bit integers (only unsigned bytes are supported)",
        (0x0D, _) => "an IDX file of 32-bit floats (only unsigned bytes are supported)",
        (0x0E, _) => "an IDX file of 64-bit floats (only unsigned bytes are supported)",
        _ => return DataError::BadMagic { found: magic },
    };
    DataError::WrongKind { expected: expected.describe(), found }
}

/// The decompressed byte stream of the input.
enum Source<'a> {
    Raw(&'a [u8]),
    Gzip(Box<MultiGzDecoder<&'a [u8]>>),
}

impl<'a> Source<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Source::Gzip(Box::new(MultiGzDecoder::new(bytes)))
        } else {
            Source::Raw(bytes)
        }
    }

    /// Reads up to `n` bytes (fewer only at the end of the input).
    fn read_up_to(&mut self, n: usize) -> Result<Vec<u8>, DataError> {
        match self {
            Source::Raw(rest) => {
                let k = n.min(rest.len());
                let (head, tail) = rest.split_at(k);
                *rest = tail;
                Ok(head.to_vec())
            }
            Source::Gzip(dec) => {
                // `n` is bounded by the caps checked before the body is read.
                let mut buf = Vec::with_capacity(n.min(16 << 20));
                dec.as_mut()
                    .take(n as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| DataError::Gzip(e.to_string()))?;
                Ok(buf)
            }
        }
    }

    /// Checks that nothing follows the `expected` bytes of `what`.
    fn expect_end(mut self, what: &'static str, expected: usize) -> Result<(), DataError> {
        let extra = if let Source::Raw(rest) = &self {
            (!rest.is_empty()).then_some(Some(rest.len()))
        } else {
            // Reading one more byte also runs the gzip CRC / length check.
            (!self.read_up_to(1)?.is_empty()).then_some(None)
        };
        match extra {
            None => Ok(()),
            Some(extra) => Err(DataError::TrailingBytes { what, expected, extra }),
        }
    }
}

/// Reads and checks the magic number, returns the dimensions of the header.
fn read_header(src: &mut Source<'_>, kind: Kind) -> Result<Vec<usize>, DataError> {
    let truncated =
        |got: usize| DataError::Truncated { what: kind.header_what(), expected: kind.header_len(), got };
    let head = src.read_up_to(4)?;
    let Ok(magic) = <[u8; 4]>::try_from(head.as_slice()) else {
        return Err(truncated(head.len()));
    };
    let magic = u32::from_be_bytes(magic);
    if magic != kind.magic() {
        return Err(classify_magic(magic, kind));
    }
    let rest = src.read_up_to(kind.header_len() - 4)?;
    if rest.len() < kind.header_len() - 4 {
        return Err(truncated(4 + rest.len()));
    }
    Ok(rest.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect())
}

/// Reads exactly `len` bytes of data, then checks that nothing follows.
fn read_body(mut src: Source<'_>, kind: Kind, len: usize) -> Result<Vec<u8>, DataError> {
    let body = src.read_up_to(len)?;
    if body.len() < len {
        return Err(DataError::Truncated { what: kind.data_what(), expected: len, got: body.len() });
    }
    src.expect_end(kind.data_what(), len)?;
    Ok(body)
}

/// Parses an IDX image file (magic `0x00000803`), gzipped (detected by its
/// `1f 8b` signature) or raw.
///
/// Requires `1 <= h, w <= MAX_SIDE`, `1 <= n`, `n <= MAX_IMAGES`,
/// `n * h * w <= MAX_TOTAL_PIXELS`, and exactly `n * h * w` bytes of data
/// (missing or extra bytes are both errors).
pub fn parse_idx_images(bytes: &[u8]) -> Result<IdxImages, DataError> {
    let kind = Kind::Images;
    let mut src = Source::new(bytes);
    let dims = read_header(&mut src, kind)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if h == 0 || w == 0 {
        return Err(DataError::ZeroSide { h, w });
    }
    if h > MAX_SIDE || w > MAX_SIDE {
        return Err(DataError::TooLarge { h, w });
    }
    if n == 0 {
        return Err(DataError::Empty { what: kind.noun() });
    }
    let max = MAX_IMAGES.min(MAX_TOTAL_PIXELS / (h * w));
    if n > max {
        return Err(DataError::TooMany { what: kind.noun(), n, max });
    }
    let pixels = read_body(src, kind, n * h * w)?;
    Ok(IdxImages { n, h, w, pixels })
}

/// Parses an IDX label file (magic `0x00000801`), gzipped or raw. Requires
/// `1 <= n <= MAX_IMAGES`, exactly `n` bytes of data, each a digit 0..=9.
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let kind = Kind::Labels;
    let mut src = Source::new(bytes);
    let n = read_header(&mut src, kind)?[0];
    if n == 0 {
        return Err(DataError::Empty { what: kind.noun() });
    }
    if n > MAX_IMAGES {
        return Err(DataError::TooMany { what: kind.noun(), n, max: MAX_IMAGES });
    }
    let labels = read_body(src, kind, n)?;
    if let Some((index, &value)) = labels.iter().enumerate().find(|(_, v)| **v > 9) {
        return Err(DataError::BadLabel { index, value });
    }
    Ok(labels)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::io::Write;

    pub(crate) fn idx_images(n: u32, h: u32, w: u32, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [IMAGES_MAGIC, n, h, w] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(pixels);
        out
    }

    pub(crate) fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
        out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        out.extend_from_slice(labels);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn sample_pixels(n: usize, h: usize, w: usize) -> Vec<u8> {
        (0..n * h * w).map(|i| (i * 37 % 256) as u8).collect()
    }

    #[test]
    fn round_trip_raw_and_gzipped() {
        let (n, h, w) = (5, 3, 4);
        let pixels = sample_pixels(n, h, w);
        let raw = idx_images(n as u32, h as u32, w as u32, &pixels);
        let expected = IdxImages { n, h, w, pixels };
        assert_eq!(parse_idx_images(&raw), Ok(expected.clone()));
        assert_eq!(parse_idx_images(&gzip(&raw)), Ok(expected));

        let labels = vec![0, 9, 3, 3, 7];
        let raw = idx_labels(&labels);
        assert_eq!(parse_idx_labels(&raw), Ok(labels.clone()));
        assert_eq!(parse_idx_labels(&gzip(&raw)), Ok(labels));
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let raw = idx_images(2, 2, 2, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut gz = gzip(&raw[..10]);
        gz.extend(gzip(&raw[10..]));
        assert_eq!(parse_idx_images(&gz).unwrap().pixels, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn truncated_header() {
        let raw = idx_images(1, 2, 2, &[0; 4]);
        for cut in [0, 3, 4, 10, 15] {
            let expected = Err(DataError::Truncated { what: "image file header", expected: 16, got: cut });
            assert_eq!(parse_idx_images(&raw[..cut]), expected, "cut at {cut}");
            assert_eq!(parse_idx_images(&gzip(&raw[..cut])), expected, "gz cut at {cut}");
        }
        let raw = idx_labels(&[1, 2]);
        assert_eq!(
            parse_idx_labels(&raw[..6]),
            Err(DataError::Truncated { what: "label file header", expected: 8, got: 6 })
        );
        assert!(
            DataError::Truncated { what: "image file header", expected: 16, got: 0 }
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn truncated_body() {
        let raw = idx_images(3, 4, 4, &sample_pixels(3, 4, 4));
        let cut = &raw[..raw.len() - 5];
        let expected = DataError::Truncated { what: "image data", expected: 48, got: 43 };
        assert_eq!(parse_idx_images(cut), Err(expected.clone()));
        assert_eq!(parse_idx_images(&gzip(cut)), Err(expected.clone()));

        let raw = idx_labels(&[1, 2, 3]);
        assert_eq!(
            parse_idx_labels(&raw[..9]),
            Err(DataError::Truncated { what: "label data", expected: 3, got: 1 })
        );
        let msg = expected.to_string();
        assert!(msg.contains("48") && msg.contains("43"), "{msg}");
    }

    #[test]
    fn trailing_bytes() {
        let mut raw = idx_images(1, 2, 2, &[1, 2, 3, 4]);
        raw.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            parse_idx_images(&raw),
            Err(DataError::TrailingBytes { what: "image data", expected: 4, extra: Some(3) })
        );
        assert_eq!(
            parse_idx_images(&gzip(&raw)),
            Err(DataError::TrailingBytes { what: "image data", expected: 4, extra: None })
        );
        let mut raw = idx_labels(&[1]);
        raw.push(2);
        assert_eq!(
            parse_idx_labels(&raw),
            Err(DataError::TrailingBytes { what: "label data", expected: 1, extra: Some(1) })
        );
    }

    #[test]
    fn gzip_bomb_stops_early() {
        // Header says 1 image of 1x1, followed by 32 MiB of zeros (~32 KiB gzipped).
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&idx_images(1, 1, 1, &[7])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..32 {
            enc.write_all(&zeros).unwrap();
        }
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 100_000);
        assert_eq!(
            parse_idx_images(&gz),
            Err(DataError::TrailingBytes { what: "image data", expected: 1, extra: None })
        );
    }

    #[test]
    fn bad_magic() {
        let mut raw = idx_images(1, 1, 1, &[0]);
        raw[..4].copy_from_slice(b"PK\x03\x04");
        assert_eq!(parse_idx_images(&raw), Err(DataError::BadMagic { found: 0x504b_0304 }));
        assert_eq!(parse_idx_labels(&raw), Err(DataError::BadMagic { found: 0x504b_0304 }));
        // Unknown IDX type code.
        raw[..4].copy_from_slice(&0x0000_0703u32.to_be_bytes());
        assert_eq!(parse_idx_images(&raw), Err(DataError::BadMagic { found: 0x0000_0703 }));
        // Float IDX: recognised, but the wrong kind.
        raw[..4].copy_from_slice(&0x0000_0d03u32.to_be_bytes());
        assert!(matches!(parse_idx_images(&raw), Err(DataError::WrongKind { .. })));
        let msg = DataError::BadMagic { found: 0x504b_0304 }.to_string();
        assert!(msg.contains("0x504b0304") && msg.contains("IDX"), "{msg}");
    }

    #[test]
    fn labels_given_as_images_and_vice_versa() {
        let labels = idx_labels(&[1, 2, 3]);
        let err = parse_idx_images(&labels).unwrap_err();
        assert_eq!(err, DataError::WrongKind { expected: DESC_IMAGES, found: DESC_LABELS });
        assert!(err.to_string().contains("swapped"), "{err}");
        let images = idx_images(1, 1, 1, &[0]);
        assert_eq!(
            parse_idx_labels(&gzip(&images)),
            Err(DataError::WrongKind { expected: DESC_LABELS, found: DESC_IMAGES })
        );
    }

    #[test]
    fn sizes() {
        let raw = idx_images(1, 65, 65, &[0; 65 * 65]);
        assert_eq!(parse_idx_images(&raw), Err(DataError::TooLarge { h: 65, w: 65 }));
        let raw = idx_images(1, 28, 65, &[0; 28 * 65]);
        assert_eq!(parse_idx_images(&raw), Err(DataError::TooLarge { h: 28, w: 65 }));
        let raw = idx_images(1, 64, 64, &[0; 64 * 64]);
        assert_eq!(parse_idx_images(&raw).unwrap().n, 1);
        let raw = idx_images(1, 0, 28, &[]);
        assert_eq!(parse_idx_images(&raw), Err(DataError::ZeroSide { h: 0, w: 28 }));
        // Too many: rejected from the header alone, nothing is allocated.
        let raw = idx_images(1_000_001, 1, 1, &[]);
        assert_eq!(
            parse_idx_images(&raw),
            Err(DataError::TooMany { what: "images", n: 1_000_001, max: MAX_IMAGES })
        );
        let raw = idx_images(100_000, 28, 28, &[]);
        assert_eq!(
            parse_idx_images(&raw),
            Err(DataError::TooMany { what: "images", n: 100_000, max: MAX_TOTAL_PIXELS / 784 })
        );
        let mut raw = idx_labels(&[]);
        raw[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse_idx_labels(&raw), Err(DataError::TooMany { .. })));
    }

    #[test]
    fn zero_images_or_labels() {
        let raw = idx_images(0, 28, 28, &[]);
        assert_eq!(parse_idx_images(&raw), Err(DataError::Empty { what: "images" }));
        assert_eq!(parse_idx_labels(&idx_labels(&[])), Err(DataError::Empty { what: "labels" }));
    }

    #[test]
    fn gzip_garbage() {
        let garbage = [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0xff, 0xff, 0x12];
        assert!(matches!(parse_idx_images(&garbage), Err(DataError::Gzip(_))));
        assert!(matches!(parse_idx_labels(&garbage), Err(DataError::Gzip(_))));
        // A valid stream with a corrupted CRC.
        let raw = idx_images(1, 2, 2, &[1, 2, 3, 4]);
        let mut gz = gzip(&raw);
        let at = gz.len() - 6;
        gz[at] ^= 0xff;
        let err = parse_idx_images(&gz).unwrap_err();
        assert!(matches!(err, DataError::Gzip(_)), "{err:?}");
        assert!(err.to_string().contains("gzip"));
    }

    #[test]
    fn label_out_of_range() {
        let raw = idx_labels(&[0, 9, 10, 255]);
        let err = parse_idx_labels(&raw).unwrap_err();
        assert_eq!(err, DataError::BadLabel { index: 2, value: 10 });
        assert!(err.to_string().contains("0 to 9"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(7_840_000), "7,840,000");
        assert_eq!(items(1, "byte", "bytes"), "1 byte");
        assert_eq!(items(1000, "byte", "bytes"), "1,000 bytes");
    }

    /// Random inputs and random damage to valid inputs must give `Err`, never a panic.
    #[test]
    fn fuzz_never_panics() {
        let mut rng = SmallRng::seed_from_u64(7);
        let valid_images = idx_images(6, 5, 7, &sample_pixels(6, 5, 7));
        let valid_labels = idx_labels(&[0, 1, 2, 3, 4, 5]);
        let valid = [valid_images.clone(), gzip(&valid_images), valid_labels.clone(), gzip(&valid_labels)];
        // Which errors were seen, to make sure the inputs reach every check.
        let mut seen = std::collections::BTreeSet::new();
        let mut check = |bytes: &[u8]| {
            for r in [parse_idx_images(bytes).map(|_| ()), parse_idx_labels(bytes).map(|_| ())] {
                let name = match r {
                    Ok(()) => "ok",
                    Err(e) => match e {
                        DataError::Truncated { .. } => "Truncated",
                        DataError::TrailingBytes { .. } => "TrailingBytes",
                        DataError::BadMagic { .. } => "BadMagic",
                        DataError::WrongKind { .. } => "WrongKind",
                        DataError::TooLarge { .. } => "TooLarge",
                        DataError::ZeroSide { .. } => "ZeroSide",
                        DataError::Empty { .. } => "Empty",
                        DataError::TooMany { .. } => "TooMany",
                        DataError::CountMismatch { .. } => "CountMismatch",
                        DataError::BadLabel { .. } => "BadLabel",
                        DataError::Gzip(_) => "Gzip",
                    },
                };
                seen.insert(name);
            }
        };
        for i in 0..2000 {
            // Random bytes, a third of them behind a plausible magic / gzip signature.
            let len = rng.random_range(0..80);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let prefix: &[u8] = match i % 3 {
                0 => &[],
                1 => &[0, 0, 8, if rng.random() { 1 } else { 3 }],
                _ => &[0x1f, 0x8b, 8, 0],
            };
            bytes.splice(0..0, prefix.iter().copied());
            if i % 3 == 1 && bytes.len() >= 16 {
                // Keep dimensions small so that some inputs reach the body checks.
                for k in [7, 11, 15] {
                    bytes[k - 3..k].fill(0);
                    bytes[k] %= 8;
                }
            }
            check(&bytes);

            // Truncations and byte flips of valid files.
            let v = &valid[i % valid.len()];
            let cut = rng.random_range(0..=v.len());
            let r = (parse_idx_images(&v[..cut]), parse_idx_labels(&v[..cut]));
            if cut < v.len() {
                assert!(r.0.is_err() && r.1.is_err(), "truncation at {cut} accepted");
            }
            check(&v[..cut]);
            let mut flipped = v.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..flipped.len());
                flipped[at] ^= 1 << rng.random_range(0..8);
            }
            check(&flipped);
        }
        for name in [
            "ok",
            "Truncated",
            "TrailingBytes",
            "BadMagic",
            "WrongKind",
            "TooLarge",
            "ZeroSide",
            "Empty",
            "BadLabel",
            "Gzip",
        ] {
            assert!(seen.contains(name), "fuzzing never produced {name}: {seen:?}");
        }
    }
}
