//! Generic reader for text files that are a run of titled `tabulate` tables (psql or simple), such as
//! `abnormal_layer_advisor.txt`, `statistic.txt`, `badcase.txt` and `similarity.txt`.

use super::doc::{DocTable, Note};
use super::table::{is_simple_rule, Feed, PsqlReader, SimpleReader};
use std::io::BufRead;

enum Open {
    Psql(PsqlReader),
    Simple(SimpleReader),
}

/// Every table in the text, each titled by the last text line before it (`id` = `t1`, `t2`, …).
pub fn parse_tables<R: BufRead>(mut r: R) -> Result<(Vec<DocTable>, Vec<Note>), String> {
    let mut tables = Vec::new();
    let mut notes = Vec::new();
    let mut open: Option<(Open, String)> = None;
    let mut title = String::new();
    let mut prev: Option<(usize, String)> = None;
    let mut buf = Vec::new();
    let mut n = 0usize;
    let finish = |o: Open, title: String, tables: &mut Vec<DocTable>| {
        let ts = match o {
            Open::Psql(p) => vec![p.finish()],
            Open::Simple(s) => s.finish().0,
        };
        for t in ts {
            if t.headers.is_empty() {
                continue;
            }
            let id = format!("t{}", tables.len() + 1);
            let title = if title.is_empty() {
                format!("Table {}", tables.len() + 1)
            } else {
                title.clone()
            };
            tables.push(DocTable::from_table(&id, &title, t));
        }
    };
    loop {
        buf.clear();
        let k = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("read error: {e}"))?;
        if k == 0 {
            break;
        }
        n += 1;
        let line =
            std::str::from_utf8(&buf).map_err(|_| "the file is not UTF-8 text".to_string())?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if let Some((o, t)) = open.as_mut() {
            let feed = match o {
                Open::Psql(p) => p.feed(n, &line),
                Open::Simple(s) => {
                    // In these files a blank line or a psql border ends a simple table (only the
                    // model check's fusable groups continue after blank lines).
                    if line.trim_start().starts_with("+-") || line.trim().is_empty() {
                        Feed::EndedBefore
                    } else {
                        s.feed(n, &line)
                    }
                }
            };
            let _ = t;
            match feed {
                Feed::Consumed => continue,
                Feed::EndedWith => {
                    if let Some((o, t)) = open.take() {
                        finish(o, t, &mut tables);
                    }
                    prev = None;
                    continue;
                }
                Feed::EndedBefore => {
                    if let Some((o, t)) = open.take() {
                        finish(o, t, &mut tables);
                    }
                }
            }
        }
        let trimmed = line.trim();
        // Tables glued to the previous one (`+---++---+`) start a new table at the second `+`.
        if trimmed.starts_with("+-") || (trimmed.starts_with('|') && trimmed.ends_with('|')) {
            let mut p = PsqlReader::new();
            p.feed(n, &line);
            // The line just before the grid is its title (`advisor:`), else the last text seen.
            let t = prev
                .take()
                .map(|(_, p)| p.trim().trim_end_matches(':').to_string())
                .unwrap_or_else(|| std::mem::take(&mut title));
            open = Some((Open::Psql(p), t));
            continue;
        }
        // A rule of one dash run is a separator line (similarity.txt's note box), not a table.
        if is_simple_rule(&line) && line.split_whitespace().count() >= 2 {
            if let Some((hn, h)) = prev.take() {
                let mut s = SimpleReader::new(&[]);
                s.feed(hn, &h);
                s.feed(n, &line);
                // The header line was taken for the title; use the line before it.
                open = Some((Open::Simple(s), std::mem::take(&mut title)));
                continue;
            }
        }
        if !trimmed.is_empty() {
            if let Some((_, p)) = prev.take() {
                // The held line was text, not a table header: it becomes the title candidate.
                title = p.trim().trim_end_matches(':').to_string();
            }
            prev = Some((n, line.clone()));
        }
    }
    if let Some((o, t)) = open.take() {
        finish(o, t, &mut tables);
    }
    if tables.is_empty() {
        notes.push(Note {
            line: None,
            text: "No table found in the file.".into(),
        });
    }
    Ok((tables, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titled_simple_and_psql_tables() {
        let text = "The bad case input index of each output:\nName/Index    Cosine    L1\n------------  --------  ----\n0             3         7\n\n\nThe metric results of each badcase:\nName/Index    Cosine\n------------  --------\n0             0.99\n\nadvisor\n+-----+-----+\n| a   | b   |\n|-----+-----|\n| 1   | 2   |\n+-----+-----+\n";
        let (t, _) = parse_tables(text.as_bytes()).expect("tables");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].title, "The bad case input index of each output");
        assert_eq!(t[0].headers, vec!["Name/Index", "Cosine", "L1"]);
        assert_eq!(t[0].rows[0].cells, vec!["0", "3", "7"]);
        assert_eq!(t[1].title, "The metric results of each badcase");
        assert_eq!(t[2].title, "advisor");
        assert_eq!(t[2].rows[0].cells, vec!["1", "2"]);
    }
}
