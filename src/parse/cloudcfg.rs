//! cloud-init configuration (`/etc/cloud/cloud.cfg`, `cloud.cfg.d/*.cfg`): the
//! `datasource_list` a file sets, in flow (`[a, b]`) or block (`- a`) YAML form.

use super::yaml::{self, Value};

/// What one file says about the datasource list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasourceList {
    /// The file does not set `datasource_list`.
    Unset,
    /// The list the file sets, and the line of the key.
    Set(Vec<String>, usize),
}

pub fn datasource_list(text: &str) -> Result<DatasourceList, String> {
    if text.trim().is_empty() {
        return Ok(DatasourceList::Unset);
    }
    let doc = yaml::parse(text)?;
    let Some(v) = doc.get("datasource_list") else {
        return Ok(DatasourceList::Unset);
    };
    let list = match v {
        Value::Seq(s) => s
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("datasource_list holds a non-string item: {other}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        // A bare string is how some files write a single datasource.
        Value::String(s) => s
            .split(',')
            .map(|x| x.trim().trim_matches(['[', ']', ' ']).to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Value::Null => vec![],
        other => return Err(format!("datasource_list is not a list: {other}")),
    };
    let line = text
        .lines()
        .position(|l| l.starts_with("datasource_list"))
        .map(|i| i + 1)
        .unwrap_or(0);
    Ok(DatasourceList::Set(list, line))
}

/// The drop-in imgseal writes to pin the list (rpm guests; deb guests where dpkg did not).
pub fn render_datasource_dropin(list: &[String], rule: &str) -> String {
    format!(
        "# Written by imgseal ({rule}): the datasources the cloud vendor supports.\n\
         datasource_list: [ {} ]\n",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str], line: usize) -> DatasourceList {
        DatasourceList::Set(v.iter().map(|s| s.to_string()).collect(), line)
    }

    #[test]
    fn flow_form() {
        let t = "# to update this file, run dpkg-reconfigure cloud-init\ndatasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n";
        assert_eq!(
            datasource_list(t).unwrap(),
            set(&["NoCloud", "ConfigDrive", "OpenStack", "None"], 2)
        );
    }

    #[test]
    fn block_form_among_other_keys() {
        let t = "users:\n - default\ndisable_root: true\ndatasource_list:\n  - NoCloud\n  - 'None'\ndatasource:\n  OpenStack:\n    timeout: 5\n";
        assert_eq!(datasource_list(t).unwrap(), set(&["NoCloud", "None"], 4));
    }

    #[test]
    fn unset_empty_and_errors() {
        assert_eq!(datasource_list("").unwrap(), DatasourceList::Unset);
        assert_eq!(
            datasource_list("users: [default]\n").unwrap(),
            DatasourceList::Unset
        );
        assert_eq!(datasource_list("datasource_list:\n").unwrap(), set(&[], 1));
        assert!(datasource_list("datasource_list: [a, {b: 1}]").is_err());
        assert!(datasource_list("datasource_list: [unclosed").is_err());
        assert!(datasource_list("datasource_list: {a: 1}").is_err());
    }

    #[test]
    fn dropin_round_trips() {
        let l: Vec<String> = ["NoCloud", "ConfigDrive", "OpenStack", "None"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = render_datasource_dropin(&l, "R5");
        assert_eq!(datasource_list(&t).unwrap(), DatasourceList::Set(l, 2));
    }
}
