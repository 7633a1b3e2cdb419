//! PyTorch `torch.save` zip archives (`.pt`, `.pth`, Horizon's `.opinfo`): a restricted pickle
//! reader that rebuilds tensor references and **never executes anything**. Only torch's tensor
//! rebuild functions are interpreted; every other global (a model class, Horizon's `OpRunningInfo`,
//! `QTensor`…) stays inert data, and tensors are found by walking dicts, lists, tuples and object
//! states, named by their path (`layer1.weight`, `output`, `input.0`).

use crate::engine::error::ParseError;

use super::npz::{central_directory, data_start, Member};
use super::{ByteSource, DataRef, ElemType, QuantInfo, TensorEntry};
use std::collections::HashMap;

/// A pickled value. Calls of unknown globals are kept as inert `Call`s.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Obj>),
    Tuple(Vec<Obj>),
    Dict(Vec<(Obj, Obj)>),
    Global(String, String),
    Call(Box<Obj>, Box<Obj>),
    Build(Box<Obj>, Box<Obj>),
    Pid(Box<Obj>),
    Mark,
}

const MAX_PICKLE_BYTES: u64 = 256 << 20;
const MAX_STACK: usize = 1 << 20;

fn err<T>(m: &str) -> Result<T, ParseError> {
    Err(ParseError::from(format!("pickle: {m}")))
}

/// Nesting an object may have where it is copied (memo PUT/GET, DUP): copies are made by
/// recursive `clone`.
const MAX_COPY_DEPTH: usize = 256;

/// Dropped without recursion, on every path (a result, the stack, the memo, and whatever an
/// opcode pops and then refuses): a pickle can nest a million lists in 2 MB, and dropping that
/// recursively overflows the stack (the browser worker's is 1 MiB). Each child is moved out onto
/// a worklist before its parent goes, so every value is dropped with no children left.
impl Drop for Obj {
    fn drop(&mut self) {
        let mut todo = Vec::new();
        take_children(self, &mut todo);
        while let Some(mut o) = todo.pop() {
            take_children(&mut o, &mut todo);
        }
    }
}

/// Move an object's children onto `todo`, leaving it childless (`Obj::None` in its boxes).
fn take_children(o: &mut Obj, todo: &mut Vec<Obj>) {
    match o {
        Obj::List(v) | Obj::Tuple(v) => todo.append(v),
        Obj::Dict(v) => {
            for (k, x) in v.drain(..) {
                todo.push(k);
                todo.push(x);
            }
        }
        Obj::Call(a, b) | Obj::Build(a, b) => {
            todo.push(std::mem::replace(a.as_mut(), Obj::None));
            todo.push(std::mem::replace(b.as_mut(), Obj::None));
        }
        Obj::Pid(a) => todo.push(std::mem::replace(a.as_mut(), Obj::None)),
        _ => {}
    }
}

/// A copy of an object (memo PUT and GET, DUP copy where Python would share): refused when it
/// nests deeper than [`MAX_COPY_DEPTH`] or when all copies together pass `budget` objects, so a
/// few hundred bytes of references doubling a list cannot expand to 2^40 objects.
fn copy(o: Option<&Obj>, budget: &mut usize, what: &str) -> Result<Obj, ParseError> {
    let o = o.ok_or_else(|| ParseError::from(format!("pickle: {what}")))?;
    let mut nodes = 0usize;
    let mut todo = vec![(o, 0usize)];
    while let Some((o, d)) = todo.pop() {
        nodes += 1;
        if d > MAX_COPY_DEPTH {
            return err("an object copied by reference nests too deeply");
        }
        if nodes > *budget {
            return err("its references expand to too many objects");
        }
        match o {
            Obj::List(v) | Obj::Tuple(v) => todo.extend(v.iter().map(|x| (x, d + 1))),
            Obj::Dict(v) => {
                for (k, x) in v {
                    todo.push((k, d + 1));
                    todo.push((x, d + 1));
                }
            }
            Obj::Call(a, b) | Obj::Build(a, b) => {
                todo.push((a, d + 1));
                todo.push((b, d + 1));
            }
            Obj::Pid(a) => todo.push((a, d + 1)),
            _ => {}
        }
    }
    *budget -= nodes;
    Ok(o.clone())
}

/// Run the pickle opcodes into a value, executing nothing; whatever is left (the stack, the memo)
/// is dropped without recursion (`impl Drop for Obj`).
fn unpickle(p: &[u8]) -> Result<Obj, ParseError> {
    let mut stack: Vec<Obj> = Vec::new();
    let mut memo: HashMap<u64, Obj> = HashMap::new();
    unpickle_with(p, &mut stack, &mut memo)
}

fn unpickle_with(
    p: &[u8],
    stack: &mut Vec<Obj>,
    memo: &mut HashMap<u64, Obj>,
) -> Result<Obj, ParseError> {
    // Objects all copies together may make: a few per byte is what real pickles need.
    let mut budget = 1_000_000usize.saturating_add(p.len().saturating_mul(4));
    let mut i = 0usize;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], ParseError> {
        // Checked: an 8-byte length (BINUNICODE8, BINBYTES8) near usize::MAX must not wrap.
        let s = i
            .checked_add(n)
            .and_then(|end| p.get(*i..end))
            .ok_or("pickle: truncated")?;
        *i += n;
        Ok(s)
    };
    let line = |i: &mut usize| -> Result<String, ParseError> {
        let rest = p.get(*i..).ok_or("pickle: truncated")?;
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("pickle: truncated line")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        *i += n + 1;
        Ok(s)
    };
    fn pop_mark(stack: &mut Vec<Obj>) -> Result<Vec<Obj>, ParseError> {
        let k = stack
            .iter()
            .rposition(|o| *o == Obj::Mark)
            .ok_or("pickle: no mark")?;
        let items = stack.split_off(k + 1);
        stack.pop();
        Ok(items)
    }
    fn pop(stack: &mut Vec<Obj>) -> Result<Obj, ParseError> {
        stack
            .pop()
            .ok_or_else(|| ParseError::from("pickle: stack underflow"))
    }
    fn set_items(target: &mut Obj, items: Vec<Obj>) -> Result<(), ParseError> {
        let mut it = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match target {
            Obj::Dict(d) => d.extend(pairs),
            // `OrderedDict()` and other dict subclasses: keep the items on the call.
            Obj::Call(_, args) => {
                if let Obj::Tuple(a) = args.as_mut() {
                    a.push(Obj::Dict(pairs));
                }
            }
            _ => return err("SETITEMS on a non-dict"),
        }
        Ok(())
    }
    loop {
        if stack.len() > MAX_STACK {
            return err("stack too deep");
        }
        let op = *p.get(i).ok_or("pickle: ends without STOP")?;
        i += 1;
        match op {
            0x80 => i += 1, // PROTO
            0x95 => i += 8, // FRAME
            b'.' => return pop(stack),
            b'(' => stack.push(Obj::Mark),
            b'N' => stack.push(Obj::None),
            0x88 => stack.push(Obj::Bool(true)),
            0x89 => stack.push(Obj::Bool(false)),
            b'}' => stack.push(Obj::Dict(Vec::new())),
            b']' => stack.push(Obj::List(Vec::new())),
            b')' => stack.push(Obj::Tuple(Vec::new())),
            0x8f => stack.push(Obj::List(Vec::new())), // EMPTY_SET
            b'K' => {
                let v = take(&mut i, 1)?[0] as i64;
                stack.push(Obj::Int(v));
            }
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Obj::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Obj::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64));
            }
            0x8a => {
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?;
                let mut v: i64 = 0;
                for (k, &byte) in b.iter().enumerate().take(8) {
                    v |= (byte as i64) << (8 * k);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Obj::Int(v));
            }
            b'I' => {
                let s = line(&mut i)?;
                stack.push(match s.as_str() {
                    "00" => Obj::Bool(false),
                    "01" => Obj::Bool(true),
                    _ => Obj::Int(s.trim().parse().map_err(|_| "pickle: bad INT")?),
                });
            }
            b'L' => {
                let s = line(&mut i)?;
                stack.push(Obj::Int(
                    s.trim()
                        .trim_end_matches('L')
                        .parse()
                        .map_err(|_| "pickle: bad LONG")?,
                ));
            }
            b'G' => {
                let b = take(&mut i, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(Obj::Float(f64::from_be_bytes(a)));
            }
            b'F' => {
                let s = line(&mut i)?;
                stack.push(Obj::Float(
                    s.trim().parse().map_err(|_| "pickle: bad FLOAT")?,
                ));
            }
            0x8c => {
                let n = take(&mut i, 1)?[0] as usize;
                stack.push(Obj::Str(
                    String::from_utf8_lossy(take(&mut i, n)?).into_owned(),
                ));
            }
            b'X' => {
                let b = take(&mut i, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                stack.push(Obj::Str(
                    String::from_utf8_lossy(take(&mut i, n)?).into_owned(),
                ));
            }
            0x8d => {
                let b = take(&mut i, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_le_bytes(a) as usize;
                stack.push(Obj::Str(
                    String::from_utf8_lossy(take(&mut i, n)?).into_owned(),
                ));
            }
            b'U' | b'C' => {
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?.to_vec();
                stack.push(if op == b'U' {
                    Obj::Str(String::from_utf8_lossy(&b).into_owned())
                } else {
                    Obj::Bytes(b)
                });
            }
            b'T' | b'B' => {
                let b = take(&mut i, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let b = take(&mut i, n)?.to_vec();
                stack.push(if op == b'T' {
                    Obj::Str(String::from_utf8_lossy(&b).into_owned())
                } else {
                    Obj::Bytes(b)
                });
            }
            b'V' | b'S' => {
                let s = line(&mut i)?;
                stack.push(Obj::Str(s.trim_matches(['\'', '"']).to_string()));
            }
            b'c' => {
                let module = line(&mut i)?;
                let name = line(&mut i)?;
                stack.push(Obj::Global(module, name));
            }
            0x93 => {
                let name = pop(stack)?;
                let module = pop(stack)?;
                match (&module, &name) {
                    (Obj::Str(m), Obj::Str(n)) => stack.push(Obj::Global(m.clone(), n.clone())),
                    _ => return err("STACK_GLOBAL needs two strings"),
                }
            }
            b'Q' => {
                let pid = pop(stack)?;
                stack.push(Obj::Pid(Box::new(pid)));
            }
            b'R' | 0x81 => {
                let args = pop(stack)?;
                let f = pop(stack)?;
                // Known-safe containers become plain data; everything else stays an inert call.
                let v = match &f {
                    Obj::Global(m, n) if m == "collections" && n == "OrderedDict" => {
                        Obj::Dict(Vec::new())
                    }
                    _ => Obj::Call(Box::new(f), Box::new(args)),
                };
                stack.push(v);
            }
            0x92 => {
                // NEWOBJ_EX cls args kwargs
                let _kw = pop(stack)?;
                let args = pop(stack)?;
                let f = pop(stack)?;
                stack.push(Obj::Call(Box::new(f), Box::new(args)));
            }
            b'b' => {
                let state = pop(stack)?;
                let obj = pop(stack)?;
                stack.push(match obj {
                    // A dict built with a state dict: merge (OrderedDict's BUILD carries None/metadata).
                    d @ Obj::Dict(_) => d,
                    other => Obj::Build(Box::new(other), Box::new(state)),
                });
            }
            b't' => {
                let items = pop_mark(stack)?;
                stack.push(Obj::Tuple(items));
            }
            0x85 => {
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a]));
            }
            0x86 => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a, b]));
            }
            0x87 => {
                let c = pop(stack)?;
                let b = pop(stack)?;
                let a = pop(stack)?;
                stack.push(Obj::Tuple(vec![a, b, c]));
            }
            b'l' => {
                let items = pop_mark(stack)?;
                stack.push(Obj::List(items));
            }
            b'd' => {
                let items = pop_mark(stack)?;
                let mut d = Obj::Dict(Vec::new());
                set_items(&mut d, items)?;
                stack.push(d);
            }
            b'a' => {
                let v = pop(stack)?;
                match stack.last_mut() {
                    Some(Obj::List(l)) => l.push(v),
                    _ => return err("APPEND on a non-list"),
                }
            }
            b'e' | 0x90 => {
                let items = pop_mark(stack)?;
                match stack.last_mut() {
                    Some(Obj::List(l)) => l.extend(items),
                    _ => return err("APPENDS on a non-list"),
                }
            }
            0x91 => {
                let items = pop_mark(stack)?;
                stack.push(Obj::List(items));
            }
            b's' => {
                let v = pop(stack)?;
                let k = pop(stack)?;
                let t = stack.last_mut().ok_or("pickle: SETITEM on empty stack")?;
                set_items(t, vec![k, v])?;
            }
            b'u' => {
                let items = pop_mark(stack)?;
                let t = stack.last_mut().ok_or("pickle: SETITEMS on empty stack")?;
                set_items(t, items)?;
            }
            b'q' => {
                let k = take(&mut i, 1)?[0] as u64;
                memo.insert(k, copy(stack.last(), &mut budget, "BINPUT on empty stack")?);
            }
            b'r' => {
                let b = take(&mut i, 4)?;
                let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
                memo.insert(
                    k,
                    copy(stack.last(), &mut budget, "LONG_BINPUT on empty stack")?,
                );
            }
            0x94 => {
                let k = memo.len() as u64;
                memo.insert(
                    k,
                    copy(stack.last(), &mut budget, "MEMOIZE on empty stack")?,
                );
            }
            b'p' => {
                let k: u64 = line(&mut i)?
                    .trim()
                    .parse()
                    .map_err(|_| "pickle: bad PUT")?;
                memo.insert(k, copy(stack.last(), &mut budget, "PUT on empty stack")?);
            }
            b'h' => {
                let k = take(&mut i, 1)?[0] as u64;
                stack.push(copy(memo.get(&k), &mut budget, "BINGET of unknown memo")?);
            }
            b'j' => {
                let b = take(&mut i, 4)?;
                let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
                stack.push(copy(
                    memo.get(&k),
                    &mut budget,
                    "LONG_BINGET of unknown memo",
                )?);
            }
            b'g' => {
                let k: u64 = line(&mut i)?
                    .trim()
                    .parse()
                    .map_err(|_| "pickle: bad GET")?;
                stack.push(copy(memo.get(&k), &mut budget, "GET of unknown memo")?);
            }
            b'0' => {
                pop(stack)?;
            }
            b'1' => {
                pop_mark(stack)?;
            }
            b'2' => {
                let v = copy(stack.last(), &mut budget, "DUP on empty stack")?;
                stack.push(v);
            }
            other => return err(&format!("unsupported opcode 0x{other:02x}")),
        }
    }
}

fn storage_elem(kind: &str) -> Option<(ElemType, bool)> {
    // (element type, quantized storage)
    Some(match kind {
        "FloatStorage" | "float32" | "float" => (ElemType::F32, false),
        "DoubleStorage" | "float64" | "double" => (ElemType::F64, false),
        "HalfStorage" | "float16" | "half" => (ElemType::F16, false),
        "BFloat16Storage" | "bfloat16" => (ElemType::BF16, false),
        "CharStorage" | "int8" => (ElemType::I8, false),
        "ByteStorage" | "uint8" => (ElemType::U8, false),
        "ShortStorage" | "int16" => (ElemType::I16, false),
        "IntStorage" | "int32" => (ElemType::I32, false),
        "LongStorage" | "int64" => (ElemType::I64, false),
        "BoolStorage" | "bool" => (ElemType::Bool, false),
        "QInt8Storage" | "qint8" => (ElemType::I8, true),
        "QUInt8Storage" | "quint8" => (ElemType::U8, true),
        "QInt32Storage" | "qint32" => (ElemType::I32, true),
        _ => return None,
    })
}

fn as_ints(o: &Obj) -> Option<Vec<u64>> {
    match o {
        Obj::Tuple(v) | Obj::List(v) => v
            .iter()
            .map(|x| match x {
                Obj::Int(i) if *i >= 0 => Some(*i as u64),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

struct Ctx<'a> {
    prefix: &'a str,
    members: &'a HashMap<String, (u64, u64)>,
    out: Vec<TensorEntry>,
    errors: Vec<String>,
    /// Per-channel scale tensors read on the side: (entry, values).
    pending_per_channel: Vec<(usize, TensorEntry, TensorEntry, Option<usize>)>,
}

/// A rebuilt tensor reference from `_rebuild_tensor_v2/_v3` or `_rebuild_qtensor` arguments.
fn rebuild(ctx: &mut Ctx, f: &str, args: &[Obj], name: &str) -> Option<TensorEntry> {
    let Obj::Pid(pid) = args.first()? else {
        return None;
    };
    let Obj::Tuple(p) = pid.as_ref() else {
        return None;
    };
    // ('storage', <StorageType or torch.UntypedStorage>, key, location, numel)
    let key = match p.get(2)? {
        Obj::Str(s) => s.clone(),
        _ => return None,
    };
    let storage_kind = match p.get(1)? {
        Obj::Global(_, n) => n.clone(),
        _ => return None,
    };
    let offset = match args.get(1)? {
        Obj::Int(i) if *i >= 0 => *i as u64,
        _ => return None,
    };
    let shape = as_ints(args.get(2)?)?;
    let stride = as_ints(args.get(3)?)?;
    let (elem, quantized) = if f == "_rebuild_tensor_v3" {
        // dtype passed explicitly with an UntypedStorage.
        match args.get(6) {
            Some(Obj::Global(_, n)) => storage_elem(n)?,
            _ => storage_elem(&storage_kind)?,
        }
    } else {
        storage_elem(&storage_kind).or_else(|| {
            ctx.errors.push(format!(
                "{name}: storage type {storage_kind} is not supported"
            ));
            None
        })?
    };
    let Some(&(data, len)) = ctx.members.get(&format!("{}data/{key}", ctx.prefix)) else {
        ctx.errors.push(format!(
            "{name}: its storage data/{key} is missing from the archive"
        ));
        return None;
    };
    // Contiguity: C order, or Fortran order; views with other strides are not read.
    let n = shape.len();
    let mut c = vec![1u64; n];
    for k in (0..n.saturating_sub(1)).rev() {
        c[k] = c[k + 1].saturating_mul(shape[k + 1]);
    }
    let mut fo = vec![1u64; n];
    for k in 1..n {
        fo[k] = fo[k - 1].saturating_mul(shape[k - 1]);
    }
    let relevant = |a: &[u64], b: &[u64]| {
        a.iter()
            .zip(b)
            .zip(&shape)
            .all(|((x, y), d)| *d <= 1 || x == y)
    };
    let fortran = if relevant(&stride, &c) {
        false
    } else if relevant(&stride, &fo) {
        true
    } else {
        ctx.errors.push(format!("{name}: a non-contiguous view (strides {stride:?}) is not supported; save .contiguous()"));
        return None;
    };
    let es = elem.size_bytes() as u64;
    // Saturating and checked: a lying shape or offset must be refused, not overflow.
    let numel = crate::engine::metrics::dims_product(&shape);
    if offset
        .checked_add(numel)
        .and_then(|n| n.checked_mul(es))
        .is_none_or(|bytes| bytes > len)
    {
        ctx.errors
            .push(format!("{name}: the storage is shorter than the tensor"));
        return None;
    }
    let mut e = TensorEntry {
        name: name.to_string(),
        elem,
        shape,
        big_endian: false,
        fortran,
        data: DataRef::Raw {
            offset: data + offset * es,
            len: numel * es,
        },
        scale: None,
        quant: None,
    };
    if quantized {
        // quantizer_params: (qscheme, scale, zero_point) or (qscheme, scales, zero_points, axis).
        match args.get(4) {
            Some(Obj::Tuple(q)) if q.len() >= 3 => match (&q[1], &q[2]) {
                (Obj::Float(s), Obj::Int(z)) => {
                    e.scale = Some(*s);
                    e.quant = Some(QuantInfo {
                        scales: vec![*s],
                        zero_points: vec![*z],
                        axis: None,
                    });
                }
                (Obj::Call(..), Obj::Call(..)) => {
                    let axis = match q.get(3) {
                        Some(Obj::Int(a)) if *a >= 0 => Some(*a as usize),
                        _ => None,
                    };
                    let s = tensor_from_call(ctx, &q[1], &format!("{name}.scales"));
                    let z = tensor_from_call(ctx, &q[2], &format!("{name}.zero_points"));
                    if let (Some(s), Some(z)) = (s, z) {
                        ctx.pending_per_channel.push((ctx.out.len(), s, z, axis));
                    }
                }
                _ => ctx
                    .errors
                    .push(format!("{name}: unknown quantizer parameters")),
            },
            _ => ctx.errors.push(format!(
                "{name}: quantized tensor without quantizer parameters"
            )),
        }
    }
    Some(e)
}

fn tensor_from_call(ctx: &mut Ctx, o: &Obj, name: &str) -> Option<TensorEntry> {
    if let Obj::Call(f, args) = o {
        if let (Obj::Global(_, fname), Obj::Tuple(a)) = (f.as_ref(), args.as_ref()) {
            if fname.starts_with("_rebuild_tensor") {
                return rebuild(ctx, fname, a, name);
            }
        }
    }
    None
}

fn walk(ctx: &mut Ctx, o: &Obj, name: &str, depth: usize) {
    if depth > 64 {
        return;
    }
    let child = |k: &str| {
        if name.is_empty() {
            k.to_string()
        } else {
            format!("{name}.{k}")
        }
    };
    match o {
        Obj::Call(f, args) => {
            let fname = match f.as_ref() {
                Obj::Global(_, n) => n.as_str(),
                _ => "",
            };
            let a = match args.as_ref() {
                Obj::Tuple(a) => a.as_slice(),
                _ => &[],
            };
            match fname {
                "_rebuild_tensor_v2" | "_rebuild_tensor_v3" | "_rebuild_qtensor" => {
                    let n = if name.is_empty() {
                        "tensor".to_string()
                    } else {
                        name.to_string()
                    };
                    if let Some(e) = rebuild(ctx, fname, a, &n) {
                        ctx.out.push(e);
                    }
                }
                "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
                | "_rebuild_from_type_v2" => {
                    // (data, requires_grad, hooks) or (func, type, args, state): the tensor is inside.
                    for x in a {
                        walk(ctx, x, name, depth + 1);
                    }
                }
                _ => {
                    // An unknown class or function: inert; look inside its arguments and state.
                    for (k, x) in a.iter().enumerate() {
                        let sub = if a.len() == 1 {
                            name.to_string()
                        } else {
                            child(&k.to_string())
                        };
                        walk(ctx, x, &sub, depth + 1);
                    }
                }
            }
        }
        Obj::Build(obj, state) => {
            walk(ctx, obj, name, depth + 1);
            walk(ctx, state, name, depth + 1);
        }
        Obj::Dict(items) => {
            for (k, v) in items {
                let key = match k {
                    Obj::Str(s) => s.clone(),
                    Obj::Int(i) => i.to_string(),
                    _ => continue,
                };
                walk(ctx, v, &child(&key), depth + 1);
            }
        }
        Obj::List(items) | Obj::Tuple(items) => {
            for (k, v) in items.iter().enumerate() {
                walk(ctx, v, &child(&k.to_string()), depth + 1);
            }
        }
        _ => {}
    }
}

/// List the tensors of a `torch.save` zip archive.
pub fn list<S: ByteSource + ?Sized>(src: &mut S) -> Result<Vec<TensorEntry>, ParseError> {
    list_with_notes(src).map(|(e, _)| e)
}

/// The tensors, and a note for each tensor that could not be taken (non-contiguous view, …).
pub fn list_with_notes<S: ByteSource + ?Sized>(
    src: &mut S,
) -> Result<(Vec<TensorEntry>, Vec<String>), ParseError> {
    let members: Vec<Member> = central_directory(src)?;
    let pkl = members
        .iter()
        .find(|m| m.name.ends_with("data.pkl"))
        .ok_or("the zip archive has no data.pkl (not a torch.save file)")?;
    let prefix = pkl.name.trim_end_matches("data.pkl").to_string();
    if pkl.method != 0 {
        return Err("data.pkl is compressed: not a torch.save file".into());
    }
    if pkl.comp_len > MAX_PICKLE_BYTES {
        return Err("data.pkl is implausibly large".into());
    }
    let start = data_start(src, pkl)?;
    let mut p = vec![0u8; pkl.comp_len as usize];
    src.read_at(start, &mut p).map_err(|e| e.to_string())?;
    let mut map = HashMap::new();
    for m in &members {
        if m.name.starts_with(&format!("{prefix}data/")) && m.method == 0 {
            map.insert(m.name.clone(), (data_start(src, m)?, m.comp_len));
        }
    }
    if let Some(bo) = members
        .iter()
        .find(|m| m.name == format!("{prefix}byteorder"))
    {
        let s = data_start(src, bo)?;
        let mut b = vec![0u8; bo.comp_len.min(16) as usize];
        src.read_at(s, &mut b).map_err(|e| e.to_string())?;
        if b.starts_with(b"big") {
            return Err("big-endian torch archives are not supported".into());
        }
    }
    let root = unpickle(&p)?;
    let mut ctx = Ctx {
        prefix: &prefix,
        members: &map,
        out: Vec::new(),
        errors: Vec::new(),
        pending_per_channel: Vec::new(),
    };
    walk(&mut ctx, &root, "", 0);
    drop(root);
    // Per-channel quantized tensors: read their (small) scale and zero-point tensors now.
    let pending = std::mem::take(&mut ctx.pending_per_channel);
    let mut out = ctx.out;
    for (idx, s, z, axis) in pending {
        let scales: Vec<f64> = super::read_all(src, &s)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|v| v as f64)
            .collect();
        let zps: Vec<i64> = super::read_all(src, &z)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|v| v as i64)
            .collect();
        if let Some(e) = out.get_mut(idx) {
            e.quant = Some(QuantInfo {
                scales,
                zero_points: zps,
                axis,
            });
        }
    }
    if out.is_empty() {
        let why = if ctx.errors.is_empty() {
            "no tensor found in the pickled object".to_string()
        } else {
            ctx.errors.join("; ")
        };
        return Err(why.into());
    }
    Ok((out, ctx.errors))
}
