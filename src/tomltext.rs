//! TOML files read by imgseal (profiles, the vendor manifest, batch job files): one parser
//! that names file, line and column in its error, shared by all of them without tying
//! their modules to each other.

use anyhow::{Result, anyhow};

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Parses TOML into `T`, turning an error into one line naming file, line and column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, src: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                anyhow!("{src}:{l}:{c}: {msg}")
            }
            None => anyhow!("{src}: {msg}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
