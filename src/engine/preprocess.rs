//! Sample inputs for the model runner that are not tensor files: PNG/JPEG images (decoded with feature `model`) resized and normalized into the model input's f32 tensor, typed shapes for symbolic dimensions, and seeded random inputs.
//!
//! The pipeline, in this order, is the one the user states ([`Preprocess`]): decode to 8-bit RGB
//! (grey expanded, alpha dropped, 16-bit reduced to 8) → resize to H×W, **bilinear with half-pixel
//! centres and no antialiasing** (OpenCV's `INTER_LINEAR`, PyTorch's `align_corners=False`),
//! computed in f32 (OpenCV on uint8 rounds back to 8 bits: at most 1/255 apart before the
//! normalization) → channel order RGB or BGR (or luma, ITU-R 601, for a one-channel input) →
//! `x * scale` → `(x - mean[c]) / std[c]` → NCHW or NHWC. With `pad`, the aspect ratio is kept
//! (height H, width `min(ceil(H·w/h), W)`) and the right side is zero after normalization, as
//! PP-OCR's `resize_norm_img` does.

use serde::{Deserialize, Serialize};

/// A tensor's shape and its values (C order), as the model runner takes them.
/// A sample tensor at the engine's boundary with the runtime: its values with their shape (C
/// order), an `ndarray` array (tract's tensors convert from and to it without a copy).
pub type Values = ndarray::ArrayD<f32>;

/// A shape and its values (C order) as a [`Values`] array.
pub fn values(shape: Vec<usize>, data: Vec<f32>) -> Result<Values, String> {
    let n = data.len();
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), data)
        .map_err(|_| format!("{n} values do not fill the shape {shape:?}"))
}

/// An image's tensor before it becomes [`Values`]: (shape, values in C order).
pub type Raw = (Vec<usize>, Vec<f32>);
/// An input's name and declared shape (`None`: symbolic).
pub type Declared = (String, Vec<Option<usize>>);
/// Samples made of images, notes on the images left out, and a line saying what was used.
pub type ImageSamples = (Vec<Vec<Values>>, Vec<String>, String);
/// Decoded images, sentences on the images that would not decode, the other files.
pub type SplitFiles = (Vec<(String, Image)>, Vec<String>, Vec<(String, Vec<u8>)>);

/// Where the channel dimension is in a 4-D image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

impl Layout {
    pub fn parse(s: &str) -> Option<Layout> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nchw" => Some(Layout::Nchw),
            "nhwc" => Some(Layout::Nhwc),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        }
    }
}

/// How an image becomes the model's input, as the user states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preprocess {
    /// Target (height, width); `None`: the model's declared H and W when fixed, else the first
    /// image's own size.
    pub size: Option<(usize, usize)>,
    /// Channels in B, G, R order (OpenCV's `imread`), else R, G, B.
    pub bgr: bool,
    /// Each 0..255 value is multiplied by this first (1/255: values in 0..1).
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// `None`: from the declared shape (channels of 1 or 3 at axis 1 → NCHW, at axis 3 → NHWC).
    pub layout: Option<Layout>,
    /// Keep the aspect ratio: resize to height H, pad the right side with zeros (PP-OCR).
    pub pad: bool,
}

impl Default for Preprocess {
    /// ÷255, no mean/std, layout from the model: the least surprising start.
    fn default() -> Self {
        Preprocess {
            size: None,
            bgr: false,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            layout: None,
            pad: false,
        }
    }
}

/// The presets the model panel offers: (key, label); `Preprocess::describe` says what each does.
pub const PRESETS: &[(&str, &str)] = &[
    ("ppocr", "PP-OCR"),
    ("imagenet", "ImageNet"),
    ("unit", "÷255 only"),
];

impl Preprocess {
    /// A named preset (`ppocr`, `imagenet`, `unit`), target size left to the model.
    pub fn preset(key: &str) -> Option<Preprocess> {
        let base = Preprocess::default();
        match key {
            "ppocr" => Some(Preprocess {
                bgr: true,
                mean: [0.5; 3],
                std: [0.5; 3],
                layout: Some(Layout::Nchw),
                pad: true,
                ..base
            }),
            "imagenet" => Some(Preprocess {
                mean: [0.485, 0.456, 0.406],
                std: [0.229, 0.224, 0.225],
                layout: Some(Layout::Nchw),
                ..base
            }),
            "unit" => Some(base),
            _ => None,
        }
    }

    /// The preset these settings are (ignoring the size), if any.
    pub fn preset_key(&self) -> Option<&'static str> {
        PRESETS.iter().map(|(k, _)| *k).find(|k| {
            Preprocess::preset(k).is_some_and(|p| {
                Preprocess {
                    size: self.size,
                    ..p
                } == *self
            })
        })
    }

    /// Say what it does, in one line (for notes and the CLI).
    pub fn describe(&self) -> String {
        let f = |v: [f32; 3]| {
            if v[0] == v[1] && v[1] == v[2] {
                format!("{}", v[0])
            } else {
                format!("{}/{}/{}", v[0], v[1], v[2])
            }
        };
        format!(
            "{}{}, bilinear (half-pixel centres){}, ×{}, mean {}, std {}, {}",
            if self.bgr { "BGR" } else { "RGB" },
            self.size
                .map(|(h, w)| format!(", {h}×{w}"))
                .unwrap_or_default(),
            if self.pad {
                ", aspect kept, right padded"
            } else {
                ""
            },
            if (self.scale - 1.0 / 255.0).abs() < 1e-9 {
                "1/255".to_string()
            } else {
                self.scale.to_string()
            },
            f(self.mean),
            f(self.std),
            self.layout
                .map(|l| l.name())
                .unwrap_or("layout from the model")
        )
    }

    /// Refuse what cannot give a finite tensor.
    pub fn check(&self) -> Result<(), String> {
        if self.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err("std must be non-zero".into());
        }
        if !self.scale.is_finite() || self.mean.iter().any(|m| !m.is_finite()) {
            return Err("scale and mean must be finite numbers".into());
        }
        if self.size.is_some_and(|(h, w)| h == 0 || w == 0) {
            return Err("the target size must be at least 1×1".into());
        }
        Ok(())
    }
}

/// A decoded image: 8-bit RGB, row-major, interleaved.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// `48x192`, `48×192` or `48,192` → (48, 192).
pub fn parse_size(s: &str) -> Option<(usize, usize)> {
    let d = parse_dims(s)?;
    match d.as_slice() {
        [Some(h), Some(w)] if *h > 0 && *w > 0 => Some((*h, *w)),
        _ => None,
    }
}

/// `1x3x48x?`, `1,3,48,192` or `[1, 3, 48, 192]` → dimensions (`?` stays symbolic).
pub fn parse_dims(s: &str) -> Option<Vec<Option<usize>>> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    if t.is_empty() {
        return None;
    }
    t.split(['x', 'X', '×', ','])
        .map(|p| {
            let p = p.trim();
            if p == "?" {
                Some(None)
            } else {
                p.parse::<usize>().ok().map(Some)
            }
        })
        .collect()
}

/// `0.5` → [0.5; 3]; `0.485,0.456,0.406` → per channel.
pub fn parse_triple(s: &str) -> Option<[f32; 3]> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
        .collect::<Option<_>>()?;
    match v.as_slice() {
        [a] => Some([*a; 3]),
        [a, b, c] => Some([*a, *b, *c]),
        _ => None,
    }
}

/// A shape as people write it: `[1, 3, 48, ?]`.
pub fn dims_text(d: &[Option<usize>]) -> String {
    let v: Vec<String> = d
        .iter()
        .map(|x| x.map(|v| v.to_string()).unwrap_or_else(|| "?".into()))
        .collect();
    format!("[{}]", v.join(", "))
}

/// The declared shapes with the user's typed dimensions filled in: a typed shape of the same rank
/// replaces the declared one where the declared dimension is symbolic (a typed dimension that
/// contradicts a fixed one is refused).
pub fn apply_typed(
    declared: &[Declared],
    typed: &[Vec<Option<usize>>],
) -> Result<Vec<Declared>, String> {
    let mut out = declared.to_vec();
    for ((name, dims), t) in out.iter_mut().zip(typed) {
        if t.is_empty() {
            continue;
        }
        if t.len() != dims.len() {
            return Err(format!(
                "input {name}: typed shape {} has {} dimensions; the model declares {}",
                dims_text(t),
                t.len(),
                dims_text(dims)
            ));
        }
        for (i, (d, v)) in dims.iter_mut().zip(t).enumerate() {
            match (*d, *v) {
                (Some(a), Some(b)) if a != b => {
                    return Err(format!(
                        "input {name}: dimension {i} is fixed at {a} by the model; {b} was typed"
                    ))
                }
                (None, Some(0)) => return Err(format!("input {name}: dimension {i} cannot be 0")),
                (None, Some(b)) => *d = Some(b),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Where the image's axes are in a 4-D input: (layout, channels, H, W, batch), each dimension
/// `None` when symbolic.
type ImageAxes = (
    Layout,
    Option<usize>,
    Option<usize>,
    Option<usize>,
    Option<usize>,
);

fn image_axes(name: &str, dims: &[Option<usize>], pp: &Preprocess) -> Result<ImageAxes, String> {
    if dims.len() != 4 {
        return Err(format!(
            "input {name} has shape {}: images feed a 4-D input (NCHW or NHWC)",
            dims_text(dims)
        ));
    }
    let is_c = |d: Option<usize>| matches!(d, Some(1) | Some(3));
    let layout = match pp.layout {
        Some(l) => l,
        None if is_c(dims[1]) => Layout::Nchw,
        None if is_c(dims[3]) => Layout::Nhwc,
        None => Layout::Nchw,
    };
    let (c, h, w) = match layout {
        Layout::Nchw => (dims[1], dims[2], dims[3]),
        Layout::Nhwc => (dims[3], dims[1], dims[2]),
    };
    if c.is_some_and(|c| c != 1 && c != 3) {
        return Err(format!(
            "input {name} has shape {} in {}: {} channels, and images give 1 or 3 (is the layout right?)",
            dims_text(dims),
            layout.name(),
            c.unwrap_or(0)
        ));
    }
    Ok((layout, c, h, w, dims[0]))
}

/// Bilinear resize of one 8-bit RGB image to `(h, w)` in f32, half-pixel centres (source
/// coordinate `(d + 0.5)·in/out − 0.5`, clamped to the edge), no antialiasing.
pub fn resize_bilinear(img: &Image, h: usize, w: usize) -> Vec<f32> {
    let taps = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
        let r = inp as f64 / out as f64;
        (0..out)
            .map(|d| {
                let s = ((d as f64 + 0.5) * r - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, (s - i0 as f64).clamp(0.0, 1.0) as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, img.height), taps(w, img.width));
    let px = |y: usize, x: usize, c: usize| img.rgb[(y * img.width + x) * 3 + c] as f32;
    let mut out = vec![0f32; h * w * 3];
    for (oy, &(y0, y1, fy)) in ty.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in tx.iter().enumerate() {
            for c in 0..3 {
                let top = px(y0, x0, c) * (1.0 - fx) + px(y0, x1, c) * fx;
                let bot = px(y1, x0, c) * (1.0 - fx) + px(y1, x1, c) * fx;
                out[(oy * w + ox) * 3 + c] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

/// One image as a `[1, C, H, W]` (or `[1, H, W, C]`) tensor for `channels` 1 or 3.
pub fn image_tensor(
    img: &Image,
    (h, w): (usize, usize),
    channels: usize,
    layout: Layout,
    pp: &Preprocess,
) -> Raw {
    let inner_w = if pp.pad {
        let r = img.width as f64 / img.height.max(1) as f64;
        ((h as f64 * r).ceil() as usize).clamp(1, w)
    } else {
        w
    };
    let rs = resize_bilinear(img, h, inner_w);
    let mut data = vec![0f32; channels * h * w];
    for y in 0..h {
        for x in 0..inner_w {
            let p = &rs[(y * inner_w + x) * 3..(y * inner_w + x) * 3 + 3];
            for c in 0..channels {
                let v = if channels == 1 {
                    p[0] * 0.299 + p[1] * 0.587 + p[2] * 0.114
                } else if pp.bgr {
                    p[2 - c]
                } else {
                    p[c]
                };
                let v = (v * pp.scale - pp.mean[c]) / pp.std[c];
                let ix = match layout {
                    Layout::Nchw => (c * h + y) * w + x,
                    Layout::Nhwc => (y * w + x) * channels + c,
                };
                data[ix] = v;
            }
        }
    }
    let shape = match layout {
        Layout::Nchw => vec![1, channels, h, w],
        Layout::Nhwc => vec![1, h, w, channels],
    };
    (shape, data)
}

/// Images as samples of a one-input model (typed shapes applied to `declared` first): each image
/// one sample (or `N` per sample when the batch is fixed at `N`), all at one size. Gives
/// (samples, notes on what was left out, the size and layout used).
pub fn samples_from_images(
    declared: &[Declared],
    images: &[(String, Image)],
    pp: &Preprocess,
) -> Result<ImageSamples, String> {
    pp.check()?;
    let [(name, dims)] = declared else {
        return Err(format!(
            "images feed a model with one input; this one has {} — drop .npz files with a tensor per input",
            declared.len()
        ));
    };
    let (layout, c, h, w, n) = image_axes(name, dims, pp)?;
    let Some((_, first)) = images.first() else {
        return Ok((Vec::new(), Vec::new(), String::new()));
    };
    let size = match (pp.size, h, w) {
        (Some(s), _, _) => s,
        (None, Some(h), Some(w)) => (h, w),
        (None, h, w) => (h.unwrap_or(first.height), w.unwrap_or(first.width)),
    };
    if h.is_some_and(|h| h != size.0) || w.is_some_and(|w| w != size.1) {
        return Err(format!(
            "input {name} is {} in {}; the target size {}×{} does not fit it",
            dims_text(dims),
            layout.name(),
            size.0,
            size.1
        ));
    }
    let channels = c.unwrap_or(3);
    let batch = n.unwrap_or(1).max(1);
    let mut notes = Vec::new();
    let mut samples = Vec::new();
    for group in images.chunks(batch) {
        if group.len() < batch {
            notes.push(format!(
                "{}: left out, the batch is fixed at {batch} and these images do not fill one",
                group
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        let mut data = Vec::new();
        let mut shape = Vec::new();
        for (_, img) in group {
            let (s, d) = image_tensor(img, size, channels, layout, pp);
            shape = s;
            data.extend(d);
        }
        shape[0] = batch;
        samples.push(vec![values(shape, data)?]);
    }
    let used = format!(
        "{} image(s) as {name} {}: {}",
        images.len(),
        dims_text(
            &match layout {
                Layout::Nchw => [batch, channels, size.0, size.1],
                Layout::Nhwc => [batch, size.0, size.1, channels],
            }
            .map(Some)
        ),
        Preprocess {
            size: Some(size),
            layout: Some(layout),
            ..pp.clone()
        }
        .describe()
    );
    Ok((samples, notes, used))
}

/// Random inputs: `count` samples, uniform in `[a, b]` or normal with mean `a` and standard
/// deviation `b`, from `seed` (the same seed gives the same inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomInputs {
    pub count: usize,
    pub normal: bool,
    pub a: f32,
    pub b: f32,
    pub seed: u64,
}

/// What QuantLens says whenever it runs on random inputs.
pub const RANDOM_WARNING: &str = "random inputs mis-rank layers: activations' ranges and the sensitivity ranking follow the data, and random data is not the data the model sees — use real samples for decisions";

impl RandomInputs {
    pub fn describe(&self) -> String {
        format!(
            "{} random sample(s), {}, seed {}",
            self.count,
            if self.normal {
                format!("normal(mean {}, std {})", self.a, self.b)
            } else {
                format!("uniform in [{}, {}]", self.a, self.b)
            },
            self.seed
        )
    }

    /// The samples for inputs whose every dimension is known (declared or typed).
    pub fn samples(&self, declared: &[Declared]) -> Result<Vec<Vec<Values>>, String> {
        if self.count == 0 || self.count > 1000 {
            return Err("the number of random samples is 1 to 1000".into());
        }
        if !(self.a.is_finite() && self.b.is_finite())
            || (!self.normal && self.b < self.a)
            || (self.normal && self.b < 0.0)
        {
            return Err(if self.normal {
                "normal inputs need a finite mean and a std ≥ 0".into()
            } else {
                "uniform inputs need a finite range low ≤ high".into()
            });
        }
        let mut shapes = Vec::new();
        for (name, dims) in declared {
            let Some(s) = dims.iter().copied().collect::<Option<Vec<usize>>>() else {
                return Err(format!(
                    "input {name} has shape {}: type the symbolic dimensions (?) to run on random inputs",
                    dims_text(dims)
                ));
            };
            let numel = s.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if numel.is_none_or(|n| n > 64 << 20) {
                return Err(format!("input {name}: {} is too large", dims_text(dims)));
            }
            shapes.push(s);
        }
        let mut rng = SplitMix(self.seed);
        (0..self.count)
            .map(|_| {
                shapes
                    .iter()
                    .map(|s| {
                        let n = s.iter().product();
                        let v = (0..n)
                            .map(|_| {
                                if self.normal {
                                    self.a + self.b * rng.normal()
                                } else {
                                    self.a + (self.b - self.a) * rng.unit() as f32
                                }
                            })
                            .collect();
                        values(s.clone(), v)
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast and the same on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1), 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// Whether a file's first bytes are a PNG or JPEG image (by content, never the name).
pub fn is_image(head: &[u8]) -> bool {
    matches!(
        super::detect::container(head, head.len() as u64),
        Some(super::detect::Container::Png | super::detect::Container::Jpeg)
    )
}

/// Decode a PNG or JPEG (told apart by their first bytes) to 8-bit RGB; a clear sentence naming
/// the file when it is not one or is damaged.
#[cfg(feature = "model")]
pub fn decode(name: &str, bytes: &[u8]) -> Result<Image, String> {
    use super::detect::{container, Container};
    match container(bytes, bytes.len() as u64) {
        Some(Container::Png) => decode_png(bytes).map_err(|e| {
            format!("{name}: a PNG image QuantLens cannot read ({e}): truncated or damaged?")
        }),
        Some(Container::Jpeg) => decode_jpeg(bytes).map_err(|e| {
            format!("{name}: a JPEG image QuantLens cannot read ({e}): truncated or damaged?")
        }),
        _ => Err(format!("{name}: not a PNG or JPEG image")),
    }
}

/// Images above this many pixels are refused (a decompression bomb would otherwise take the tab).
#[cfg(feature = "model")]
const MAX_PIXELS: usize = 64 << 20;

#[cfg(feature = "model")]
fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let (w, h) = {
        let i = reader.info();
        (i.width as usize, i.height as usize)
    };
    if w * h > MAX_PIXELS {
        return Err(format!("{w}×{h} pixels is too large"));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "the image is too large".to_string())?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let ch = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("an indexed PNG left unexpanded".into()),
    };
    Ok(to_rgb(&buf[..info.buffer_size()], w, h, ch, info.line_size))
}

#[cfg(feature = "model")]
fn decode_jpeg(bytes: &[u8]) -> Result<Image, String> {
    use zune_jpeg::zune_core::{colorspace::ColorSpace, options::DecoderOptions};
    let opts = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_strict_mode(true);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(bytes), opts);
    dec.decode_headers().map_err(|e| e.to_string())?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| "no image dimensions".to_string())?;
    if w * h > MAX_PIXELS {
        return Err(format!("{w}×{h} pixels is too large"));
    }
    let px = dec.decode().map_err(|e| e.to_string())?;
    if px.len() != w * h * 3 {
        return Err(format!("{} bytes decoded for {w}×{h} RGB", px.len()));
    }
    Ok(Image {
        width: w,
        height: h,
        rgb: px,
    })
}

#[cfg(feature = "model")]
fn to_rgb(buf: &[u8], w: usize, h: usize, ch: usize, line: usize) -> Image {
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &buf[y * line..y * line + w * ch];
        for p in row.chunks_exact(ch) {
            match ch {
                1 | 2 => rgb.extend_from_slice(&[p[0], p[0], p[0]]),
                _ => rgb.extend_from_slice(&p[..3]),
            }
        }
    }
    Image {
        width: w,
        height: h,
        rgb,
    }
}

/// The dropped files split for the model runner: decoded images (by content), the images that
/// would not decode (as sentences naming them), and the other files (tensor samples).
#[cfg(feature = "model")]
pub fn split_images(files: Vec<(String, Vec<u8>)>) -> SplitFiles {
    let (mut images, mut bad, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for (name, bytes) in files {
        if is_image(&bytes[..bytes.len().min(16)]) {
            match decode(&name, &bytes) {
                Ok(img) => images.push((name, img)),
                Err(e) => bad.push(e),
            }
        } else {
            rest.push((name, bytes));
        }
    }
    (images, bad, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: usize, h: usize) -> Image {
        Image {
            width: w,
            height: h,
            rgb: (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect(),
        }
    }

    #[test]
    fn parses_sizes_dims_and_triples() {
        assert_eq!(parse_size("48x192"), Some((48, 192)));
        assert_eq!(parse_size("48×192"), Some((48, 192)));
        assert_eq!(parse_size("48"), None);
        assert_eq!(
            parse_dims("[1, 3, 48, ?]"),
            Some(vec![Some(1), Some(3), Some(48), None])
        );
        assert_eq!(parse_triple("0.5"), Some([0.5; 3]));
        assert_eq!(parse_triple("1,2"), None);
    }

    #[test]
    fn same_size_resize_is_identity_and_upscale_interpolates() {
        let i = img(5, 4);
        let r = resize_bilinear(&i, 4, 5);
        assert!(r.iter().zip(&i.rgb).all(|(a, b)| *a == *b as f32));
        // 1×2 → 1×4: centres at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped to the edge).
        let two = Image {
            width: 2,
            height: 1,
            rgb: vec![0, 0, 0, 100, 100, 100],
        };
        let r = resize_bilinear(&two, 1, 4);
        let r0: Vec<f32> = r.chunks(3).map(|p| p[0]).collect();
        assert_eq!(r0, vec![0.0, 25.0, 75.0, 100.0]);
    }

    #[test]
    fn presets_and_layouts() {
        let pp = Preprocess::preset("ppocr").expect("preset");
        assert_eq!(pp.preset_key(), Some("ppocr"));
        let one = Image {
            width: 1,
            height: 1,
            rgb: vec![255, 0, 51],
        };
        let (s, d) = image_tensor(
            &one,
            (1, 1),
            3,
            Layout::Nchw,
            &Preprocess { pad: false, ..pp },
        );
        assert_eq!(s, vec![1, 3, 1, 1]);
        // BGR: 51/255 = 0.2 → (0.2-0.5)/0.5 = -0.6; 0 → -1; 255 → 1.
        assert!(
            (d[0] + 0.6).abs() < 1e-6 && d[1] == -1.0 && d[2] == 1.0,
            "{d:?}"
        );
        let (s, _) = image_tensor(&one, (2, 3), 3, Layout::Nhwc, &Preprocess::default());
        assert_eq!(s, vec![1, 2, 3, 3]);
    }

    #[test]
    fn images_follow_declared_and_typed_shapes() {
        let declared = vec![("x".to_string(), vec![None, Some(3), Some(48), None])];
        let imgs = vec![("a.png".to_string(), img(100, 20))];
        let typed = apply_typed(&declared, &[vec![None, None, None, Some(64)]]).expect("typed");
        let (s, notes, used) =
            samples_from_images(&typed, &imgs, &Preprocess::default()).expect("samples");
        assert!(notes.is_empty());
        assert_eq!(s[0][0].shape(), &[1, 3, 48, 64]);
        assert!(used.contains("[1, 3, 48, 64]"), "{used}");
        assert!(apply_typed(&declared, &[vec![Some(1), Some(4), None, None]]).is_err());
        let wrong = vec![("x".to_string(), vec![None, Some(5), None, None])];
        let e = samples_from_images(&wrong, &imgs, &Preprocess::default()).unwrap_err();
        assert!(e.contains("5 channels"), "{e}");
    }

    #[test]
    fn random_inputs_repeat_with_their_seed() {
        let declared = vec![("x".to_string(), vec![Some(1), Some(3), Some(4), Some(4)])];
        let r = RandomInputs {
            count: 2,
            normal: false,
            a: -1.0,
            b: 1.0,
            seed: 7,
        };
        let a = r.samples(&declared).expect("uniform");
        assert_eq!(a, r.samples(&declared).expect("again"));
        assert!(a[0][0].iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_ne!(a[0][0], a[1][0]);
        let sym = vec![("x".to_string(), vec![None, Some(3)])];
        assert!(r.samples(&sym).unwrap_err().contains("type the symbolic"));
        let n = RandomInputs {
            normal: true,
            a: 0.0,
            b: 1.0,
            count: 1,
            ..r
        };
        let v = &n
            .samples(&[("x".into(), vec![Some(20000)])])
            .expect("normal")[0][0];
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
