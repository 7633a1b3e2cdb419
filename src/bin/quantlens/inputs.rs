//! The sample inputs of `simulate` and `sensitivity`: tensor files, images with the stated preprocessing, typed shapes, or seeded random inputs (with a warning).

use clap::Args;
use std::path::PathBuf;

/// Where a model's sample inputs come from and how images become tensors.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Sample inputs, recognised by content: .npz with a tensor per model input (by name), .npy
    /// for one input, or PNG/JPEG images (one sample each) for a one-input image model.
    #[arg(long = "input", num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Image preprocessing preset: ppocr (BGR, ÷255, mean 0.5, std 0.5, NCHW, aspect kept and
    /// right-padded), imagenet (RGB, ÷255, ImageNet mean/std, NCHW) or unit (÷255 only).
    #[arg(long, value_parser = ["ppocr", "imagenet", "unit"])]
    pub preset: Option<String>,
    /// Target size HxW (default: the model's declared H and W, else the first image's size).
    #[arg(long)]
    pub size: Option<String>,
    /// Per-channel mean after scaling: one value or three (a,b,c).
    #[arg(long)]
    pub mean: Option<String>,
    /// Per-channel std after scaling: one value or three (a,b,c).
    #[arg(long)]
    pub std: Option<String>,
    /// Channels in BGR order (OpenCV's imread); default RGB.
    #[arg(long)]
    pub bgr: bool,
    /// Multiply 0..255 pixel values by this before mean/std (default 1/255).
    #[arg(long)]
    pub scale: Option<f32>,
    /// nchw or nhwc (default: where the model's 1- or 3-channel dimension is).
    #[arg(long)]
    pub layout: Option<String>,
    /// Keep the aspect ratio: resize to height H and pad the right side with zeros (PP-OCR).
    #[arg(long)]
    pub pad: bool,
    /// A symbolic input dimension fixed: DIMS for a one-input model, or NAME=DIMS (e.g. 1x3x48x192,
    /// ? for a dimension left to the samples). Repeatable.
    #[arg(long = "shape")]
    pub shapes: Vec<String>,
    /// Run on N random inputs instead (they mis-rank layers: a warning is printed).
    #[arg(long, value_name = "N")]
    pub random: Option<usize>,
    /// Random inputs: uniform in [A, B], or normal with mean A and std B.
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "normal"])]
    pub random_dist: String,
    /// A,B of --random-dist (default 0,1).
    #[arg(long, default_value = "0,1", allow_hyphen_values = true)]
    pub random_range: String,
    /// Seed of the random inputs (the same seed gives the same inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[cfg(feature = "model")]
pub use gather::gather;

#[cfg(feature = "model")]
mod gather {
    use super::InputArgs;
    use quantlens::engine::model::{DeclaredInput, Values};
    use quantlens::engine::preprocess::{
        apply_typed, decode, dims_text, is_image, parse_dims, parse_size, parse_triple,
        samples_from_images, Layout, Preprocess, RandomInputs, RANDOM_WARNING,
    };
    use quantlens::engine::tensor::{list_tensors, read_all, FileSource};
    use std::io::Read;
    use std::path::Path;

    fn preprocess(a: &InputArgs) -> Result<Preprocess, String> {
        let mut pp = match &a.preset {
            Some(k) => Preprocess::preset(k).ok_or_else(|| format!("unknown preset {k}"))?,
            None => Preprocess::default(),
        };
        if let Some(s) = &a.size {
            pp.size =
                Some(parse_size(s).ok_or_else(|| format!("--size {s}: give HxW, e.g. 48x192"))?);
        }
        if let Some(s) = &a.mean {
            pp.mean = parse_triple(s)
                .ok_or_else(|| format!("--mean {s}: one number or three (a,b,c)"))?;
        }
        if let Some(s) = &a.std {
            pp.std =
                parse_triple(s).ok_or_else(|| format!("--std {s}: one number or three (a,b,c)"))?;
        }
        if let Some(s) = a.scale {
            pp.scale = s;
        }
        if let Some(l) = &a.layout {
            pp.layout =
                Some(Layout::parse(l).ok_or_else(|| format!("--layout {l}: nchw or nhwc"))?);
        }
        pp.bgr |= a.bgr;
        pp.pad |= a.pad;
        pp.check()?;
        Ok(pp)
    }

    fn typed(a: &InputArgs, declared: &[DeclaredInput]) -> Result<Vec<Vec<Option<usize>>>, String> {
        let mut out = vec![Vec::new(); declared.len()];
        for s in &a.shapes {
            let (name, dims) = match s.split_once('=') {
                Some((n, d)) => (Some(n.trim()), d),
                None => (None, s.as_str()),
            };
            let ix = match name {
                Some(n) => declared.iter().position(|(d, _)| d == n),
                None if declared.len() == 1 => Some(0),
                None => None,
            }
            .ok_or_else(|| {
                format!(
                    "--shape {s}: name the input (NAME=DIMS); the inputs are {}",
                    names(declared)
                )
            })?;
            out[ix] = parse_dims(dims)
                .ok_or_else(|| format!("--shape {s}: dimensions like 1x3x48x192"))?;
        }
        Ok(out)
    }

    fn names(declared: &[DeclaredInput]) -> String {
        declared
            .iter()
            .map(|(n, d)| format!("{n} {}", dims_text(d)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Read one tensor sample file: an `.npz` with a tensor per model input (by name), or a
    /// `.npy` for a model with one input.
    fn read_sample(path: &Path, inputs: &[DeclaredInput]) -> Result<Vec<Values>, String> {
        let mut src =
            FileSource::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let entries = list_tensors(&path.display().to_string(), &mut src)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = Vec::new();
        for (name, _) in inputs {
            let entry = if entries.len() == 1 && inputs.len() == 1 {
                &entries[0]
            } else {
                entries.iter().find(|e| e.name == *name).ok_or_else(|| {
                    format!(
                        "{} has no tensor named {name} (it has: {}); name each model input",
                        path.display(),
                        entries
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?
            };
            if entry.fortran {
                return Err(format!(
                    "{}: {} is in Fortran order; save it in C order",
                    path.display(),
                    entry.name
                ));
            }
            let data = read_all(&mut src, entry).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(
                quantlens::engine::model::values(
                    entry.shape.iter().map(|&d| d as usize).collect(),
                    data,
                )
                .map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
        Ok(out)
    }

    /// The samples the arguments give for a model declaring `declared`, each named (its file, or
    /// "random sample i") with every input's shape and values; what was used is said on stderr.
    pub fn gather(
        a: &InputArgs,
        declared: &[DeclaredInput],
    ) -> Result<Vec<(String, Vec<Values>)>, String> {
        let declared = apply_typed(declared, &typed(a, declared)?)?;
        if let Some(n) = a.random {
            if !a.inputs.is_empty() {
                return Err("--random runs on random inputs instead of --input files: give one or the other".into());
            }
            let (x, y) = a
                .random_range
                .split_once(',')
                .and_then(|(x, y)| Some((x.trim().parse().ok()?, y.trim().parse().ok()?)))
                .ok_or_else(|| format!("--random-range {}: A,B", a.random_range))?;
            let r = RandomInputs {
                count: n,
                normal: a.random_dist == "normal",
                a: x,
                b: y,
                seed: a.seed,
            };
            eprintln!("warning: {}: {RANDOM_WARNING}", r.describe());
            return Ok(r
                .samples(&declared)?
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("random sample {}", i + 1), s))
                .collect());
        }
        if a.inputs.is_empty() {
            return Err(format!(
                "give sample inputs (--input FILE.npz, .npy or PNG/JPEG images), or --random N (random inputs mis-rank layers): the model's inputs are {}",
                names(&declared)
            ));
        }
        let mut samples = Vec::new();
        let mut images = Vec::new();
        for p in &a.inputs {
            let mut head = [0u8; 16];
            let n = std::fs::File::open(p)
                .and_then(|mut f| f.read(&mut head))
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            if is_image(&head[..n]) {
                let bytes =
                    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                images.push((
                    p.display().to_string(),
                    decode(&p.display().to_string(), &bytes)?,
                ));
            } else {
                samples.push((p.display().to_string(), read_sample(p, &declared)?));
            }
        }
        if !images.is_empty() {
            let pp = preprocess(a)?;
            let (s, notes, used) = samples_from_images(&declared, &images, &pp)?;
            for n in notes {
                eprintln!("note: {n}");
            }
            eprintln!("inputs: {used}");
            let batch = s
                .first()
                .and_then(|x| x.first())
                .map_or(1, |v| v.shape()[0]);
            let names: Vec<String> = images
                .chunks(batch.max(1))
                .map(|g| {
                    g.iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect();
            samples.extend(names.into_iter().zip(s));
        }
        Ok(samples)
    }
}
