//! String headers (trace context, error reasons) in and out of AMQP field tables.

use std::collections::HashMap;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// The header a dead-lettered message carries with the reason it was rejected.
pub const ERROR_HEADER: &str = "x-concord-error";
/// The header naming the queue a dead-lettered message came from.
pub const SOURCE_QUEUE_HEADER: &str = "x-concord-queue";
/// Set by quorum queues on redeliveries: how many times the message was delivered before.
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

pub fn to_field_table(headers: &HashMap<String, String>) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in headers {
        table.insert(
            ShortString::from(key.as_str()),
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    table
}

/// The string-valued headers of a message (numbers are rendered as text).
pub fn from_field_table(table: Option<&FieldTable>) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    let Some(table) = table else {
        return headers;
    };
    for (key, value) in table.inner() {
        let text = match value {
            AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            AMQPValue::ShortString(s) => s.as_str().to_owned(),
            AMQPValue::LongInt(n) => n.to_string(),
            AMQPValue::LongUInt(n) => n.to_string(),
            AMQPValue::LongLongInt(n) => n.to_string(),
            AMQPValue::ShortInt(n) => n.to_string(),
            AMQPValue::ShortUInt(n) => n.to_string(),
            AMQPValue::ShortShortInt(n) => n.to_string(),
            AMQPValue::ShortShortUInt(n) => n.to_string(),
            AMQPValue::Boolean(b) => b.to_string(),
            _ => continue,
        };
        headers.insert(key.as_str().to_owned(), text);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_headers_round_trip() {
        let mut headers = HashMap::new();
        headers.insert("traceparent".to_owned(), "00-abc-def-01".to_owned());
        headers.insert("authorization".to_owned(), "Bearer k".to_owned());
        let back = from_field_table(Some(&to_field_table(&headers)));
        assert_eq!(back, headers);
    }

    #[test]
    fn numeric_headers_are_read_as_text() {
        let mut table = FieldTable::default();
        table.insert(DELIVERY_COUNT_HEADER.into(), AMQPValue::LongLongInt(3));
        assert_eq!(
            from_field_table(Some(&table))
                .get(DELIVERY_COUNT_HEADER)
                .map(String::as_str),
            Some("3")
        );
    }
}
