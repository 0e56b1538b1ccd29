//! Which files an upsert can skip without reading them: each file's add action carries the
//! minimum and maximum of its columns (the Delta log's `stats`), so a file none of whose key
//! ranges holds a changed key cannot hold a changed row. Integer keys are compared exactly;
//! string keys only where both bounds are shorter than [`EXACT_STRING_BOUND`] characters
//! (longer statistics may be truncated by the Parquet writer); any other case, missing stats
//! or a bound that does not parse means the file is read.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, OffsetSizeTrait};
use arrow_schema::DataType;
use serde_json::Value;

/// String statistics this short are the column's true bounds.
pub const EXACT_STRING_BOUND: usize = 32;

/// One key column's changed values, sorted.
#[derive(Debug)]
enum Values {
    Integers(Vec<i128>),
    Strings(Vec<String>),
}

/// The changed keys of one flush, column by column.
#[derive(Debug)]
pub struct KeyRanges {
    columns: Vec<(String, Values)>,
}

/// A column's non-null values, sorted.
fn integers<T: ArrowPrimitiveType>(a: &ArrayRef) -> Values
where
    T::Native: Into<i128>,
{
    let mut v: Vec<i128> = a
        .as_primitive::<T>()
        .iter()
        .flatten()
        .map(Into::into)
        .collect();
    v.sort_unstable();
    Values::Integers(v)
}

/// A string column's non-null values, sorted.
fn strings<O: OffsetSizeTrait>(a: &ArrayRef) -> Values {
    let mut v: Vec<String> = a
        .as_string::<O>()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    v.sort_unstable();
    Values::Strings(v)
}

impl KeyRanges {
    /// The values of `key`'s columns in `columns` (same order); columns of other types are left
    /// out (they prune nothing).
    pub fn of(key: &[String], columns: &[ArrayRef]) -> KeyRanges {
        let mut out = Vec::new();
        for (name, a) in key.iter().zip(columns) {
            let values = match a.data_type() {
                DataType::Int8 => integers::<Int8Type>(a),
                DataType::Int16 => integers::<Int16Type>(a),
                DataType::Int32 => integers::<Int32Type>(a),
                DataType::Int64 => integers::<Int64Type>(a),
                DataType::UInt8 => integers::<UInt8Type>(a),
                DataType::UInt16 => integers::<UInt16Type>(a),
                DataType::UInt32 => integers::<UInt32Type>(a),
                DataType::UInt64 => integers::<UInt64Type>(a),
                DataType::Utf8 => strings::<i32>(a),
                DataType::LargeUtf8 => strings::<i64>(a),
                _ => continue,
            };
            out.push((name.clone(), values));
        }
        KeyRanges { columns: out }
    }

    /// Whether a file with these statistics (the add action's `stats` JSON) may hold a changed
    /// key; `false` only when some key column's range holds none of the changed values.
    pub fn may_hold(&self, stats: Option<&str>) -> bool {
        let Some(stats) = stats.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
            return true;
        };
        let (Some(min), Some(max)) = (stats.get("minValues"), stats.get("maxValues")) else {
            return true;
        };
        for (name, values) in &self.columns {
            let (Some(lo), Some(hi)) = (min.get(name), max.get(name)) else {
                continue;
            };
            let none_within = match values {
                Values::Integers(v) => match (as_integer(lo), as_integer(hi)) {
                    (Some(lo), Some(hi)) => {
                        let first = v.partition_point(|x| *x < lo);
                        v.get(first).is_none_or(|x| *x > hi)
                    }
                    _ => false,
                },
                Values::Strings(v) => match (lo.as_str(), hi.as_str()) {
                    (Some(lo), Some(hi))
                        if lo.chars().count() < EXACT_STRING_BOUND
                            && hi.chars().count() < EXACT_STRING_BOUND =>
                    {
                        let first = v.partition_point(|x| x.as_str() < lo);
                        v.get(first).is_none_or(|x| x.as_str() > hi)
                    }
                    _ => false,
                },
            };
            if none_within {
                return false;
            }
        }
        true
    }
}

fn as_integer(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};

    use super::*;

    fn stats(min: Value, max: Value) -> String {
        serde_json::json!({"numRecords": 10, "minValues": min, "maxValues": max}).to_string()
    }

    #[test]
    fn given_integer_keys_when_a_file_range_holds_none_should_skip_it() {
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(900), None]));
        let r = KeyRanges::of(&["id".into()], &[ids]);
        let file =
            |lo: i64, hi: i64| stats(serde_json::json!({"id": lo}), serde_json::json!({"id": hi}));
        assert!(!r.may_hold(Some(&file(10, 800))), "5 and 900 both outside");
        assert!(r.may_hold(Some(&file(0, 5))), "5 is the maximum");
        assert!(r.may_hold(Some(&file(900, 1000))), "900 is the minimum");
        assert!(!r.may_hold(Some(&file(6, 899))));
        assert!(r.may_hold(None), "no stats: read the file");
        assert!(r.may_hold(Some("not json")));
        assert!(
            r.may_hold(Some(&stats(serde_json::json!({}), serde_json::json!({})))),
            "no bounds for the key"
        );
    }

    #[test]
    fn given_string_keys_should_prune_only_with_untruncated_bounds() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["acct-7", "acct-9"]));
        let r = KeyRanges::of(&["k".into()], &[keys]);
        let file =
            |lo: &str, hi: &str| stats(serde_json::json!({"k": lo}), serde_json::json!({"k": hi}));
        assert!(!r.may_hold(Some(&file("acct-1", "acct-5"))));
        assert!(r.may_hold(Some(&file("acct-1", "acct-8"))));
        let long = "x".repeat(EXACT_STRING_BOUND);
        assert!(
            r.may_hold(Some(&file(&long, &long))),
            "a bound that may be truncated prunes nothing"
        );
    }

    #[test]
    fn given_a_composite_key_should_skip_when_any_column_range_holds_none() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["eu", "us"]));
        let r = KeyRanges::of(&["a".into(), "b".into()], &[a, b]);
        let s = stats(
            serde_json::json!({"a": 1, "b": "fr"}),
            serde_json::json!({"a": 9, "b": "jp"}),
        );
        assert!(!r.may_hold(Some(&s)), "no changed b within fr..jp");
        let s = stats(
            serde_json::json!({"a": 1, "b": "aa"}),
            serde_json::json!({"a": 9, "b": "zz"}),
        );
        assert!(r.may_hold(Some(&s)));
    }
}
