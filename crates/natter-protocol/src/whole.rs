//! Integers in REST bodies, however JSON spells them. JSON Schema, and so the OpenAPI document,
//! counts `2.0` as the integer 2, and clients whose numbers are floats (JavaScript, generated
//! clients) may send it that way; serde's `i64` alone takes only `2`. A fraction, a value outside
//! `i64`, or a float beyond 2^53 (where floats stop spelling every integer, so `-9223372036854775809`
//! would read as `i64::MIN`) is still refused.

use serde::de::{self, Deserialize, Deserializer, Visitor};

struct Whole(i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeVisitor)
    }
}

struct WholeVisitor;

/// 2^53: below it every integer has its own `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl Visitor<'_> for WholeVisitor {
    type Value = Whole;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
        Ok(Whole(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
        i64::try_from(v)
            .map(Whole)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole, E> {
        if v.fract() == 0.0 && v.abs() < EXACT {
            Ok(Whole(v as i64))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// For `#[serde(deserialize_with = "crate::whole::i64")]`.
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    Whole::deserialize(deserializer).map(|w| w.0)
}

/// For `Option<i64>` fields (`null` or absent is `None`).
pub fn option_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Option::<Whole>::deserialize(deserializer).map(|w| w.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::i64")]
        seq: i64,
        #[serde(default, deserialize_with = "super::option_i64")]
        reply_to: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let body = parse(r#"{"seq": -690.0, "reply_to": 3.0}"#).unwrap();
        assert_eq!((body.seq, body.reply_to), (-690, Some(3)));
        assert_eq!(parse(r#"{"seq": 7}"#).unwrap().reply_to, None);
        assert_eq!(
            parse(r#"{"seq": 7, "reply_to": null}"#).unwrap().reply_to,
            None
        );
        assert_eq!(
            parse(r#"{"seq": -9223372036854775808}"#).unwrap().seq,
            i64::MIN
        );
        for bad in [
            r#"{"seq": 1.5}"#,
            r#"{"seq": 9223372036854775808}"#,
            r#"{"seq": 9.3e18}"#,
            r#"{"seq": -9223372036854775809}"#,
            r#"{"seq": 9007199254740993.0}"#,
            r#"{"seq": "1"}"#,
            r#"{"seq": 1, "reply_to": 0.5}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
