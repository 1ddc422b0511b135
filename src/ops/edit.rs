//! Line edits of guest configuration files that keep everything else byte for byte.

/// The marker imgseal puts in front of a line it disables, so the change is visible and
/// reversible.
pub fn marker(rule: &str) -> String {
    format!("# disabled by imgseal ({rule}): ")
}

/// Comments out the given 1-based lines (`prefix` is put in front of each).
pub fn comment_out(text: &str, lines: &[usize], prefix: &str) -> String {
    map_lines(text, |n, l| {
        if lines.contains(&n) {
            format!("{prefix}{l}")
        } else {
            l.to_string()
        }
    })
}

/// Applies `f(line_number, line)` to each line, keeping line endings and a missing final
/// newline as they were.
pub fn map_lines(text: &str, mut f: impl FnMut(usize, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for (i, chunk) in text.split_inclusive('\n').enumerate() {
        let (line, end) = match chunk.strip_suffix("\r\n") {
            Some(l) => (l, "\r\n"),
            None => match chunk.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (chunk, ""),
            },
        };
        out.push_str(&f(i + 1, line));
        out.push_str(end);
    }
    out
}

/// Sets `KEY=value` in a shell-variable file: replaces the last assignment, or appends.
pub fn set_shell_var(text: &str, key: &str, value: &str) -> String {
    let vars = crate::parse::shellvars::parse(text);
    match crate::parse::shellvars::get(&vars, key) {
        Some(v) => map_lines(text, |n, l| {
            if n == v.line {
                format!("{key}={value}")
            } else {
                l.to_string()
            }
        }),
        None => {
            let mut t = text.to_string();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str(&format!("{key}={value}\n"));
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_out_keeps_the_rest() {
        let t = "a\nMTU=9000\nc";
        assert_eq!(
            comment_out(t, &[2], &marker("R3")),
            "a\n# disabled by imgseal (R3): MTU=9000\nc"
        );
        assert_eq!(comment_out("x\r\ny\r\n", &[1], "#"), "#x\r\ny\r\n");
        assert_eq!(comment_out("", &[1], "#"), "");
    }

    #[test]
    fn shell_vars() {
        assert_eq!(
            set_shell_var("# c\nENABLED=yes\nLOGLEVEL=low\n", "ENABLED", "no"),
            "# c\nENABLED=no\nLOGLEVEL=low\n"
        );
        assert_eq!(set_shell_var("A=1", "B", "2"), "A=1\nB=2\n");
        assert_eq!(
            set_shell_var("ENABLED='yes' # on\n", "ENABLED", "no"),
            "ENABLED=no\n"
        );
    }
}
