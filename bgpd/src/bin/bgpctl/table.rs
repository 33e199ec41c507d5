//! The table `calicoctl node status` prints, to the character.
//!
//! calicoctl renders its peers with github.com/olekukonko/tablewriter in its
//! default settings (calicoctl/commands/node/status.go, `printPeers`), and
//! this reproduces them:
//! - headers upper-cased and centred (an odd gap puts the extra space on
//!   the right); cells left-aligned, except numbers (`decimal`), which are
//!   right-aligned;
//! - `+---+` borders, a line under the header and at the bottom, none
//!   between rows;
//! - automatic wrapping at 30 columns (`MAX_ROW_WIDTH`), at spaces, with
//!   minimal raggedness (tablewriter's `WrapWords`): a cell wider than 30
//!   makes its column exactly 30 wide, or as wide as its longest word.
//!
//! Users' pastes show the wrapping, for example calicoctl#1883:
//! `| Active Socket: Connection      |` over `| refused                        |`.

/// tablewriter's `MAX_ROW_WIDTH`.
const MAX_WIDTH: usize = 30;
/// tablewriter's `defaultPenalty` for a line longer than the limit.
const PENALTY: usize = 100_000;

/// Renders `rows` under `headers` as tablewriter does by default.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths = vec![0; columns];
    let headers: Vec<Vec<String>> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| cell(&title(h), &mut widths[i]))
        .collect();
    let rows: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|row| {
            (0..columns)
                .map(|i| cell(row.get(i).map_or("", String::as_str), &mut widths[i]))
                .collect()
        })
        .collect();

    let line = {
        let mut line = String::from("+");
        for width in &widths {
            line.push_str(&"-".repeat(width + 2));
            line.push('+');
        }
        line.push('\n');
        line
    };
    let mut out = line.clone();
    print_lines(&mut out, &headers, &widths, |text, width| {
        centre(text, width)
    });
    out.push_str(&line);
    for row in &rows {
        print_lines(&mut out, row, &widths, |text, width| {
            if is_decimal(text.trim()) {
                format!("{text:>width$}")
            } else {
                format!("{text:<width$}")
            }
        });
    }
    out.push_str(&line);
    out
}

/// One row, as many lines as its tallest cell; shorter cells are padded
/// with blank lines at the bottom.
fn print_lines(
    out: &mut String,
    cells: &[Vec<String>],
    widths: &[usize],
    align: impl Fn(&str, usize) -> String,
) {
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    for i in 0..height {
        out.push('|');
        for (cell, width) in cells.iter().zip(widths) {
            let text = cell.get(i).map_or("", String::as_str);
            out.push(' ');
            out.push_str(&align(text, *width));
            out.push_str(" |");
        }
        out.push('\n');
    }
}

/// tablewriter's `parseDimension` with auto-wrap and reflow on: the cell's
/// lines, and the column width it asks for.
fn cell(text: &str, column_width: &mut usize) -> Vec<String> {
    let paragraphs: Vec<&str> = text.split('\n').collect();
    let widest = paragraphs.iter().map(|p| width(p)).max().unwrap_or(0);
    let limit = widest.min(MAX_WIDTH);
    // Reflow: every line of the cell into one paragraph.
    let lines = wrap(&paragraphs.join(" "), limit);
    let asked = lines.iter().map(|l| width(l)).fold(limit, usize::max);
    *column_width = (*column_width).max(asked);
    lines
}

/// tablewriter's `WrapString`: words split at single spaces, the limit
/// raised to the longest word, then `WrapWords`.
fn wrap(text: &str, limit: usize) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let limit = words.iter().map(|w| width(w)).fold(limit, usize::max);
    wrap_words(&words, limit)
        .into_iter()
        .map(|line| line.join(" "))
        .collect()
}

/// tablewriter's `WrapWords`: the line breaks that minimise the sum, over
/// every line but the last, of the squared gap to the limit.
fn wrap_words<'a>(words: &[&'a str], limit: usize) -> Vec<Vec<&'a str>> {
    let n = words.len();
    // length(i, j): words i..=j joined by single spaces.
    let mut starts = Vec::with_capacity(n + 1);
    starts.push(0usize);
    for word in words {
        starts.push(starts.last().copied().unwrap_or(0) + width(word) + 1);
    }
    let length = |i: usize, j: usize| starts[j + 1] - starts[i] - 1;
    let mut cost = vec![usize::MAX; n];
    let mut next_break = vec![n; n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= limit {
            cost[i] = 0;
            next_break[i] = n;
            continue;
        }
        for j in i + 1..n {
            let line = length(i, j - 1);
            let gap = limit.abs_diff(line);
            let mut c = (gap * gap).saturating_add(cost[j]);
            if line > limit {
                c = c.saturating_add(PENALTY);
            }
            if c < cost[i] {
                cost[i] = c;
                next_break[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(words[i..next_break[i]].to_vec());
        i = next_break[i];
    }
    if lines.is_empty() {
        lines.push(Vec::new());
    }
    lines
}

/// tablewriter's `Title`: underscores to spaces, trimmed, upper-cased.
fn title(header: &str) -> String {
    let text = header.replace('_', " ");
    let text = text.trim();
    if text.is_empty() && !header.is_empty() {
        " ".into()
    } else {
        text.to_uppercase()
    }
}

/// tablewriter's `Pad`: the smaller half of the gap on the left.
fn centre(text: &str, width: usize) -> String {
    let gap = width.saturating_sub(self::width(text));
    let left = gap / 2;
    format!("{}{text}{}", " ".repeat(left), " ".repeat(gap - left))
}

/// tablewriter's `decimal`: `^-?(?:\d{1,3}(?:,\d{3})*|\d+)(\.\d+)?$`.
fn is_decimal(text: &str) -> bool {
    let text = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let grouped = {
        let mut groups = whole.split(',');
        let first = groups.next().unwrap_or("");
        digits(first) && first.len() <= 3 && groups.all(|g| digits(g) && g.len() == 3)
    };
    (digits(whole) || grouped) && fraction.is_none_or(digits)
}

/// Display width; the cells are ASCII but for the odd address.
fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: [&str; 5] = ["Peer address", "Peer type", "State", "Since", "Info"];

    fn row(cells: [&str; 5]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn one_established_peer_as_in_the_calico_docs() {
        let out = render(
            &HEADERS,
            &[row([
                "172.17.8.102",
                "node-to-node mesh",
                "up",
                "23:30:04",
                "Established",
            ])],
        );
        assert_eq!(
            out,
            "\
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+
"
        );
    }

    #[test]
    fn an_ipv6_peer() {
        let out = render(
            &HEADERS,
            &[row([
                "fd80:24e2:f998:72d7::2",
                "node-to-node mesh",
                "up",
                "23:18:20",
                "Established",
            ])],
        );
        assert_eq!(
            out,
            "\
+------------------------+-------------------+-------+----------+-------------+
|      PEER ADDRESS      |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+------------------------+-------------------+-------+----------+-------------+
| fd80:24e2:f998:72d7::2 | node-to-node mesh | up    | 23:18:20 | Established |
+------------------------+-------------------+-------+----------+-------------+
"
        );
    }

    /// calicoctl#1883, as the user pasted it.
    #[test]
    fn a_long_info_wraps_at_thirty_columns() {
        let out = render(
            &HEADERS,
            &[row([
                "192.168.63.204",
                "node-to-node mesh",
                "start",
                "17:19:38",
                "Active Socket: Connection refused",
            ])],
        );
        assert_eq!(
            out,
            "\
+----------------+-------------------+-------+----------+--------------------------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |              INFO              |
+----------------+-------------------+-------+----------+--------------------------------+
| 192.168.63.204 | node-to-node mesh | start | 17:19:38 | Active Socket: Connection      |
|                |                   |       |          | refused                        |
+----------------+-------------------+-------+----------+--------------------------------+
"
        );
    }

    /// kubernetes/kops#5958 and #10546: several rows, wrapped and not, and a
    /// date in SINCE.
    #[test]
    fn wrapped_and_short_rows_together() {
        let out = render(
            &HEADERS,
            &[
                row([
                    "172.20.36.20",
                    "node-to-node mesh",
                    "start",
                    "2018-10-16",
                    "Connect Socket: Host is unreachable",
                ]),
                row([
                    "172.20.43.76",
                    "node-to-node mesh",
                    "start",
                    "2018-10-16",
                    "Passive",
                ]),
            ],
        );
        assert_eq!(
            out,
            "\
+--------------+-------------------+-------+------------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |   SINCE    |              INFO              |
+--------------+-------------------+-------+------------+--------------------------------+
| 172.20.36.20 | node-to-node mesh | start | 2018-10-16 | Connect Socket: Host is        |
|              |                   |       |            | unreachable                    |
| 172.20.43.76 | node-to-node mesh | start | 2018-10-16 | Passive                        |
+--------------+-------------------+-------+------------+--------------------------------+
"
        );
    }

    #[test]
    fn wrapping_minimises_raggedness_rather_than_filling_lines() {
        // Every line but the last pays the square of its gap to the limit.
        assert_eq!(
            wrap("Active Socket: Connection refused", 30),
            ["Active Socket: Connection", "refused"]
        );
        assert_eq!(
            wrap("Received: Peer de-configured by an operator", 30),
            ["Received: Peer de-configured", "by an operator"]
        );
        // A word longer than the limit gets a line of its own, as wide as it.
        let long = "x".repeat(40);
        assert_eq!(wrap(&format!("a {long} b"), 30), ["a", long.as_str(), "b"]);
    }

    #[test]
    fn numbers_are_right_aligned() {
        let out = render(
            &["Name", "Prefixes"],
            &[row2("Mesh_10_0_0_2", "12"), row2("x", "1,024")],
        );
        assert!(out.contains("| Mesh_10_0_0_2 |       12 |"), "{out}");
        assert!(out.contains("| x             |    1,024 |"), "{out}");
        assert!(
            is_decimal("-3.5")
                && is_decimal("1,024")
                && !is_decimal("1,02")
                && !is_decimal("10.0.0.1")
        );
    }

    fn row2(a: &str, b: &str) -> Vec<String> {
        vec![a.to_owned(), b.to_owned()]
    }
}
