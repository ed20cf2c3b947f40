//! Secrets out of what leaves the host or reaches a log: command lines
//! (`process.command_line`'s `redacted` mode, the default) and URLs (endpoints in errors
//! and in the start line).
//!
//! A command line goes on every span and log resource of its process. Arguments carry
//! passwords, tokens and DSNs often enough (`--password=...`, `--token ...`,
//! `postgres://app:pw@db/x`, `API_KEY=...` in an `env` wrapper) that they are replaced by
//! [`REDACTED`] unless the operator asks for the full line:
//! - the value of a flag whose name holds a secret word ([`SECRET_WORDS`]), whether given
//!   as `--name=value`, `-name=value`, or as the next argument (`--name value`);
//! - the value of a `NAME=VALUE` argument whose name holds one;
//! - the password of a URL's user-info (`scheme://user:password@host`), and the value of a
//!   URL query parameter whose name holds one.
//!
//! Over-redaction is the safe side: `--key-file /etc/x.pem` loses its path.

/// What a redacted value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Words that make a flag, variable or parameter name a secret's (case-insensitive).
pub const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "pwd",
];

/// Whether `name` (a flag, variable or parameter name) names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// The arguments with every secret value replaced (see the module docs).
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut value_next = false;
    for arg in args {
        if std::mem::take(&mut value_next) && !arg.starts_with('-') {
            out.push(REDACTED.to_owned());
            continue;
        }
        out.push(redact_arg(arg, &mut value_next));
    }
    out
}

/// One argument redacted; sets `value_next` when it is a secret flag whose value is the
/// next argument.
fn redact_arg(arg: &str, value_next: &mut bool) -> String {
    let flag = arg.trim_start_matches('-');
    let dashes = arg.len() - flag.len();
    if let Some((name, _)) = flag.split_once('=') {
        // --name=value, -name=value, NAME=VALUE (a name has no URL or path in it).
        if is_secret_name(name) && !name.contains(['/', ':', '@']) {
            return format!("{}{name}={REDACTED}", &arg[..dashes]);
        }
    } else if dashes > 0 && is_secret_name(flag) {
        *value_next = true;
        return arg.to_owned();
    }
    redact_urls(arg)
}

/// `text` with the password of every URL's user-info and every secret query value
/// replaced; text that does not parse as a URL is handled the same way.
pub fn redact_urls(text: &str) -> String {
    let arg = text;
    if !arg.contains("://") {
        return arg.to_owned();
    }
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or space.
        let end = tail.find(['/', '?', '#', ' ']).unwrap_or(tail.len());
        let (authority, after) = tail.split_at(end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:{REDACTED}")),
                    // A token as the user name (https://TOKEN@host).
                    None => out.push_str(REDACTED),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = after;
        // The path, then a query whose secret values go.
        let path_end = rest.find(['?', ' ']).unwrap_or(rest.len());
        let (path, after_path) = rest.split_at(path_end);
        out.push_str(path);
        rest = after_path;
        if let Some(query) = rest.strip_prefix('?') {
            let end = query.find(['#', ' ']).unwrap_or(query.len());
            let (params, after_query) = query.split_at(end);
            out.push('?');
            let redacted: Vec<String> = params
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((name, _)) if is_secret_name(name) => format!("{name}={REDACTED}"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&redacted.join("&"));
            rest = after_query;
        }
    }
    out.push_str(rest);
    out
}

/// Header values for a `Debug` print: the names, each value `***`.
pub struct MaskedHeaders<'a, I>(pub I)
where
    I: IntoIterator<Item = (&'a String, &'a String)> + Clone;

impl<'a, I> std::fmt::Debug for MaskedHeaders<'a, I>
where
    I: IntoIterator<Item = (&'a String, &'a String)> + Clone,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.clone().into_iter().map(|(k, _)| (k, "***")))
            .finish()
    }
}

/// A URL (or what was given as one) for a `Debug` print, through [`redact_urls`].
pub struct RedactedUrl<'a>(pub &'a str);

impl std::fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_urls(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(line: &str) -> String {
        let args: Vec<String> = line.split(' ').map(str::to_owned).collect();
        redact_args(&args).join(" ")
    }

    #[test]
    fn secret_flags_lose_their_values_in_every_form() {
        assert_eq!(
            redact("client --password=S3cr3t --api-key S3cr3t -token=S3cr3t --verbose"),
            "client --password=REDACTED --api-key REDACTED -token=REDACTED --verbose"
        );
        assert_eq!(
            redact("mysql -u root --pwd x1"),
            "mysql -u root --pwd REDACTED"
        );
        // A secret flag followed by another flag has no value to hide.
        assert_eq!(redact("app --auth --port 80"), "app --auth --port 80");
    }

    #[test]
    fn environment_style_pairs_lose_secret_values() {
        assert_eq!(
            redact("env AWS_SECRET_ACCESS_KEY=abc DB_PASSWORD=x HOME=/root app"),
            "env AWS_SECRET_ACCESS_KEY=REDACTED DB_PASSWORD=REDACTED HOME=/root app"
        );
    }

    #[test]
    fn urls_lose_passwords_and_secret_query_values() {
        assert_eq!(
            redact("psql postgres://app:S3cr3t@db:5432/x?sslmode=require&password=S3cr3t"),
            "psql postgres://app:REDACTED@db:5432/x?sslmode=require&password=REDACTED"
        );
        assert_eq!(
            redact("git clone https://ghp_S3cr3t@github.com/o/r"),
            "git clone https://REDACTED@github.com/o/r"
        );
        assert_eq!(
            redact("curl https://h/v1?api_key=S3cr3t#x"),
            "curl https://h/v1?api_key=REDACTED#x"
        );
        assert_eq!(
            redact("--endpoint=https://u:S3cr3t@h:4318"),
            "--endpoint=https://u:REDACTED@h:4318"
        );
    }

    #[test]
    fn ordinary_lines_are_kept_as_they_are() {
        for line in [
            "/usr/sbin/nginx -g daemon off;",
            "python3 -m http.server 8080",
            "curl -s http://example.com/a?b=c",
            "java -Dfile.encoding=UTF-8 -jar app.jar",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
