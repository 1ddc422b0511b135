//! `--junit FILE`: a JUnit XML report of `check`, `convert` and `batch` for CI (GitLab,
//! Jenkins).
//!
//! One `<testsuite>` per image, named as the command's JSON names the image. Its testcases:
//!
//! | classname              | name              | what                                         |
//! |------------------------|-------------------|----------------------------------------------|
//! | `imgseal.check`        | `R2 firewall-ufw` | a check of `check` (rule, then check id)     |
//! | `imgseal.check.before` | `R2 firewall-ufw` | a check before the operations (dry run, or a conversion that stopped before its "after" report) |
//! | `imgseal.check.after`  | `R2 firewall-ufw` | a check after the operations                 |
//! | `imgseal.operation`    | `firewall-disable`| an operation: passed, failed, or skipped      |
//! | `imgseal.image`        | `check`/`convert` | the image failed outside any check or operation (an `<error>`), or `batch --resume` skipped it (`<skipped>`) |
//!
//! A conversion reports the last check report it took: once there is an "after" report the
//! "before" one is only summed up in the suite's `<system-out>`, since its failures are what
//! the conversion is there to fix. A check's `fail` is a `<failure>`, `error` an `<error>`,
//! `skip` a `<skipped>`; `warn` passes with its detail in `<system-out>`. Every operation
//! about the guest gets a testcase: the one that failed has a `<failure>`, those not selected
//! or not reached are `<skipped>`.

use crate::batch::{ImageStatus, Summary};
use crate::checks::{CheckResult, Report, Status};
use crate::ops::{self, OpFailed, OpResult, OpStatus};
use crate::pipeline::{Attempt, Outcome};
use anyhow::{Context, Result, bail};
use std::path::Path;

pub const CHECK: &str = "imgseal.check";
pub const BEFORE: &str = "imgseal.check.before";
pub const AFTER: &str = "imgseal.check.after";
pub const OPERATION: &str = "imgseal.operation";
pub const IMAGE: &str = "imgseal.image";
pub const BOOT: &str = "imgseal.boot";

/// How a testcase ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    Failure {
        message: String,
        kind: String,
        text: String,
    },
    Error {
        message: String,
        kind: String,
        text: String,
    },
    Skipped {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub seconds: f64,
    pub verdict: Verdict,
    /// `<system-out>`: a warning's detail, what an operation did; empty for none.
    pub out: String,
}

/// One image.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
    /// `<system-out>` of the suite; empty for none.
    pub out: String,
}

/// The whole file: `<testsuites>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Testsuites {
    /// `imgseal check`, `imgseal convert`, `imgseal batch`.
    pub name: String,
    pub suites: Vec<Suite>,
}

/// The totals of the `tests`, `failures`, `errors` and `skipped` attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.tests += o.tests;
        self.failures += o.failures;
        self.errors += o.errors;
        self.skipped += o.skipped;
    }
}

impl Case {
    fn new(classname: &str, name: impl Into<String>, seconds: f64, verdict: Verdict) -> Case {
        Case {
            classname: classname.to_string(),
            name: name.into(),
            seconds,
            verdict,
            out: String::new(),
        }
    }
}

impl Suite {
    pub fn new(name: impl Into<String>) -> Suite {
        Suite {
            name: name.into(),
            cases: vec![],
            out: String::new(),
        }
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            tests: self.cases.len(),
            ..Default::default()
        };
        for case in &self.cases {
            match case.verdict {
                Verdict::Passed => {}
                Verdict::Failure { .. } => c.failures += 1,
                Verdict::Error { .. } => c.errors += 1,
                Verdict::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }

    pub fn seconds(&self) -> f64 {
        self.cases.iter().map(|c| c.seconds).sum()
    }
}

impl Testsuites {
    pub fn new(command: &str, suites: Vec<Suite>) -> Testsuites {
        Testsuites {
            name: format!("imgseal {command}"),
            suites,
        }
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.suites {
            c.add(s.counts());
        }
        c
    }

    pub fn to_xml(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let secs: f64 = self.suites.iter().map(Suite::seconds).sum();
        x.push_str(&format!(
            "<testsuites name=\"{}\"{}>\n",
            attr(&self.name),
            totals(self.counts(), secs)
        ));
        for s in &self.suites {
            x.push_str(&format!(
                "  <testsuite name=\"{}\"{}>\n",
                attr(&s.name),
                totals(s.counts(), s.seconds())
            ));
            for c in &s.cases {
                case_xml(&mut x, c);
            }
            if !s.out.is_empty() {
                x.push_str(&format!("    <system-out>{}</system-out>\n", text(&s.out)));
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// Writes the report atomically (FILE.tmp beside it, then renamed).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::seal::write_atomic(path, self.to_xml().as_bytes())
            .with_context(|| format!("writing the JUnit report {}", path.display()))
    }
}

/// Refuses a `--junit FILE` that could not be written, before any image work: its directory
/// must exist and FILE must not be a directory.
pub fn check_target(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(
            "--junit {}: the directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!("--junit {}: is a directory", path.display());
    }
    Ok(())
}

fn totals(c: Counts, secs: f64) -> String {
    format!(
        " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
        c.tests,
        c.failures,
        c.errors,
        c.skipped,
        seconds(secs)
    )
}

fn seconds(s: f64) -> String {
    format!("{:.3}", if s.is_finite() { s.max(0.0) } else { 0.0 })
}

fn case_xml(x: &mut String, c: &Case) {
    x.push_str(&format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        attr(&c.classname),
        attr(&c.name),
        seconds(c.seconds)
    ));
    if c.verdict == Verdict::Passed && c.out.is_empty() {
        x.push_str("/>\n");
        return;
    }
    x.push_str(">\n");
    match &c.verdict {
        Verdict::Passed => {}
        Verdict::Failure {
            message,
            kind,
            text: t,
        }
        | Verdict::Error {
            message,
            kind,
            text: t,
        } => {
            let tag = if matches!(c.verdict, Verdict::Failure { .. }) {
                "failure"
            } else {
                "error"
            };
            x.push_str(&format!(
                "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n",
                attr(message),
                attr(kind),
                text(t)
            ));
        }
        Verdict::Skipped { message } => {
            x.push_str(&format!("      <skipped message=\"{}\"/>\n", attr(message)));
        }
    }
    if !c.out.is_empty() {
        x.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            text(&c.out)
        ));
    }
    x.push_str("    </testcase>\n");
}

/// Characters XML 1.0 allows (a control character in a guest file name must not make the
/// whole report unreadable).
fn legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Character data: markup escaped, `\r` kept as a reference (parsers fold a raw one),
/// characters illegal in XML 1.0 dropped.
pub fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value (in double quotes): as [`text`], and quotes and the whitespace that
/// attribute normalisation would turn into spaces as references.
pub fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars().filter(|c| legal(*c)) {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\r' => o.push_str("&#13;"),
            '"' if attribute => o.push_str("&quot;"),
            '\'' if attribute => o.push_str("&apos;"),
            '\n' if attribute => o.push_str("&#10;"),
            '\t' if attribute => o.push_str("&#9;"),
            c => o.push(c),
        }
    }
    o
}

/// The detail, then each finding, one a line.
fn detail_and_findings(r: &CheckResult) -> String {
    let mut t = r.detail.clone();
    for f in &r.findings {
        t.push('\n');
        t.push_str(f);
    }
    t
}

/// A check's testcase: `RULE id`.
pub fn check_case(r: &CheckResult, classname: &str) -> Case {
    let verdict = match r.status {
        Status::Pass | Status::Warn => Verdict::Passed,
        Status::Skip => Verdict::Skipped {
            message: r.detail.clone(),
        },
        Status::Fail => Verdict::Failure {
            message: r.detail.clone(),
            kind: "fail".into(),
            text: detail_and_findings(r),
        },
        Status::Error => Verdict::Error {
            message: r.detail.clone(),
            kind: "error".into(),
            text: detail_and_findings(r),
        },
    };
    let mut c = Case::new(
        classname,
        format!("{} {}", r.rule, r.id),
        r.seconds,
        verdict,
    );
    if r.status == Status::Warn {
        c.out = format!("warn: {}", detail_and_findings(r));
    }
    c
}

/// The suite of `imgseal check`: a testcase per check.
pub fn check(report: &Report) -> Suite {
    let mut s = Suite::new(&report.image);
    s.cases = report
        .results
        .iter()
        .map(|r| check_case(r, CHECK))
        .collect();
    s
}

/// An image that failed outside any check or operation: one `<error>` testcase, named after
/// the command.
pub fn image_error(image: &str, command: &str, error: &str) -> Suite {
    let mut s = Suite::new(image);
    s.cases.push(Case::new(
        IMAGE,
        command,
        0.0,
        Verdict::Error {
            message: error.to_string(),
            kind: "error".into(),
            text: error.to_string(),
        },
    ));
    s
}

/// A boot test's testcases: one per judgement (`R2 firewall`), the console's last lines in a
/// failure's text.
pub fn boot_cases(b: &crate::boot::BootTest) -> Vec<Case> {
    b.judgements
        .iter()
        .map(|j| {
            let verdict = if j.passed {
                Verdict::Passed
            } else {
                let mut text = j.detail.clone();
                for l in &b.console_tail {
                    text.push('\n');
                    text.push_str(l);
                }
                Verdict::Failure {
                    message: j.detail.clone(),
                    kind: b
                        .failure
                        .as_ref()
                        .map_or("judgement", |f| f.kind.as_str())
                        .into(),
                    text,
                }
            };
            Case::new(BOOT, format!("{} {}", j.rule, j.id), 0.0, verdict)
        })
        .collect()
}

fn op_case(r: &OpResult) -> Case {
    let mut c = Case::new(OPERATION, &r.id, r.seconds, Verdict::Passed);
    let mut lines = vec![format!("{} ({})", r.status.as_str(), r.rule)];
    lines.extend(r.notes.iter().cloned());
    let verb = if r.status == OpStatus::Planned {
        "would "
    } else {
        ""
    };
    lines.extend(
        r.changes
            .iter()
            .map(|ch| format!("{verb}{} {}", ch.action, ch.target)),
    );
    c.out = lines.join("\n");
    c
}

fn verdict_line(r: &Report) -> String {
    if r.compliant {
        "compliant".into()
    } else {
        let failing: Vec<String> = r
            .results
            .iter()
            .filter(|x| matches!(x.status, Status::Fail | Status::Error))
            .map(|x| {
                let error = if x.status == Status::Error {
                    " (error)"
                } else {
                    ""
                };
                format!("{} {}{error}", x.rule, x.id)
            })
            .collect();
        let rules = if r.failing_rules.is_empty() {
            String::new()
        } else {
            format!(" ({} fail)", r.failing_rules.join(", "))
        };
        format!("not compliant{rules}: {}", failing.join(", "))
    }
}

/// The suite of one conversion (`convert`, and each image of `batch`), from its attempt and
/// the operations it selected.
pub fn conversion(image: &str, a: &Attempt, selected: &[&str]) -> Suite {
    let mut s = Suite::new(image);
    let failed_op = a
        .outcome
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<OpFailed>());
    let (before, ran, after): (Option<&Report>, &[OpResult], Option<&Report>) = match &a.outcome {
        Ok(Outcome::Planned(p)) => (Some(&p.before), &p.operations, None),
        Ok(Outcome::NotCompliant(f)) => (Some(&f.before), &f.operations, Some(&f.after)),
        Ok(Outcome::Converted(m)) => (Some(&m.before), &m.operations, Some(&m.after)),
        Ok(Outcome::BootFailed(f)) => (Some(&f.before), &f.operations, Some(&f.after)),
        Err(_) => (
            a.before.as_ref(),
            failed_op.map_or(&a.ops[..], |f| &f.done[..]),
            None,
        ),
    };
    if let Some(b) = before {
        if after.is_some() {
            s.out = format!("before the operations: {}", verdict_line(b));
        } else {
            s.cases
                .extend(b.results.iter().map(|r| check_case(r, BEFORE)));
        }
        s.cases.extend(ran.iter().map(op_case));
        if let (Some(f), Err(e)) = (failed_op, &a.outcome) {
            let msg = format!("{e:#}");
            s.cases.push(Case::new(
                OPERATION,
                f.id,
                f.seconds,
                Verdict::Failure {
                    message: msg.clone(),
                    kind: "operation".into(),
                    text: msg,
                },
            ));
        }
        // The other operations about this guest: not selected, or not reached.
        let registry = ops::registry();
        for d in ops::for_os(&registry, &b.os) {
            if ran.iter().any(|r| r.id == d.id) || failed_op.is_some_and(|f| f.id == d.id) {
                continue;
            }
            let message = if !selected.contains(&d.id) {
                "not selected (--skip, --only, or off by default)".to_string()
            } else if let Some(f) = failed_op {
                format!("not run: operation {} failed first", f.id)
            } else {
                "not run: the conversion stopped before it".to_string()
            };
            s.cases.push(Case::new(
                OPERATION,
                d.id,
                0.0,
                Verdict::Skipped { message },
            ));
        }
    }
    if let Some(r) = after {
        s.cases
            .extend(r.results.iter().map(|x| check_case(x, AFTER)));
    }
    let boot = match &a.outcome {
        Ok(Outcome::Converted(m)) => m.boot_test.as_ref(),
        Ok(Outcome::BootFailed(f)) => Some(&f.boot_test),
        _ => None,
    };
    if let Some(b) = boot {
        s.cases.extend(boot_cases(b));
    }
    if let (Err(e), None) = (&a.outcome, failed_op) {
        let mut err = image_error(image, "convert", &format!("{e:#}"));
        s.cases.append(&mut err.cases);
    }
    s
}

/// The report of a batch: each image's suite, in the summary's order; an image with none
/// (skipped by `--resume`, refused before a conversion began, never started) gets one
/// testcase saying so.
pub fn batch(summary: &Summary) -> Testsuites {
    let suites = summary
        .images
        .iter()
        .map(|r| match (&r.suite, r.status) {
            (Some(s), _) => s.clone(),
            (None, ImageStatus::Skipped) => {
                let mut s = Suite::new(&r.input);
                s.cases.push(Case::new(
                    IMAGE,
                    "convert",
                    0.0,
                    Verdict::Skipped {
                        message: r.error.clone().unwrap_or_else(|| "skipped".into()),
                    },
                ));
                s
            }
            (None, ImageStatus::Failed | ImageStatus::Missing) => {
                image_error(&r.input, "convert", r.error.as_deref().unwrap_or("failed"))
            }
            (None, ImageStatus::Ok) => {
                let mut s = Suite::new(&r.input);
                s.cases
                    .push(Case::new(IMAGE, "convert", r.seconds, Verdict::Passed));
                s
            }
        })
        .collect();
    Testsuites::new("batch", suites)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::OsInfo;
    use crate::pipeline::{Failed, Plan};

    fn result(id: &str, rule: &str, status: Status, detail: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            rule: rule.into(),
            status,
            detail: detail.into(),
            findings: vec![],
            seconds: 0.25,
        }
    }

    fn report(results: Vec<CheckResult>) -> Report {
        let failing: Vec<String> = results
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| r.rule.clone())
            .collect();
        Report {
            schema: 1,
            image: "/img/debian12.qcow2".into(),
            profile: "jdcloud".into(),
            os: OsInfo::linux("debian", 12, 4),
            compliant: failing.is_empty() && !results.iter().any(|r| r.status == Status::Error),
            failing_rules: failing,
            results,
        }
    }

    fn mixed() -> Report {
        let mut fail = result("firewall-ufw", "R2", Status::Fail, "ufw starts at boot");
        fail.findings = vec!["/etc/ufw/ufw.conf:1: ENABLED=yes".into()];
        report(vec![
            result("repos", "R1", Status::Pass, "2 repositories"),
            fail,
            result(
                "mtu-static",
                "R3",
                Status::Fail,
                "MTU 9000 <eth0> & \"more\"",
            ),
            result("reboot-required", "R9", Status::Warn, "a reboot is pending"),
            result("cloud-init-vendor", "R5", Status::Skip, "no vendor dir"),
            result("cloud-init-installed", "R5", Status::Error, "rpmdb broken"),
        ])
    }

    fn op(id: &str, status: OpStatus) -> OpResult {
        OpResult {
            id: id.into(),
            rule: "R2".into(),
            status,
            notes: vec!["did it".into()],
            changes: vec![crate::ops::Change {
                action: "write".into(),
                target: "/etc/ufw/ufw.conf".into(),
            }],
            seconds: 1.5,
        }
    }

    fn attempt(outcome: Result<Outcome>) -> Attempt {
        Attempt {
            outcome,
            launched: true,
            before: None,
            ops: vec![],
        }
    }

    fn all_ops() -> Vec<&'static str> {
        ops::registry().iter().map(|d| d.id).collect()
    }

    fn names(s: &Suite, classname: &str) -> Vec<String> {
        s.cases
            .iter()
            .filter(|c| c.classname == classname)
            .map(|c| c.name.clone())
            .collect()
    }

    /// A strict little reader of what `to_xml` writes: one declaration, then elements that
    /// nest and close, attributes quoted, no raw `<`, `&` or control character out of place.
    fn assert_well_formed(x: &str) {
        let body = x
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("declaration");
        let mut stack: Vec<String> = vec![];
        let mut rest = body;
        let mut roots = 0;
        while let Some(i) = rest.find('<') {
            let chars = &rest[..i];
            assert!(!chars.contains('>'), "raw > in {chars:?}");
            assert_entities(chars);
            let end = rest[i..].find('>').expect("unclosed tag") + i;
            let tag = &rest[i + 1..end];
            assert!(!tag.contains('<'), "< inside tag {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
                assert!(
                    name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                    "{name}"
                );
                let mut a = attrs.trim();
                while !a.is_empty() {
                    let (k, v) = a.split_once("=\"").expect("attribute");
                    let close = v.find('"').expect("closing quote");
                    assert!(k.chars().all(|c| c.is_ascii_lowercase()), "{k}");
                    assert_entities(&v[..close]);
                    assert!(
                        !v[..close].contains(['\n', '\t', '\r']),
                        "{k}: raw whitespace"
                    );
                    a = v[close + 1..].trim_start();
                }
                if stack.is_empty() {
                    roots += 1;
                }
                if !self_closing {
                    stack.push(name.to_string());
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(rest.trim().is_empty() && stack.is_empty(), "{stack:?}");
        assert_eq!(roots, 1);
    }

    fn assert_entities(s: &str) {
        for (i, _) in s.match_indices('&') {
            let ent = &s[i..s[i..].find(';').map(|e| i + e + 1).expect("entity end")];
            assert!(
                [
                    "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;", "&#9;"
                ]
                .contains(&ent),
                "{ent}"
            );
        }
        assert!(s.chars().all(legal), "an illegal character in {s:?}");
    }

    #[test]
    fn the_test_reader_rejects_broken_xml() {
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        for bad in [
            "<a><b></a></b>",
            "<a>x & y</a>",
            "<a>x > y</a>",
            "<a b=\"1\n\"/>",
            "<a>\u{1}</a>",
            "<a/><b/>",
            "<a>",
        ] {
            let x = format!("{decl}{bad}");
            let r = std::panic::catch_unwind(|| assert_well_formed(&x));
            assert!(r.is_err(), "accepted {bad:?}");
        }
        assert_well_formed(&format!("{decl}<a b=\"&amp;\"><c/>t&lt;</a>\n"));
    }

    #[test]
    fn text_and_attributes_are_escaped_and_illegal_characters_dropped() {
        let s = "a<b>&c \"q\" 'a'\t\r\nx\u{1b}[1;31m\u{0}\u{8}\u{FFFE}\u{FFFF}é\u{1F600}";
        assert_eq!(
            text(s),
            "a&lt;b&gt;&amp;c \"q\" 'a'\t&#13;\nx[1;31mé\u{1F600}"
        );
        assert_eq!(
            attr(s),
            "a&lt;b&gt;&amp;c &quot;q&quot; &apos;a&apos;&#9;&#13;&#10;x[1;31mé\u{1F600}"
        );
        assert_eq!(text("]]>"), "]]&gt;");
        assert_eq!(
            text("\u{D7FF}\u{E000}\u{FFFD}\u{10FFFF}").chars().count(),
            4
        );
    }

    #[test]
    fn a_check_report_has_one_testcase_per_check_and_matching_counts() {
        let r = mixed();
        let s = check(&r);
        assert_eq!(s.name, "/img/debian12.qcow2");
        assert_eq!(
            names(&s, CHECK),
            [
                "R1 repos",
                "R2 firewall-ufw",
                "R3 mtu-static",
                "R9 reboot-required",
                "R5 cloud-init-vendor",
                "R5 cloud-init-installed"
            ]
        );
        assert_eq!(
            s.counts(),
            Counts {
                tests: r.results.len(),
                failures: r.count(Status::Fail),
                errors: r.count(Status::Error),
                skipped: r.count(Status::Skip),
            }
        );
        assert_eq!(s.counts().failures, 2);
        let ufw = &s.cases[1];
        assert_eq!(
            ufw.verdict,
            Verdict::Failure {
                message: "ufw starts at boot".into(),
                kind: "fail".into(),
                text: "ufw starts at boot\n/etc/ufw/ufw.conf:1: ENABLED=yes".into()
            }
        );
        let warn = &s.cases[3];
        assert_eq!(warn.verdict, Verdict::Passed);
        assert_eq!(warn.out, "warn: a reboot is pending");
        assert_eq!(
            s.cases[4].verdict,
            Verdict::Skipped {
                message: "no vendor dir".into()
            }
        );
        assert!(matches!(s.cases[5].verdict, Verdict::Error { .. }));
        assert_eq!(s.seconds(), 1.5);
    }

    #[test]
    fn the_xml_has_totals_on_every_level_and_is_well_formed() {
        let t = Testsuites::new("check", vec![check(&mixed()), check(&mixed())]);
        let x = t.to_xml();
        assert_well_formed(&x);
        assert!(
            x.contains(
                "<testsuites name=\"imgseal check\" tests=\"12\" failures=\"4\" errors=\"2\" skipped=\"2\" time=\"3.000\">"
            ),
            "{x}"
        );
        assert_eq!(
            x.matches(
                "<testsuite name=\"/img/debian12.qcow2\" tests=\"6\" failures=\"2\" errors=\"1\" skipped=\"1\" time=\"1.500\">"
            )
            .count(),
            2
        );
        assert!(
            x.contains("<testcase classname=\"imgseal.check\" name=\"R1 repos\" time=\"0.250\"/>")
        );
        assert!(x.contains(
            "<failure message=\"MTU 9000 &lt;eth0&gt; &amp; &quot;more&quot;\" type=\"fail\">MTU 9000 &lt;eth0&gt; &amp; \"more\"</failure>"
        ), "{x}");
        assert!(x.contains("<skipped message=\"no vendor dir\"/>"));
        assert!(x.contains("<system-out>warn: a reboot is pending</system-out>"));
        assert!(x.contains("<error message=\"rpmdb broken\" type=\"error\">rpmdb broken</error>"));
        assert_eq!(x.matches("<testcase ").count(), 12);
        // Hostile details stay well-formed.
        let mut r = mixed();
        r.results[0].detail = "\u{0}<x a=\"1\">\r\n&#1;]]>\u{1b}".into();
        r.results[0].status = Status::Fail;
        assert_well_formed(&Testsuites::new("check", vec![check(&r)]).to_xml());
    }

    #[test]
    fn a_conversion_reports_its_operations_and_the_after_checks() {
        let before = mixed();
        let after = report(vec![
            result("repos", "R1", Status::Pass, "ok"),
            result("firewall-ufw", "R2", Status::Fail, "still on"),
        ]);
        let mut selected = all_ops();
        selected.retain(|id| *id != "mtu");
        let a = attempt(Ok(Outcome::NotCompliant(Box::new(Failed {
            schema: 1,
            image: before.image.clone(),
            compliant: false,
            before: before.clone(),
            operations: vec![op("firewall-disable", OpStatus::Changed)],
            after,
        }))));
        let s = conversion("/img/debian12.qcow2", &a, &selected);
        assert!(names(&s, BEFORE).is_empty(), "before is summed up only");
        assert!(
            s.out.starts_with("before the operations: not compliant (R2, R3 fail): R2 firewall-ufw, R3 mtu-static, R5 cloud-init-installed (error)"),
            "{}",
            s.out
        );
        assert_eq!(names(&s, AFTER), ["R1 repos", "R2 firewall-ufw"]);
        let ops_cases: Vec<&Case> = s
            .cases
            .iter()
            .filter(|c| c.classname == OPERATION)
            .collect();
        assert_eq!(
            ops_cases.len(),
            ops::for_os(&ops::registry(), &before.os).len(),
            "every operation about the guest"
        );
        let fw = ops_cases
            .iter()
            .find(|c| c.name == "firewall-disable")
            .unwrap();
        assert_eq!(fw.verdict, Verdict::Passed);
        assert_eq!(fw.seconds, 1.5);
        assert_eq!(fw.out, "changed (R2)\ndid it\nwrite /etc/ufw/ufw.conf");
        let mtu = ops_cases.iter().find(|c| c.name == "mtu").unwrap();
        assert_eq!(
            mtu.verdict,
            Verdict::Skipped {
                message: "not selected (--skip, --only, or off by default)".into()
            }
        );
        let swap = ops_cases
            .iter()
            .find(|c| c.name == "cloud-init-swap")
            .unwrap();
        assert!(
            matches!(&swap.verdict, Verdict::Skipped { message } if message.contains("stopped before it")),
            "{swap:?}"
        );
        assert_eq!(s.counts().failures, 1, "the after check that still fails");
        assert_well_formed(&Testsuites::new("convert", vec![s]).to_xml());
    }

    #[test]
    fn a_dry_run_reports_the_before_checks_and_the_plan() {
        let a = attempt(Ok(Outcome::Planned(Box::new(Plan {
            schema: 1,
            image: "x".into(),
            dry_run: true,
            before: mixed(),
            operations: vec![op("firewall-disable", OpStatus::Planned)],
        }))));
        let s = conversion("x", &a, &all_ops());
        assert_eq!(names(&s, BEFORE).len(), 6);
        assert!(names(&s, AFTER).is_empty());
        assert_eq!(s.counts().failures, 2);
        let fw = s
            .cases
            .iter()
            .find(|c| c.name == "firewall-disable")
            .unwrap();
        assert_eq!(
            fw.out,
            "planned (R2)\ndid it\nwould write /etc/ufw/ufw.conf"
        );
    }

    #[test]
    fn a_failed_operation_is_a_failure_and_the_rest_are_not_run() {
        let done = vec![op("cloud-init-swap", OpStatus::Changed)];
        let e = anyhow::anyhow!("dpkg --purge failed").context(OpFailed {
            id: "cloud-init-datasources",
            rule: "R5".into(),
            seconds: 2.0,
            done,
        });
        let mut a = attempt(Err(e));
        a.before = Some(mixed());
        let s = conversion("img", &a, &all_ops());
        assert_eq!(names(&s, BEFORE).len(), 6, "the last report taken");
        let failed = s
            .cases
            .iter()
            .find(|c| c.name == "cloud-init-datasources")
            .unwrap();
        assert_eq!(failed.classname, OPERATION);
        assert_eq!(
            failed.verdict,
            Verdict::Failure {
                message: "operation cloud-init-datasources (R5): dpkg --purge failed".into(),
                kind: "operation".into(),
                text: "operation cloud-init-datasources (R5): dpkg --purge failed".into()
            }
        );
        let swap = s
            .cases
            .iter()
            .find(|c| c.name == "cloud-init-swap")
            .unwrap();
        assert_eq!(swap.verdict, Verdict::Passed);
        let mtu = s.cases.iter().find(|c| c.name == "mtu").unwrap();
        assert_eq!(
            mtu.verdict,
            Verdict::Skipped {
                message: "not run: operation cloud-init-datasources failed first".into()
            }
        );
        assert!(
            names(&s, IMAGE).is_empty(),
            "the operation carries the error"
        );
        assert_eq!(
            s.counts().failures,
            3,
            "two before checks and the operation"
        );
    }

    #[test]
    fn an_image_that_fails_before_any_check_is_one_error() {
        let a = attempt(Err(
            anyhow::anyhow!("no operating system found").context("/img/blank.qcow2")
        ));
        let s = conversion("/img/blank.qcow2", &a, &all_ops());
        assert_eq!(s.cases.len(), 1);
        assert_eq!(
            (s.cases[0].classname.as_str(), s.cases[0].name.as_str()),
            (IMAGE, "convert")
        );
        assert_eq!(
            s.cases[0].verdict,
            Verdict::Error {
                message: "/img/blank.qcow2: no operating system found".into(),
                kind: "error".into(),
                text: "/img/blank.qcow2: no operating system found".into()
            }
        );
        assert_eq!(
            s.counts(),
            Counts {
                tests: 1,
                errors: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn a_batch_has_one_suite_per_image() {
        use crate::batch::{Entry, ImageResult};
        let e = |input: &str| Entry {
            input: input.into(),
            output: "o.qcow2".into(),
            profile: None,
        };
        let out = Path::new("/out");
        let mut done = ImageResult::new(&e("/in/a.qcow2"), out, ImageStatus::Ok);
        done.suite = Some(check(&mixed()));
        let mut skipped = ImageResult::new(&e("/in/b.qcow2"), out, ImageStatus::Skipped);
        skipped.error = Some("up to date (resume)".into());
        let mut refused = ImageResult::new(&e("/in/notes.txt"), out, ImageStatus::Failed);
        refused.error = Some("/in/notes.txt: no partition table or filesystem".into());
        let t = batch(&Summary {
            schema: 1,
            images: vec![done, skipped, refused],
            launches: 1,
            seconds: 3.0,
            shard: None,
            plan: vec![],
        });
        assert_eq!(t.name, "imgseal batch");
        let suites: Vec<&str> = t.suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            suites,
            ["/img/debian12.qcow2", "/in/b.qcow2", "/in/notes.txt"]
        );
        assert_eq!(
            t.suites[1].cases[0].verdict,
            Verdict::Skipped {
                message: "up to date (resume)".into()
            }
        );
        assert!(
            matches!(&t.suites[2].cases[0].verdict, Verdict::Error { message, .. } if message.contains("no partition table"))
        );
        assert_eq!(
            t.counts(),
            Counts {
                tests: 8,
                failures: 2,
                errors: 2,
                skipped: 2
            }
        );
        assert_well_formed(&t.to_xml());
    }

    #[test]
    fn the_target_directory_must_exist_and_the_file_is_written_atomically() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope/r.xml");
        let e = check_target(&missing).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "--junit {}: the directory {} does not exist",
                missing.display(),
                d.path().join("nope").display()
            )
        );
        let e = check_target(d.path()).unwrap_err().to_string();
        assert!(e.ends_with("is a directory"), "{e}");
        check_target(Path::new("r.xml")).unwrap();
        let f = d.path().join("r.xml");
        check_target(&f).unwrap();
        let t = Testsuites::new("check", vec![check(&mixed())]);
        t.write(&f).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), t.to_xml());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }
}
