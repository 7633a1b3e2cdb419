//! Structural checks of an ONNX file before the model runner's loader (tract) sees it: a graph that lies about where its values come from gets a sentence, not a panic.
//!
//! tract-onnx 0.23.9 looks each graph output up by name among the values the graph makes
//! (`outlets_by_name[&*output.name]`) and panics when none makes it, which ends the browser's
//! model worker. This walk (the protobuf walker of [`super::scales`], names only: weights are
//! skipped, never read) checks every graph, subgraphs (If/Loop/Scan bodies) included, the way
//! tract will read it: repeated occurrences of a graph field are merged, as protobuf decoders do.
//! It also refuses a string tensor whose values are raw bytes (an initializer or a Constant's
//! value): tract 0.23.9 has no loader for it and panics (`unimplemented!`, found by fuzzing).
//! And it refuses a node with fewer inputs than its operator takes ([`arity::MIN_INPUTS`], from
//! the onnx and onnxruntime schemas): tract's op builders index their inputs without counting
//! them (a com.microsoft Gelu with none panicked, found by fuzzing).

mod arity;

use super::error::ParseError;
use super::scales::{Msg, Val, Wire, MAX_GRAPH_DEPTH};
use std::collections::{HashMap, HashSet};

/// The window ops (`BlackmanWindow`, `HammingWindow`, `HannWindow`): tract computes `size − 1`
/// of their constant size, which overflows for 0 (a panic in a build with overflow checks, found
/// by fuzzing) and allocates whatever a negative size becomes.
const WINDOW_OPS: [&str; 3] = ["BlackmanWindow", "HammingWindow", "HannWindow"];

/// What one graph's checks gather as they go: the values it makes, its window ops (name, op,
/// size input), and the integer scalar of each initializer or Constant (None: not one).
#[derive(Default)]
struct Seen {
    made: HashSet<String>,
    windows: Vec<(String, String, String)>,
    scalars: HashMap<String, Option<i64>>,
}

/// Where a graph's fields are (one or several occurrences, merged) and what it is called in a
/// message: `None` for the model's own graph, or the node whose attribute holds it.
struct Graph {
    parts: Vec<(u64, u64)>,
    owner: Option<String>,
}

/// Check the ONNX model in `bytes` the way tract will read it: every graph output produced by a
/// node output, a graph input or an initializer of its graph; every node given at least as many
/// inputs as its operator takes; no string tensor of raw bytes (tract panics on each). Files that
/// are not protobuf at all pass: the loader refuses them with its own reason.
pub fn check_for_tract(bytes: &[u8]) -> Result<(), ParseError> {
    let mut src = bytes;
    let mut w = Wire::new(&mut src);
    let mut top = Msg {
        pos: 0,
        end: w.size,
        top: true,
    };
    let mut parts = Vec::new();
    loop {
        match w.next(&mut top) {
            Ok(Some(f)) => {
                if let (7, Val::Len(at, len)) = (f.num, f.val) {
                    parts.push((at, len));
                }
            }
            Ok(None) => break,
            // Not protobuf (or truncated): tract says so in its own words.
            Err(_) => return Ok(()),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let mut todo = vec![(Graph { parts, owner: None }, 0usize)];
    while let Some((g, depth)) = todo.pop() {
        if depth > MAX_GRAPH_DEPTH {
            return Err(ParseError::from(format!(
                "the ONNX model nests subgraphs (If/Loop/Scan bodies) more than {MAX_GRAPH_DEPTH} levels deep: not loaded (a broken or hostile file?)"
            )));
        }
        for sub in check_one(&mut w, &g)? {
            todo.push((sub, depth + 1));
        }
    }
    Ok(())
}

/// The name field (`num`) of a message, if it has one.
fn name_of<S: super::tensor::ByteSource + ?Sized>(
    w: &mut Wire<'_, S>,
    at: u64,
    len: u64,
    num: u64,
) -> Result<Option<String>, ParseError> {
    let mut m = Msg::of(at, len);
    let mut name = None;
    while let Some(f) = w.next(&mut m)? {
        if let (n, Val::Len(a, l)) = (f.num, f.val) {
            if n == num {
                name = Some(w.name(a, l)?);
            }
        }
    }
    Ok(name)
}

/// Check one graph; its subgraphs are returned to be checked next.
fn check_one<S: super::tensor::ByteSource + ?Sized>(
    w: &mut Wire<'_, S>,
    g: &Graph,
) -> Result<Vec<Graph>, ParseError> {
    let mut seen = Seen::default();
    let mut outputs: Vec<String> = Vec::new();
    let mut subgraphs = Vec::new();
    for &(at, len) in &g.parts {
        let mut m = Msg::of(at, len);
        while let Some(f) = w.next(&mut m)? {
            let Val::Len(a, l) = f.val else { continue };
            match f.num {
                // GraphProto: node 1, initializer 5 (TensorProto, name 8), input 11, output 12
                // (ValueInfoProto, name 1). tract does not read sparse initializers.
                1 => node(w, a, l, &mut seen, &mut subgraphs)?,
                5 => {
                    let v = check_tensor(w, a, l)?;
                    if let Some(n) = name_of(w, a, l, 8)? {
                        seen.scalars.insert(n.clone(), v);
                        seen.made.insert(n);
                    }
                }
                11 => seen.made.extend(name_of(w, a, l, 1)?),
                12 => outputs.push(name_of(w, a, l, 1)?.unwrap_or_default()),
                _ => {}
            }
        }
    }
    let made = &seen.made;
    // A window op's size given as a constant here must be an integer of at least 1 (tract takes
    // only a constant size; one computed by other nodes is left to it).
    for (name, op, size) in &seen.windows {
        match seen.scalars.get(size) {
            Some(Some(v)) if *v >= 1 => {}
            Some(v) => {
                let is = match v {
                    Some(v) => format!("{v}"),
                    None => "not an integer scalar".to_string(),
                };
                return Err(ParseError::from(format!(
                    "node '{name}' ({op}) has a size of {is} ('{size}'); a window takes a size of at least 1: the ONNX file is broken, and the model runner cannot load it"
                )));
            }
            None => {}
        }
    }
    if let Some(missing) = outputs.iter().find(|o| !made.contains(*o)) {
        let what = match &g.owner {
            None => format!("the model's output '{missing}'"),
            Some(node) => format!("the output '{missing}' of a subgraph of node '{node}'"),
        };
        return Err(ParseError::from(format!(
            "{what} is produced by no node, graph input or initializer: the ONNX file is broken (hand-edited or cut?), and the model runner cannot load it"
        )));
    }
    Ok(subgraphs)
}

/// A node's input count against its operator's fewest inputs, its outputs (NodeProto field 2;
/// empty names are unused optional outputs) into `made`, and its subgraphs: attribute (field 5) `g` (6, occurrences merged) and `graphs` (11, each one).
fn node<S: super::tensor::ByteSource + ?Sized>(
    w: &mut Wire<'_, S>,
    at: u64,
    len: u64,
    seen: &mut Seen,
    subgraphs: &mut Vec<Graph>,
) -> Result<(), ParseError> {
    let mut m = Msg::of(at, len);
    let mut name = String::new();
    let mut op_type = String::new();
    let mut inputs = 0usize;
    let mut first_input: Option<String> = None;
    let mut first_output: Option<String> = None;
    let mut attrs = Vec::new();
    while let Some(f) = w.next(&mut m)? {
        let Val::Len(a, l) = f.val else { continue };
        match f.num {
            // NodeProto: input 1 (an empty name is an absent optional input, as tract reads it),
            // output 2, name 3, op_type 4 (the last occurrence counts), attribute 5.
            1 => {
                inputs += usize::from(l > 0);
                if first_input.is_none() {
                    first_input = Some(w.name(a, l)?);
                }
            }
            4 => op_type = w.name(a, l)?,
            2 => {
                let out = w.name(a, l)?;
                if first_output.is_none() {
                    first_output = Some(out.clone());
                }
                if !out.is_empty() {
                    seen.made.insert(out);
                }
            }
            3 => name = w.name(a, l)?,
            5 => attrs.push((a, l)),
            _ => {}
        }
    }
    if let Ok(i) = arity::MIN_INPUTS.binary_search_by(|(op, _)| (*op).cmp(op_type.as_str())) {
        let fewest = usize::from(arity::MIN_INPUTS[i].1);
        if inputs < fewest {
            let inputs = match inputs {
                0 => "no input".to_string(),
                1 => "1 input".to_string(),
                n => format!("{n} inputs"),
            };
            return Err(ParseError::from(format!(
                "node '{name}' ({op_type}) has {inputs}, and {op_type} takes at least {fewest}: the ONNX file is broken (hand-edited or cut?), and the model runner cannot load it"
            )));
        }
    }
    if WINDOW_OPS.contains(&op_type.as_str()) {
        if let Some(size) = first_input.filter(|s| !s.is_empty()) {
            seen.windows.push((name.clone(), op_type.clone(), size));
        }
    }
    let constant = op_type == "Constant";
    for (a, l) in attrs {
        let mut m = Msg::of(a, l);
        let mut g = Vec::new();
        while let Some(f) = w.next(&mut m)? {
            match (f.num, f.val) {
                (5, Val::Len(p, n)) => {
                    let v = check_tensor(w, p, n)?;
                    // A Constant's `value` (its only tensor attribute).
                    if let Some(out) = first_output.as_ref().filter(|_| constant) {
                        seen.scalars.insert(out.clone(), v);
                    }
                }
                (10, Val::Len(p, n)) => {
                    check_tensor(w, p, n)?;
                }
                (6, Val::Len(p, n)) => g.push((p, n)),
                (11, Val::Len(p, n)) => subgraphs.push(Graph {
                    parts: vec![(p, n)],
                    owner: Some(name.clone()),
                }),
                _ => {}
            }
        }
        if !g.is_empty() {
            subgraphs.push(Graph {
                parts: g,
                owner: Some(name.clone()),
            });
        }
    }
    Ok(())
}

/// A TensorProto tract can load: not a string tensor (data_type 8) whose values are raw bytes
/// (raw_data, field 9) or in an external file (data_location 14 = 1), and dims (field 1) whose
/// byte size fits this machine's memory space as tract computes it (the element size times each
/// dim in order, checked, at most `isize::MAX`: tract 0.23.9 unwraps that check when a tensor's
/// values are in its typed fields, and a shape whose product overflows before a 0 dim panicked,
/// found by fuzzing). The last occurrence of each field counts, as protobuf decoders read it.
fn check_tensor<S: super::tensor::ByteSource + ?Sized>(
    w: &mut Wire<'_, S>,
    at: u64,
    len: u64,
) -> Result<Option<i64>, ParseError> {
    let mut m = Msg::of(at, len);
    let (mut data_type, mut raw_len, mut external, mut name) = (0u64, 0u64, false, None);
    let (mut dims, mut used) = (Vec::new(), 0u64);
    // An integer scalar's value: int32_data (5) or int64_data (7), or 4 or 8 raw bytes (9).
    let (mut ints, mut ints_used, mut raw_at) = (Vec::new(), 0u64, None);
    while let Some(f) = w.next(&mut m)? {
        match (f.num, f.val) {
            (5 | 7, v) => {
                w.repeated(v, 0, &mut ints, &mut ints_used)?;
            }
            (9, Val::Len(a, l)) => {
                raw_len = l;
                raw_at = Some(a);
            }
            (1, v) => {
                let whole = w.repeated(v, 0, &mut dims, &mut used)?;
                if !whole {
                    return Err(ParseError::from(
                        "a tensor has more than a million dims: the ONNX file is broken, and the model runner cannot load it",
                    ));
                }
            }
            (2, Val::Int(v)) => data_type = v,
            (14, Val::Int(v)) => external = v == 1,
            (8, Val::Len(a, l)) => name = Some(w.name(a, l)?),
            _ => {}
        }
    }
    let name = name.unwrap_or_default();
    if data_type == 8 && (raw_len > 0 || external) {
        return Err(ParseError::from(format!(
            "the string tensor '{name}' holds raw bytes, which ONNX does not allow for strings (they go in string_data): the ONNX file is broken, and the model runner cannot load it"
        )));
    }
    // Negative dims (an int64 varint's top bit) are refused by tract itself, in words.
    let negative = dims.iter().any(|&d| (d as i64) < 0);
    let fits = negative
        || dims
            .iter()
            .try_fold(element_bytes(data_type), |acc, &d| {
                acc.checked_mul(usize::try_from(d).ok()?)
            })
            .is_some_and(|b| b <= isize::MAX as usize);
    if !fits {
        return Err(ParseError::from(format!(
            "the tensor '{name}' claims a shape of {} dims ({}) too large for memory: the ONNX file is broken, and the model runner cannot load it",
            dims.len(),
            dims.iter()
                .take(8)
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" × ")
                + if dims.len() > 8 { " × …" } else { "" }
        )));
    }
    let scalar = dims.iter().all(|&d| d == 1) && dims.len() <= 1;
    let value = match (data_type, raw_at, raw_len) {
        _ if !scalar || external => None,
        (6, Some(a), 4) => {
            let b = w.bytes(a, 4)?;
            Some(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        (7, Some(a), 8) => {
            let b = w.bytes(a, 8)?;
            Some(i64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ]))
        }
        // int32_data holds int32 as varints (sign-extended to 64 bits), int64_data int64.
        (6 | 7, None, _) if ints.len() == 1 => Some(ints[0] as i64),
        _ => None,
    };
    Ok(value)
}

/// Bytes per element of an ONNX TensorProto data type, as tract stores it (1 for types tract
/// refuses by itself).
fn element_bytes(data_type: u64) -> usize {
    match data_type {
        1 | 6 | 12 => 4,      // float, int32, uint32
        7 | 11 | 13 => 8,     // int64, double, uint64
        4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
        8 => std::mem::size_of::<String>(),
        14 => 8,  // complex64
        15 => 16, // complex128
        _ => 1,   // uint8, int8, bool, the float8 and 4-bit types
    }
}

#[cfg(test)]
mod tests {
    use super::check_for_tract;

    /// A length-delimited protobuf field.
    fn field(num: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(num << 3) | 2, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    /// A model whose graph has one initializer: a tensor of `data_type` with `raw` bytes.
    fn model_with_tensor(data_type: u8, raw: &[u8]) -> Vec<u8> {
        let mut t = vec![2 << 3, data_type]; // data_type (varint)
        t.extend(field(8, b"s"));
        t.extend(field(9, raw));
        field(7, &field(5, &t))
    }

    /// A varint.
    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    /// A model whose graph has one int64 initializer of these dims (packed) and no values.
    fn model_with_dims(dims: &[u64]) -> Vec<u8> {
        let packed: Vec<u8> = dims.iter().flat_map(|&d| varint(d)).collect();
        let mut t = field(1, &packed);
        t.extend([2 << 3, 7]); // data_type int64
        t.extend(field(8, b"w"));
        field(7, &field(5, &t))
    }

    #[test]
    fn a_shape_whose_size_overflows_is_refused_before_tract() {
        // The fuzzer's case: the product passes usize::MAX before the 0 dim that would make it
        // empty (tract checks it, then unwraps the check).
        let e = check_for_tract(&model_with_dims(&[1 << 40, 1 << 30, 0])).unwrap_err();
        assert!(
            e.to_string()
                .contains("the tensor 'w' claims a shape of 3 dims (1099511627776 × 1073741824 × 0) too large"),
            "{e}"
        );
        // Over isize::MAX bytes: refused; an empty or ordinary shape, and a negative dim (which
        // tract refuses in words), are left to tract.
        assert!(check_for_tract(&model_with_dims(&[1 << 61])).is_err());
        assert!(check_for_tract(&model_with_dims(&[0, 1 << 40])).is_ok());
        assert!(check_for_tract(&model_with_dims(&[3, 4])).is_ok());
        assert!(check_for_tract(&model_with_dims(&[u64::MAX])).is_ok());
    }

    /// A graph: a window op named `w` whose size input is `size`, with one initializer `n` of
    /// `data_type` holding `payload` (a TensorProto field, raw bytes or typed values) or a
    /// Constant node making `n` from it.
    fn window_model(op: &str, data_type: u8, payload: Vec<u8>, as_constant: bool) -> Vec<u8> {
        let mut t = vec![2 << 3, data_type];
        t.extend(payload);
        let mut node = field(1, b"n");
        node.extend(field(2, b"y"));
        node.extend(field(3, b"w"));
        node.extend(field(4, op.as_bytes()));
        let mut g = field(1, &node);
        if as_constant {
            let mut attr = field(1, b"value");
            attr.extend(field(5, &t));
            let mut c = field(2, b"n");
            c.extend(field(4, b"Constant"));
            c.extend(field(5, &attr));
            g = [field(1, &c), g].concat();
        } else {
            t.extend(field(8, b"n"));
            g.extend(field(5, &t));
        }
        field(7, &g)
    }

    #[test]
    fn a_window_of_size_zero_or_less_is_refused_before_tract() {
        // The fuzzer's case: tract computes size − 1 (an overflow for 0).
        let raw64 = |v: i64| field(9, &v.to_le_bytes());
        let raw32 = |v: i32| field(9, &v.to_le_bytes());
        for op in ["BlackmanWindow", "HammingWindow", "HannWindow"] {
            for (payload, dt, constant, ok) in [
                (raw64(0), 7, false, false),
                (raw64(-3), 7, false, false),
                (raw64(16), 7, false, true),
                (raw32(0), 6, false, false),
                (raw32(8), 6, true, true),
                (raw64(0), 7, true, false),
                // int64_data (field 7, packed varints): -1 and 4.
                (field(7, &varint(u64::MAX)), 7, false, false),
                (field(7, &varint(4)), 7, true, true),
                // A float "size" (the fuzzer's 0.0625): not an integer.
                (field(9, &0.0625f32.to_le_bytes()), 1, false, false),
            ] {
                let r = check_for_tract(&window_model(op, dt, payload, constant));
                assert_eq!(r.is_ok(), ok, "{op}, type {dt}, constant {constant}: {r:?}");
                if let Err(e) = r {
                    assert!(
                        e.to_string()
                            .contains(&format!("node 'w' ({op}) has a size of"))
                            && e.to_string().contains("at least 1"),
                        "{e}"
                    );
                }
            }
        }
        // A size no constant of the graph gives (a graph input, another node's output): tract's.
        let mut node = field(1, b"x");
        node.extend(field(3, b"w"));
        node.extend(field(4, b"HannWindow"));
        assert!(check_for_tract(&field(7, &field(1, &node))).is_ok());
    }

    #[test]
    fn a_string_tensor_with_raw_bytes_is_refused_before_tract() {
        let e = check_for_tract(&model_with_tensor(8, b"ab")).unwrap_err();
        assert!(
            e.to_string()
                .contains("the string tensor 's' holds raw bytes"),
            "{e}"
        );
        // The same bytes as a float tensor, or a string tensor without them, are left to tract.
        assert!(check_for_tract(&model_with_tensor(1, b"abcd")).is_ok());
        assert!(check_for_tract(&model_with_tensor(8, b"")).is_ok());
        // In a Constant node's `value` attribute (NodeProto 1 → AttributeProto 5 → t 5).
        let mut t = vec![2 << 3, 8];
        t.extend(field(9, b"xyz"));
        let node = field(5, &field(5, &t));
        let e = check_for_tract(&field(7, &field(1, &node))).unwrap_err();
        assert!(e.to_string().contains("holds raw bytes"), "{e}");
    }
}
