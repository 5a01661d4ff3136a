//! The `Received-SPF:` header qmail-smtpd writes before its Received line
//! (qmail-smtpd(8), SPF): two spaces after the colon, continuation lines
//! indented by two, fields filtered like the Received line's.

use super::Outcome;

fn safe(s: &str) -> String {
    crate::printable::header_safe(s.as_bytes())
}

/// The header for one evaluation. `helo` is the HELO string (`unknown`
/// when none was given), `local` this host's name.
pub fn received_spf(o: &Outcome, ip: &str, helo: &str, sender: &str, local: &str) -> String {
    let helo = safe(if helo.is_empty() { "unknown" } else { helo });
    let ident = safe(if o.identity.is_empty() {
        "unknown"
    } else {
        &o.identity
    });
    let ip = safe(ip);
    let problem = safe(o.problem.as_deref().unwrap_or("unknown"));
    let mech = safe(o.mechanism.as_deref().unwrap_or("unknown"));
    let text = match o.verdict.code() {
        '+' => format!(
            " pass ({helo}: domain of {ident}\n  designates {ip} as permitted sender)\n  receiver={}; client-ip={ip}\n  envelope-from=<{}>\n",
            safe(local),
            safe(sender)
        ),
        '-' => format!(
            " fail ({helo}: domain of {ident}\n  does not designate {ip} as permitted sender)\n"
        ),
        '~' => format!(
            " softfail ({helo}: domain of transitioning {ident}\n  does not designate {ip} as permitted sender)\n"
        ),
        '?' => format!(
            " neutral ({helo}; client-ip={ip} is neither permitted \n  nor denied by domain of {ident})\n"
        ),
        'o' => format!(
            " none ({helo}: domain of {ident} does\n  not designate permitted sender hosts)\n"
        ),
        't' => format!(
            " temperror ({helo}: domain of {ident} evaluated\n  with error: {problem} for mechanism: {mech})\n"
        ),
        // 'e': permanent errors, limits and loops included.
        _ => format!(
            " permerror ({helo}: domain of {ident} evaluated\n  with error: {problem} for mechanism: {mech})\n"
        ),
    };
    format!("Received-SPF: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spf::Verdict;

    fn outcome(v: Verdict) -> Outcome {
        Outcome {
            verdict: v,
            trace: String::new(),
            records: String::new(),
            explanation: None,
            identity: "example.org".into(),
            problem: Some("DNS temporary failure".into()),
            mechanism: Some("a:x.example\r\nX: y".into()),
        }
    }

    #[test]
    fn every_form() {
        let h = |v| {
            received_spf(
                &outcome(v),
                "192.0.2.7",
                "mx.example.org",
                "a@example.org",
                "mx.example",
            )
        };
        assert_eq!(
            h(Verdict::Pass),
            "Received-SPF:  pass (mx.example.org: domain of example.org\n  designates 192.0.2.7 as permitted sender)\n  receiver=mx.example; client-ip=192.0.2.7\n  envelope-from=<a@example.org>\n"
        );
        assert_eq!(
            h(Verdict::Fail),
            "Received-SPF:  fail (mx.example.org: domain of example.org\n  does not designate 192.0.2.7 as permitted sender)\n"
        );
        assert_eq!(
            h(Verdict::SoftFail),
            "Received-SPF:  softfail (mx.example.org: domain of transitioning example.org\n  does not designate 192.0.2.7 as permitted sender)\n"
        );
        assert_eq!(
            h(Verdict::Neutral),
            "Received-SPF:  neutral (mx.example.org; client-ip=192.0.2.7 is neither permitted \n  nor denied by domain of example.org)\n"
        );
        assert_eq!(
            h(Verdict::None),
            "Received-SPF:  none (mx.example.org: domain of example.org does\n  not designate permitted sender hosts)\n"
        );
        assert_eq!(
            h(Verdict::TempError),
            "Received-SPF:  temperror (mx.example.org: domain of example.org evaluated\n  with error: DNS temporary failure for mechanism: a:x.example??X: y)\n"
        );
        assert!(h(Verdict::PermError).starts_with("Received-SPF:  permerror (mx.example.org"));
        assert!(h(Verdict::Local).contains(" pass ("));
    }
}
