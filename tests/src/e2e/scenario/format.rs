//! The transcript file format: parsing and writing back (for `REWRITE=1`).
//!
//! ```text
//! # A comment. Blank lines and comments are kept as they are.
//! cluster size=1
//!
//! $ etcdctl put foo bar
//! | OK
//!
//! $ etcdctl txn -i
//! < value("foo") = "bar"
//! <
//! < put ok yes
//! <
//! <
//! | compares:
//! ...
//!
//! $ etcdctl put
//! ! Error: put command needs 1 argument and input from stdin or 2 arguments
//! exit 1
//! ```
//!
//! A step starts with `$ etcdctl <args>` or with a directive word (`cluster`, `wait`, `send`,
//! `sleep`, `start-member`, `stop-member`, `restart-member`). `<` lines are its standard input;
//! then come the expected outputs: `|` stdout lines, `!` stderr lines, `\ no newline at end` after
//! a stream that did not end in a newline, and `exit …` when it did not exit with code 0.

/// Directive words that start a step.
pub const DIRECTIVES: &[&str] =
    &["cluster", "wait", "send", "sleep", "start-member", "stop-member", "restart-member"];

/// One line or step of a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A comment or blank line, kept verbatim.
    Text(String),
    /// A command or directive with its input and expected output.
    Step(Step),
}

/// A command or directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number of its first line.
    pub line: usize,
    /// The step's line: `$ etcdctl …` or a directive.
    pub head: String,
    /// Its standard input lines (without the `<` prefix).
    pub input: Vec<String>,
    /// The expected output lines, prefixes included (`| …`, `! …`, `exit 1`).
    pub expected: Vec<String>,
}

impl Step {
    /// Whether it runs etcdctl (else it is a directive).
    pub fn is_etcdctl(&self) -> bool {
        self.head.starts_with("$ ")
    }

    /// Standard input as bytes: each line followed by a newline.
    pub fn input_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in &self.input {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

fn is_output_line(line: &str) -> bool {
    line == "|"
        || line == "!"
        || line.starts_with("| ")
        || line.starts_with("! ")
        || line.starts_with("exit ")
        || line.starts_with("\\ ")
}

fn is_step_head(line: &str) -> bool {
    line.starts_with("$ ") || DIRECTIVES.contains(&line.split_whitespace().next().unwrap_or(""))
}

/// Parses a scenario file.
///
/// # Errors
/// A line that is no comment, step, input or output line, or input after output; the message
/// names the line.
pub fn parse(text: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut current: Option<Step> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            if let Some(step) = current.take() {
                items.push(Item::Step(step));
            }
            items.push(Item::Text(line.to_owned()));
        } else if is_step_head(line) {
            if let Some(step) = current.take() {
                items.push(Item::Step(step));
            }
            current = Some(Step {
                line: number,
                head: line.to_owned(),
                input: Vec::new(),
                expected: Vec::new(),
            });
        } else if line == "<" || line.starts_with("< ") {
            let step =
                current.as_mut().ok_or_else(|| format!("line {number}: input outside a step"))?;
            if !step.expected.is_empty() {
                return Err(format!("line {number}: input after expected output"));
            }
            step.input.push(line.get(2..).unwrap_or("").to_owned());
        } else if is_output_line(line) {
            let step =
                current.as_mut().ok_or_else(|| format!("line {number}: output outside a step"))?;
            step.expected.push(line.to_owned());
        } else {
            return Err(format!(
                "line {number}: not a comment, step, `<` input or output line: {line:?}"
            ));
        }
    }
    if let Some(step) = current.take() {
        items.push(Item::Step(step));
    }
    Ok(items)
}

/// Writes items back as a file (the inverse of [`parse`]).
pub fn write(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Text(line) => {
                out.push_str(line);
                out.push('\n');
            }
            Item::Step(step) => {
                out.push_str(&step.head);
                out.push('\n');
                for line in &step.input {
                    out.push('<');
                    if !line.is_empty() {
                        out.push(' ');
                        out.push_str(line);
                    }
                    out.push('\n');
                }
                for line in &step.expected {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Splits a command line into words: whitespace separates, `'…'` and `"…"` quote (a backslash
/// escapes the next character inside double quotes and outside quotes).
///
/// # Errors
/// An unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.push(chars.next().ok_or("trailing backslash")?),
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or("trailing backslash")?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# kv\ncluster size=1\n\n$ etcdctl put foo bar\n| OK\n\n$ etcdctl txn -i\n< value(\"a\") = \"1\"\n<\n| SUCCESS\n|\n! warn\nexit 1\n";

    #[test]
    fn parse_then_write_is_identity() {
        let items = parse(SAMPLE).unwrap();
        assert_eq!(write(&items), SAMPLE);
        let steps: Vec<&Step> = items
            .iter()
            .filter_map(|i| if let Item::Step(s) = i { Some(s) } else { None })
            .collect();
        assert_eq!(steps.len(), 3);
        assert!(!steps[0].is_etcdctl());
        assert_eq!(steps[2].line, 7);
        assert_eq!(steps[2].input, vec!["value(\"a\") = \"1\"".to_owned(), String::new()]);
        assert_eq!(steps[2].input_bytes(), b"value(\"a\") = \"1\"\n\n".to_vec());
        assert_eq!(steps[2].expected, vec!["| SUCCESS", "|", "! warn", "exit 1"]);
    }

    #[test]
    fn rejects_stray_lines() {
        assert!(parse("nonsense here\n").unwrap_err().contains("line 1"));
        assert!(parse("$ etcdctl get a\n| a\n< late input\n").unwrap_err().contains("line 3"));
        assert!(parse("| OK\n").is_err());
    }

    #[test]
    fn splits_words_with_quotes() {
        assert_eq!(
            split_words(r#"put "a b" 'c "d"' e\ f --x="y z""#).unwrap(),
            vec!["put", "a b", "c \"d\"", "e f", "--x=y z"]
        );
        assert_eq!(split_words("put '' x").unwrap(), vec!["put", "", "x"]);
        assert!(split_words("put 'a").is_err());
    }
}
