//! The remote shell lines, every argument quoted here: `ssh` hands the remote login shell one
//! string, so a path or argument with a space, quote or `$` must be quoted by us.
//!
//! The job runs in `DIR` (relative to the login's home, where sshd starts the shell); its
//! process group id is written beside it in `DIR.pgid`, which is what a kill reads.

use crate::exec::ExecError;

/// `s` as one word of a POSIX shell: single-quoted, a `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Where one job lives on the host.
pub struct RemoteDir {
    /// `<remote_dir>/<id>`, relative to the home directory unless absolute.
    pub dir: String,
    /// `<remote_dir>/<id>.pgid`: the job's process group id.
    pub pgid: String,
}

impl RemoteDir {
    pub fn new(remote_dir: &str, id: &str) -> RemoteDir {
        let base = remote_dir.trim_end_matches('/');
        let base = if base.is_empty() { "." } else { base };
        RemoteDir {
            dir: format!("{base}/{id}"),
            pgid: format!("{base}/{id}.pgid"),
        }
    }

    pub fn mkdir(&self) -> String {
        format!("mkdir -p -- {}", shell_quote(&self.dir))
    }

    /// Makes the job's directory and unpacks the tar stream on stdin into it.
    pub fn extract(&self) -> String {
        let dir = shell_quote(&self.dir);
        format!("mkdir -p -- {dir} && tar -xf - -C {dir}")
    }

    /// The job's command with `env`, in a session (and so a process group) of its own made by
    /// `setsid -w`, which waits and passes the exit code on. Its shell writes its pid (the
    /// group's id) first, runs the command as a child (so a signal death reads as 128+N,
    /// the shell's convention) and exits with its code. stderr joins stdout so the log keeps
    /// the order the lines were written in.
    pub fn run(&self, env: &[(&String, &String)], argv: &[String]) -> Result<String, ExecError> {
        if argv.is_empty() {
            return Err(ExecError::Job("the job has no command".into()));
        }
        let mut inner = format!(
            "echo $$ > {} || exit 125; ",
            shell_quote(&self.pgid_from_dir())
        );
        for (k, v) in env {
            if !env_name_ok(k) {
                return Err(ExecError::Job(format!(
                    "environment variable name `{k}` is not a shell name (letters, digits, `_`)"
                )));
            }
            inner.push_str(&format!("export {k}={}; ", shell_quote(v)));
        }
        let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        inner.push_str(&words.join(" "));
        // Not the last command, so the shell does not `exec` it and stays the group leader.
        inner.push_str("; exit $?");
        Ok(format!(
            "exec 2>&1; cd -- {} || exit 125; exec setsid -w sh -c {}",
            shell_quote(&self.dir),
            shell_quote(&inner)
        ))
    }

    /// The pgid file as seen from inside the job's directory.
    fn pgid_from_dir(&self) -> String {
        let name = self.pgid.rsplit('/').next().unwrap_or(&self.pgid);
        format!("../{name}")
    }

    /// Sends `signal` to the job's group. The pgid file may not be written yet when a cancel
    /// comes right after the start: wait up to 10 s for it.
    pub fn kill(&self, signal: &str) -> String {
        let f = shell_quote(&self.pgid);
        format!(
            "i=0; while [ ! -s {f} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
             kill -s {signal} -- -\"$(cat {f})\""
        )
    }

    /// The regular files under the job's directory, NUL-separated, as `./path`.
    pub fn list(&self) -> String {
        format!("cd -- {} && find . -type f -print0", shell_quote(&self.dir))
    }

    /// SHA-256 of the NUL-separated paths on stdin (each starting with `./`, so none reads
    /// as an option), one line each in their order. OpenSSL's hasher where the host has it
    /// (SHA extensions: 3 to 4 times coreutils' speed on 100 MB here), else `sha256sum`; a
    /// name with a newline or a backslash needs `sha256sum`, which escapes it on its line.
    pub fn sums(&self, plain_names: bool) -> String {
        let dir = shell_quote(&self.dir);
        if plain_names {
            format!(
                "cd -- {dir} && if command -v openssl >/dev/null 2>&1; \
                 then xargs -0 openssl dgst -sha256 -r; else xargs -0 sha256sum; fi"
            )
        } else {
            format!("cd -- {dir} && xargs -0 sha256sum")
        }
    }

    /// A tar stream of the NUL-separated paths on stdin (a list on stdin: one shell word may
    /// not exceed 128 KiB on Linux, a list of 10 000 paths would).
    pub fn pack(&self) -> String {
        format!("cd -- {} && tar -cf - --null -T -", shell_quote(&self.dir))
    }

    pub fn remove(&self) -> String {
        format!(
            "rm -rf -- {} {}",
            shell_quote(&self.dir),
            shell_quote(&self.pgid)
        )
    }
}

fn env_name_ok(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `line` in the system's sh and returns what it printed.
    fn sh(line: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .output()
            .expect("sh runs");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    #[test]
    fn quoted_words_reach_the_program_unchanged() {
        let words = [
            "plain",
            "two words",
            "it's",
            "$HOME",
            "`id`",
            "a\nb",
            "",
            "\\'\"*",
        ];
        let line: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
        let got = sh(&format!("printf '%s\\0' {}", line.join(" ")));
        let got: Vec<&str> = got.split('\0').collect();
        assert_eq!(&got[..words.len()], &words[..]);
    }

    #[test]
    fn both_hashers_give_one_line_per_file_in_order() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("jobs");
        let dir = base.join("J1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("-n"), "a").unwrap();
        std::fs::write(dir.join("b c"), "b").unwrap();
        std::fs::write(dir.join("we\nird"), "c").unwrap();
        let d = RemoteDir::new(base.to_str().unwrap(), "J1");
        let run = |line: String, names: &[&str]| {
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(line)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let list: String = names.iter().map(|n| format!("./{n}\0")).collect();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(list.as_bytes())
                .unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
        };
        let sha = |s: &str| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(s))
        };
        let plain = run(d.sums(true), &["-n", "b c"]);
        let lines: Vec<&str> = plain.lines().map(|l| &l[..64]).collect();
        assert_eq!(lines, [sha("a"), sha("b")]);
        // A newline in a name: sha256sum escapes it, one line still.
        let odd = run(d.sums(false), &["we\nird", "b c"]);
        let lines: Vec<&str> = odd
            .lines()
            .map(|l| &l.strip_prefix('\\').unwrap_or(l)[..64])
            .collect();
        assert_eq!(lines, [sha("c"), sha("b")]);
    }

    #[test]
    fn a_bad_environment_name_is_refused() {
        let d = RemoteDir::new("jobs", "J1");
        let (k, v) = ("A;rm -rf /".to_string(), "x".to_string());
        assert!(matches!(
            d.run(&[(&k, &v)], &["true".into()]),
            Err(ExecError::Job(_))
        ));
    }

    #[test]
    fn the_run_line_runs_the_argv_with_env_and_writes_the_group_id() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("jobs");
        std::fs::create_dir_all(base.join("J1")).unwrap();
        let d = RemoteDir::new(base.to_str().unwrap(), "J1");
        let (k, v) = ("GREETING".to_string(), "it's $x".to_string());
        let line = d
            .run(
                &[(&k, &v)],
                &[
                    "sh".into(),
                    "-c".into(),
                    "echo \"$GREETING\" \"$0\"; echo err >&2; exit 3".into(),
                    "a b".into(),
                ],
            )
            .unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $x a b\nerr\n");
        let pgid = std::fs::read_to_string(base.join("J1.pgid")).unwrap();
        assert!(pgid.trim().parse::<u32>().is_ok(), "{pgid:?}");
    }
}
