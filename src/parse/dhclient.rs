//! dhclient.conf: only what matters to R3, statements that force an MTU instead of taking
//! the one DHCP offers (`supersede interface-mtu N;`, `default interface-mtu N;`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtuStatement {
    /// `supersede` or `default`.
    pub kind: String,
    pub value: String,
    pub line: usize,
}

pub fn mtu_statements(text: &str) -> Vec<MtuStatement> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.split('#').next().unwrap_or("").trim();
        // A line may hold several statements separated by ';'.
        for stmt in l.split([';', '{', '}']) {
            let w: Vec<&str> = stmt.split_whitespace().collect();
            if w.len() >= 3 && (w[0] == "supersede" || w[0] == "default") && w[1] == "interface-mtu"
            {
                out.push(MtuStatement {
                    kind: w[0].to_string(),
                    value: w[2].to_string(),
                    line: i + 1,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_forced_mtus_only() {
        let t = "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n\
                 send host-name = gethostname();\n\
                 request subnet-mask, broadcast-address, time-offset, routers, interface-mtu;\n\
                 supersede interface-mtu 9000;\n\
                 # supersede interface-mtu 1200;\n\
                 interface \"eth0\" { default interface-mtu 1400; }\n";
        let s = mtu_statements(t);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            MtuStatement {
                kind: "supersede".into(),
                value: "9000".into(),
                line: 4
            }
        );
        assert_eq!(s[1].kind, "default");
        assert_eq!(s[1].line, 6);
    }
}
