//! Incremental readers for the tables Python's `tabulate` writes: `psql` grids and `simple` tables.
//!
//! Real files are column-aligned, so cells are cut at the column boundaries the borders give. Excerpts
//! pasted into documents (such as the seed guide) lose their alignment; then a row is split on `|`
//! (psql) or on whitespace outside brackets and quotes (simple). Lines holding only `...` mark rows
//! that were elided in an excerpt and are counted, not parsed.

use serde::{Deserialize, Serialize};

/// One parsed table row: its 1-based line number in the source file and its trimmed cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub line: usize,
    pub cells: Vec<String>,
}

/// A table as written: headers, rows, and what the reader had to tolerate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// Number of `...` lines met between rows (rows left out of an excerpt).
    pub elided_runs: usize,
    /// Rows whose cell count did not match the header (padded or merged), by line number.
    pub irregular_rows: Vec<usize>,
    /// First line of the table in the source file (1-based).
    pub first_line: usize,
}

impl Table {
    /// Index of a header, compared case-insensitively and ignoring surrounding space.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
    }
}

/// What a reader did with a line it was offered.
#[derive(Debug, PartialEq)]
pub enum Feed {
    /// The line belongs to the table; keep feeding.
    Consumed,
    /// The table ended *before* this line; the caller must handle the line itself.
    EndedBefore,
    /// The table ended *with* this line (its bottom border).
    EndedWith,
}

pub fn is_elision(line: &str) -> bool {
    let t = line.trim();
    t == "..." || t == "…" || t == "......"
}

/// `+----+-----+` (top/bottom border) or `|----+-----|` (header separator) or `+====+` variants.
fn is_psql_rule(line: &str) -> bool {
    let t = line.trim_end();
    let mut chars = t.chars();
    match chars.next() {
        Some('+') | Some('|') => {}
        _ => return false,
    }
    let rest: Vec<char> = chars.collect();
    rest.len() >= 2
        && rest.iter().all(|c| matches!(c, '-' | '+' | '|' | '='))
        && rest.iter().any(|c| *c == '-' || *c == '=')
}

/// Column boundaries (char indices of the `+`/`|` joints) of a psql rule line.
fn rule_joints(line: &str) -> Vec<usize> {
    line.trim_end()
        .chars()
        .enumerate()
        .filter(|(_, c)| *c == '+' || *c == '|')
        .map(|(i, _)| i)
        .collect()
}

/// Cut an aligned ASCII `| a | b |` row into trimmed cell slices (no allocation per cell); `None`
/// when the row is not laid out on these joints (then use [`psql_cells`]).
pub fn psql_cell_slices<'a>(
    line: &'a str,
    joints: &[usize],
) -> Option<impl Iterator<Item = &'a str> + 'a> {
    let t = line.trim_end();
    let b = t.as_bytes();
    let aligned = t.is_ascii()
        && joints.len() >= 2
        && b.len() == joints[joints.len() - 1] + 1
        && joints.iter().all(|&j| b.get(j) == Some(&b'|'));
    if !aligned {
        return None;
    }
    let joints = joints.to_vec();
    Some((0..joints.len() - 1).map(move |k| t[joints[k] + 1..joints[k + 1]].trim()))
}

/// Cut a `| a | b |` row into cells: by joint positions when the row is aligned with the rule,
/// otherwise by splitting on `|`.
pub fn psql_cells(line: &str, joints: &[usize]) -> Vec<String> {
    let line_t = line.trim_end();
    // Fast path: in ASCII lines char positions are byte positions (nearly every real file).
    if line_t.is_ascii() {
        let b = line_t.as_bytes();
        let aligned = joints.len() >= 2
            && b.len() == joints[joints.len() - 1] + 1
            && joints.iter().all(|&j| b.get(j) == Some(&b'|'));
        if aligned {
            return joints
                .windows(2)
                .map(|w| line_t[w[0] + 1..w[1]].trim().to_string())
                .collect();
        }
    }
    let chars: Vec<char> = line_t.chars().collect();
    let aligned = joints.len() >= 2
        && chars.len() == joints[joints.len() - 1] + 1
        && joints.iter().all(|&j| chars.get(j) == Some(&'|'));
    if aligned {
        return joints
            .windows(2)
            .map(|w| {
                chars[w[0] + 1..w[1]]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .collect();
    }
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(|c| c.trim().to_string()).collect()
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum PsqlStage {
    Start,
    Header,
    Body,
}

/// Incremental reader of one psql grid (`tablefmt="psql"`).
#[derive(Debug)]
pub struct PsqlReader {
    stage: PsqlStage,
    joints: Vec<usize>,
    header_lines: Vec<Vec<String>>,
    table: Table,
}

impl Default for PsqlReader {
    fn default() -> Self {
        Self::new()
    }
}

impl PsqlReader {
    pub fn new() -> Self {
        PsqlReader {
            stage: PsqlStage::Start,
            joints: Vec::new(),
            header_lines: Vec::new(),
            table: Table::default(),
        }
    }

    /// True once the reader has seen any line of a table.
    pub fn started(&self) -> bool {
        self.stage != PsqlStage::Start
    }

    /// Once the header separator has been read: the headers and the column joints, so a caller can
    /// cut the body rows itself without allocating a String per cell.
    pub fn body_layout(&self) -> Option<(&[String], &[usize])> {
        (self.stage == PsqlStage::Body)
            .then_some((self.table.headers.as_slice(), self.joints.as_slice()))
    }

    /// Hand over the table read so far (headers, first line) for a caller that reads the body itself.
    pub fn into_header_table(mut self) -> Table {
        self.finish_header();
        self.table
    }

    pub fn feed(&mut self, line_no: usize, line: &str) -> Feed {
        let t = line.trim();
        match self.stage {
            PsqlStage::Start => {
                if is_psql_rule(t) {
                    self.joints = rule_joints(line);
                    self.table.first_line = line_no;
                    self.stage = PsqlStage::Header;
                    Feed::Consumed
                } else if t.starts_with('|') {
                    // An excerpt without its top border: this is the header row.
                    self.table.first_line = line_no;
                    self.stage = PsqlStage::Header;
                    self.header_lines.push(psql_cells(line, &self.joints));
                    Feed::Consumed
                } else if t.is_empty() {
                    Feed::Consumed
                } else {
                    Feed::EndedBefore
                }
            }
            PsqlStage::Header => {
                if is_psql_rule(t) {
                    if !self.header_lines.is_empty() {
                        // `|----+----|` separator: the authoritative joints for aligned rows.
                        self.joints = rule_joints(line);
                        self.finish_header();
                        self.stage = PsqlStage::Body;
                    }
                    Feed::Consumed
                } else if t.starts_with('|') {
                    self.header_lines.push(psql_cells(line, &self.joints));
                    Feed::Consumed
                } else if is_elision(t) {
                    self.table.elided_runs += 1;
                    Feed::Consumed
                } else {
                    // A header with no body (or garbage): the table ends here.
                    self.finish_header();
                    Feed::EndedBefore
                }
            }
            PsqlStage::Body => {
                if is_psql_rule(t) {
                    if t.starts_with('+') {
                        Feed::EndedWith
                    } else {
                        Feed::Consumed
                    }
                } else if t.starts_with('|') {
                    let mut cells = psql_cells(line, &self.joints);
                    let n = self.table.headers.len();
                    if n > 0 && cells.len() != n {
                        self.table.irregular_rows.push(line_no);
                        fit_cells(&mut cells, n);
                    }
                    self.table.rows.push(Row {
                        line: line_no,
                        cells,
                    });
                    Feed::Consumed
                } else if is_elision(t) {
                    self.table.elided_runs += 1;
                    Feed::Consumed
                } else {
                    Feed::EndedBefore
                }
            }
        }
    }

    fn finish_header(&mut self) {
        if !self.table.headers.is_empty() || self.header_lines.is_empty() {
            return;
        }
        // Multi-line headers (tabulate splits "a\nb" over lines): join the pieces per column.
        let ncols = self.header_lines.iter().map(Vec::len).max().unwrap_or(0);
        self.table.headers = (0..ncols)
            .map(|c| {
                self.header_lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
    }

    pub fn finish(mut self) -> Table {
        self.finish_header();
        self.table
    }
}

/// Make a row have exactly `n` cells: extra cells are merged into the last, missing ones are empty.
fn fit_cells(cells: &mut Vec<String>, n: usize) {
    if cells.len() > n && n > 0 {
        let extra = cells.split_off(n - 1).join(" | ");
        cells.push(extra);
    }
    while cells.len() < n {
        cells.push(String::new());
    }
}

/// `-----  ----` dash line of a simple table: dash runs separated by spaces.
pub fn is_simple_rule(line: &str) -> bool {
    let t = line.trim_end();
    !t.is_empty()
        && t.starts_with('-')
        && t.chars().all(|c| c == '-' || c == ' ')
        && t.chars().filter(|c| *c == '-').count() >= 2
}

/// (start, end) char spans of the dash runs.
fn dash_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.trim_end().chars().enumerate() {
        match (c, start) {
            ('-', None) => start = Some(i),
            (' ', Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.trim_end().chars().count()));
    }
    spans
}

/// Split on whitespace that is outside `<>`, `[]`, `()`, `{}` and quotes.
pub fn tokenize(line: &str) -> Vec<String> {
    split_outside_brackets(line, char::is_whitespace, false)
}

/// Split on `is_sep` outside brackets (`<[({`) and quotes — the one bracket-aware splitter of the
/// engine (simple-table tokens, observer arguments). A quote opens inside brackets or at the start of
/// a part (so `don't` in a bare cell is not a quote). `keep_empty`: keep empty parts between two
/// separators (argument lists) or drop them (runs of spaces).
pub fn split_outside_brackets(
    line: &str,
    is_sep: impl Fn(char) -> bool,
    keep_empty: bool,
) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut depth: i32 = 0;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        if let Some(q) = quote {
            cur.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' if depth > 0 || cur.trim().is_empty() => {
                quote = Some(c);
                cur.push(c);
            }
            '<' | '[' | '(' | '{' => {
                depth += 1;
                cur.push(c);
            }
            '>' | ']' | ')' | '}' => {
                depth = (depth - 1).max(0);
                cur.push(c);
            }
            c if is_sep(c) && depth == 0 => {
                if keep_empty || !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// Cut a simple-table line by the dash spans if it is aligned with them; `None` otherwise.
fn slice_simple(line: &str, spans: &[(usize, usize)]) -> Option<Vec<String>> {
    let chars: Vec<char> = line.trim_end().chars().collect();
    let last_end = spans.last()?.1;
    if chars.len() > last_end {
        return None;
    }
    // Every gap between spans must be blank, or the line is not laid out on this grid.
    for w in spans.windows(2) {
        for i in w[0].1..w[1].0 {
            if let Some(c) = chars.get(i) {
                if !c.is_whitespace() {
                    return None;
                }
            }
        }
    }
    // A cell must start inside its span; a non-blank at the span start of the next column while the
    // previous cell overflowed would have been caught above.
    Some(
        spans
            .iter()
            .map(|&(s, e)| {
                let s = s.min(chars.len());
                let e = e.min(chars.len());
                chars[s..e].iter().collect::<String>().trim().to_string()
            })
            .collect(),
    )
}

/// Split a line into `n` cells by whitespace tokens; extra tokens go to the widest text column
/// (`wide_col`), so `called times`-style headers and type reprs survive collapsed spacing.
fn tokens_to_cells(line: &str, n: usize, wide_col: usize) -> (Vec<String>, bool) {
    let tokens = tokenize(line);
    if tokens.len() == n || n == 0 {
        return (tokens, true);
    }
    if tokens.len() < n {
        let mut cells = tokens;
        while cells.len() < n {
            cells.push(String::new());
        }
        return (cells, false);
    }
    let extra = tokens.len() - n;
    let wide_col = wide_col.min(n - 1);
    let mut cells = Vec::with_capacity(n);
    let mut it = tokens.into_iter();
    for c in 0..n {
        if c == wide_col {
            let merged: Vec<String> = it.by_ref().take(extra + 1).collect();
            cells.push(merged.join(" "));
        } else if let Some(t) = it.next() {
            cells.push(t);
        }
    }
    (cells, false)
}

/// Incremental reader of a sequence of `simple` tables that follow each other (one per group, as
/// `Fusable modules are listed below:` writes them). Each group starts at a header line followed by
/// a dash rule. A whitespace-only line (tabulate's `["", ""]` row) or an empty line closes a group.
#[derive(Debug, Default)]
pub struct SimpleReader {
    /// Expected header names, used when spacing is collapsed and positions cannot be trusted.
    expected: Vec<String>,
    pending: Option<(usize, String)>,
    spans: Vec<(usize, usize)>,
    groups: Vec<Table>,
    open: bool,
    blank_run: usize,
    stray_lines: Vec<usize>,
}

impl SimpleReader {
    pub fn new(expected_headers: &[&str]) -> Self {
        SimpleReader {
            expected: expected_headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn started(&self) -> bool {
        !self.groups.is_empty()
    }

    pub fn feed(&mut self, line_no: usize, line: &str) -> Feed {
        if is_simple_rule(line) {
            if let Some((hl, header)) = self.pending.take() {
                self.start_group(hl, &header, line);
                return Feed::Consumed;
            }
            // A dash rule with no header line before it is not part of a simple table.
            return if self.started() {
                Feed::EndedBefore
            } else {
                self.stray_lines.push(line_no);
                Feed::Consumed
            };
        }
        // The line held back was not a header (no rule follows): a row of the open group, or stray text.
        if let Some((pl, p)) = self.pending.take() {
            if self.open {
                self.push_row(pl, &p);
            } else {
                self.stray_lines.push(pl);
            }
        }
        let t = line.trim();
        if t.is_empty() {
            // tabulate's `["", ""]` group terminator is a whitespace-only row; an empty line also
            // closes a group, and two empty lines in a row end the whole run of tables.
            self.open = false;
            self.blank_run += 1;
            return if self.started() && self.blank_run >= 2 {
                Feed::EndedBefore
            } else {
                Feed::Consumed
            };
        }
        self.blank_run = 0;
        if is_elision(t) {
            if let Some(g) = self.groups.last_mut() {
                g.elided_runs += 1;
            }
            return Feed::Consumed;
        }
        // A row of the open group or the header of the next one: decided when the next line comes.
        self.pending = Some((line_no, line.to_string()));
        Feed::Consumed
    }

    /// Lines that were neither a header, a rule nor a row (1-based line numbers).
    pub fn stray_lines(&self) -> &[usize] {
        &self.stray_lines
    }

    fn start_group(&mut self, header_line: usize, header: &str, rule: &str) {
        self.spans = dash_spans(rule);
        let n = self.spans.len();
        let headers = if !self.expected.is_empty()
            && tokenize(header).join(" ") == self.expected.join(" ")
            && self.expected.len() == n
        {
            self.expected.clone()
        } else {
            match slice_simple(header, &self.spans) {
                Some(h) if h.iter().all(|c| !c.is_empty()) => h,
                _ => tokens_to_cells(header, n, n.saturating_sub(1)).0,
            }
        };
        self.groups.push(Table {
            headers,
            first_line: header_line,
            ..Default::default()
        });
        self.open = true;
        self.blank_run = 0;
    }

    fn push_row(&mut self, line_no: usize, line: &str) {
        let spans = self.spans.clone();
        let Some(g) = self.groups.last_mut() else {
            return;
        };
        let n = g.headers.len();
        let tokens = tokenize(line);
        let (cells, regular) = match slice_simple(line, &spans) {
            // A collapsed line can fit inside the first span and leave the others empty: when the
            // tokens fill every column exactly, trust them over positions.
            Some(c) if c.iter().any(|x| x.is_empty()) && tokens.len() == n => (tokens, false),
            Some(c) if !c.iter().all(|x| x.is_empty()) && c.len() == n => (c, true),
            _ => {
                // Collapsed spacing: the widest text column absorbs extra tokens (a type repr).
                let wide = widest_text_column(&g.headers);
                tokens_to_cells(line, n, wide)
            }
        };
        if !regular {
            g.irregular_rows.push(line_no);
        }
        g.rows.push(Row {
            line: line_no,
            cells,
        });
    }

    /// Finish and return every group read (a single table for most sections).
    pub fn finish(mut self) -> (Vec<Table>, Vec<usize>) {
        if let Some((pl, p)) = self.pending.take() {
            if self.open {
                self.push_row(pl, &p);
            } else {
                self.stray_lines.push(pl);
            }
        }
        (self.groups, self.stray_lines)
    }
}

fn widest_text_column(headers: &[String]) -> usize {
    // For the tables Horizon writes, free text with spaces only appears in `type`/`op_type`/`target`.
    headers
        .iter()
        .position(|h| {
            let h = h.to_ascii_lowercase();
            h == "type" || h == "op_type" || h == "target" || h == "module type"
        })
        .unwrap_or(0)
}

/// Parse a whole text holding one psql table (convenience for tests and small inputs).
pub fn parse_psql(text: &str) -> Table {
    let mut r = PsqlReader::new();
    for (i, line) in text.lines().enumerate() {
        match r.feed(i + 1, line) {
            Feed::Consumed => {}
            Feed::EndedBefore | Feed::EndedWith => break,
        }
    }
    r.finish()
}

/// Parse a whole text holding simple tables (convenience for tests and small inputs).
pub fn parse_simple(text: &str, expected_headers: &[&str]) -> Vec<Table> {
    let mut r = SimpleReader::new(expected_headers);
    for (i, line) in text.lines().enumerate() {
        if r.feed(i + 1, line) == Feed::EndedBefore {
            break;
        }
    }
    r.finish().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_aligned_with_pipes_in_no_cell() {
        let t = parse_psql(
            "+------+-----+\n| a    |   b |\n|------+-----|\n| x y  |   1 |\n|      |     |\n+------+-----+\n",
        );
        assert_eq!(t.headers, vec!["a", "b"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].cells, vec!["x y", "1"]);
        assert_eq!(t.rows[1].cells, vec!["", ""]);
        assert_eq!(t.rows[0].line, 4);
    }

    #[test]
    fn psql_collapsed_excerpt_with_elision() {
        let t = parse_psql("| | name | v |\n|---+---+---|\n...\n| 7 | m.a | 0.5 |\n...\n");
        assert_eq!(t.headers, vec!["", "name", "v"]);
        assert_eq!(t.rows[0].cells, vec!["7", "m.a", "0.5"]);
        assert_eq!(t.elided_runs, 2);
    }

    #[test]
    fn psql_multiline_header() {
        let t = parse_psql("+----+--------+\n| I  | Acc    |\n|    | (atol) |\n|----+--------|\n| 0  | 1      |\n+----+--------+");
        assert_eq!(t.headers, vec!["I", "Acc (atol)"]);
    }

    #[test]
    fn tokenizer_keeps_reprs_together() {
        assert_eq!(
            tokenize("conv <class 'a.b C'> ['qint8', 'qint8'] f(x, y) 3"),
            vec![
                "conv",
                "<class 'a.b C'>",
                "['qint8', 'qint8']",
                "f(x, y)",
                "3"
            ]
        );
    }

    #[test]
    fn simple_groups_aligned_and_collapsed() {
        let text = "name    type\n------  ------------------\nconv    <class 'a.Conv'>\nadd     <class 'a.Add'>\n        \nname type\n----- -----\nc2 <class 'a.Conv'>\n";
        let groups = parse_simple(text, &["name", "type"]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].rows.len(), 2);
        assert_eq!(groups[0].rows[1].cells, vec!["add", "<class 'a.Add'>"]);
        assert_eq!(groups[1].rows[0].cells, vec!["c2", "<class 'a.Conv'>"]);
    }

    #[test]
    fn simple_header_with_space_uses_expected_names() {
        let text = "name called times\n---------------------- --------------\nm.a 8\n";
        let g = parse_simple(text, &["name", "called times"]);
        assert_eq!(g[0].headers, vec!["name", "called times"]);
        assert_eq!(g[0].rows[0].cells, vec!["m.a", "8"]);
    }
}
