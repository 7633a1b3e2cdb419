//! Non-finite numbers across every boundary: `inf`, `-inf` and `nan` are data here (SQNR of identical
//! tensors is ∞, the variance of one element is NaN), but JSON has no literal for them and writes
//! `null`, which then fails to read back as a number. Fields use `#[serde(with = "num")]` (or
//! `num::opt` for `Option<f64>`): finite values stay JSON numbers, non-finite ones become the strings
//! `"inf"`, `"-inf"`, `"nan"`, and reading accepts numbers, those strings and `null` (as NaN).

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// A number for a sentence: integers as they are, 4 decimals for everyday magnitudes, 2 from 100
/// on, scientific notation below 1e-3 and from 1e5 (`0.0250`, `9.687e-5`, `1544`).
pub fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The text of a non-finite number (`None` when finite).
pub fn non_finite_text(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("nan")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// Parse `inf`, `-inf`, `nan` (and the spellings Python and numpy print) or a decimal number.
pub fn parse_text(s: &str) -> Option<f64> {
    match s.trim() {
        "inf" | "Inf" | "+inf" | "infinity" | "Infinity" | "∞" => Some(f64::INFINITY),
        "-inf" | "-Inf" | "-infinity" | "-Infinity" | "-∞" => Some(f64::NEG_INFINITY),
        "nan" | "NaN" | "-nan" | "NAN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    match non_finite_text(*v) {
        Some(t) => s.serialize_str(t),
        None => s.serialize_f64(*v),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(NumVisitor)
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or \"inf\", \"-inf\" or \"nan\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_text(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

/// The same for `Option<f64>`: `None` is `null`, `Some(NaN)` is `"nan"`.
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(x) => match non_finite_text(*x) {
                Some(t) => s.serialize_some(t),
                None => s.serialize_some(x),
            },
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_option(OptVisitor)
    }

    struct OptVisitor;

    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("null, a number, or \"inf\", \"-inf\" or \"nan\"")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
            d.deserialize_any(NumVisitor).map(Some)
        }
        // serde-wasm-bindgen and some formats call the value visitors directly.
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<f64>, E> {
            NumVisitor.visit_str(v).map(Some)
        }
    }
}

/// `Vec<f64>` with the same rules per element.
pub mod vec {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct N(#[serde(with = "super")] f64);

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| N(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<N>::deserialize(d)?.into_iter().map(|n| n.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct T {
        #[serde(with = "super")]
        a: f64,
        #[serde(default, with = "super::opt")]
        b: Option<f64>,
        #[serde(default, with = "super::vec")]
        c: Vec<f64>,
    }

    #[test]
    fn non_finite_round_trips_through_json() {
        for (a, b) in [
            (f64::INFINITY, Some(f64::NAN)),
            (f64::NEG_INFINITY, None),
            (f64::NAN, Some(f64::INFINITY)),
            (1.5, Some(-2.0)),
        ] {
            let t = T {
                a,
                b,
                c: vec![a, 0.5],
            };
            let s = serde_json::to_string(&t).expect("json");
            let back: T = serde_json::from_str(&s).expect("read back");
            let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
            assert!(same(back.a, a), "{s}");
            assert_eq!(back.b.is_some(), b.is_some(), "{s}");
            if let (Some(x), Some(y)) = (back.b, b) {
                assert!(same(x, y), "{s}");
            }
            assert!(same(back.c[0], a), "{s}");
        }
        let t: T = serde_json::from_str(r#"{"a": null}"#).expect("null is nan");
        assert!(t.a.is_nan() && t.b.is_none());
        assert!(serde_json::from_str::<T>(r#"{"a": "wat"}"#).is_err());
    }
}
