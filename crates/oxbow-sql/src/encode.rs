//! Arrow to PostgreSQL: a column's type as the PostgreSQL type clients decode, and record
//! batches as data rows, in text or binary format as the client asked per column. Types with no
//! PostgreSQL counterpart here (lists, structs, maps, decimals, intervals) are sent as `text`,
//! rendered by Arrow's display.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Schema, TimeUnit};
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

/// How a column is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Repr {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    /// Rendered by Arrow's display, sent as text.
    Display,
}

fn repr(dt: &DataType) -> Repr {
    match dt {
        DataType::Boolean => Repr::Bool,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Repr::Int2,
        DataType::Int32 | DataType::UInt16 => Repr::Int4,
        DataType::Int64 | DataType::UInt32 => Repr::Int8,
        DataType::Float16 | DataType::Float32 => Repr::Float4,
        DataType::Float64 => Repr::Float8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Repr::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Repr::Bytea,
        DataType::FixedSizeBinary(_) => Repr::Bytea,
        DataType::Date32 | DataType::Date64 => Repr::Date,
        DataType::Timestamp(_, None) => Repr::Timestamp,
        DataType::Timestamp(_, Some(_)) => Repr::TimestampTz,
        DataType::Dictionary(_, v) => repr(v),
        _ => Repr::Display,
    }
}

fn pg_type(r: Repr) -> Type {
    match r {
        Repr::Bool => Type::BOOL,
        Repr::Int2 => Type::INT2,
        Repr::Int4 => Type::INT4,
        Repr::Int8 => Type::INT8,
        Repr::Float4 => Type::FLOAT4,
        Repr::Float8 => Type::FLOAT8,
        Repr::Text | Repr::Display => Type::TEXT,
        Repr::Bytea => Type::BYTEA,
        Repr::Date => Type::DATE,
        Repr::Timestamp => Type::TIMESTAMP,
        Repr::TimestampTz => Type::TIMESTAMPTZ,
    }
}

/// The arrow type a column is cast to before it is sent.
fn canonical(r: Repr, dt: &DataType) -> DataType {
    match r {
        Repr::Bool => DataType::Boolean,
        Repr::Int2 => DataType::Int16,
        Repr::Int4 => DataType::Int32,
        Repr::Int8 => DataType::Int64,
        Repr::Float4 => DataType::Float32,
        Repr::Float8 => DataType::Float64,
        Repr::Text => DataType::Utf8,
        Repr::Bytea => DataType::Binary,
        Repr::Date => DataType::Date32,
        Repr::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        Repr::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Repr::Display => dt.clone(),
    }
}

/// The row description of `schema`, each column in the format the client asked (`None`: text).
pub fn fields(schema: &Schema, format: Option<&Format>) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let r = repr(f.data_type());
            let fmt = match (format, r) {
                // Display columns are text in every format.
                (_, Repr::Display) | (None, _) => FieldFormat::Text,
                (Some(fmt), _) => fmt.format_for(i),
            };
            FieldInfo::new(f.name().clone(), None, None, pg_type(r), fmt)
        })
        .collect()
}

fn encode_error(e: impl std::fmt::Display) -> PgWireError {
    PgWireError::ApiError(e.to_string().into())
}

/// `batch` as data rows of `fields`.
pub fn rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let mut columns: Vec<(Repr, ArrayRef)> = Vec::with_capacity(batch.num_columns());
    for col in batch.columns() {
        let r = repr(col.data_type());
        let target = canonical(r, col.data_type());
        let array = if col.data_type() == &target {
            col.clone()
        } else {
            arrow_cast::cast(col, &target).map_err(encode_error)?
        };
        columns.push((r, array));
    }
    if columns.len() != fields.len() {
        return Err(encode_error(format!(
            "{} columns for {} fields",
            columns.len(),
            fields.len()
        )));
    }
    let options = FormatOptions::default();
    let formatters: Vec<Option<ArrayFormatter<'_>>> = columns
        .iter()
        .map(|(r, a)| match r {
            Repr::Display => ArrayFormatter::try_new(a.as_ref(), &options).ok(),
            _ => None,
        })
        .collect();
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (i, (r, a)) in columns.iter().enumerate() {
            if a.is_null(row) {
                encoder.encode_field(&None::<i8>)?;
                continue;
            }
            match r {
                Repr::Bool => encoder.encode_field(&a.as_boolean().value(row))?,
                Repr::Int2 => encoder.encode_field(&a.as_primitive::<Int16Type>().value(row))?,
                Repr::Int4 => encoder.encode_field(&a.as_primitive::<Int32Type>().value(row))?,
                Repr::Int8 => encoder.encode_field(&a.as_primitive::<Int64Type>().value(row))?,
                Repr::Float4 => {
                    encoder.encode_field(&a.as_primitive::<Float32Type>().value(row))?
                }
                Repr::Float8 => {
                    encoder.encode_field(&a.as_primitive::<Float64Type>().value(row))?
                }
                Repr::Text => encoder.encode_field(&a.as_string::<i32>().value(row))?,
                Repr::Bytea => encoder.encode_field(&a.as_binary::<i32>().value(row))?,
                Repr::Date => {
                    let days = a.as_primitive::<Date32Type>().value(row);
                    let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                        .ok_or_else(|| encode_error(format!("date out of range: {days}")))?;
                    encoder.encode_field(&date)?
                }
                Repr::Timestamp | Repr::TimestampTz => {
                    let micros = a.as_primitive::<TimestampMicrosecondType>().value(row);
                    let t = chrono::DateTime::from_timestamp_micros(micros)
                        .ok_or_else(|| encode_error(format!("timestamp out of range: {micros}")))?;
                    if *r == Repr::Timestamp {
                        encoder.encode_field(&t.naive_utc())?
                    } else {
                        encoder.encode_field(&t)?
                    }
                }
                Repr::Display => {
                    let text = match &formatters[i] {
                        Some(f) => f.value(row).to_string(),
                        None => String::new(),
                    };
                    encoder.encode_field(&text)?
                }
            }
        }
        out.push(encoder.take_row());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, ListArray, StringViewArray, TimestampMicrosecondArray};
    use arrow_schema::Field;

    #[test]
    fn given_arrow_columns_should_describe_and_encode_them_as_postgres_types() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8View, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("l", list.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringViewArray::from(vec![Some("a"), Some("b")])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(0), Some(1_000_000)])
                        .with_timezone("UTC"),
                ),
                Arc::new(list),
            ],
        )
        .unwrap();
        let f = Arc::new(fields(&schema, None));
        let types: Vec<Type> = f.iter().map(|f| f.datatype().clone()).collect();
        assert_eq!(
            types,
            [Type::INT8, Type::TEXT, Type::TIMESTAMPTZ, Type::TEXT]
        );
        let rows = rows(&batch, &f).unwrap();
        assert_eq!(rows.len(), 2);
    }
}
