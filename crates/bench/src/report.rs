//! The report: rows of figures, each held against its goal, printed as a table.

/// A row of the report: what was measured, the figure, the goal it is held against, and
/// whether it was met. Only a check ([`Row::at_most`], [`Row::at_least`]) says a goal was
/// met, from the measured value and its limit; a row without one is a figure to read and
/// prints `-` for met.
pub struct Row {
    name: String,
    value: String,
    goal: String,
    met: Option<bool>,
}

impl Row {
    /// A figure to read, held against nothing until a check says otherwise.
    pub fn figure(name: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            name: name.into(),
            value: value.into(),
            goal: String::new(),
            met: None,
        }
    }

    /// A line without a figure: what the row above it is made of.
    pub fn note(name: impl Into<String>) -> Row {
        Row::figure(name, "")
    }

    /// The goal in words, as printed. It is no check: a row without one has met nothing.
    pub fn goal(self, goal: impl Into<String>) -> Row {
        Row {
            goal: goal.into(),
            ..self
        }
    }

    /// Met when `measured <= limit` (and every other check of the row holds).
    pub fn at_most<T: PartialOrd>(self, measured: T, limit: T) -> Row {
        self.check(measured <= limit)
    }

    /// Met when `measured >= limit` (and every other check of the row holds).
    pub fn at_least<T: PartialOrd>(self, measured: T, limit: T) -> Row {
        self.check(measured >= limit)
    }

    /// Not met: the figure could not be had.
    pub fn unmet(self) -> Row {
        self.check(false)
    }

    /// Met only if `held` as well: the run that the figure is of did what it had to. Adds
    /// to a check; a row without one stays without.
    pub fn provided(self, held: bool) -> Row {
        Row {
            met: self.met.map(|met| met && held),
            ..self
        }
    }

    fn check(self, held: bool) -> Row {
        Row {
            met: Some(self.met != Some(false) && held),
            ..self
        }
    }
}

pub fn print_rows(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "| {:<52} | {:>18} | {:<24} | {:<4} |",
        "measure", "figure", "goal", "met"
    );
    println!("|{:-<54}|{:->20}|{:-<26}|{:-<6}|", "", "", "", "");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!("| {:<52} | {:>18} | {:<24} | {:<4} |", r.name, r.value, r.goal, met);
    }
}
