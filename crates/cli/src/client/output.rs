//! Command results rendered as a table for people, JSON for programs, or TSV and text
//! for shell pipelines, in the manner of `az -o table|json|tsv` and `aws --output text`,
//! optionally reduced first by a JMESPath `--query`.
//!
//! A result is a JSON value: usually an object (one row) or an array of objects (one row
//! each), whose columns pick fields by key or dotted path. The formats:
//!
//! - `json`: the whole value (after `--query`), pretty-printed, not only the columns.
//! - `table`: a Title Case header, a dashed rule and aligned columns, one line per row.
//! - `tsv`: no header, exactly one line per row, cells separated by tabs; arrays and
//!   objects inside a cell are compact JSON.
//! - `text`: no header, like `aws --output text`: a scalar is one line; an array is one
//!   line per element, where an object element is its cells separated by tabs, an array
//!   element is its items separated by tabs, and a scalar element is itself (so a list of
//!   names is one name per line); inside a cell, an array of scalars is its items
//!   separated by single spaces, other arrays and objects are compact JSON.
//!
//! In every format strings are written without quotes, missing fields and nulls are
//! empty, and tabs or line breaks inside a value become spaces so that rows stay rows. A
//! result that is a scalar or an array of scalars has one column, `Result`.
//!
//! `--query` is installed once per process ([`install_query`]) and applies to everything
//! [`print`] writes: the expression is checked before any request is made, and the
//! columns of a queried result are the keys of its objects (alphabetical), or `Result`.

use std::io::Write;
use std::sync::OnceLock;

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
    /// Values without a header, one per line for lists of scalars (`aws --output text`).
    Text,
}

/// One column: its header, where its value is in a row, and how to show it.
#[derive(Clone, Debug)]
pub struct Column {
    header: String,
    path: Vec<String>,
    shown: Option<fn(&Value) -> Value>,
}

impl Column {
    /// A column for the field `key`, titled from it (`created_at` → `Created At`).
    pub fn new(key: &str) -> Column {
        Column {
            header: title_case(key),
            path: vec![key.to_string()],
            shown: None,
        }
    }

    /// A column with its own header for a dotted path such as `secret.expires_at`.
    pub fn at(header: &str, path: &str) -> Column {
        Column {
            header: header.to_string(),
            path: path.split('.').map(str::to_string).collect(),
            shown: None,
        }
    }

    /// A column whose value is the row itself, for lists of scalars such as tag names.
    pub fn whole(header: &str) -> Column {
        Column {
            header: header.to_string(),
            path: Vec::new(),
            shown: None,
        }
    }

    /// The same column with its value turned into what people should see, e.g. a list
    /// of platform objects into `linux/amd64 linux/arm64`.
    pub fn shown_as(mut self, shown: fn(&Value) -> Value) -> Column {
        self.shown = Some(shown);
        self
    }

    fn value(&self, row: &Value) -> Option<Value> {
        let found = self.path.iter().try_fold(row, |v, key| v.get(key))?;
        Some(match self.shown {
            Some(shown) => shown(found),
            None => found.clone(),
        })
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
        Format::Table => table(&rows(value, columns, Cell::Json), columns),
        Format::Tsv => lines(&rows(value, columns, Cell::Json)),
        Format::Text => lines(&text_rows(value, columns)),
    }
}

/// Renders the result of `--query` (when one is installed) and writes it to standard
/// output; a query that fails on this value is an `io::Error` that carries a
/// [`QueryFailed`], so that callers need only one error path.
pub fn print(format: Format, value: &Value, columns: &[Column]) -> std::io::Result<()> {
    let text = match QUERY.get() {
        None => render(format, value, columns),
        Some(query) => {
            let value = query.apply(value).map_err(std::io::Error::other)?;
            render(format, &value, &columns_of(&value))
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A JMESPath expression checked for syntax, as `--query` gives it.
#[derive(Clone, Debug)]
pub struct Query {
    expression: String,
}

/// A `--query` that cannot be applied: bad syntax, or a function given the wrong type.
#[derive(Clone, Debug, thiserror::Error)]
#[error("--query {expression:?} {reason}; see https://jmespath.org for the syntax")]
pub struct QueryFailed {
    expression: String,
    reason: String,
}

impl Query {
    pub fn parse(expression: &str) -> Result<Query, QueryFailed> {
        jmespath::compile(expression).map_err(|err| QueryFailed {
            expression: expression.to_string(),
            reason: format!(
                "is not a JMESPath expression: {} at character {}",
                err.reason,
                err.offset + 1
            ),
        })?;
        Ok(Query {
            expression: expression.to_string(),
        })
    }

    /// The expression's result on `value`.
    pub fn apply(&self, value: &Value) -> Result<Value, QueryFailed> {
        let failed = |reason: String| QueryFailed {
            expression: self.expression.clone(),
            reason,
        };
        // Compiled again here because a compiled expression is not `Sync`; it was
        // checked when it was parsed, so this cannot fail on syntax.
        let compiled = jmespath::compile(&self.expression)
            .map_err(|err| failed(format!("is not a JMESPath expression: {}", err.reason)))?;
        let result = compiled
            .search(value)
            .map_err(|err| failed(format!("cannot be applied: {}", err.reason)))?;
        serde_json::to_value(&*result).map_err(|err| failed(format!("gave no JSON: {err}")))
    }
}

static QUERY: OnceLock<Query> = OnceLock::new();

/// Makes every later [`print`] of this process show `query`'s result; the first query
/// installed stays.
pub fn install_query(query: Query) {
    let _ = QUERY.set(query);
}

/// The columns of a value that has no columns of its own (the result of a query): the
/// keys of its objects in order of appearance, or one `Result` column.
pub fn columns_of(value: &Value) -> Vec<Column> {
    let objects: Vec<&serde_json::Map<String, Value>> = match value {
        Value::Object(object) => vec![object],
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let scalars_too = matches!(value, Value::Array(items) if items.iter().any(|v| !v.is_object()));
    if objects.is_empty() || scalars_too {
        return vec![Column::whole("Result")];
    }
    let mut keys: Vec<&str> = Vec::new();
    for key in objects.iter().flat_map(|o| o.keys()) {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    keys.into_iter().map(Column::new).collect()
}

fn lines(rows: &[Vec<String>]) -> String {
    rows.iter().map(|row| row.join("\t") + "\n").collect()
}

/// How a nested array appears inside a cell.
#[derive(Clone, Copy)]
enum Cell {
    /// Compact JSON, as in `table` and `tsv`.
    Json,
    /// Items separated by spaces when they are all scalars, as in `text`.
    Words,
}

/// The cells of each row: one row for an object or scalar, one per element for an array.
fn rows(value: &Value, columns: &[Column], style: Cell) -> Vec<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|row| row_cells(row, columns, style))
        .collect()
}

fn row_cells(row: &Value, columns: &[Column], style: Cell) -> Vec<String> {
    columns
        .iter()
        .map(|c| cell(c.value(row).as_ref(), style))
        .collect()
}

/// `text`'s rows: objects by the columns, arrays item by item, scalars as themselves.
fn text_rows(value: &Value, columns: &[Column]) -> Vec<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(_) => row_cells(item, columns, Cell::Words),
            Value::Array(inner) => inner.iter().map(|v| cell(Some(v), Cell::Words)).collect(),
            scalar => vec![cell(Some(scalar), Cell::Words)],
        })
        .collect()
}

fn cell(value: Option<&Value>, style: Cell) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items))
            if matches!(style, Cell::Words) && items.iter().all(is_scalar) =>
        {
            items
                .iter()
                .map(|v| cell(Some(v), style))
                .collect::<Vec<_>>()
                .join(" ")
        }
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

fn is_scalar(value: &Value) -> bool {
    !value.is_array() && !value.is_object()
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
    #[test]
    fn text_is_one_value_per_line_for_scalars_and_lists_of_scalars() {
        let cols = [Column::whole("Result")];
        assert_eq!(
            render(Format::Text, &json!(["v2", "v1"]), &cols),
            "v2\nv1\n"
        );
        assert_eq!(render(Format::Text, &json!(3), &cols), "3\n");
        assert_eq!(render(Format::Text, &json!("app"), &cols), "app\n");
        assert_eq!(render(Format::Text, &json!([]), &cols), "");
        assert_eq!(render(Format::Tsv, &json!(["v2", "v1"]), &cols), "v2\nv1\n");
        assert_eq!(
            render(Format::Table, &json!(["v2"]), &cols),
            "Result\n------\nv2\n"
        );
    }

    #[test]
    fn text_rows_spread_lists_where_tsv_keeps_json() {
        let images = json!([
            {"digest": "sha256:a", "tags": ["v1", "latest"], "size": 10},
            {"digest": "sha256:b", "tags": [], "size": null}
        ]);
        let cols = columns(&["digest", "tags", "size"]);
        assert_eq!(
            render(Format::Text, &images, &cols),
            "sha256:a\tv1 latest\t10\nsha256:b\t\t\n"
        );
        assert_eq!(
            render(Format::Tsv, &images, &cols),
            "sha256:a\t[\"v1\",\"latest\"]\t10\nsha256:b\t[]\t\n"
        );
        let pairs = json!([["app", 3], ["web", null]]);
        assert_eq!(
            render(Format::Text, &pairs, &[Column::whole("Result")]),
            "app\t3\nweb\t\n"
        );
    }

    #[test]
    fn queries_reshape_values_and_bad_ones_say_why() {
        let value = principals();
        let names = Query::parse("[].name").unwrap().apply(&value).unwrap();
        assert_eq!(names, json!(["ci", "alice"]));
        let count = Query::parse("length(@)").unwrap().apply(&value).unwrap();
        assert_eq!(count, json!(2));
        let picked = Query::parse("[?enabled].{n: name, k: kind}")
            .unwrap()
            .apply(&value)
            .unwrap();
        assert_eq!(picked, json!([{"n": "ci", "k": "service_principal"}]));
        let cols = columns_of(&picked);
        assert_eq!(
            render(Format::Tsv, &picked, &cols),
            "service_principal\tci\n"
        );

        let err = Query::parse("[.name").unwrap_err().to_string();
        assert!(
            err.starts_with("--query \"[.name\" is not a JMESPath expression"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let err = Query::parse("length(`1`)")
            .unwrap()
            .apply(&value)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be applied"), "{err}");
    }

    #[test]
    fn columns_of_a_queried_value_are_its_keys_or_result() {
        let headers =
            |v: Value| -> Vec<String> { columns_of(&v).into_iter().map(|c| c.header).collect() };
        assert_eq!(headers(json!([{"b": 1}, {"a": 2, "b": 3}])), ["B", "A"]);
        assert_eq!(headers(json!({"name": "x"})), ["Name"]);
        assert_eq!(headers(json!(["x"])), ["Result"]);
        assert_eq!(headers(json!(null)), ["Result"]);
    }

    #[test]
    fn shown_columns_transform_their_value() {
        fn upper(v: &Value) -> Value {
            Value::from(v.as_str().unwrap_or_default().to_uppercase())
        }
        let cols = [Column::new("name").shown_as(upper)];
        assert_eq!(render(Format::Tsv, &json!([{"name": "ci"}]), &cols), "CI\n");
    }
}
