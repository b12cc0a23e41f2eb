//! `qcity completions bash|zsh|fish` and `qcity manpage`: shell completion scripts (by
//! clap_complete) and man pages (by clap_mangen) made from the command definitions, so they
//! never drift from the CLI. Bash also completes runner names
//! after the commands that take one, from the running daemon (or, when none runs, from the
//! config's manifest) through the hidden `qcity __runner-names`.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_types::RunnerStatus;

use crate::exit::CliResult;

/// The commands whose first argument is a runner's name.
const TAKE_A_RUNNER: &str = "start|stop|restart|pause|resume|logs|heal";

pub fn print(shell: Shell) -> CliResult {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "qcity", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == Shell::Bash {
        script.push_str(&bash_runner_names());
    }
    print!("{script}");
    Ok(())
}

/// Wraps clap's `_qcity`: a runner's name where one is expected, clap's completion elsewhere.
fn bash_runner_names() -> String {
    format!(
        r#"
# Runner names after the commands that take one (qcity __runner-names: the daemon's runners,
# or the config's when no daemon runs).
_qcity_runners() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} sub="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            --data-dir) ((i++)) ;;
            -*) ;;
            *) if [[ -z $sub ]]; then sub=${{COMP_WORDS[i]}}; else sub="$sub+"; fi ;;
        esac
    done
    case $sub in
        {TAKE_A_RUNNER})
            if [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "$(qcity __runner-names 2>/dev/null)" -- "$cur"))
                return 0
            fi
            ;;
    esac
    _qcity "$@"
}}
complete -F _qcity_runners -o nosort -o bashdefault -o default qcity
"#
    )
}

/// One runner name per line: the daemon's, else the config's (`--config` is not on the
/// command line while completing: the default config dir).
pub fn runner_names(data: &DataDir, config_dir: Option<&Path>) -> CliResult {
    let names: Vec<String> =
        match Client::connect(data).and_then(|c| c.get::<Vec<RunnerStatus>>("/runners")) {
            Ok(runners) => runners.into_iter().map(|r| r.name).collect(),
            Err(_) => config_dir
                .and_then(|dir| qcity_config::load_dir(dir).ok())
                .map(|c| c.manifest.runners.into_iter().map(|r| r.name).collect())
                .unwrap_or_default(),
        };
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// The man page of `qcity` to stdout; with `dir`, that and one page per command
/// (`qcity-status.1`, `qcity-audit-tail.1`…) written there.
pub fn manpage(dir: Option<&Path>) -> CliResult {
    let cmd = crate::Cli::command();
    let failed =
        |e: std::io::Error| crate::exit::CliError::error(format!("cannot write the man page: {e}"));
    match dir {
        None => match clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock()) {
            // The reader went away (`| head`): nothing more to say.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(failed),
        },
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(failed)?;
            clap_mangen::generate_to(cmd, dir).map_err(failed)?;
            println!("man pages written to {}", dir.display());
            Ok(())
        }
    }
}
