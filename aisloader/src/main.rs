//! `aisloader` binary: parse the command line like AIS aisloader, print what AIS prints, run.
//! Exit codes: 0 success, 1 invalid options or a failed run, 2 command-line syntax errors (as
//! Go's `flag` package).

use aisloader::params::{self, Command, Env, ParamError};
use aisloader::run;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = Env::from_process();
    let mut notes = Vec::new();
    let cmd = match params::parse(&args, &env, &mut notes) {
        Ok(c) => c,
        Err(ParamError::Flag(e)) => {
            eprintln!("{e}");
            eprintln!("Run `aisloader` (for inline help), `aisloader version` (for version), or see 'docs/aisloader.md' for details and usage examples.");
            std::process::exit(2);
        }
        Err(ParamError::CleanupRequired) => {
            println!("{}", ParamError::CleanupRequired);
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("aisloader: {e}");
            std::process::exit(1);
        }
    };
    for n in &notes {
        println!("{n}");
    }
    let tls = match &cmd {
        Command::Run(p, _) => p.tls.as_ref(),
        Command::CleanupOnly(p) => p.tls.as_ref(),
        _ => None,
    };
    if let Some(o) = tls {
        match net::tls::ClientTls::new(o) {
            // Every client of this process (workers, listing, bucket set-up) uses it.
            Ok(c) => net::tls::set_default_client(c),
            Err(e) => {
                eprintln!("aisloader: {e}");
                std::process::exit(1);
            }
        }
    }
    let result = match cmd {
        Command::Usage => {
            print!("{}", params::usage());
            Ok(())
        }
        Command::Version => {
            println!("version {} (Rust)", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::CleanupOnly(p) => {
            if p.cleanup {
                run::cleanup(&p)
            } else {
                Ok(())
            }
        }
        Command::Run(p, fs) => {
            if !p.quiet {
                print!("{}", params::arguments_listing(&fs));
            }
            if p.dry_run {
                print!("{}", params::runtime_configuration(&p));
                Ok(())
            } else {
                run::execute(&p)
            }
        }
    };
    if let Err(e) = result {
        eprintln!("aisloader: {e}");
        std::process::exit(1);
    }
}
