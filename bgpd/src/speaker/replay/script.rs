//! The scenario files: commands, each with the output it produced.
//!
//! ```text
//! # A comment, kept as it is.
//! dial 10.0.0.2
//! ----
//! (what the speaker did: one line each)
//!
//! start
//! node_name = "n1"          <- a command's body: the lines up to ----
//! ----
//! ```
//!
//! An output ends at the first empty line. `UPDATE_GOLDEN=1` writes the
//! outputs of the run back into the file.

/// One command of a scenario, with the output the file expects of it.
#[derive(Debug, Clone)]
pub struct Step {
    /// Comment lines (and empty ones) before the command, kept for a rewrite.
    pub preamble: Vec<String>,
    /// The command's first line, split into words.
    pub words: Vec<String>,
    /// The lines after it, up to `----`.
    pub body: String,
    pub expected: Vec<String>,
    /// The line of the file the command is on, for messages.
    pub line: usize,
}

/// Reads a scenario, or says which line is wrong.
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut preamble = Vec::new();
    while let Some((number, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            preamble.push(line.to_owned());
            continue;
        }
        let words = line.split_whitespace().map(str::to_owned).collect();
        let mut body = String::new();
        loop {
            match lines.next() {
                Some((_, "----")) => break,
                Some((_, line)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => return Err(format!("line {}: no ---- after the command", number + 1)),
            }
        }
        let mut expected = Vec::new();
        while let Some((_, line)) = lines.next_if(|(_, l)| !l.trim().is_empty()) {
            expected.push(line.to_owned());
        }
        // The empty line that ends the output.
        let _ = lines.next_if(|(_, l)| l.trim().is_empty());
        steps.push(Step {
            preamble: std::mem::take(&mut preamble),
            words,
            body,
            expected,
            line: number + 1,
        });
    }
    Ok(steps)
}

/// A scenario with the outputs given, as its file holds it.
pub fn write(steps: &[Step], outputs: &[Vec<String>]) -> String {
    let mut text = String::new();
    for (i, (step, output)) in steps.iter().zip(outputs).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        for line in &step.preamble {
            text += line;
            text.push('\n');
        }
        text += &step.words.join(" ");
        text.push('\n');
        text += &step.body;
        text += "----\n";
        for line in output {
            text += line;
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_and_writes_back_the_same() {
        let text = "# first\nstart\na = 1\n----\nout 1\nout 2\n\n# then\nwait 5\n----\n";
        let steps = parse(text).unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].words, ["start"]);
        assert_eq!(steps[0].body, "a = 1\n");
        assert_eq!(steps[0].expected, ["out 1", "out 2"]);
        assert_eq!(steps[1].preamble, ["# then"]);
        assert_eq!(steps[1].line, 9);
        let outputs: Vec<Vec<String>> = steps.iter().map(|s| s.expected.clone()).collect();
        assert_eq!(write(&steps, &outputs), text);
    }

    #[test]
    fn a_command_without_its_separator_is_an_error() {
        assert_eq!(
            parse("wait 5\nnothing").unwrap_err(),
            "line 1: no ---- after the command"
        );
    }
}
