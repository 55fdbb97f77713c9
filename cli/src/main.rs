//! flx: the command-line tool of libfluximage, on the library's safe Rust API.
//!
//! `flx compress`, `flx sync`, `flx watch`, `flx usage`, `flx completions`; `flx --help` shows
//! the flags, the environment and the exit codes.

mod args;
mod compress;
mod config;
mod credits;
mod exit;
mod files;
mod output;
mod save;
mod signals;
mod sync;
mod watch;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cancel = match signals::install() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flx: cannot install the signal handlers: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let result = match &cli.command {
        Command::Compress(a) => compress::run(a, &cli.global, &cancel),
        Command::Sync(a) => sync::run(a, &cli.global, &cancel),
        Command::Watch(a) => watch::run(a, &cli.global, &cancel),
        Command::Usage => credits::usage(&cli.global, &cancel),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "flx", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => man_page(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // A signal wins over whatever error the cancelled call produced.
            let code = signals::exit_code().unwrap_or(f.code);
            if signals::exit_code().is_none() {
                eprintln!("flx: {}", f.message);
            }
            ExitCode::from(code)
        }
    }
}

fn man_page() -> Result<u8, exit::Failure> {
    let man = clap_mangen::Man::new(Cli::command());
    man.render(&mut std::io::stdout())
        .map_err(|e| exit::Failure::config(format!("cannot write the man page: {e}")))?;
    Ok(exit::OK)
}
