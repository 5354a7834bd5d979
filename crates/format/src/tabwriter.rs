//! Elastic tabstops as docker's fork of Go's `text/tabwriter` lays out tables,
//! fixed to docker's settings `NewWriter(out, 10, 1, 3, ' ', 0)`.
//!
//! Cells are terminated by `\t`; the text after the last tab of a line is a cell
//! that belongs to no column and is never padded. Consecutive lines that have a
//! cell in column `i` form a block whose width is the widest cell plus padding
//! (at least `MIN_WIDTH`).

/// Minimal cell width including padding.
const MIN_WIDTH: usize = 10;
/// Spaces added to the widest cell of a column.
const PADDING: usize = 3;

/// Display width as docker measures it (go-runewidth): East Asian wide and
/// fullwidth characters count 2, combining marks and zero-width characters 0.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let u = c as u32;
    if u < 0x20 || (0x7f..0xa0).contains(&u) {
        return 0;
    }
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036f),
        (0x0483, 0x0489),
        (0x0591, 0x05bd),
        (0x0610, 0x061a),
        (0x064b, 0x065f),
        (0x0e31, 0x0e31),
        (0x0e34, 0x0e3a),
        (0x0e47, 0x0e4e),
        (0x1ab0, 0x1aff),
        (0x1dc0, 0x1dff),
        (0x200b, 0x200f),
        (0x20d0, 0x20ff),
        (0xfe00, 0xfe0f),
        (0xfe20, 0xfe2f),
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115f),
        (0x231a, 0x231b),
        (0x2329, 0x232a),
        (0x23e9, 0x23ec),
        (0x25fd, 0x25fe),
        (0x2614, 0x2615),
        (0x2648, 0x2653),
        (0x26aa, 0x26ab),
        (0x26bd, 0x26be),
        (0x26c4, 0x26c5),
        (0x26f5, 0x26f5),
        (0x26fa, 0x26fa),
        (0x26fd, 0x26fd),
        (0x2705, 0x2705),
        (0x270a, 0x270b),
        (0x2728, 0x2728),
        (0x274c, 0x274c),
        (0x2753, 0x2755),
        (0x2757, 0x2757),
        (0x2795, 0x2797),
        (0x27b0, 0x27b0),
        (0x27bf, 0x27bf),
        (0x2b1b, 0x2b1c),
        (0x2b50, 0x2b50),
        (0x2b55, 0x2b55),
        (0x2e80, 0x303e),
        (0x3041, 0x33ff),
        (0x3400, 0x4dbf),
        (0x4e00, 0x9fff),
        (0xa000, 0xa4cf),
        (0xa960, 0xa97f),
        (0xac00, 0xd7a3),
        (0xf900, 0xfaff),
        (0xfe10, 0xfe19),
        (0xfe30, 0xfe6f),
        (0xff00, 0xff60),
        (0xffe0, 0xffe6),
        (0x1f004, 0x1f004),
        (0x1f0cf, 0x1f0cf),
        (0x1f18e, 0x1f18e),
        (0x1f191, 0x1f19a),
        (0x1f200, 0x1f251),
        (0x1f300, 0x1f64f),
        (0x1f680, 0x1f6ff),
        (0x1f900, 0x1f9ff),
        (0x1fa70, 0x1faff),
        (0x20000, 0x3fffd),
    ];
    let within = |table: &[(u32, u32)]| table.iter().any(|&(lo, hi)| (lo..=hi).contains(&u));
    if within(ZERO) {
        0
    } else if within(WIDE) {
        2
    } else {
        1
    }
}

struct Cell<'a> {
    text: &'a str,
    width: usize,
}

/// Lays out `input` (lines separated by `\n`, cells terminated by `\t`) exactly
/// as docker's tabwriter does on Flush.
pub fn tabwrite(input: &str) -> String {
    let lines: Vec<Vec<Cell<'_>>> = input
        .split('\n')
        .map(|line| {
            line.split('\t')
                .map(|text| Cell {
                    text,
                    width: display_width(text),
                })
                .collect()
        })
        .collect();
    let mut out = String::with_capacity(input.len() * 2);
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, &mut out);
    out
}

/// Go's recursive `format`: finds the blocks of lines sharing column
/// `widths.len()`, fixes that column's width, and recurses into the next column.
fn format_block(
    lines: &[Vec<Cell<'_>>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = MIN_WIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].width + PADDING);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(
    lines: &[Vec<Cell<'_>>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell.text);
            if let Some(w) = widths.get(j) {
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.width)));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_widest_plus_three() {
        let got = tabwrite(
            "REPOSITORY\tTAG\tIMAGE ID\nalpine\tlatest\tabc\nbusybox-long-name\t1.36\tdef\n",
        );
        let want = "REPOSITORY          TAG       IMAGE ID\n\
                    alpine              latest    abc\n\
                    busybox-long-name   1.36      def\n";
        assert_eq!(got, want);
    }

    #[test]
    fn trailing_cell_is_not_padded_and_min_width_applies() {
        assert_eq!(tabwrite("a\tb\n"), "a         b\n");
        // A tab-terminated last cell is part of a column and gets padded.
        assert_eq!(tabwrite("a\tb\t\n"), "a         b         \n");
    }

    #[test]
    fn blocks_break_on_lines_without_the_column() {
        // The middle line has no tab, so the first and last lines are separate blocks.
        let got = tabwrite("aaaaaaaaaaaaaa\tx\nplain\nb\ty\n");
        assert_eq!(got, "aaaaaaaaaaaaaa   x\nplain\nb         y\n");
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(tabwrite("日本\tx\n"), "日本      x\n");
    }
}
