//! Exports of the tables as shown: CSV quoting and formula safety, JSON with numbers as numbers,
//! non-finite numbers as everywhere in the app, the rows and columns exactly as filtered and sorted,
//! and file names that say what they hold.

mod common;

use quantlens::engine::analyze_text;
use quantlens::engine::views::{self, export_name, ExportCell as Cell, ExportTable, RowFilter};
use serde_json::Value;

fn table(rows: Vec<Vec<Cell>>) -> ExportTable {
    let mut t = ExportTable::new(["name", "value", "note"]);
    for r in rows {
        t.push(r);
    }
    t
}

#[test]
fn csv_quotes_commas_quotes_and_line_breaks() {
    let t = table(vec![
        vec![Cell::text("a,b"), Cell::Num(1.5), Cell::text("say \"hi\"")],
        vec![
            Cell::text("two\nlines"),
            Cell::Num(2.0),
            Cell::text("cr\rhere"),
        ],
        vec![Cell::text("plain"), Cell::Empty, Cell::Empty],
    ]);
    assert_eq!(
        t.csv(),
        "name,value,note\n\"a,b\",1.5,\"say \"\"hi\"\"\"\n\"two\nlines\",2,\"cr\rhere\"\nplain,,\n"
    );
}

#[test]
fn csv_neutralises_formulas_but_not_numbers() {
    let t = table(vec![
        vec![
            Cell::text("=HYPERLINK(\"x\")"),
            Cell::Num(-3.5),
            Cell::text("-3.5"),
        ],
        vec![
            Cell::text("+cmd"),
            Cell::text("-1e-05"),
            Cell::text("@SUM(A1)"),
        ],
        vec![
            Cell::text("-inf"),
            Cell::text("-x"),
            Cell::Text("-3.5".into()),
        ],
        vec![Cell::text("\tTAB"), Cell::text("1,5"), Cell::text("=1+2,3")],
    ]);
    let csv = t.csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[1], "\"'=HYPERLINK(\"\"x\"\")\",-3.5,-3.5");
    assert_eq!(lines[2], "'+cmd,-1e-05,'@SUM(A1)");
    // Numbers, even given as text, keep their sign; other text starting with '-' does not.
    assert_eq!(lines[3], "-inf,'-x,-3.5");
    assert_eq!(lines[4], "'\tTAB,\"1,5\",\"'=1+2,3\"");
}

#[test]
fn non_finite_numbers_as_numpy_reads_them_and_as_json_strings() {
    let t = table(vec![vec![
        Cell::Num(f64::INFINITY),
        Cell::Num(f64::NEG_INFINITY),
        Cell::Num(f64::NAN),
    ]]);
    assert_eq!(t.csv().lines().nth(1), Some("inf,-inf,nan"));
    let v: Value = serde_json::from_str(&t.json()).expect("json");
    assert_eq!(v[0]["name"], "inf");
    assert_eq!(v[0]["value"], "-inf");
    assert_eq!(v[0]["note"], "nan");
}

#[test]
fn json_is_an_array_of_objects_keyed_by_column_with_numbers_as_numbers() {
    let t = table(vec![
        vec![
            Cell::text("conv1"),
            Cell::Num(-3.5),
            Cell::text("0.9999990"),
        ],
        vec![Cell::text("=x"), Cell::Empty, Cell::text("say \"hi\"\n")],
    ]);
    let text = t.json();
    let v: Value = serde_json::from_str(&text).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "conv1");
    assert_eq!(rows[0]["value"].as_f64(), Some(-3.5));
    assert_eq!(
        rows[0]["note"].as_f64(),
        Some(0.999999),
        "a printed number is a number"
    );
    // JSON is not a spreadsheet: text stays as it is.
    assert_eq!(rows[1]["name"], "=x");
    assert!(rows[1]["value"].is_null());
    assert_eq!(rows[1]["note"], "say \"hi\"\n");
    // Keys in column order.
    assert!(
        text.contains("{\"name\": \"conv1\", \"value\": -3.5, \"note\": 0.999999}"),
        "{text}"
    );
    assert_eq!(ExportTable::new(["a"]).json(), "[]\n");
    // A column name met twice keeps both values.
    let mut dup = ExportTable::new(["x", "x"]);
    dup.push(vec![Cell::Num(1.0), Cell::Num(2.0)]);
    let v: Value = serde_json::from_str(&dup.json()).expect("json");
    assert_eq!(v[0]["x"].as_f64(), Some(1.0));
    assert_eq!(v[0]["x (2)"].as_f64(), Some(2.0));
}

#[test]
fn layer_rows_export_as_filtered_sorted_and_with_the_columns_shown() {
    let text = common::text("tests/fixtures/horizon/qa-small/compare_per_layer_out.txt");
    let (report, _) = analyze_text("compare_per_layer_out.txt", &text);
    let t = report.compare().expect("a comparison table");
    let filter = RowFilter {
        text: "quant".into(),
        ..Default::default()
    };
    let order = views::filter_sort(t, &filter, "cosine", false);
    assert!(!order.is_empty() && order.len() < t.rows.len());
    let columns = ["index", "mod_name", "quant_dtype", "cosine", "cause"];
    let e = views::rows_export(t, &order, &columns);
    assert_eq!(e.columns, ["#", "mod_name", "dtype", "Cosine", "cause"]);
    let csv = e.csv();
    assert_eq!(csv, views::rows_csv(t, &order, &columns));
    assert_eq!(csv.lines().count(), order.len() + 1);
    let v: Value = serde_json::from_str(&e.json()).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), order.len());
    for (row, &i) in rows.iter().zip(&order) {
        let r = &t.rows[i];
        assert_eq!(row["mod_name"], r.mod_name.as_str());
        assert_eq!(row["Cosine"].as_f64(), r.cosine);
        assert!(row["#"].is_number());
        assert!(
            [&r.mod_name, &r.base_op_type, &r.analy_op_type]
                .iter()
                .any(|s| s.to_lowercase().contains("quant")),
            "{row}"
        );
    }
    // Sorted as shown: Cosine ascending.
    let cos: Vec<f64> = rows.iter().filter_map(|r| r["Cosine"].as_f64()).collect();
    assert!(cos.windows(2).all(|w| w[0] <= w[1]), "{cos:?}");
}

#[test]
fn parsed_table_rows_export_with_their_lines_and_findings() {
    let text = common::text("tests/fixtures/seed/model_check_excerpt.txt");
    let (report, _) = analyze_text("model_check_result.txt", &text);
    let tables = report.tables();
    let t = tables.iter().find(|t| t.rows.len() > 2).expect("a table");
    let rows = [2usize, 0];
    let e = views::doc_rows_export(t, &rows, &|r| {
        if r == 2 {
            vec!["unfused".into(), "qint32_output".into()]
        } else {
            vec![]
        }
    });
    assert_eq!(e.columns.first().map(String::as_str), Some("line"));
    assert_eq!(e.columns.last().map(String::as_str), Some("findings"));
    assert_eq!(e.columns.len(), t.headers.len() + 2);
    let v: Value = serde_json::from_str(&e.json()).expect("json");
    assert_eq!(v[0]["line"].as_u64(), Some(t.rows[2].line as u64));
    assert_eq!(v[0]["findings"], "unfused; qint32_output");
    assert!(v[1]["findings"].is_null());
    let csv = e.csv();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .ends_with(",unfused; qint32_output"));
}

#[test]
fn file_names_say_what_they_hold() {
    assert_eq!(
        export_name(
            "ort_int8/horizon_quant_analysis/compare_per_layer_out.txt",
            None,
            true,
            "csv"
        ),
        "compare_per_layer_out.filtered.csv"
    );
    assert_eq!(
        export_name("output_0_L1_sensitive_ops.txt", Some("bars"), false, "json"),
        "output_0_L1_sensitive_ops.bars.json"
    );
    assert_eq!(
        export_name(
            "model_check_result.txt",
            Some("Fusable modules (unfused)"),
            false,
            "csv"
        ),
        "model_check_result.Fusable_modules_unfused.csv"
    );
    assert_eq!(export_name("", None, false, "png"), "quantlens.png");
}

#[test]
fn sensitivity_ops_export_and_their_bars_as_a_standalone_svg() {
    let text = common::text("tests/fixtures/seed/output_0_L1_sensitive_ops_int8.txt");
    let (report, _) = analyze_text("output_0_L1_sensitive_ops.txt", &text);
    let t = report.sensitivity().expect("a sensitivity table");
    let n = 5.min(t.rows.len());
    let e = views::sensitivity_export(t, 5);
    assert_eq!(e.rows.len(), n);
    let v: Value = serde_json::from_str(&e.json()).expect("json");
    for (k, row) in v.as_array().expect("array").iter().enumerate() {
        assert_eq!(row["rank"].as_u64(), Some(k as u64 + 1));
        assert_eq!(row["op_name"], t.rows[k].op_name.as_str());
        assert_eq!(row[t.metric.as_str()].as_f64(), t.rows[k].value);
    }
    let (svg, w, h) = views::sensitivity_svg(t, 5);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(w > 0.0 && h > 0.0);
    assert_eq!(svg.matches("<g>").count(), n);
    assert_eq!(svg.matches("<g>").count(), svg.matches("</g>").count());
    assert!(!svg.contains(" & "), "text is escaped");
}
