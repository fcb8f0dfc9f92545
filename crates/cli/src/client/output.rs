//! Command results rendered as a table for people, JSON for programs, or TSV for shell
//! pipelines, in the manner of `az -o table|json|tsv`.
//!
//! A result is a JSON object (one row) or an array of objects (one row each); columns
//! pick fields by key or dotted path. Guarantees: `json` shows the whole value, not only
//! the columns; `table` has a Title Case header, a dashed rule and aligned columns;
//! `tsv` has no header and exactly one line per row. Missing fields and nulls are empty
//! cells, arrays and objects are compact JSON, and tabs or line breaks inside a value
//! become spaces so that rows stay rows.

use std::io::Write;

use serde_json::Value;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header, for people.
    #[default]
    Table,
    /// The full result, pretty-printed.
    Json,
    /// Tab-separated values without a header, for scripts.
    Tsv,
}

/// One column: its header and where its value is in a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    header: String,
    path: Vec<String>,
}

impl Column {
    /// A column for the field `key`, titled from it (`created_at` → `Created At`).
    pub fn new(key: &str) -> Column {
        Column {
            header: title_case(key),
            path: vec![key.to_string()],
        }
    }

    /// A column with its own header for a dotted path such as `secret.expires_at`.
    pub fn at(header: &str, path: &str) -> Column {
        Column {
            header: header.to_string(),
            path: path.split('.').map(str::to_string).collect(),
        }
    }

    fn value<'a>(&self, row: &'a Value) -> Option<&'a Value> {
        self.path.iter().try_fold(row, |v, key| v.get(key))
    }
}

/// Columns for plain keys.
pub fn columns(keys: &[&str]) -> Vec<Column> {
    keys.iter().map(|k| Column::new(k)).collect()
}

/// Renders `value` in `format`; the text ends with a newline unless it is empty.
pub fn render(format: Format, value: &Value, columns: &[Column]) -> String {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
            text.push('\n');
            text
        }
        Format::Table => table(&rows(value, columns), columns),
        Format::Tsv => rows(value, columns)
            .iter()
            .map(|row| row.join("\t") + "\n")
            .collect(),
    }
}

/// Renders and writes to standard output.
pub fn print(format: Format, value: &Value, columns: &[Column]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(render(format, value, columns).as_bytes())?;
    out.flush()
}

/// The cells of each row: one row for an object, one per element for an array.
fn rows(value: &Value, columns: &[Column]) -> Vec<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|row| columns.iter().map(|c| cell(c.value(row))).collect())
        .collect()
}

fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.contains(['\t', '\n', '\r']) {
        text.replace(['\t', '\n', '\r'], " ")
    } else {
        text
    }
}

fn table(rows: &[Vec<String>], columns: &[Column]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| width(&c.header)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut text = String::new();
    for line in [&headers, &rule].into_iter().chain(rows) {
        let mut out = String::new();
        for (cell, w) in line.iter().zip(&widths) {
            out.push_str(cell);
            out.push_str(&" ".repeat(w - width(cell) + 2));
        }
        text.push_str(out.trim_end());
        text.push('\n');
    }
    text
}

/// Display width in characters; good enough for the names and times shown here.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// `created_at` → `Created At`, `kid` → `Kid`.
pub fn title_case(key: &str) -> String {
    key.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn principals() -> Value {
        json!([
            {"name": "ci", "kind": "service_principal", "enabled": true,
             "roles": [{"role": "push", "scope": "team/*"}], "description": null},
            {"name": "alice", "kind": "user", "enabled": false, "roles": [],
             "description": "first\tline\nsecond"}
        ])
    }

    #[test]
    fn titles_are_title_case() {
        assert_eq!(title_case("created_at"), "Created At");
        assert_eq!(title_case("kid"), "Kid");
        assert_eq!(title_case("anonymous_pull"), "Anonymous Pull");
        assert_eq!(title_case("next-before"), "Next Before");
    }

    #[test]
    fn table_has_header_rule_and_aligned_columns() {
        let text = render(
            Format::Table,
            &principals(),
            &columns(&["name", "kind", "enabled"]),
        );
        let expected = "\
Name   Kind               Enabled
-----  -----------------  -------
ci     service_principal  true
alice  user               false
";
        assert_eq!(text, expected);
    }

    #[test]
    fn table_renders_nested_values_compactly_and_nulls_empty() {
        let text = render(
            Format::Table,
            &principals(),
            &columns(&["name", "roles", "description"]),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Name   Roles                               Description"
        );
        assert_eq!(
            lines[2],
            "ci     [{\"role\":\"push\",\"scope\":\"team/*\"}]"
        );
        assert_eq!(
            lines[3],
            "alice  []                                  first line second"
        );
        assert_eq!(
            lines.len(),
            4,
            "a line break inside a value does not split the row"
        );
    }

    #[test]
    fn tsv_has_no_header_and_one_line_per_row() {
        let text = render(
            Format::Tsv,
            &principals(),
            &columns(&["name", "enabled", "description", "missing"]),
        );
        assert_eq!(text, "ci\ttrue\t\t\nalice\tfalse\tfirst line second\t\n");
    }

    #[test]
    fn json_is_the_full_value_whatever_the_columns() {
        let value = principals();
        let text = render(Format::Json, &value, &columns(&["name"]));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert!(text.ends_with('\n'));
        assert!(text.contains("\n  {"), "pretty-printed");
    }

    #[test]
    fn a_single_object_is_one_row_and_dotted_paths_reach_inside() {
        let created = json!({
            "principal": {"name": "ci", "kind": "service_principal"},
            "secret": {"slot": 1, "secret": "s3cr3t", "expires_at": null}
        });
        let cols = [
            Column::at("Name", "principal.name"),
            Column::at("Secret", "secret.secret"),
            Column::at("Expires", "secret.expires_at"),
        ];
        assert_eq!(render(Format::Tsv, &created, &cols), "ci\ts3cr3t\t\n");
        assert_eq!(
            render(Format::Table, &created, &cols),
            "Name  Secret  Expires\n----  ------  -------\nci    s3cr3t\n"
        );
    }

    #[test]
    fn empty_lists_print_only_the_header_in_a_table_and_nothing_in_tsv() {
        let empty = json!([]);
        assert_eq!(
            render(Format::Table, &empty, &columns(&["name", "kind"])),
            "Name  Kind\n----  ----\n"
        );
        assert_eq!(render(Format::Tsv, &empty, &columns(&["name"])), "");
        assert_eq!(render(Format::Json, &empty, &columns(&["name"])), "[]\n");
    }

    #[test]
    fn wide_characters_are_counted_as_characters() {
        let value = json!([{"name": "équipe"}, {"name": "ab"}]);
        let text = render(Format::Table, &value, &columns(&["name", "x"]));
        assert_eq!(text.lines().nth(2).unwrap(), "équipe");
        assert_eq!(text.lines().nth(1).unwrap(), "------  -");
    }
}
