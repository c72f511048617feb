//! Microsoft Purview audit-log exports: CSV files whose `AuditData` column holds the record.

use std::io::Read;

use serde_json::Value;

/// Whether a header line is a Purview audit export's (it has an `AuditData` column).
pub fn is_export_header(first_line: &str) -> bool {
    first_line.split(',').any(|column| column.trim().trim_matches('"') == "AuditData")
}

/// One record of an export, or why a row could not be read, with its 1-based row number (the
/// header is row 1).
pub type Row = (u64, Result<Value, String>);

/// Reads the `AuditData` record of every row of a Purview export.
///
/// # Errors
///
/// When the header cannot be read or has no `AuditData` column; bad rows come back as `Err`
/// items and the rest are still read.
pub fn records(input: impl Read) -> Result<impl Iterator<Item = Row>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = reader.headers().map_err(|e| format!("cannot read the CSV header: {e}"))?;
    let column = headers
        .iter()
        .position(|h| h.trim() == "AuditData")
        .ok_or_else(|| "this CSV has no AuditData column".to_owned())?;
    Ok(reader.into_records().enumerate().map(move |(i, row)| {
        let number = i as u64 + 2;
        let record = row.map_err(|e| format!("unreadable CSV row: {e}")).and_then(|row| {
            let cell = row.get(column).ok_or_else(|| "the row has no AuditData cell".to_owned())?;
            serde_json::from_str(cell).map_err(|e| format!("AuditData is not JSON: {e}"))
        });
        (number, record)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_yield_their_audit_data() {
        let csv = "RecordId,CreationDate,AuditData\n1,x,\"{\"\"CreationTime\"\":\"\"2023-09-20T04:05:03\"\",\"\"Operation\"\":\"\"A\"\",\"\"RecordType\"\":8}\"\n2,y,not json\n";
        assert!(is_export_header("RecordId,CreationDate,AuditData"));
        let rows: Vec<Row> = records(csv.as_bytes()).expect("a header").collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].1.as_ref().is_ok_and(crate::is_raw_record));
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.as_ref().is_err_and(|e| e.starts_with("AuditData is not JSON")));
    }
}
